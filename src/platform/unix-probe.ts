// Under Bun, a refused Unix connection is asked about again, of the kernel itself. Bun.connect
// says ECONNREFUSED both when nothing listens on the socket and when a listener's backlog is full
// (the kernel's EAGAIN: its owner stalled, or flooded); Node's sockets keep the two apart. So
// after Bun's refusal, one non-blocking connect() through libc (./libc.ts) says which it was.
// Nothing here runs unless a connection was refused.
import { libc } from './libc.js';

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const EAGAIN = 11;
const ECONNREFUSED = 111;
/** struct sockaddr_un: sa_family_t (2 bytes), then sun_path[108]. */
const SUN_PATH = 108;

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
