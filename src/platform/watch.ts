// Watching one folder's entries with inotify. Under Node, fs.watch is inotify itself. Under Bun,
// fs.watch drops an event that comes within about a millisecond of an earlier one of the same
// file (its own de-duplication), which loses the write of a Go kubexit's truncate-then-write:
// so under Bun the folder is watched with inotify directly (watch-inotify.ts), and Bun's
// fs.watch is only the fallback when libc cannot be reached (callers then re-read a moment
// after each event, see eventsMayBeLost).
import { nodeFs } from './fs.js';
import { inotify } from './watch-inotify.js';

export interface DirEvents {
  /** An entry changed (`file`), or the folder itself, or anything (null: look at everything). */
  event(file: string | null): void;
  /** The watch broke (events may have been lost): close it and watch again. */
  error(err: Error): void;
}

export interface DirWatch {
  close(): void;
}

const BUN = process.versions.bun !== undefined;

/**
 * Watches the entries of the folder `path` (not recursively). Throws the system error when it
 * cannot: ENOENT or ENOTDIR when no folder is there, EMFILE or ENOSPC at an inotify limit.
 */
export function watchDir(path: string, events: DirEvents): DirWatch {
  const native = BUN ? inotify() : undefined;
  if (native !== undefined) return native.watch(path, events);
  const w = nodeFs().watch(path, { persistent: false }, (_event, file) => events.event(file));
  w.on('error', (err) => events.error(err));
  return w;
}

/**
 * True when an event may be dropped (Bun's fs.watch, only when inotify could not be used
 * directly): the caller then reads again a moment after the last event, as a last resort.
 */
export function eventsMayBeLost(): boolean {
  return BUN && inotify() === undefined;
}
