// inotify on the graveyard folder that survives the folder being deleted, moved away or
// replaced: the watch follows the path, not the first inode. No polling: while the folder is
// missing, the nearest folder above it that exists is watched until the path is back.
import { statSync } from '../platform/fs.js';
import { eventsMayBeLost, watchDir, type DirEvents, type DirWatch } from '../platform/watch.js';
import { baseName, parentPath, relativePath } from './paths.js';

export interface FolderListener {
  /** A file in the folder changed; null: anything may have changed (read every file again). */
  change(name: string | null): void;
  /** Something worth a trace line: the folder went away, came back, a watch failed. */
  notice(message: string): void;
  /**
   * After the start, the folder could not be watched again (an inotify limit, a folder we may
   * not read): until a retry succeeds, no change is seen. Worth an error line, not a trace.
   */
  lost(err: Error): void;
}

export interface FolderWatch {
  close(): void;
}

interface Identity {
  dev: number;
  ino: number;
}

type State =
  | { mode: 'none' }
  /** The folder itself is watched: this inode. */
  | { mode: 'folder'; watcher: DirWatch; id: Identity }
  /** The folder is missing: `path`, the nearest folder above it, is watched. */
  | { mode: 'waiting'; watcher: DirWatch; path: string; id: Identity | undefined };

// The last resort, only where events may be lost (Bun's fs.watch, when inotify cannot be used
// directly; see platform/watch.ts): it drops an event that closely follows another of the same
// name, so the last of a folder's quick deletions and re-creations may be the one lost; and a
// new watch on the path of a just-deleted one was seen, rarely, to go dead with it (Bun 1.4.5).
// There, a moment after the folder's own last event, the path is looked at once more, and a
// folder watched again meanwhile is watched anew and read whole.
const RECHECK_FOLDER_MS = 50;
/** A watch lost after the start is tried again after 1 s, doubling up to 30 s. */
const RETRY_LOST_MIN_MS = 1000;
const RETRY_LOST_MAX_MS = 30_000;

function directoryAt(path: string): Identity | undefined {
  try {
    const s = statSync(path);
    return s.isDirectory() ? { dev: s.dev, ino: s.ino } : undefined;
  } catch {
    return undefined;
  }
}

const same = (a: Identity | undefined, b: Identity | undefined): boolean =>
  a !== undefined && b !== undefined && a.dev === b.dev && a.ino === b.ino;

/**
 * Watches `dir`, or waits for it when it is missing. Throws only when the first watch cannot be
 * set up (an inotify limit: the error says which sysctl to raise); later failures are noticed.
 */
export function watchFolder(dir: string, listener: FolderListener): FolderWatch {
  const name = baseName(dir);
  const recheckFolder = eventsMayBeLost();
  let state: State = { mode: 'none' };
  let closed = false;
  let recheck: NodeJS.Timeout | undefined;
  let rewatched = false; // since the last recheck
  // A lost watch is tried again, backing off: the only timer here that is not Bun's workaround,
  // and it runs only while nothing can be watched at all.
  let retry: NodeJS.Timeout | undefined;
  let retryMs = RETRY_LOST_MIN_MS;
  const retryLater = (): void => {
    clearTimeout(retry);
    retry = setTimeout(() => {
      retry = undefined;
      follow(false);
    }, retryMs).unref();
    retryMs = Math.min(retryMs * 2, RETRY_LOST_MAX_MS);
  };
  const recheckLater = (): void => {
    if (!recheckFolder) return;
    clearTimeout(recheck);
    recheck = setTimeout(() => {
      if (rewatched && state.mode === 'folder') stop();
      rewatched = false;
      follow(false);
    }, RECHECK_FOLDER_MS).unref();
  };

  const stop = (): void => {
    // Before any new watch: Bun gives a new watch on a path the old, dead one while it is open.
    if (state.mode !== 'none') state.watcher.close();
    state = { mode: 'none' };
  };

  const onError = (err: Error): void => {
    // Events may have been lost: watch again, read everything.
    listener.notice(`error: ${err.message}`);
    stop();
    follow(false);
  };

  /** Watches the folder; false when it is not there (or was replaced while we looked). */
  const attach = (): boolean => {
    const before = directoryAt(dir);
    if (before === undefined) return false;
    const w = watchOrExplain(dir, {
      event: (file) => {
        if (state.mode === 'folder' && state.watcher === w) onFolderEvent(file);
      },
      error: (err) => {
        if (state.mode !== 'none' && state.watcher === w) onError(err);
      },
    });
    if (w === undefined) return false;
    // The inode watched is the one seen before and after the watch: else it changed between.
    if (!same(directoryAt(dir), before)) {
      w.close();
      return false;
    }
    state = { mode: 'folder', watcher: w, id: before };
    return true;
  };

  /** Watches the nearest folder above that exists, unless it is already the one watched;
   * false when nothing changed. */
  const waitAbove = (): boolean => {
    let above = parentPath(dir);
    while (directoryAt(above) === undefined && parentPath(above) !== above)
      above = parentPath(above);
    const id = directoryAt(above);
    if (state.mode === 'waiting' && state.path === above && same(state.id, id)) return false;
    stop();
    // Only the next name on the way down matters, and the folder's own deletion or move.
    const next = relativePath(above, dir).split('/')[0];
    const self = baseName(above);
    const w = watchOrExplain(above, {
      event: (file) => {
        if (state.mode !== 'waiting' || state.watcher !== w) return;
        if (file !== null && file !== next && file !== self) return;
        follow(false);
        recheckLater();
      },
      error: (err) => {
        if (state.mode !== 'none' && state.watcher === w) onError(err);
      },
    });
    if (w === undefined) return true; // gone meanwhile: look again
    state = { mode: 'waiting', watcher: w, path: above, id };
    listener.notice(`folder gone: waiting for it in ${above}`);
    return true;
  };

  /**
   * Brings the watch in line with what is at the path now. A folder watched again after it was
   * replaced or came back is read whole (`change(null)`): files may have landed meanwhile.
   */
  const follow = (first: boolean): void => {
    if (closed) return;
    try {
      let waited = state.mode === 'waiting';
      // Each new watch is followed by another look, so that a change in between is not missed.
      for (;;) {
        if (state.mode === 'folder') {
          if (same(directoryAt(dir), state.id)) return;
          listener.notice('folder deleted, moved or replaced: watching its path again');
          stop();
        }
        if (directoryAt(dir) !== undefined) {
          stop();
          if (!attach()) continue;
          if (waited) listener.notice('folder is back: watching it again');
          if (!first) rewatched = true;
          if (retryMs !== RETRY_LOST_MIN_MS) listener.notice('watching again after a lost watch');
          retryMs = RETRY_LOST_MIN_MS;
          if (!first) listener.change(null);
          return;
        }
        if (!waitAbove()) return;
        waited = true;
      }
    } catch (err) {
      if (first) throw err;
      // An inotify limit, or a folder we may not read: nothing left to watch. Say it loudly,
      // don't crash, and try again later (each success reads every file again).
      stop();
      listener.lost(err as Error);
      retryLater();
    }
  };

  const onFolderEvent = (file: string | null): void => {
    // The folder's own deletion or move comes under its own name (or none): look at the path.
    if (file === null || file === name) {
      const before = state;
      follow(false);
      recheckLater();
      if (state !== before) return; // watched again (and read whole), or waiting
    }
    listener.change(file);
  };

  follow(true);
  return {
    close(): void {
      closed = true;
      clearTimeout(recheck);
      clearTimeout(retry);
      stop();
    },
  };
}

/**
 * The platform's watch, with inotify's limits explained (a bare EMFILE tells an operator
 * nothing); undefined when the folder is gone, as it can be between a look at it and the watch.
 */
function watchOrExplain(path: string, events: DirEvents): DirWatch | undefined {
  try {
    return watchDir(path, events);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw explainWatchError(err as NodeJS.ErrnoException, path);
  }
}

export function explainWatchError(err: NodeJS.ErrnoException, path: string): Error {
  let why: string | undefined;
  if (err.code === 'EMFILE')
    why =
      'no inotify instance left (fs.inotify.max_user_instances, per user on the node, ' +
      'default 128; or kubexit is out of file descriptors): raise it on the node, ' +
      'e.g. sysctl -w fs.inotify.max_user_instances=512';
  else if (err.code === 'ENOSPC')
    why =
      'no inotify watch left (fs.inotify.max_user_watches, per user on the node): raise it ' +
      'on the node, e.g. sysctl -w fs.inotify.max_user_watches=524288';
  if (why === undefined) return err;
  const e = new Error(`cannot watch ${path}: ${err.code}: ${why}`, { cause: err });
  (e as NodeJS.ErrnoException).code = err.code;
  return e;
}
