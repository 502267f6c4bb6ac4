// inotify on the graveyard folder that survives the folder being deleted, moved away or
// replaced: the watch follows the path, not the first inode. No polling: while the folder is
// missing, the nearest folder above it that exists is watched until the path is back.
import { statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, relative, sep } from 'node:path';

export interface FolderListener {
  /** A file in the folder changed; null: anything may have changed (read every file again). */
  change(name: string | null): void;
  /** Something worth a trace line: the folder went away, came back, a watch failed. */
  notice(message: string): void;
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
  | { mode: 'folder'; watcher: FSWatcher; id: Identity }
  /** The folder is missing: `path`, the nearest folder above it, is watched. */
  | { mode: 'waiting'; watcher: FSWatcher; path: string; id: Identity | undefined };

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
  const name = basename(dir);
  let state: State = { mode: 'none' };
  let closed = false;

  const stop = (): void => {
    // Before any new watch: Bun gives a new watch on a path the old, dead one while it is open.
    if (state.mode !== 'none') state.watcher.close();
    state = { mode: 'none' };
  };

  const onError = (err: Error): void => {
    // Events may have been lost: watch again, read everything.
    listener.notice(`error: ${err.message}`);
    stop();
    follow(false, true);
  };

  /** Watches the folder; false when it is not there (or was replaced while we looked). */
  const attach = (): boolean => {
    const before = directoryAt(dir);
    if (before === undefined) return false;
    const w: FSWatcher = watchOrExplain(dir, (_event, file) => {
      if (state.mode === 'folder' && state.watcher === w) onFolderEvent(file);
    });
    // The inode watched is the one seen before and after the watch: else it changed between.
    if (!same(directoryAt(dir), before)) {
      w.close();
      return false;
    }
    w.on('error', onError);
    state = { mode: 'folder', watcher: w, id: before };
    return true;
  };

  /** Watches the nearest folder above that exists, unless it is already the one watched. */
  const waitAbove = (): boolean => {
    let above = dirname(dir);
    while (directoryAt(above) === undefined && dirname(above) !== above) above = dirname(above);
    const id = directoryAt(above);
    if (state.mode === 'waiting' && state.path === above && same(state.id, id)) return false;
    stop();
    // Only the next name on the way down matters, and the folder's own deletion or move.
    const next = relative(above, dir).split(sep)[0];
    const self = basename(above);
    const w: FSWatcher = watchOrExplain(above, (_event, file) => {
      if (state.mode !== 'waiting' || state.watcher !== w) return;
      if (file === null || file === next || file === self) follow(false, false);
    });
    w.on('error', onError);
    state = { mode: 'waiting', watcher: w, path: above, id };
    listener.notice(`folder gone: waiting for it in ${above}`);
    return true;
  };

  /**
   * Brings the watch in line with what is at the path now. A folder watched again after it was
   * replaced or came back is read whole (`change(null)`): files may have landed meanwhile.
   */
  const follow = (first: boolean, rescan: boolean): void => {
    if (closed) return;
    try {
      let replaced = rescan;
      // Each new watch is followed by another look, so that a change in between is not missed.
      for (;;) {
        if (state.mode === 'folder') {
          if (same(directoryAt(dir), state.id)) break;
          listener.notice('folder deleted, moved or replaced: watching its path again');
          stop();
          replaced = true;
        }
        if (directoryAt(dir) !== undefined) {
          const wasWaiting = state.mode === 'waiting';
          stop();
          if (!attach()) continue;
          if (wasWaiting) listener.notice('folder is back: watching it again');
          if (wasWaiting || replaced) listener.change(null);
          break;
        }
        if (!waitAbove()) break;
        replaced = true;
      }
    } catch (err) {
      if (first) throw err;
      // An inotify limit, or a folder we may not read: nothing left to watch. Say it, don't crash.
      listener.notice(`error: ${(err as Error).message}`);
    }
  };

  const onFolderEvent = (file: string | null): void => {
    // The folder's own deletion or move comes under its own name (or none): look at the path.
    if (file === null || file === name) {
      const before = state;
      follow(false, false);
      if (state !== before) return; // watched again (and read whole), or waiting
    }
    listener.change(file);
  };

  follow(true, false);
  return {
    close(): void {
      closed = true;
      stop();
    },
  };
}

/** fs.watch, with inotify's limits explained: a bare EMFILE tells an operator nothing. */
function watchOrExplain(
  path: string,
  listener: (event: string, file: string | null) => void,
): FSWatcher {
  try {
    return watch(path, { persistent: false }, listener);
  } catch (err) {
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
