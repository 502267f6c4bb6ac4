// The graveyard: the folder shared by a pod's containers, one tombstone file per container.
import {
  closeSync,
  constants,
  mkdirSync,
  openSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { rfc3339Nano } from './clock.js';
import { readTombstone, type TombstoneRead } from './graveyard-read.js';
import { watchFolder, type FolderListener, type FolderWatch } from './graveyard-watch.js';
import type { Trace } from './log.js';
import { formatTombstone, type Tombstone } from './tombstone.js';

/** Temporary files of atomic writes; watchers skip them (Go's skip them too: not a dep name). */
const TEMP = /^\.kubexit-[0-9a-z]+\.tmp$/;

export function isTempName(name: string): boolean {
  return TEMP.test(name);
}

export class Graveyard {
  constructor(readonly dir: string) {}

  /** Creates the folder when it is missing (outside Kubernetes, or a subPath mount). */
  ensure(): void {
    mkdirSync(this.dir, { recursive: true });
  }

  pathOf(name: string): string {
    return join(this.dir, name);
  }

  /**
   * Atomic: readers see the old file or the new one, never a partial one. A symlink planted at
   * the tombstone path is replaced, not followed (rename does not follow; O_EXCL refuses one
   * at the temp path). No fsync: an emptyDir does not outlive the pod, let alone the node.
   */
  write(name: string, tombstone: Tombstone): void {
    this.ensure();
    const bytes = formatTombstone(tombstone);
    for (;;) {
      const temp = join(this.dir, `.kubexit-${Math.random().toString(36).slice(2, 12)}.tmp`);
      let fd: number;
      try {
        fd = openSync(
          temp,
          constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
          0o666,
        );
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue; // another writer's name
        throw err;
      }
      try {
        try {
          writeSync(fd, bytes);
        } finally {
          closeSync(fd);
        }
        renameSync(temp, this.pathOf(name));
      } catch (err) {
        try {
          unlinkSync(temp);
        } catch {
          // the write error is the one to report
        }
        throw err;
      }
      return;
    }
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
  private readonly state: Tombstone = {};

  constructor(
    private readonly graveyard: Graveyard,
    readonly name: string,
    private readonly trace?: Trace,
  ) {}

  get path(): string {
    return this.graveyard.pathOf(this.name);
  }

  born(): void {
    this.trace?.event(`Creating tombstone: ${this.path}`);
    this.state.born = rfc3339Nano();
    this.graveyard.write(this.name, this.state);
  }

  died(exitCode: number): void {
    this.trace?.event(`Updating tombstone: ${this.path}`);
    this.state.died = rfc3339Nano();
    this.state.exitCode = exitCode;
    this.graveyard.write(this.name, this.state);
  }
}
