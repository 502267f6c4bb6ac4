// The supervised child: one process with kubexit's own stdin, stdout and stderr.
import { spawn, type ChildProcess } from 'node:child_process';

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
 * environment, folder and file descriptors. Rejects with the exec error (ENOENT, EACCES…).
 * libuv resets every signal disposition and the signal mask in the child, so it starts clean
 * even though kubexit catches everything.
 */
export function startChild(command: readonly string[]): Promise<Child> {
  const [file, ...args] = command;
  if (file === undefined) return Promise.reject(new Error('no command'));
  let proc: ChildProcess;
  try {
    proc = spawn(file, args, { stdio: 'inherit' });
  } catch (err) {
    return Promise.reject(err as Error);
  }
  let alive = true;
  const exited = new Promise<ChildExit>((resolve) => {
    proc.once('exit', (code, signal) => {
      alive = false;
      resolve(signal === null ? { code: code ?? 0, signal: null } : { code: null, signal });
    });
  });
  return new Promise<Child>((resolve, reject) => {
    proc.once('error', (err: NodeJS.ErrnoException) => {
      // exec failed: 'spawn' never comes. Bun words the message its own way; say it as Node
      // does ("spawn <file> ENOENT") whichever runtime runs us.
      if (err.syscall !== undefined && err.code !== undefined) {
        err.message = `${err.syscall} ${err.code}`;
      }
      reject(err);
    });
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
