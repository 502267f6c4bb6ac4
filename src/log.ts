// JSON lines on stderr in the ispringtech fork's shape: logrus' JSON formatter with `@timestamp`
// and `message`, per-module event traces dumped at the end, instant `trace` lines on request.
import { writeSync } from 'node:fs';
import { rfc3339Nano } from './clock.js';

export type Fields = Record<string, unknown>;

/** Where lines go. fd 2 is written directly: touching process.stderr would make Node switch the
 * shared pipe to non-blocking mode, which the child inherits and may trip over (EAGAIN). */
export type Sink = (line: string) => void;

export const stderrSink: Sink = (line) => {
  const buf = Buffer.from(line);
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(2, buf, off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return; // nowhere left to report it
    }
  }
};

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
