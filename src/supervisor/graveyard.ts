// The graveyard: the folder shared by a pod's containers, one tombstone file per container.
import { rfc3339Nano } from './clock.js';
import { readTombstone, type TombstoneRead } from './graveyard-read.js';
import { watchFolder, type FolderListener, type FolderWatch } from './graveyard-watch.js';
import type { Trace } from './log.js';
import { joinPath } from './paths.js';
import { formatTombstone, type Tombstone, type TombstoneEnding } from './tombstone.js';
import { writeTombstoneFile } from './tombstone-write.js';

/** Temporary files of atomic writes; watchers skip them (Go's skip them too: not a dep name). */
const TEMP = /^\.kubexit-[0-9a-z]+\.tmp$/;

export function isTempName(name: string): boolean {
  return TEMP.test(name);
}

export class Graveyard {
  constructor(readonly dir: string) {}

  pathOf(name: string): string {
    return joinPath(this.dir, name);
  }

  /**
   * Atomic when it can be, else in place over the file already there (a full volume): see
   * tombstone-write.ts. Throws a TombstoneWriteError, with the path, the errno and a hint.
   */
  write(name: string, tombstone: Tombstone & TombstoneEnding): void {
    writeTombstoneFile(this.dir, name, formatTombstone(tombstone));
  }

  /**
   * Another container's tombstone, read without blocking, following a symlink, or reading more
   * than a small cap: whatever is at the path, the answer comes at once.
   */
  read(name: string): TombstoneRead {
    return readTombstone(this.pathOf(name));
  }

  /**
   * inotify on the folder, kept when the folder is deleted, moved or replaced (it is watched
   * again, and read whole); while it is missing, its return is awaited, without polling.
   */
  watch(listener: FolderListener): FolderWatch {
    return watchFolder(this.dir, listener);
  }
}

/** This container's own tombstone: Born when the child starts, Died with the exit code. */
export class OwnTombstone {
  private readonly state: Tombstone & TombstoneEnding = {};

  constructor(
    private readonly graveyard: Graveyard,
    readonly name: string,
    private readonly trace?: Trace,
  ) {}

  get path(): string {
    return this.graveyard.pathOf(this.name);
  }

  /**
   * Before anything else: proves the tombstone can be written, and keeps its place (a block, a
   * tmpfs page) for Died on a volume that fills up later. Writes `{}\n`, Go's empty tombstone,
   * which every reader takes for a living container, as it does a missing file.
   */
  reserve(birthDeps?: string): void {
    if (birthDeps) this.state.birthDeps = birthDeps; // so that waiters can see a cycle
    this.graveyard.write(this.name, this.state);
  }

  /** With `ready`, the child is ready as it starts (no probe): one write says both. */
  born(ready = false): void {
    this.trace?.event(`Creating tombstone: ${this.path}`);
    this.state.born = rfc3339Nano();
    if (ready) this.state.ready = this.state.born;
    delete this.state.birthDeps; // no longer waiting: no cycle can run through us
    this.graveyard.write(this.name, this.state);
  }

  /** The readiness probe passed. */
  ready(): void {
    this.trace?.event(`Updating tombstone (ready): ${this.path}`);
    this.state.ready = rfc3339Nano();
    this.graveyard.write(this.name, this.state);
  }

  /** `ending`: how the child itself ended, written after ExitCode (see TombstoneEnding). */
  died(exitCode: number, ending?: TombstoneEnding): void {
    this.trace?.event(`Updating tombstone: ${this.path}`);
    this.state.died = rfc3339Nano();
    this.state.exitCode = exitCode;
    Object.assign(this.state, ending);
    delete this.state.birthDeps;
    this.graveyard.write(this.name, this.state);
  }
}
