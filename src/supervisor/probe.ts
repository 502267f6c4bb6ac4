// Our child's readiness probe: tried until it first passes or the child exits, never longer.
// Its result is only news for dependents (our tombstone's Ready); it never touches the child.
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import type { Trace } from './log.js';
import { probeText, type ProbeSpec } from './probe-spec.js';

/**
 * The gap between failed attempts starts at 10 ms and doubles, held at 100 ms for the first
 * 10 s (a server that starts listening is seen within ~100 ms), then doubling up to the period.
 */
const FIRST_GAP_MS = 10;
const FAST_GAP_MS = 100;
const FAST_WINDOW_MS = 10_000;
/** Distinct failure reasons traced; a probe that fails for an hour must not grow the trace. */
const MAX_TRACED_FAILURES = 10;

export interface ProbeOptions {
  periodMs: number;
  timeoutMs: number;
  initialDelayMs: number;
  trace: Trace;
  /** Called once, when an attempt first passes. */
  onPass: () => void;
}

export interface ProbeRun {
  stop(): void;
}

/** One attempt: resolves with undefined when it passed, else why it failed. */
type Attempt = (timeoutMs: number, stopped: AbortSignal) => Promise<string | undefined>;

export function startProbe(spec: ProbeSpec, opts: ProbeOptions): ProbeRun {
  const attempt = attemptFor(spec);
  const what = probeText(spec);
  const stop = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let gap = FIRST_GAP_MS / 2;
  let first: number | undefined;
  let attempts = 0;
  let lastReason: string | undefined;
  let traced = 0;

  const schedule = (ms: number): void => {
    timer = setTimeout(run, ms);
    timer.unref(); // the child keeps kubexit alive, not its probe
  };

  const run = (): void => {
    if (stop.signal.aborted) return;
    first ??= performance.now();
    attempts++;
    attempt(opts.timeoutMs, stop.signal).then(
      (reason) => {
        if (stop.signal.aborted) return;
        if (reason === undefined) {
          opts.trace.event(`Ready probe ${what}: passed (attempt ${attempts})`);
          opts.onPass();
          return;
        }
        if (reason !== lastReason && traced < MAX_TRACED_FAILURES) {
          traced++;
          opts.trace.event(
            `Ready probe ${what}: not yet: ${reason}` +
              (traced === MAX_TRACED_FAILURES ? ' (further reasons not traced)' : ''),
          );
        }
        lastReason = reason;
        const cap =
          performance.now() - first! < FAST_WINDOW_MS
            ? Math.min(opts.periodMs, FAST_GAP_MS)
            : opts.periodMs;
        gap = Math.min(cap, gap * 2);
        schedule(gap);
      },
      (err: unknown) => {
        // A bug in an attempt must not end the probing, nor kubexit.
        opts.trace.event(`Ready probe ${what}: error: ${String(err)}`);
        if (!stop.signal.aborted) schedule(opts.periodMs);
      },
    );
  };

  opts.trace.event(`Ready probe ${what}: starting`);
  schedule(opts.initialDelayMs);
  return {
    stop(): void {
      if (stop.signal.aborted) return;
      stop.abort();
      clearTimeout(timer);
    },
  };
}

function attemptFor(spec: ProbeSpec): Attempt {
  switch (spec.kind) {
    case 'tcp':
      return (timeoutMs, stopped) => tcpAttempt(spec.host, spec.port, timeoutMs, stopped);
    case 'http':
      return (timeoutMs, stopped) => httpAttempt(spec.url, timeoutMs, stopped);
    case 'exec':
      return (timeoutMs, stopped) => execAttempt(spec.argv, timeoutMs, stopped);
  }
}

/** Runs `body` with a settle-once `done`, a timeout and the stop signal wired to `cancel`. */
function bounded(
  timeoutMs: number,
  stopped: AbortSignal,
  body: (done: (reason: string | undefined) => void) => () => void,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    let over = false;
    let cancel: () => void = () => undefined;
    const done = (reason: string | undefined): void => {
      if (over) return;
      over = true;
      clearTimeout(timer);
      stopped.removeEventListener('abort', onStop);
      cancel();
      resolve(reason);
    };
    const onStop = (): void => done('stopped');
    const timer = setTimeout(() => done(`no answer within ${timeoutMs} ms`), timeoutMs);
    timer.unref();
    stopped.addEventListener('abort', onStop, { once: true });
    cancel = body(done);
    if (over) cancel();
  });
}

function tcpAttempt(
  host: string,
  port: number,
  timeoutMs: number,
  stopped: AbortSignal,
): Promise<string | undefined> {
  return bounded(timeoutMs, stopped, (done) => {
    const socket = connect({ host, port });
    socket.once('connect', () => done(undefined));
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
    return () => socket.destroy();
  });
}

async function httpAttempt(
  url: string,
  timeoutMs: number,
  stopped: AbortSignal,
): Promise<string | undefined> {
  const https = url.startsWith('https:');
  const { request } = https ? await import('node:https') : await import('node:http');
  return bounded(timeoutMs, stopped, (done) => {
    // As the kubelet: GET, no redirect followed (3xx passes), and no certificate check.
    const req = request(url, {
      method: 'GET',
      agent: false,
      headers: { 'User-Agent': 'kubexit-probe', Connection: 'close' },
      ...(https ? { rejectUnauthorized: false } : {}),
    });
    req.once('response', (res) => {
      const status = res.statusCode ?? 0;
      res.destroy(); // the body is not read: a status line is the whole answer
      done(status >= 200 && status < 400 ? undefined : `HTTP status ${status}`);
    });
    req.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
    req.end();
    return () => req.destroy();
  });
}

function execAttempt(
  argv: readonly string[],
  timeoutMs: number,
  stopped: AbortSignal,
): Promise<string | undefined> {
  const [file, ...args] = argv as [string, ...string[]];
  return bounded(timeoutMs, stopped, (done) => {
    // Its own process group, so that a probe that hangs is killed with whatever it started,
    // and one that leaves something behind doesn't keep it.
    const proc = spawn(file, args, { stdio: 'ignore', detached: true });
    const group = proc.pid;
    proc.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
    proc.once('exit', (code, signal) =>
      done(code === 0 ? undefined : signal ? `killed by ${signal}` : `exit code ${code}`),
    );
    return () => {
      if (group === undefined) return;
      try {
        process.kill(-group, 'SIGKILL');
      } catch {
        // gone already
      }
    };
  });
}
