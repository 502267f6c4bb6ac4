// libc, called through Bun's FFI: what the executable uses instead of Node's file and inotify
// modules, and to ask the kernel about a socket (unix-probe.ts). One dlopen for the process, on
// first use. Under Bun, `node:fs` alone costs every start ~0.6 MiB and 21 JavaScriptCore heap
// blocks (past 64, the engine's warm-up thread keeps 0.5 MiB more for 10 s): a supervisor needs a
// dozen system calls, not that module (bench/ab.ts).
// Undefined under Node, or where libc can't be reached (callers then use Node's modules).

/** The little of Bun's FFI used here (no Bun types in this project). */
type Fn = (...args: unknown[]) => number;
interface Ffi {
  dlopen(
    path: string,
    symbols: Record<string, { args: string[]; returns: string }>,
  ): { symbols: Record<string, Fn> };
  read: { i32(ptr: number, offset: number): number };
}
interface BunGlobal {
  /** The native side of bun:ffi, without that module's JavaScript. */
  FFI?: Ffi;
}

/** Pointers are Buffers (a path: NUL-terminated); sizes and offsets fit in 32 and 53 bits. */
type Ptr = Uint8Array | null;
/** libc's own names: each is the C function of that name. */
export interface Libc {
  open(path: Ptr, flags: number, mode: number): number;
  close(fd: number): number;
  read(fd: number, buf: Ptr, count: number): number;
  pread(fd: number, buf: Ptr, count: number, offset: number): number;
  write(fd: number, buf: Ptr, count: number): number;
  pwrite(fd: number, buf: Ptr, count: number, offset: number): number;
  /** Missing from musl before 1.2.5: the file calls are then node:fs's, inotify still libc's. */
  statx?(dirfd: number, path: Ptr, flags: number, mask: number, out: Ptr): number;
  rename(from: Ptr, to: Ptr): number;
  unlink(path: Ptr): number;
  mkdir(path: Ptr, mode: number): number;
  chmod(path: Ptr, mode: number): number;
  ftruncate(fd: number, length: number): number;
  readlink(path: Ptr, buf: Ptr, size: number): number;
  inotify_init1(flags: number): number;
  inotify_add_watch(fd: number, path: Ptr, mask: number): number;
  inotify_rm_watch(fd: number, wd: number): number;
  socket(domain: number, type: number, protocol: number): number;
  connect(fd: number, address: Ptr, length: number): number;
  /** errno after a call that returned -1. */
  errno(): number;
}

// Each returns int or ssize_t: i32 holds every count here (buffers of a few KiB), and -1.
const I32 = 'i32';
const SYMBOLS: Record<string, { args: string[]; returns: string }> = {
  open: { args: ['ptr', I32, I32], returns: I32 },
  close: { args: [I32], returns: I32 },
  read: { args: [I32, 'ptr', 'u64'], returns: I32 },
  pread: { args: [I32, 'ptr', 'u64', 'i64'], returns: I32 },
  write: { args: [I32, 'ptr', 'u64'], returns: I32 },
  pwrite: { args: [I32, 'ptr', 'u64', 'i64'], returns: I32 },
  statx: { args: [I32, 'ptr', I32, 'u32', 'ptr'], returns: I32 },
  rename: { args: ['ptr', 'ptr'], returns: I32 },
  unlink: { args: ['ptr'], returns: I32 },
  mkdir: { args: ['ptr', 'u32'], returns: I32 },
  chmod: { args: ['ptr', 'u32'], returns: I32 },
  ftruncate: { args: [I32, 'i64'], returns: I32 },
  readlink: { args: ['ptr', 'ptr', 'u64'], returns: I32 },
  inotify_init1: { args: [I32], returns: I32 },
  inotify_add_watch: { args: [I32, 'ptr', 'u32'], returns: I32 },
  inotify_rm_watch: { args: [I32, I32], returns: I32 },
  socket: { args: [I32, I32, I32], returns: I32 },
  connect: { args: [I32, 'ptr', 'u32'], returns: I32 },
  __errno_location: { args: [], returns: 'ptr' },
};

const withoutStatx = (): typeof SYMBOLS =>
  Object.fromEntries(Object.entries(SYMBOLS).filter(([k]) => k !== 'statx'));

let loaded: Libc | null | undefined;

export function libc(): Libc | undefined {
  if (loaded === undefined) loaded = load() ?? null;
  return loaded ?? undefined;
}

function load(): Libc | undefined {
  const bun = (globalThis as { Bun?: BunGlobal }).Bun;
  if (bun === undefined) return undefined;
  let ffi: Ffi;
  try {
    // Bun.FFI is what bun:ffi wraps: these calls need none of the wrapping, and loading the
    // module costs every start some 0.06 MiB.
    ffi = bun.FFI ?? (process.getBuiltinModule?.('bun:ffi') as Ffi);
  } catch {
    return undefined;
  }
  // glibc's soname; musl's dlopen takes any `libc.*` name for itself. The installed executable
  // runs through its own loader, with this same libc already mapped: dlopen finds it there.
  // Then without statx. (Only built on that path: every allocation at start-up counts, see top.)
  for (const name of ['libc.so.6', 'libc.so'])
    for (const all of [true, false]) {
      let s: Record<string, Fn>;
      try {
        s = ffi.dlopen(name, all ? SYMBOLS : withoutStatx()).symbols;
      } catch {
        continue; // no such library, or a symbol missing
      }
      const errnoAt = s.__errno_location as Fn;
      return { ...(s as unknown as Libc), errno: () => ffi.read.i32(errnoAt(), 0) };
    }
  return undefined;
}

/**
 * Linux's errno numbers (the same on x86-64 and arm64) and libuv's words for them: the errors
 * read as Node's own. Only the ones a supervisor's file calls meet; any other is named through
 * node:os, loaded then (it costs memory at start-up under Bun).
 */
const ERRORS: Record<number, [string, string]> = {
  1: ['EPERM', 'operation not permitted'],
  2: ['ENOENT', 'no such file or directory'],
  4: ['EINTR', 'interrupted system call'],
  5: ['EIO', 'i/o error'],
  6: ['ENXIO', 'no such device or address'],
  9: ['EBADF', 'bad file descriptor'],
  11: ['EAGAIN', 'resource temporarily unavailable'],
  12: ['ENOMEM', 'not enough memory'],
  13: ['EACCES', 'permission denied'],
  16: ['EBUSY', 'resource busy or locked'],
  17: ['EEXIST', 'file already exists'],
  18: ['EXDEV', 'cross-device link not permitted'],
  19: ['ENODEV', 'no such device'],
  20: ['ENOTDIR', 'not a directory'],
  21: ['EISDIR', 'illegal operation on a directory'],
  22: ['EINVAL', 'invalid argument'],
  23: ['ENFILE', 'file table overflow'],
  24: ['EMFILE', 'too many open files'],
  26: ['ETXTBSY', 'text file is busy'],
  27: ['EFBIG', 'file too large'],
  28: ['ENOSPC', 'no space left on device'],
  29: ['ESPIPE', 'invalid seek'],
  30: ['EROFS', 'read-only file system'],
  31: ['EMLINK', 'too many links'],
  32: ['EPIPE', 'broken pipe'],
  36: ['ENAMETOOLONG', 'name too long'],
  38: ['ENOSYS', 'function not implemented'],
  39: ['ENOTEMPTY', 'directory not empty'],
  40: ['ELOOP', 'too many symbolic links encountered'],
  75: ['EOVERFLOW', 'value too large for defined data type'],
  95: ['ENOTSUP', 'operation not supported on socket'],
  122: ['EDQUOT', 'disk quota exceeded'],
};

/** The code Node would give errno `n` (ENOENT…). */
export function errnoCode(n: number): string {
  const known = ERRORS[n];
  if (known !== undefined) return known[0];
  const os = process.getBuiltinModule?.('node:os') as typeof import('node:os') | undefined;
  return Object.entries(os?.constants.errno ?? {}).find(([, v]) => v === n)?.[0] ?? 'UNKNOWN';
}

/** An error shaped as Node's own (message, code, errno, syscall, path, dest). */
export function systemError(
  n: number,
  syscall: string,
  path?: string,
  dest?: string,
): NodeJS.ErrnoException {
  const code = errnoCode(n);
  const words = ERRORS[n]?.[1] ?? 'unknown error';
  const where =
    path === undefined ? '' : dest === undefined ? ` '${path}'` : ` '${path}' -> '${dest}'`;
  const err: NodeJS.ErrnoException & { dest?: string } = new Error(
    `${code}: ${words}, ${syscall}${where}`,
  );
  err.code = code;
  err.errno = -n;
  err.syscall = syscall;
  if (path !== undefined) err.path = path;
  if (dest !== undefined) err.dest = dest;
  return err;
}
