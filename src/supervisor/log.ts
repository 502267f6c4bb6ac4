// JSON lines on stderr in the ispringtech fork's shape: logrus' JSON formatter with `@timestamp`
// and `message`, per-module event traces dumped at the end, instant `trace` lines on request.
import { constants, fstatSync, openSync, writeSync } from '../platform/fs.js';
import { rfc3339Nano } from './clock.js';

export type Fields = Record<string, unknown>;

/** Where lines go. */
export type Sink = (line: string) => void;

/**
 * Log lines wait here while their reader doesn't read. 1 MiB: room for a long burst (some
 * 7,000 trace lines) and for the final line with every trace (at most a few hundred KiB),
 * yet a small, fixed part of a container's memory. Beyond it the reader is stuck, not slow:
 * lines are dropped and counted.
 */
export const MAX_QUEUED_BYTES = 1 << 20;
/** At most the length of the line that tells how many lines were dropped. */
const DROPPED_LINE_BYTES = 200;
/** While lines wait, how often the pipe is tried again: nothing waits on it meanwhile. */
const RETRY_MS = 50;
/** At exit, how long the last lines may wait for room: exit codes don't wait on log readers. */
const FINAL_WAIT_MS = 500;

/**
 * Writes log lines to a file descriptor shared with the child (fd 2), never blocking kubexit
 * on a reader that doesn't read.
 *
 * A pipe, a tty or /dev/null is re-opened through /proc/self/fd as kubexit's own open file
 * description with O_NONBLOCK: the flag then stays off the child's description (Node's
 * process.stderr would set it on the shared one, and the child would trip over EAGAIN). A full
 * pipe queues lines, up to MAX_QUEUED_BYTES, then drops them with a count, told in one line once
 * the pipe drains. A regular file is written as is: it never waits on a reader. A socket cannot
 * be re-opened (ENXIO), nor can a pipe owned by another user (EACCES): those are written with
 * blocking writes, as before.
 *
 * EPIPE (the reader went away) ends the writing for good, there is nowhere left to report, and
 * calls onBroken once: that write raised one SIGPIPE of kubexit's own (see signals.ts).
 */
export class LogWriter {
  /** Called once, on the first EPIPE. */
  onBroken: (() => void) | undefined;
  private fd: number | undefined;
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private dropped = 0;
  private broken = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(private readonly target: number) {}

  write(line: string): void {
    if (this.broken) return;
    this.admit(Buffer.from(line));
    this.flush();
  }

  /** Writes what waits, as far as the pipe takes it now; true when nothing is left. */
  flush(): boolean {
    const fd = this.open();
    while (!this.broken) {
      const head = this.queue[0];
      if (head === undefined) {
        if (this.dropped === 0) break;
        this.push(this.droppedLine()); // drained: there is room to tell what was lost
        continue;
      }
      const n = this.send(fd, head);
      if (this.broken) break;
      this.queued -= n;
      if (n < head.length) {
        this.queue[0] = head.subarray(n); // the rest of a line always goes out, after its start
        break;
      }
      this.queue.shift();
    }
    const waiting = this.queue.length > 0;
    if (waiting && this.retry === undefined) {
      this.retry = setTimeout(() => {
        this.retry = undefined;
        this.flush();
      }, RETRY_MS).unref(); // never what keeps kubexit alive
    }
    return !waiting;
  }

  /** At exit: the last lines get out if a reader makes room soon; kubexit never waits long. */
  finish(): void {
    const until = Date.now() + FINAL_WAIT_MS;
    const nap = new Int32Array(new SharedArrayBuffer(4));
    while (!this.flush() && !this.broken && Date.now() < until) Atomics.wait(nap, 0, 0, 5);
    clearTimeout(this.retry);
  }

  private admit(line: Buffer): void {
    const room = MAX_QUEUED_BYTES - this.queued - (this.dropped > 0 ? DROPPED_LINE_BYTES : 0);
    // An empty queue takes any line: the final one, with every trace, may be big.
    if (this.queue.length > 0 && line.length > room) {
      this.dropped++;
      return;
    }
    if (this.dropped > 0) this.push(this.droppedLine()); // the gap is told where it is
    this.push(line);
  }

  private push(line: Buffer): void {
    this.queue.push(line);
    this.queued += line.length;
  }

  /** The line that tells how many were dropped; the count starts again from zero. */
  private droppedLine(): Buffer {
    const line = Buffer.from(
      goJson({
        '@timestamp': rfc3339Nano(),
        dropped_lines: this.dropped,
        level: 'warning',
        message: 'stderr was not read: log lines dropped',
      }) + '\n',
    );
    this.dropped = 0;
    return line;
  }

  /** Bytes of `buf` written without waiting: fewer when the pipe is full. */
  private send(fd: number, buf: Buffer): number {
    let off = 0;
    while (off < buf.length) {
      try {
        off += writeSync(fd, buf, off);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EINTR') continue;
        if (code === 'EAGAIN') break;
        this.broken = true; // EPIPE, EBADF, EIO…: nowhere left to report it
        this.queue.length = 0;
        this.queued = 0;
        if (code === 'EPIPE') this.onBroken?.();
        break;
      }
    }
    return off;
  }

  private open(): number {
    if (this.fd !== undefined) return this.fd;
    this.fd = this.target;
    try {
      const st = fstatSync(this.target);
      if (st.isFIFO() || st.isCharacterDevice()) {
        // O_NOCTTY: a tty must not become the controlling terminal of a session leader (PID 1)
        const { O_WRONLY, O_NONBLOCK, O_APPEND, O_NOCTTY } = constants;
        const flags = O_WRONLY | O_NONBLOCK | O_APPEND | O_NOCTTY;
        this.fd = openSync(`/proc/self/fd/${this.target}`, flags);
      }
    } catch {
      // a socket (ENXIO), someone else's pipe (EACCES), no /proc: blocking writes, as before
    }
    return this.fd;
  }
}

/** kubexit's stderr: one writer for every Log, so lines keep their order and share the bound. */
export const stderr = new LogWriter(2);

export const stderrSink: Sink = (line) => stderr.write(line);

/** Traces keep the last events only, so a long-lived sidecar's memory stays flat. */
const MAX_EVENTS_PER_TRACE = 1000;

interface TraceEvent {
  timestamp: string;
  message: string;
}

export class Trace {
  readonly events: TraceEvent[] = [];
  private dropped = 0;

  constructor(
    readonly id: string,
    private readonly log: Log,
  ) {}

  event(message: string): void {
    const timestamp = rfc3339Nano();
    if (this.events.length >= MAX_EVENTS_PER_TRACE) {
      this.events.shift();
      this.dropped++;
    }
    this.events.push({ timestamp, message });
    this.log.instant(this.id, timestamp, message);
  }

  toJSON(): { id: string; events: TraceEvent[] } {
    const events = this.dropped
      ? [
          {
            timestamp: this.events[0]?.timestamp ?? '',
            message: `(${this.dropped} earlier events dropped)`,
          },
          ...this.events,
        ]
      : this.events;
    return { id: this.id, events };
  }
}

export interface LogOptions {
  instant?: boolean;
  sink?: Sink;
}

export class Log {
  private readonly traces: Trace[] = [];
  private readonly sink: Sink;
  private instantLogging: boolean;

  constructor(opts: LogOptions = {}) {
    this.sink = opts.sink ?? stderrSink;
    this.instantLogging = opts.instant ?? false;
  }

  setInstant(on: boolean): void {
    this.instantLogging = on;
  }

  /** Traces are serialised in the order they were created, as the fork does. */
  trace(id: string): Trace {
    const t = new Trace(id, this);
    this.traces.push(t);
    return t;
  }

  info(message: string, fields: Fields = {}): void {
    this.line({ ...fields, level: 'info', message });
  }

  /** Something works less well than it could (the child's fate is not changed): one line. */
  warning(message: string, fields: Fields = {}): void {
    this.line({ ...fields, level: 'warning', message });
  }

  /** An error line without traces: for refusals before anything ran. */
  errorLine(message: string, fields: Fields = {}): void {
    this.line({ ...fields, level: 'error', message });
  }

  /** The success line, with every trace. */
  summary(message: string, fields: Fields = {}): void {
    this.info(message, { ...fields, 'event-traces': this.traces });
  }

  /** The failure line: always has the error, its stack and every trace. */
  error(err: Error, fields: Fields = {}): void {
    this.line({
      ...fields,
      error: err.message,
      'event-traces': this.traces,
      level: 'error',
      message: '',
      stack: stackOf(err),
    });
  }

  instant(traceId: string, timestamp: string, message: string): void {
    if (!this.instantLogging) return;
    this.line(
      { app: 'kubexit', event: message, 'event-trace-id': traceId, level: 'trace', message: '' },
      timestamp,
    );
  }

  private line(fields: Fields, timestamp = rfc3339Nano()): void {
    this.sink(goJson({ '@timestamp': timestamp, ...fields }) + '\n');
  }
}

/** Frames of a JS stack, one string each, like the fork's `stack` array. */
function stackOf(err: Error): string[] {
  return (err.stack ?? '')
    .split('\n')
    .slice(1)
    .map((l) => l.trim().replace(/^at /, ''))
    .filter((l) => l !== '');
}

/**
 * JSON as Go's encoding/json writes a map: keys sorted at the top level (nested values keep
 * their order), `<`, `>`, `&`, U+2028 and U+2029 escaped.
 */
export function goJson(fields: Fields): string {
  const sorted: Fields = {};
  for (const k of Object.keys(fields).sort()) {
    if (fields[k] !== undefined) sorted[k] = fields[k];
  }
  return JSON.stringify(sorted, (_k, v: unknown) =>
    typeof v === 'bigint' ? Number(v) : v,
  ).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
