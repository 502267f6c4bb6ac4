// The supervised child: one process with kubexit's own stdin, stdout and stderr.
import { groupRuns } from '../platform/process-group.js';
import { spawnChild, type ChildExit } from '../platform/process.js';
import type { Trace } from './log.js';
import { after } from './timers.js';

export type { ChildExit };

export interface Child {
  readonly pid: number;
  readonly exited: Promise<ChildExit>;
  /**
   * Sends a signal if the child still runs; returns whether it was sent. In its own group
   * (KUBEXIT_KILL_GROUP), to the whole group, as long as a member is left.
   */
  signal(sig: NodeJS.Signals): boolean;
  running(): boolean;
  /** Whether the child leads a process group of its own. */
  readonly group: boolean;
}

/**
 * Starts `command`, looked up on PATH when it has no "/", with argv[0] as given, the same
 * environment, folder and file descriptors, every signal at its default. Rejects with the exec
 * error (ENOENT, EACCES, ENOEXEC…), worded the same whichever runtime runs us:
 * "spawn <file> <CODE>".
 */
export async function startChild(
  command: readonly string[],
  { group = false }: { group?: boolean } = {},
): Promise<Child> {
  const [file, ...args] = command;
  if (file === undefined) throw new Error('no command');
  let spawned;
  try {
    spawned = await spawnChild(file, args, { group });
  } catch (err) {
    throw execError(err as NodeJS.ErrnoException, file);
  }
  let alive = true;
  const exited = spawned.exited.then((exit) => {
    alive = false;
    return exit;
  });
  return {
    pid: spawned.pid,
    exited,
    running: () => alive,
    signal: (sig) => (alive || group) && spawned.kill(sig),
    group,
  };
}

/**
 * Once a group's leader has exited: TERM what is left of the group, KILL it after `graceMs`.
 * Resolves when no member runs any more, or once the KILL is sent (a zombie member that nobody
 * reaps is done, though kill(2) still finds it).
 */
export async function endRestOfGroup(child: Child, graceMs: number, trace: Trace): Promise<void> {
  if (!groupRuns(child.pid)) return;
  trace.event('Terminating what is left of the process group');
  child.signal('SIGTERM');
  let killed = false;
  const cancelKill = after(graceMs, () => {
    killed = true;
    trace.event('Killing what is left of the process group');
    child.signal('SIGKILL');
  });
  // Members are not our children: nothing tells when they end, so look, ever less often.
  for (let wait = 1; !killed && groupRuns(child.pid); wait = Math.min(wait * 2, 50)) {
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
  cancelKill();
}

/** Each runtime words exec errors its own way; say them as Node does, and what ENOEXEC means. */
function execError(err: NodeJS.ErrnoException, file: string): NodeJS.ErrnoException {
  if (err.code === undefined) return err;
  err.message = `spawn ${file} ${err.code}`;
  if (err.code === 'ENOEXEC') {
    err.message +=
      ': exec format error: neither a binary this system runs nor a script starting with #!';
  }
  return err;
}
