// Unix stream sockets that carry no data, for the liveness links (supervisor/liveness.ts): a
// listener, and links that only open, close, and at most say one word before closing. Under Bun
// through Bun.listen and Bun.connect, which are native: Bun's node:net is a JavaScript layer over
// them, and loading it alone costs the executable some 1.7 MiB of memory, charged to the
// container (measured with bench/ab.ts). Under Node through node:net, loaded on first use.
// Nothing here keeps the process alive: the listener and every link are unreferenced.
import type { Server, Socket } from 'node:net';
import { probeUnix } from './unix-probe.js';

/** One connection, accepted or made. */
export interface UnixLink {
  /** Sends `data`, then closes our side; the link's close follows. */
  endWith(data: Uint8Array): void;
  /** Closes at once. */
  destroy(): void;
}

/**
 * What a link tells. `close` comes once, last, however the link ended, and never during a call
 * of this module (as Node's sockets: a destroy() says its close a moment later).
 */
export interface UnixLinkEvents {
  /** Connected (a link made by connectUnix). */
  connect?(): void;
  /** The peer sent something. */
  data(): void;
  /**
   * The link failed with this system error code (ECONNREFUSED, ENOENT, ECONNRESET…), as Node's
   * sockets say it under both runtimes: EAGAIN is a listener whose backlog is full, ECONNREFUSED
   * a socket file nothing listens on.
   */
  error?(code: string): void;
  close(): void;
}

export interface UnixListener {
  /** Stops listening; the links accepted so far stay open. */
  close(): void;
}

const BUN = process.versions.bun !== undefined;

/**
 * Listens on `path`; `accept` is called for each connection with its link, and answers with its
 * events. Rejects with the system error when the path cannot be bound (EADDRINUSE, EACCES…).
 */
export function listenUnix(
  path: string,
  accept: (link: UnixLink) => UnixLinkEvents,
): Promise<UnixListener> {
  return BUN ? listenWithBun(path, accept) : listenWithNode(path, accept);
}

/**
 * Connects to the socket at `path`. Events follow, never during this call: connect, or error then
 * close (refused, no such file…); once connected, data and close. `path` must lead to the socket
 * until close (a /proc/self/fd/<n>/ path: its descriptor open): under Bun, a refusal is checked
 * on it again.
 */
export function connectUnix(path: string, events: UnixLinkEvents): UnixLink {
  return BUN ? connectWithBun(path, events) : connectWithNode(path, events);
}

function codeOf(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : 'EIO';
}

// ---- Bun: the native sockets. Only the little used here is typed (no Bun types in this project).
interface BunSocket {
  end(data?: Uint8Array): void;
  terminate(): void;
  unref(): void;
}
interface BunHandlers {
  open?(socket: BunSocket): void;
  data?(socket: BunSocket, data: Uint8Array): void;
  close?(socket: BunSocket, err?: Error): void;
  error?(socket: BunSocket, err: Error): void;
  connectError?(socket: BunSocket, err: Error): void;
}
interface BunSockets {
  listen(options: { unix: string; socket: BunHandlers }): {
    stop(closeActive?: boolean): void;
    unref(): void;
  };
  connect(options: { unix: string; socket: BunHandlers }): Promise<BunSocket>;
}
const bun = (): BunSockets => (globalThis as unknown as { Bun: BunSockets }).Bun;

function bunLink(socket: BunSocket): UnixLink {
  return { endWith: (data) => socket.end(data), destroy: () => socket.terminate() };
}

async function listenWithBun(
  path: string,
  accept: (link: UnixLink) => UnixLinkEvents,
): Promise<UnixListener> {
  const links = new WeakMap<BunSocket, UnixLinkEvents>();
  const listener = bun().listen({
    unix: path,
    socket: {
      open(socket) {
        socket.unref();
        links.set(socket, accept(bunLink(socket)));
      },
      data: (socket) => links.get(socket)?.data(),
      error: (socket, err) => links.get(socket)?.error?.(codeOf(err)),
      close(socket) {
        const events = links.get(socket);
        links.delete(socket);
        if (events !== undefined) queueMicrotask(() => events.close());
      },
    },
  });
  listener.unref();
  return { close: () => listener.stop(false) };
}

function connectWithBun(path: string, events: UnixLinkEvents): UnixLink {
  let socket: BunSocket | undefined;
  let destroyed = false;
  let ended = false;
  const close = (): void => {
    if (ended) return;
    ended = true;
    queueMicrotask(() => events.close()); // terminate() closes at once
  };
  // Bun says a refused connection during connect() itself: it is called a turn later, so that
  // the caller has its link before any event.
  queueMicrotask(() => {
    if (destroyed) return close();
    bun()
      .connect({
        unix: path,
        socket: {
          open(s) {
            socket = s;
            s.unref();
            if (destroyed) return s.terminate();
            events.connect?.();
          },
          data: () => events.data(),
          error: (_s, err) => events.error?.(codeOf(err)),
          close,
          connectError(_s, err) {
            let code = codeOf(err);
            // Bun says ECONNREFUSED for a full backlog too: the kernel is asked again, directly.
            if (code === 'ECONNREFUSED' && probeUnix(path) === 'listening') code = 'EAGAIN';
            events.error?.(code);
            close();
          },
        },
      })
      .catch(() => {}); // said through connectError
  });
  return {
    endWith(data) {
      if (socket !== undefined) socket.end(data);
      else destroyed = true;
    },
    destroy() {
      destroyed = true;
      socket?.terminate();
    },
  };
}

// ---- Node: node:net, loaded on first use (never under Bun).
type Net = typeof import('node:net');
let net: Promise<Net> | undefined;
const loadNet = (): Promise<Net> => (net ??= import('node:net'));

function nodeLink(socket: Socket): UnixLink {
  return {
    endWith: (data) => void socket.end(data, () => socket.destroy()),
    destroy: () => void socket.destroy(),
  };
}

function follow(socket: Socket, events: UnixLinkEvents): void {
  socket.on('error', (err) => events.error?.(codeOf(err)));
  socket.on('data', () => events.data());
  socket.on('close', () => events.close());
  socket.unref();
}

async function listenWithNode(
  path: string,
  accept: (link: UnixLink) => UnixLinkEvents,
): Promise<UnixListener> {
  const { createServer } = await loadNet();
  const server: Server = createServer((socket) => follow(socket, accept(nodeLink(socket))));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ path }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', () => {}); // an accept error (EMFILE) is no reason to end kubexit
  server.unref();
  return { close: () => void server.close() };
}

function connectWithNode(path: string, events: UnixLinkEvents): UnixLink {
  let socket: Socket | undefined;
  let destroyed = false;
  void loadNet().then(({ connect }) => {
    socket = connect({ path });
    follow(socket, events);
    socket.on('connect', () => events.connect?.());
    if (destroyed) socket.destroy();
  });
  return {
    endWith(data) {
      if (socket !== undefined) nodeLink(socket).endWith(data);
      else destroyed = true;
    },
    destroy() {
      destroyed = true;
      socket?.destroy();
    },
  };
}
