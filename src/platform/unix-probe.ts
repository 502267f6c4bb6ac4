// Under Bun, a refused Unix connection is asked about again, of the kernel itself. Bun.connect
// says ECONNREFUSED both when nothing listens on the socket and when a listener's backlog is full
// (the kernel's EAGAIN: its owner stalled, or flooded); Node's sockets keep the two apart. So
// after Bun's refusal, one non-blocking connect() through libc (bun:ffi, as watch-inotify.ts)
// says which it was. Nothing here runs unless a connection was refused: no library is opened at
// start-up.

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const EAGAIN = 11;
const ECONNREFUSED = 111;
/** struct sockaddr_un: sa_family_t (2 bytes), then sun_path[108]. */
const SUN_PATH = 108;

// The little of bun:ffi used here (no Bun types in this project).
type Fn = (...args: unknown[]) => number;
interface Ffi {
  dlopen(
    path: string,
    symbols: Record<string, { args: string[]; returns: string }>,
  ): { symbols: Record<string, Fn> };
  read: { i32(ptr: number, offset: number): number };
}

interface Libc {
  socket: Fn;
  connect: Fn;
  close: Fn;
  errno(): number;
}

let loaded: Libc | null | undefined;

function libc(): Libc | undefined {
  if (loaded === undefined) loaded = load() ?? null;
  return loaded ?? undefined;
}

function load(): Libc | undefined {
  const bun = (globalThis as { Bun?: { FFI?: Ffi } }).Bun;
  const getBuiltin = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
  if (bun === undefined) return undefined;
  let ffi: Ffi;
  try {
    ffi = bun.FFI ?? (getBuiltin?.('bun:ffi') as Ffi);
  } catch {
    return undefined;
  }
  // glibc's soname; musl's dlopen takes any `libc.*` name for itself (see watch-inotify.ts).
  for (const name of ['libc.so.6', 'libc.so']) {
    try {
      const { symbols } = ffi.dlopen(name, {
        socket: { args: ['i32', 'i32', 'i32'], returns: 'i32' },
        connect: { args: ['i32', 'ptr', 'u32'], returns: 'i32' },
        close: { args: ['i32'], returns: 'i32' },
        __errno_location: { args: [], returns: 'ptr' },
      });
      const fn = (s: string): Fn => symbols[s] as Fn;
      const errnoAt = fn('__errno_location');
      return {
        socket: fn('socket'),
        connect: fn('connect'),
        close: fn('close'),
        errno: () => ffi.read.i32(errnoAt(), 0),
      };
    } catch {
      // the next name
    }
  }
  return undefined;
}

/**
 * What listens at the Unix socket `path` now, as the kernel says it to a non-blocking connect():
 * `listening` when a listener is there (its backlog full: EAGAIN; or it took this connection,
 * closed at once: the backlog had room again), `refused` when nothing listens (ECONNREFUSED), and
 * undefined when it cannot be told (not Bun, no libc to call, another error).
 */
export function probeUnix(path: string): 'listening' | 'refused' | undefined {
  const c = libc();
  const bytes = Buffer.from(path);
  if (c === undefined || bytes.length >= SUN_PATH || bytes.includes(0)) return undefined;
  const address = Buffer.alloc(2 + SUN_PATH);
  address.writeUInt16LE(AF_UNIX, 0); // little-endian: x64 and arm64, the targets built
  bytes.copy(address, 2);
  const fd = c.socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return undefined;
  try {
    if (c.connect(fd, address, 2 + bytes.length + 1) === 0) return 'listening';
    const errno = c.errno();
    return errno === EAGAIN ? 'listening' : errno === ECONNREFUSED ? 'refused' : undefined;
  } finally {
    c.close(fd);
  }
}
