// The child process, whichever runtime runs kubexit: Node (`node dist/kubexit.js`) spawns through
// node:child_process, the Bun executable through Bun.spawn, which is native and skips Node's
// compatibility layer (some 3 ms of a 10 ms start). Chosen once, when this module loads.
import { spawnWithBun } from './process-bun.js';
import { spawnWithNode } from './process-node.js';

export type ChildExit = { code: number; signal: null } | { code: null; signal: NodeJS.Signals };

/** A running child with kubexit's stdin, stdout and stderr. */
export interface Spawned {
  readonly pid: number;
  /** Resolves once the child is reaped: its exit code, or the signal that ended it. */
  readonly exited: Promise<ChildExit>;
  /**
   * Sends `sig` unless the child was reaped already; returns whether it was sent. With `group`,
   * to the child's whole process group, also after the child was reaped while any member lives.
   */
  kill(sig: NodeJS.Signals): boolean;
}

export interface SpawnOptions {
  /**
   * The child leads a new session, hence a new process group whose id is its pid (setsid: what
   * both runtimes offer); it has no controlling terminal.
   */
  group?: boolean;
}

/**
 * Runs `file` (looked up on PATH when it has no "/") with `args`, argv[0] as given, the same
 * environment and folder, and stdin, stdout and stderr inherited. Resolves once the child runs;
 * rejects with the exec error as the runtime gives it (an errno `code`: ENOENT, EACCES,
 * ENOEXEC…). The child starts with every signal at its default and none blocked, though
 * kubexit catches them all: both runtimes reset them between fork and exec.
 */
export type Spawn = (
  file: string,
  args: readonly string[],
  options?: SpawnOptions,
) => Promise<Spawned>;

export const spawnChild: Spawn = process.versions.bun === undefined ? spawnWithNode : spawnWithBun;
