// The Bun side of process.ts: Bun.spawn, without node:child_process (never loaded here).
import { killGroup } from './process-group.js';
import type { ChildExit, Spawn } from './process.js';
import { realtimeSignalName } from './signal-names.js';

/** The part of Bun's Subprocess used here (the Bun types are not a dependency). */
interface BunSubprocess {
  readonly pid: number;
  readonly exited: Promise<number>;
  readonly exitCode: number | null;
  /** A number for a signal without a name in Bun (the real-time ones). */
  readonly signalCode: NodeJS.Signals | number | null;
  kill(sig: NodeJS.Signals): void;
}

interface BunRuntime {
  spawn(
    cmd: string[],
    options: { stdio: ['inherit', 'inherit', 'inherit']; detached: boolean },
  ): BunSubprocess;
}

/**
 * Bun.spawn throws at once when exec fails (posix_spawn reports it), with the errno as `code`.
 * A file execve refuses with ENOEXEC is refused (no /bin/sh fallback, unlike glibc's execvp).
 */
export const spawnWithBun: Spawn = async (file, args, options = {}) => {
  const bun = (globalThis as unknown as { Bun: BunRuntime }).Bun;
  const group = options.group === true;
  // detached: setsid in the child, as Node's option of the same name.
  const proc = bun.spawn([file, ...args], {
    stdio: ['inherit', 'inherit', 'inherit'],
    detached: group,
  });
  let reaped = false;
  const exited = proc.exited.then((): ChildExit => {
    reaped = true;
    const signal = proc.signalCode;
    if (signal === null) return { code: proc.exitCode ?? 0, signal: null };
    return { code: null, signal: typeof signal === 'number' ? realtimeSignalName(signal) : signal };
  });
  const kill = (sig: NodeJS.Signals): boolean => {
    if (group) return killGroup(proc.pid, sig);
    // Bun knows when it reaped the child, and then sends nothing: no stray signal to a
    // process that took the pid over.
    if (reaped) return false;
    proc.kill(sig);
    return true;
  };
  // The first run of code costs Bun tens to hundreds of microseconds (Bun's kill, this
  // function): a signal 0, once the child runs, pays it then rather than when a death's TERM
  // is due.
  setImmediate(() => kill(0 as unknown as NodeJS.Signals));
  return { pid: proc.pid, exited, kill };
};
