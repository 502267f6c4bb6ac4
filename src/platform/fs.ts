// The runtime's file calls: Node's own under Node, libc's (./libc.ts) under Bun. The functions
// keep node:fs's names, arguments, results and errors (code, errno, syscall, path, message), for
// the few the supervisor makes, synchronous all: a tombstone is one page on a local folder.
// Under Bun, loading node:fs would cost every start ~0.6 MiB and its warm-up thread (libc.ts).
import { libc, type Libc, systemError } from './libc.js';

/** What the runtime reads of a file's status: node:fs's Stats has it all. */
export interface FileStats {
  readonly dev: number;
  readonly ino: number;
  readonly mode: number;
  readonly size: number;
  readonly ctimeMs: number;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
  isFIFO(): boolean;
  isSocket(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
}

type NodeFs = typeof import('node:fs');

export interface Files {
  constants: {
    O_RDONLY: number;
    O_WRONLY: number;
    O_CREAT: number;
    O_EXCL: number;
    O_NOCTTY: number;
    O_APPEND: number;
    O_NONBLOCK: number;
    O_DIRECTORY: number;
    O_NOFOLLOW: number;
  };
  openSync(path: string, flags: number, mode?: number): number;
  closeSync(fd: number): void;
  /** `position` null: from the file's offset, which moves. */
  readSync(
    fd: number,
    buf: Uint8Array,
    offset: number,
    length: number,
    position: number | null,
  ): number;
  writeSync(
    fd: number,
    buf: Uint8Array,
    offset?: number,
    length?: number,
    position?: number | null,
  ): number;
  fstatSync(fd: number): FileStats;
  statSync(path: string): FileStats;
  lstatSync(path: string): FileStats;
  renameSync(from: string, to: string): void;
  unlinkSync(path: string): void;
  mkdirSync(path: string, options?: { recursive?: boolean }): unknown;
  chmodSync(path: string, mode: number): void;
  ftruncateSync(fd: number, length: number): void;
  readlinkSync(path: string): string;
}

let node: NodeFs | undefined;
/**
 * node:fs, loaded on first use: for what only a rare path needs under Bun too (a process
 * group's end, orphans, an exec failure's explanation).
 */
export function nodeFs(): NodeFs {
  return (node ??= (process.getBuiltinModule?.('node:fs') ??
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- Node < 20.16: the bundle's require
    require('node:fs')) as NodeFs);
}

// statx(2): one layout on every architecture, unlike struct stat.
const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const AT_EMPTY_PATH = 0x1000;
const STATX_BASIC_STATS = 0x7ff;
const STATX_SIZE = 256;
const S_IFMT = 0o170000;

class Statx implements FileStats {
  readonly dev: number;
  readonly ino: number;
  readonly mode: number;
  readonly size: number;
  readonly ctimeMs: number;
  constructor(b: Buffer) {
    this.mode = b.readUInt16LE(28);
    this.ino = Number(b.readBigUInt64LE(32));
    this.size = Number(b.readBigUInt64LE(40));
    this.ctimeMs = Number(b.readBigInt64LE(96)) * 1000 + b.readUInt32LE(104) / 1e6;
    // glibc's makedev, as Node reports st_dev
    const major = b.readUInt32LE(136);
    const minor = b.readUInt32LE(140);
    this.dev =
      (major & 0xfff) * 256 + (minor & 0xff) + (minor & ~0xff) * 4096 + (major >>> 12) * 2 ** 44;
  }
  private kind(k: number): boolean {
    return (this.mode & S_IFMT) === k;
  }
  isFile(): boolean {
    return this.kind(0o100000);
  }
  isDirectory(): boolean {
    return this.kind(0o040000);
  }
  isSymbolicLink(): boolean {
    return this.kind(0o120000);
  }
  isFIFO(): boolean {
    return this.kind(0o010000);
  }
  isSocket(): boolean {
    return this.kind(0o140000);
  }
  isCharacterDevice(): boolean {
    return this.kind(0o020000);
  }
  isBlockDevice(): boolean {
    return this.kind(0o060000);
  }
}

const EINTR = 4;
const ENOENT = 2;
const EEXIST = 17;
const ENOSYS = 38;

function libcFiles(c: Libc): Files | undefined {
  const libcStatx = c.statx;
  if (libcStatx === undefined) return undefined;
  const statBuf = Buffer.alloc(STATX_SIZE);
  const empty = Buffer.from([0]);
  /** A path as C takes it. A NUL inside would name another file: refused, as Node does. */
  const cPath = (path: string): Buffer => {
    if (path.includes('\0')) {
      const err: NodeJS.ErrnoException = new TypeError(
        `The argument 'path' must be a string, Uint8Array, or URL without null bytes. Received ${JSON.stringify(path)}`,
      );
      err.code = 'ERR_INVALID_ARG_VALUE';
      throw err;
    }
    return Buffer.from(`${path}\0`);
  };
  /** Runs a call again when a signal interrupted it; -1 otherwise throws. */
  const call = (run: () => number, syscall: string, path?: string, dest?: string): number => {
    for (;;) {
      const r = run();
      if (r !== -1) return r;
      const n = c.errno();
      if (n !== EINTR) throw systemError(n, syscall, path, dest);
    }
  };
  const statx = (
    dirfd: number,
    path: Buffer,
    flags: number,
    syscall: string,
    shown?: string,
  ): FileStats => {
    call(() => libcStatx(dirfd, path, flags, STATX_BASIC_STATS, statBuf), syscall, shown);
    return new Statx(statBuf);
  };
  // A kernel without statx (before 4.11), or a seccomp profile refusing it: Node's calls then.
  if (
    libcStatx(AT_FDCWD, Buffer.from('/\0'), 0, STATX_BASIC_STATS, statBuf) === -1 &&
    c.errno() === ENOSYS
  )
    return undefined;

  const O_CLOEXEC = 0o2000000;
  const arm = process.arch === 'arm64';
  const files: Files = {
    constants: {
      O_RDONLY: 0,
      O_WRONLY: 1,
      O_CREAT: 0o100,
      O_EXCL: 0o200,
      O_NOCTTY: 0o400,
      O_APPEND: 0o2000,
      O_NONBLOCK: 0o4000,
      O_DIRECTORY: arm ? 0o40000 : 0o200000,
      O_NOFOLLOW: arm ? 0o100000 : 0o400000,
    },
    // Close on exec, as Node (libuv) opens every file: the child inherits none of ours.
    openSync: (path, flags, mode = 0o666) =>
      call(() => c.open(cPath(path), flags | O_CLOEXEC, mode), 'open', path),
    closeSync: (fd) => {
      // Not retried: the descriptor is released even when close says EINTR.
      if (c.close(fd) === -1 && c.errno() !== EINTR) throw systemError(c.errno(), 'close');
    },
    readSync: (fd, buf, offset, length, position) => {
      const into = buf.subarray(offset, offset + length);
      return position === null || position < 0
        ? call(() => c.read(fd, into, into.length), 'read')
        : call(() => c.pread(fd, into, into.length, position), 'read');
    },
    writeSync: (fd, buf, offset = 0, length = buf.length - offset, position = null) => {
      const from = buf.subarray(offset, offset + length);
      return position === null || position < 0
        ? call(() => c.write(fd, from, from.length), 'write')
        : call(() => c.pwrite(fd, from, from.length, position), 'write');
    },
    fstatSync: (fd) => statx(fd, empty, AT_EMPTY_PATH, 'fstat'),
    statSync: (path) => statx(AT_FDCWD, cPath(path), 0, 'stat', path),
    lstatSync: (path) => statx(AT_FDCWD, cPath(path), AT_SYMLINK_NOFOLLOW, 'lstat', path),
    renameSync: (from, to) => {
      call(() => c.rename(cPath(from), cPath(to)), 'rename', from, to);
    },
    unlinkSync: (path) => {
      call(() => c.unlink(cPath(path)), 'unlink', path);
    },
    mkdirSync: (path, options) => {
      if (options?.recursive) return mkdirs(path);
      call(() => c.mkdir(cPath(path), 0o777), 'mkdir', path);
      return undefined;
    },
    chmodSync: (path, mode) => {
      call(() => c.chmod(cPath(path), mode), 'chmod', path);
    },
    ftruncateSync: (fd, length) => {
      call(() => c.ftruncate(fd, length), 'ftruncate');
    },
    readlinkSync: (path) => {
      const buf = Buffer.alloc(4096);
      const n = call(() => c.readlink(cPath(path), buf, buf.length), 'readlink', path);
      return buf.toString('utf8', 0, n);
    },
  };
  const isDir = (path: string): boolean => {
    try {
      return files.statSync(path).isDirectory();
    } catch {
      return false; // a dangling symlink: mkdir's own EEXIST stands, as with Node
    }
  };
  /** mkdir -p: the parents first when missing; an existing folder is no error (Node's rule). */
  const mkdirs = (path: string): string | undefined => {
    const dir = path.length > 1 ? path.replace(/\/+$/, '') : path;
    const made = c.mkdir(cPath(dir), 0o777) === 0;
    if (made) return dir;
    const n = c.errno();
    if (n === EEXIST && isDir(dir)) return undefined;
    const at = dir.lastIndexOf('/');
    if (n !== ENOENT || at <= 0) throw systemError(n, 'mkdir', path);
    const parent = dir.slice(0, at);
    const first = mkdirs(parent);
    if (c.mkdir(cPath(dir), 0o777) === -1) {
      const again = c.errno();
      if (!(again === EEXIST && isDir(dir))) throw systemError(again, 'mkdir', path);
    }
    return first ?? dir;
  };
  return files;
}

const viaLibc = ((c) => c && libcFiles(c))(libc());
/** Which calls these are: libc's (under Bun) or node:fs's. */
export const backend: 'libc' | 'node:fs' = viaLibc ? 'libc' : 'node:fs';
const files: Files = viaLibc ?? (nodeFs() as unknown as Files);
export const {
  constants,
  openSync,
  closeSync,
  readSync,
  writeSync,
  fstatSync,
  statSync,
  lstatSync,
  renameSync,
  unlinkSync,
  mkdirSync,
  chmodSync,
  ftruncateSync,
  readlinkSync,
} = files;
