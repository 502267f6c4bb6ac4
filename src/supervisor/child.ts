// The supervised child: one process with kubexit's own stdin, stdout and stderr.
import { spawn, type ChildProcess } from 'node:child_process';
import { isExecFormat, resolveCommand } from '../platform/exec-format.js';

/**
 * Node spawns through glibc's execvp, which runs a file execve refuses with ENOEXEC through
 * /bin/sh; Bun spawns with posix_spawn, which doesn't. Under Node, kubexit checks the format
 * first, so that both refuse such a file (126).
 */
const SHELL_FALLBACK = process.versions.bun === undefined;

export type ChildExit = { code: number; signal: null } | { code: null; signal: NodeJS.Signals };

export interface Child {
  readonly pid: number;
  readonly exited: Promise<ChildExit>;
  /** Sends a signal if the child still runs; returns whether it was sent. */
  signal(sig: NodeJS.Signals): boolean;
  running(): boolean;
}

/**
 * Starts `command`, looked up on PATH when it has no "/", with argv[0] as given, the same
 * environment, folder and file descriptors. Rejects with the exec error (ENOENT, EACCES,
 * ENOEXEC…), worded the same whichever runtime runs us: "spawn <file> <CODE>".
 * libuv resets every signal disposition and the signal mask in the child, so it starts clean
 * even though kubexit catches everything.
 */
export function startChild(command: readonly string[]): Promise<Child> {
  const [file, ...args] = command;
  if (file === undefined) return Promise.reject(new Error('no command'));
  if (SHELL_FALLBACK) {
    const resolved = resolveCommand(file, process.env.PATH);
    if (resolved !== undefined && !isExecFormat(resolved)) {
      const err: NodeJS.ErrnoException = new Error();
      Object.assign(err, { code: 'ENOEXEC', errno: -8, syscall: 'spawn', path: resolved });
      return Promise.reject(execError(err, file));
    }
  }
  let proc: ChildProcess;
  try {
    proc = spawn(file, args, { stdio: 'inherit' });
  } catch (err) {
    return Promise.reject(execError(err as NodeJS.ErrnoException, file)); // Bun throws ENOEXEC
  }
  let alive = true;
  const exited = new Promise<ChildExit>((resolve) => {
    proc.once('exit', (code, signal) => {
      alive = false;
      resolve(signal === null ? { code: code ?? 0, signal: null } : { code: null, signal });
    });
  });
  return new Promise<Child>((resolve, reject) => {
    // exec failed: 'spawn' never comes.
    proc.once('error', (err: NodeJS.ErrnoException) => reject(execError(err, file)));
    proc.once('spawn', () => {
      const pid = proc.pid as number;
      resolve({
        pid,
        exited,
        running: () => alive,
        signal(sig) {
          if (!alive) return false;
          try {
            process.kill(pid, sig);
            return true;
          } catch {
            return false; // exited a moment ago; its exit event is on its way
          }
        },
      });
    });
  });
}

/** Bun words exec errors its own way; say them as Node does, and say what ENOEXEC means. */
function execError(err: NodeJS.ErrnoException, file: string): NodeJS.ErrnoException {
  if (err.code === undefined) return err;
  err.message = `spawn ${file} ${err.code}`;
  if (err.code === 'ENOEXEC') {
    err.message +=
      ': exec format error: neither a binary this system runs nor a script starting with #!';
  }
  return err;
}
