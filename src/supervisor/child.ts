// The supervised child: one process with kubexit's own stdin, stdout and stderr.
import { spawnChild, type ChildExit } from '../platform/process.js';

export type { ChildExit };

export interface Child {
  readonly pid: number;
  readonly exited: Promise<ChildExit>;
  /** Sends a signal if the child still runs; returns whether it was sent. */
  signal(sig: NodeJS.Signals): boolean;
  running(): boolean;
}

/**
 * Starts `command`, looked up on PATH when it has no "/", with argv[0] as given, the same
 * environment, folder and file descriptors, every signal at its default. Rejects with the exec
 * error (ENOENT, EACCES, ENOEXEC…), worded the same whichever runtime runs us:
 * "spawn <file> <CODE>".
 */
export async function startChild(command: readonly string[]): Promise<Child> {
  const [file, ...args] = command;
  if (file === undefined) throw new Error('no command');
  let spawned;
  try {
    spawned = await spawnChild(file, args);
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
    signal: (sig) => alive && spawned.kill(sig),
  };
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
