// inotify itself, under Bun: libc's inotify_init1 and inotify_add_watch through bun:ffi, and the
// inotify fd read by Bun's own event loop (a non-blocking fd in a stream: epoll wakes it, no
// thread and no timer). Every event the kernel queues is delivered; the kernel merges only an
// event identical to the last one still unread, which a later read covers anyway.
// One inotify instance for the process, as libuv has for Node: instances are few (128 per user
// on a node by default), watches are many. It lives as long as the process.
import { libc, type Libc, systemError } from './libc.js';
import type { DirEvents, DirWatch } from './watch.js';

const IN_NONBLOCK = 0o4000;
const IN_CLOEXEC = 0o2000000;
const IN_MODIFY = 0x2;
const IN_ATTRIB = 0x4;
const IN_MOVED_FROM = 0x40;
const IN_MOVED_TO = 0x80;
const IN_CREATE = 0x100;
const IN_DELETE = 0x200;
const IN_DELETE_SELF = 0x400;
const IN_MOVE_SELF = 0x800;
const IN_Q_OVERFLOW = 0x4000;
const IN_IGNORED = 0x8000;
const IN_ONLYDIR = 0x1000000;
/** What fs.watch asks for under Node (libuv), and only folders. */
const MASK =
  IN_MODIFY |
  IN_ATTRIB |
  IN_MOVED_FROM |
  IN_MOVED_TO |
  IN_CREATE |
  IN_DELETE |
  IN_DELETE_SELF |
  IN_MOVE_SELF |
  IN_ONLYDIR;
/** struct inotify_event: wd, mask, cookie, len, then len bytes of NUL-padded name. */
const HEADER = 16;

interface BunGlobal {
  file(fd: number): { stream(): ReadableStream<Uint8Array> };
}

export interface Inotify {
  watch(path: string, events: DirEvents): DirWatch;
}

let loaded: Inotify | null | undefined;

/** The process's inotify, or undefined when libc cannot be called (not Bun, no FFI…). */
export function inotify(): Inotify | undefined {
  if (loaded === undefined) {
    const c = libc();
    const bun = (globalThis as { Bun?: BunGlobal }).Bun;
    loaded = c && bun ? new Instance(c, bun) : null;
  }
  return loaded ?? undefined;
}

interface Subscriber {
  events: DirEvents;
}

class Instance implements Inotify {
  private fd = -1;
  /** Watch descriptor → who watches it: the kernel gives one wd per inode and instance. */
  private readonly watches = new Map<number, Set<Subscriber>>();

  constructor(
    private readonly libc: Libc,
    private readonly bun: BunGlobal,
  ) {}

  watch(path: string, events: DirEvents): DirWatch {
    if (this.fd < 0) this.open();
    const fd = this.fd;
    const wd = this.libc.inotify_add_watch(fd, Buffer.from(`${path}\0`), MASK);
    if (wd < 0) throw systemError(this.libc.errno(), 'watch', path);
    let subscribers = this.watches.get(wd);
    if (subscribers === undefined) this.watches.set(wd, (subscribers = new Set()));
    const me: Subscriber = { events };
    subscribers.add(me);
    const mine = subscribers;
    return {
      close: () => {
        // Only the last subscriber of a live watch removes it (a dead one is gone already).
        if (!mine.delete(me) || mine.size > 0 || this.watches.get(wd) !== mine) return;
        this.watches.delete(wd);
        if (this.fd === fd) this.libc.inotify_rm_watch(fd, wd);
      },
    };
  }

  private open(): void {
    const fd = this.libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) throw systemError(this.libc.errno(), 'watch', 'inotify_init1');
    this.fd = fd;
    const reader = this.bun.file(fd).stream().getReader();
    const pump = async (): Promise<void> => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) throw new Error('the inotify stream ended');
        this.dispatch(value);
      }
    };
    pump().catch((err: unknown) => {
      void reader.cancel().catch(() => {});
      this.fail(fd, err instanceof Error ? err : new Error(String(err)));
    });
  }

  /** Reading failed: every watch is told (each then watches again, in a new instance). */
  private fail(fd: number, err: Error): void {
    if (this.fd !== fd) return;
    this.fd = -1;
    this.libc.close(fd); // closed already, at worst
    const all = [...this.watches.values()].flatMap((s) => [...s]);
    this.watches.clear();
    for (const s of all) s.events.error(err);
  }

  private dispatch(bytes: Uint8Array): void {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    // A run of events for one file in one read is told once: its subscribers look at the file
    // after the whole run happened (a writer's create, write and rename of its temporary file:
    // one look instead of three, before the tombstone's own event). Any later change is a new
    // event in the next read.
    let lastWd = -1;
    let lastName: string | null = null;
    for (let at = 0; at + HEADER <= bytes.byteLength;) {
      const wd = view.getInt32(at, true);
      const mask = view.getUint32(at + 4, true);
      const length = view.getUint32(at + 12, true);
      let end = at + HEADER;
      while (end < at + HEADER + length && bytes[end] !== 0) end++;
      const name =
        length > 0
          ? Buffer.from(bytes.buffer, bytes.byteOffset + at + HEADER, end - at - HEADER).toString()
          : null;
      at += HEADER + length;
      if (mask & IN_Q_OVERFLOW) {
        // Events were lost: everything is to be looked at again.
        for (const s of [...this.watches.values()].flatMap((set) => [...set])) s.events.event(null);
        continue;
      }
      const subscribers = this.watches.get(wd);
      if (subscribers === undefined) continue; // removed meanwhile
      // The watch is gone (its folder deleted, or unmounted): the kernel removed it.
      if (mask & IN_IGNORED) this.watches.delete(wd);
      else if (name !== null && wd === lastWd && name === lastName) continue;
      lastWd = wd;
      lastName = name;
      // The folder's own events have no name: its subscribers look at the path again.
      for (const s of [...subscribers]) s.events.event(name);
    }
  }
}
