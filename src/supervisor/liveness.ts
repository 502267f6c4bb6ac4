// Crash-safe deaths: each kubexit listens on a Unix socket beside its tombstone, `.<name>.alive`,
// and its death dependents stay connected to it. The kernel closes those connections when the
// process ends, however it ends (SIGKILL, an OOM kill, the runtime killing the container), so a
// dependent learns of a death that left no `Died`, at once and without polling. Nothing travels
// on the connections: a kubexit never writes to them, and one that reads anything drops it.
// No PIDs: containers of a pod share the graveyard's folder, not a PID namespace.
import {
  chmodSync,
  closeSync,
  constants,
  lstatSync,
  mkdirSync,
  openSync,
  unlinkSync,
  type FileStats as Stats,
} from '../platform/fs.js';
import { fileKind } from '../platform/file-kind.js';
import {
  connectUnix,
  listenUnix,
  type UnixLink,
  type UnixLinkEvents,
  type UnixListener,
} from '../platform/unix-socket.js';
import type { Trace } from './log.js';
import { baseName, joinPath, parentPath } from './paths.js';

const SUFFIX = '.alive';

/** The socket's file name: hidden, and no name Go's watcher or ours takes for a tombstone. */
export function livenessName(name: string): string {
  return `.${name}${SUFFIX}`;
}

/** The kubexit whose socket `file` would be, if it is one's. */
export function livenessOwner(file: string): string | undefined {
  return file.length > 1 + SUFFIX.length && file.startsWith('.') && file.endsWith(SUFFIX)
    ? file.slice(1, -SUFFIX.length)
    : undefined;
}

/** sun_path holds 108 bytes, its terminating NUL included. */
const SUN_PATH_MAX = 107;

/**
 * Connections held at once by our own socket. A pod has a handful of containers; beyond this,
 * a newcomer is dropped at once (it then falls back to reading our tombstone): hostile clients
 * cannot take every file descriptor kubexit needs for its tombstone.
 */
export const MAX_FOLLOWERS = 256;

/**
 * A path that bind() and connect() can take: the path itself when it fits sun_path, else the same
 * file through /proc/self/fd/<a descriptor of its folder> (no chdir: our child inherits the
 * working folder). Undefined when neither fits (a very long name), or /proc is missing.
 */
function socketAddress(path: string): { path: string; release(): void } | undefined {
  if (Buffer.byteLength(path) <= SUN_PATH_MAX) return { path, release: () => {} };
  let fd: number;
  try {
    fd = openSync(parentPath(path), constants.O_RDONLY | constants.O_DIRECTORY);
  } catch {
    return undefined;
  }
  let open = true;
  const release = (): void => {
    if (open) closeSync(fd);
    open = false;
  };
  const short = `/proc/self/fd/${fd}/${baseName(path)}`;
  if (Buffer.byteLength(short) > SUN_PATH_MAX) {
    release();
    return undefined;
  }
  return { path: short, release };
}

/** A file's identity: tmpfs gives a freed inode number to the next file, not its change time. */
const idOf = (st: Stats): string => `${st.ino}@${st.ctimeMs}`;

function codeOf(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : 'EIO';
}

export type OwnLiveness =
  { ok: true; path: string; release(): void } | { ok: false; path: string; error: string };

/**
 * Our own socket, listening before our first tombstone write: a tombstone of ours always has its
 * socket beside it (when the graveyard can hold one). A socket left by an earlier run of this
 * container (a restart: the emptyDir survives it) is replaced; anything else there is left alone.
 * The server is never closed: the process's end closes it, and that is the signal. `release()`
 * removes the file once Died is written (a tidy graveyard); after a Died that could not be written
 * the file stays, refusing connections, so that late dependents still see this death.
 */
export async function holdLiveness(dir: string, name: string): Promise<OwnLiveness> {
  const path = joinPath(dir, livenessName(name));
  const unavailable = (error: string): OwnLiveness => ({ ok: false, path, error });
  try {
    mkdirSync(dir, { recursive: true }); // as the tombstone's first write would
  } catch {
    // the tombstone's write says why, if it fails too
  }
  let before: Stats | undefined;
  try {
    before = lstatSync(path);
  } catch (err) {
    if (codeOf(err) !== 'ENOENT') return unavailable((err as Error).message);
  }
  if (before !== undefined) {
    if (!before.isSocket()) return unavailable(`${fileKind(before) ?? 'a regular file'} is there`);
    try {
      unlinkSync(path); // an earlier run's, dead: its process is gone (a container runs one)
    } catch (err) {
      return unavailable(`cannot remove an earlier run's socket: ${(err as Error).message}`);
    }
  }
  const address = socketAddress(path);
  if (address === undefined)
    return unavailable(
      `the path is longer than a Unix socket address (${SUN_PATH_MAX} bytes), even through /proc/self/fd`,
    );
  let server: UnixListener;
  try {
    server = await listenUnix(address.path, hold);
  } catch (err) {
    return unavailable((err as Error).message);
  } finally {
    address.release();
  }
  let ours: Stats | undefined;
  try {
    // Dependents may run as other users: connecting needs write permission on the socket.
    chmodSync(path, 0o666);
    ours = lstatSync(path);
  } catch {
    // gone already, or not ours to change: dependents of another uid see our tombstone only
  }
  own = { server, path, id: ours === undefined ? undefined : idOf(ours) };
  return {
    ok: true,
    path,
    release: () => {
      try {
        if (ours !== undefined && idOf(lstatSync(path)) === idOf(ours)) unlinkSync(path);
      } catch {
        // replaced or gone: not ours any more
      }
    },
  };
}

const held = new Set<UnixLink>();
/** Kept reachable for the life of the process: never closed, never collected. */
let own: { server: UnixListener; path: string; id: string | undefined } | undefined;

/**
 * A bound socket pins its folder: while it is open, the kernel does not report the folder's own
 * deletion to inotify, and a kubexit watching the graveyard would not see it replaced. So once
 * our socket's file is removed (`rm -rf` of the graveyard), the socket is closed, and so are its
 * connections, each told first (a close alone would read as our death): our dependents then
 * see our end from our tombstone only. True when it was just given up.
 */
export function giveUpIfRemoved(): boolean {
  if (own === undefined) return false;
  try {
    if (idOf(lstatSync(own.path)) === own.id) return false;
  } catch {
    // removed
  }
  const { server } = own;
  own = undefined;
  server.close();
  for (const link of held) link.endWith(MOVED);
  return true;
}

/** Said to a follower turned away, over the cap: a close alone would read as our death. */
const FULL = Buffer.from('full\n');
/** Said to every follower when our socket's file was removed, before closing. */
const MOVED = Buffer.from('removed\n');

/** A follower: held until it leaves, unread; one that sends anything is not a kubexit. */
function hold(link: UnixLink): UnixLinkEvents {
  if (held.size >= MAX_FOLLOWERS) {
    link.endWith(FULL);
    return { data: () => {}, close: () => {} };
  }
  held.add(link);
  return { data: () => link.destroy(), close: () => held.delete(link) };
}

/** Dependents: follow the liveness of dependencies whose tombstone says they live. */
export interface LivenessFollower {
  /** Its tombstone says it lives (no Died): stay connected to its socket, if it has one. */
  follow(name: string): void;
  /**
   * Resolves once no connection is being set up: every dependency followed so far is known to
   * be connected, gone (and said), or not followed. A Unix socket's connect never waits on its
   * peer, so this takes one turn of the event loop.
   */
  settled(): Promise<void>;
  close(): void;
}

type Follow =
  /** Connecting, or connected (socket open). */
  | { state: 'on'; socket: UnixLink; id: string }
  /** Not followed: no socket (a Go kubexit), or one that cannot be trusted; `key` says which,
   * so each is logged once, again only after it changed. */
  | { state: 'off'; key: string }
  /** Its kubexit is gone: said once. */
  | { state: 'gone' };

/**
 * `gone(name, how)` is called once per dependency, when the kubexit behind its socket is gone: our
 * connection closed (with nothing said), or the socket refused or reset the first one. The caller
 * reads the tombstone again: Died there is a normal death, else a death without a record.
 */
export function followLiveness(
  dir: string,
  trace: Trace,
  gone: (name: string, how: string) => void,
): LivenessFollower {
  const follows = new Map<string, Follow>();
  let closed = false;
  let connecting = 0;
  const waiters: (() => void)[] = [];
  const connectDone = (): void => {
    if (--connecting > 0) return;
    for (const w of waiters.splice(0)) w();
  };

  const off = (name: string, key: string, message: string): void => {
    const f = follows.get(name);
    if (f?.state === 'off' && f.key === key) return;
    follows.set(name, { state: 'off', key });
    trace.event(`Liveness of ${name}: ${message}`);
  };
  const dead = (name: string, how: string): void => {
    if (closed || follows.get(name)?.state === 'gone') return;
    follows.set(name, { state: 'gone' });
    gone(name, how);
  };
  const socketStat = (path: string): Stats | string => {
    try {
      return lstatSync(path);
    } catch (err) {
      return codeOf(err);
    }
  };
  const FALLBACK = 'its death is seen from its tombstone only';

  /**
   * Connects, and stays connected. A close with nothing received is the death: a kubexit says
   * nothing to its followers, except to one it turns away (over its cap), before closing.
   */
  const open = (name: string, path: string, id: string): void => {
    const address = socketAddress(path);
    if (address === undefined) return off(name, `long:${id}`, `socket path too long: ${FALLBACK}`);
    let connected = false;
    let error = '';
    let pending = true;
    connecting++;
    const settle = (): void => {
      if (pending) connectDone();
      pending = false;
    };
    const socket: UnixLink = connectUnix(address.path, {
      connect() {
        address.release();
        connected = true;
        settle();
        if (!mine()) return socket.destroy();
        trace.event(`Liveness of ${name}: connected to ${path}`);
      },
      data() {
        // Turned away (more followers than it holds), or not a kubexit's socket at all.
        socket.destroy();
        off(name, `talks:${id}`, `its socket sends data (full, or not a kubexit's): ${FALLBACK}`);
      },
      error(code) {
        error = code;
      },
      close() {
        address.release();
        try {
          closing();
        } finally {
          settle();
        }
      },
    });
    const mine = (): boolean => {
      const f = follows.get(name);
      return f?.state === 'on' && f.socket === socket;
    };
    follows.set(name, { state: 'on', socket, id });
    const closing = (): void => {
      if (closed || !mine()) return;
      if (connected) return dead(name, 'its connection closed');
      // Refused by a socket file: nothing listens, its kubexit is gone. Reset: it ended with us
      // in its backlog. (Under Bun too, a full backlog is EAGAIN, not ECONNREFUSED: the platform
      // asks the kernel again; see unix-probe.ts.)
      if (error === 'ECONNREFUSED') return dead(name, 'its socket refuses connections');
      if (error === 'ECONNRESET') return dead(name, 'its socket reset our connection');
      // A listener whose backlog is full: its kubexit lives but does not accept (stopped,
      // stalled, or flooded). Not a death; not tried again until the socket is replaced.
      if (error === 'EAGAIN')
        return off(
          name,
          `full:${id}`,
          `its socket's backlog is full (its kubexit stalled?): ${FALLBACK}`,
        );
      // Removed since we looked: its kubexit ended (after Died), or a new run is binding; the
      // tombstone or the new socket's inotify event says which.
      if (error === 'ENOENT') return recheck(name);
      off(name, `${error}:${id}`, `cannot connect to its socket (${error}): ${FALLBACK}`);
    };
  };

  /** The socket file as it is now: connect when it is one we may try. */
  const recheck = (name: string): void => {
    const path = joinPath(dir, livenessName(name));
    const st = socketStat(path);
    if (st === 'ENOENT' || st === 'ENOTDIR')
      return off(name, 'none', `no liveness socket (a Go kubexit?): ${FALLBACK}`);
    if (typeof st === 'string') return off(name, st, `socket unreadable (${st}): ${FALLBACK}`);
    if (!st.isSocket())
      return off(
        name,
        `kind:${idOf(st)}`,
        `${fileKind(st) ?? 'a regular file'} at ${path}, not a socket: ${FALLBACK}`,
      );
    const f = follows.get(name);
    // The same socket, already found unusable: not tried again until it is replaced.
    if (f?.state === 'off' && f.key.endsWith(`:${idOf(st)}`)) return;
    open(name, path, idOf(st));
  };

  return {
    follow(name) {
      if (closed) return;
      const f = follows.get(name);
      if (f?.state === 'on' || f?.state === 'gone') return;
      recheck(name);
    },
    settled() {
      return connecting === 0 ? Promise.resolve() : new Promise((resolve) => waiters.push(resolve));
    },
    close() {
      closed = true;
      for (const w of waiters.splice(0)) w();
      for (const f of follows.values()) if (f.state === 'on') f.socket.destroy();
      follows.clear();
    },
  };
}
