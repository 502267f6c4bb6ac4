// Reading a neighbour's tombstone: whatever another container put at the path, by bug or by
// malice, the read neither blocks nor grows kubexit. Open + fstat + one read + close.
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readlinkSync,
  readSync,
  type FileStats as Stats,
} from '../platform/fs.js';
import { fileKind } from '../platform/file-kind.js';

/**
 * A tombstone is under 100 bytes (Born, Died, ExitCode); 4 KiB leaves room for a hand-written
 * one with comments, and is one page: anything larger is not a tombstone, and is not read.
 */
export const TOMBSTONE_READ_CAP = 4096;

/**
 * Non-blocking: a FIFO's open and read return at once (with or without a writer). No follow: a
 * symlink to /dev/zero or to a huge file is refused by the kernel (ELOOP), not read. No ctty: a
 * terminal device planted there cannot become ours.
 */
const FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW | constants.O_NOCTTY;

/** One buffer for every read: cap + 1 bytes tells "at the cap" from "over it". */
const buffer = Buffer.alloc(TOMBSTONE_READ_CAP + 1);

export type TombstoneRead =
  /** The file's text, whole. */
  | { kind: 'text'; text: string }
  /** No tombstone yet (or no folder). */
  | { kind: 'none' }
  /** Something that is not a tombstone: no news. `problem` names its kind (for logging once),
   * `detail` says what it is. */
  | { kind: 'ignored'; problem: string; detail: string };

export function readTombstone(path: string, again = false): TombstoneRead {
  let fd: number;
  try {
    fd = openSync(path, FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'none' };
    return unopenable(path, err as NodeJS.ErrnoException, again);
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) return notAFile(stats);
    if (stats.size > TOMBSTONE_READ_CAP) return tooLarge(`${stats.size} bytes`);
    const length = readSync(fd, buffer, 0, buffer.length, 0);
    // It grew between the fstat and the read: still too large, whatever it ends as.
    if (length > TOMBSTONE_READ_CAP) return tooLarge('and growing');
    return { kind: 'text', text: buffer.toString('utf8', 0, length) };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return {
      kind: 'ignored',
      problem: `unreadable (${e.code})`,
      detail: `unreadable: ${e.message}`,
    };
  } finally {
    closeSync(fd);
  }
}

function tooLarge(size: string): TombstoneRead {
  const problem = `larger than the ${TOMBSTONE_READ_CAP}-byte cap`;
  return { kind: 'ignored', problem, detail: `${problem} (${size}), not read` };
}

function notAFile(stats: Stats): TombstoneRead {
  const problem = fileKind(stats) ?? 'a regular file';
  return { kind: 'ignored', problem, detail: `${problem}, not a regular file` };
}

/** The open failed: say what is there, from the unusual path only (an lstat, a readlink). */
function unopenable(path: string, err: NodeJS.ErrnoException, again: boolean): TombstoneRead {
  let stats: Stats | undefined;
  try {
    stats = lstatSync(path);
  } catch {
    // gone meanwhile: the error is all there is to say
  }
  // A regular file now: what failed was replaced meanwhile (a tombstone renamed over a socket).
  // Read it, once: not "unreadable", which a tombstone that is there isn't.
  if (stats?.isFile() && !again) return readTombstone(path, true);
  // ELOOP is O_NOFOLLOW meeting a symlink: it was one, even if it was replaced before the lstat.
  if (err.code === 'ELOOP' || stats?.isSymbolicLink()) {
    let target = '?';
    try {
      target = readlinkSync(path);
    } catch {
      // replaced meanwhile
    }
    const problem = 'a symbolic link';
    return { kind: 'ignored', problem, detail: `${problem} (to ${target}), not followed` };
  }
  // A socket's open fails (ENXIO); so does a device without a driver.
  if (stats !== undefined && !stats.isFile()) return notAFile(stats);
  return {
    kind: 'ignored',
    problem: `unreadable (${err.code})`,
    detail: `unreadable: ${err.message}`,
  };
}
