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
  youngGenerationCollected();
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

/**
 * V8 collects its young generation when it fills up. Start-up leaves it nearly full, so the next
 * one came at the first death after the start, 2 to 5 ms on the death's path (seen with
 * --trace-gc). Collected here, before the child starts, the next one is far off.
 */
function youngGenerationCollected(): void {
  try {
    const builtin = (id: string): unknown =>
      process.getBuiltinModule?.(id) ??
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- Node < 20.16: the bundle's require
      require(id);
    const { setFlagsFromString } = builtin('node:v8') as typeof import('node:v8');
    const { runInNewContext } = builtin('node:vm') as typeof import('node:vm');
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as (options: { type: 'minor' }) => void;
    setFlagsFromString('--no-expose-gc');
    gc({ type: 'minor' });
  } catch {
    // no such flag in this Node: the cost stays where it was
  }
}
