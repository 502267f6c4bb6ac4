// The Node side of process.ts: node:child_process, loaded on first use (never under Bun).
import { isExecFormat, resolveCommand } from './exec-format.js';
import { killGroup } from './process-group.js';
import type { ChildExit, Spawn } from './process.js';

/**
 * Node spawns through glibc's execvp, which runs a file execve refuses with ENOEXEC through
 * /bin/sh; Bun does not. The format is checked first, so that both refuse such a file (126).
 * libuv resets every signal disposition and the signal mask in the child.
 */
export const spawnWithNode: Spawn = async (file, args, options = {}) => {
  const resolved = resolveCommand(file, process.env.PATH);
  if (resolved !== undefined && !isExecFormat(resolved)) {
    const err: NodeJS.ErrnoException = new Error(`spawn ${file} ENOEXEC`);
    Object.assign(err, { code: 'ENOEXEC', errno: -8, syscall: 'spawn', path: resolved });
    throw err;
  }
  const { spawn } = await import('node:child_process');
  const group = options.group === true;
  const proc = spawn(file, args, { stdio: 'inherit', detached: group }); // detached: setsid
  let alive = true;
  const exited = new Promise<ChildExit>((resolve) => {
    proc.once('exit', (code, signal) => {
      alive = false;
      resolve(signal === null ? { code: code ?? 0, signal: null } : { code: null, signal });
    });
  });
  return new Promise((resolve, reject) => {
    // exec failed: 'spawn' never comes.
    proc.once('error', reject);
    proc.once('spawn', () => {
      const pid = proc.pid as number;
      resolve({
        pid,
        exited,
        kill(sig) {
          if (group) return killGroup(pid, sig);
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
};
