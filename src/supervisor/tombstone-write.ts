// Writing this container's own tombstone so that it lands whenever the filesystem can hold it:
// atomically (a temp file renamed over it) when it can, else in place over the file already
// there, whose block (or tmpfs page) is already allocated: a full emptyDir still takes a death.
import {
  closeSync,
  constants,
  fstatSync,
  ftruncateSync,
  lstatSync,
  mkdirSync,
  openSync,
  renameSync,
  unlinkSync,
  writeSync,
  type FileStats as Stats,
} from '../platform/fs.js';
import { joinPath } from './paths.js';

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK } = constants;

/** A name graveyard.ts's isTempName recognises: watchers (and Go's) skip it. */
function tempName(): string {
  return `.kubexit-${Math.random().toString(36).slice(2, 12)}.tmp`;
}

/** The tombstone could not be written at all: what failed, and what the user can do. */
export class TombstoneWriteError extends Error {
  constructor(
    readonly path: string,
    readonly code: string,
    message: string,
    options?: { cause: unknown },
  ) {
    super(`cannot write tombstone ${path}: ${message}`, options);
  }

  /** Fields for the JSON error line. */
  get fields(): { tombstone: string; errno: string; hint: string } {
    return { tombstone: this.path, errno: this.code, hint: hintFor(this.code) };
  }
}

/**
 * Writes `bytes` at `dir/name`, creating `dir` when missing. A symlink, FIFO or device planted at
 * the path is replaced, never followed or opened; a directory there is refused.
 */
export function writeTombstoneFile(dir: string, name: string, bytes: string): void {
  const path = joinPath(dir, name);
  const buf = Buffer.from(bytes);
  let errors = tryWrite(dir, path, buf);
  if (errors?.some((e) => e.code === 'ENOENT')) {
    try {
      mkdirSync(dir, { recursive: true }); // outside Kubernetes, or a subPath mount
      errors = tryWrite(dir, path, buf);
    } catch (err) {
      errors = [err as NodeJS.ErrnoException];
    }
  }
  if (!errors) return;
  const [first, ...more] = errors as [NodeJS.ErrnoException, ...NodeJS.ErrnoException[]];
  const also = more
    .filter((e) => e.code !== first.code)
    .map((e) => `; in place: ${e.message}`)
    .join('');
  throw new TombstoneWriteError(path, first.code ?? 'EIO', first.message + also, { cause: first });
}

/** Undefined once written; else why not, atomically and then in place. */
function tryWrite(dir: string, path: string, buf: Buffer): NodeJS.ErrnoException[] | undefined {
  try {
    writeAtomic(dir, path, buf);
    return undefined;
  } catch (atomic) {
    // No room for a new file (ENOSPC), a folder we may not create in, a temp path too long…:
    // the file that is already there may still take the new bytes.
    try {
      writeInPlace(path, buf);
      return undefined;
    } catch (inPlace) {
      return [atomic as NodeJS.ErrnoException, inPlace as NodeJS.ErrnoException];
    }
  }
}

/** Readers see the old file or the new one, never a partial one. No fsync: an emptyDir does not
 * outlive the pod, let alone the node. */
function writeAtomic(dir: string, path: string, buf: Buffer): void {
  for (;;) {
    const temp = joinPath(dir, tempName());
    let fd: number;
    try {
      fd = openSync(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o666);
    } catch (err) {
      if (codeOf(err) === 'EEXIST') continue; // another writer's name
      throw err;
    }
    try {
      try {
        writeAll(fd, buf, 0);
      } finally {
        closeSync(fd);
      }
      renameSync(temp, path);
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
 * Over the existing regular file (or a new one): no new block is needed when the old content
 * already has one. Shrinks (to the new length) before writing: a one-read reader sees the old
 * bytes, the new ones, or a mix of the two no longer than either, never an empty file (and a
 * tmpfs truncated to 0 would give its page back). One race is the kernel's: a read that took
 * the size before a shrink and the bytes after it gets the new tombstone and then NULs; the
 * shrink's own inotify event makes a watcher read again. O_CREAT only when nothing is there: a temp
 * name too long for PATH_MAX still leaves room for the tombstone's own name.
 */
function writeInPlace(path: string, buf: Buffer): void {
  let before: Stats | undefined;
  try {
    before = lstatSync(path);
  } catch (err) {
    if (codeOf(err) !== 'ENOENT') throw err;
  }
  // Opening a FIFO or a device may block or act: only a regular file is opened.
  if (before && !before.isFile()) throw notRegular(path, before);
  const fd = openSync(
    path,
    O_WRONLY | O_NOFOLLOW | O_NONBLOCK | (before ? 0 : O_CREAT | O_EXCL),
    0o666,
  );
  let written = false;
  try {
    const now = fstatSync(fd);
    if (!now.isFile() || (before && now.ino !== before.ino)) throw notRegular(path, now);
    if (now.size > buf.length) ftruncateSync(fd, buf.length);
    writeAll(fd, buf, 0);
    written = true;
  } finally {
    closeSync(fd);
    if (!written && !before) {
      try {
        unlinkSync(path); // ours, and empty: leave no trace of a failed try
      } catch {
        // the write error is the one to report
      }
    }
  }
}

function writeAll(fd: number, buf: Buffer, position: number): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off, position + off);
}

function notRegular(path: string, st: Stats): NodeJS.ErrnoException {
  const code = st.isDirectory() ? 'EISDIR' : 'EEXIST';
  return Object.assign(new Error(`${code}: not a regular file, open '${path}'`), { code });
}

function codeOf(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** What to do about it, in one sentence. */
export function hintFor(code: string): string {
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return 'the graveyard volume is full: free space in it, or raise its sizeLimit';
    case 'EROFS':
      return 'the graveyard is mounted read-only: mount it read-write in every container that runs kubexit';
    case 'EACCES':
    case 'EPERM':
      return `the graveyard is not writable by uid ${process.getuid?.() ?? '?'}: give the volume to this user or group (fsGroup), or use an emptyDir (writable by all)`;
    case 'ENOTDIR':
      return 'part of KUBEXIT_GRAVEYARD is a file, not a folder: point KUBEXIT_GRAVEYARD at a folder';
    case 'EISDIR':
    case 'EEXIST':
      return "something that is not a file holds the tombstone's path: remove it, or set another KUBEXIT_NAME";
    case 'ENAMETOOLONG':
      return "the tombstone's path is too long: shorten KUBEXIT_GRAVEYARD or KUBEXIT_NAME";
    default:
      return 'check that KUBEXIT_GRAVEYARD is a writable folder';
  }
}
