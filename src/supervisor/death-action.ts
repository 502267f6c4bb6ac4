// What a death does to our child: which deaths count (a dependency's condition), and the death
// action itself, a signal or an HTTP quit call with the signal as its fallback. The grace period
// and the KILL that follow are the supervisor's.
import type { ClientRequest, request as httpRequest } from 'node:http';
import type { Child } from './child.js';
import type { DeathCondition, EndingConfig } from './config.js';
import { formatDuration, toMillis } from './duration.js';
import type { Log, Trace } from './log.js';
import { after } from './timers.js';
import type { Tombstone } from './tombstone.js';

/**
 * Whether a dependency's death counts. No condition: any death. `succeeded`: ExitCode 0;
 * `failed`: any other ExitCode, or none at all (not known to have succeeded).
 */
export function deathCounts(
  conditions: readonly DeathCondition[] | undefined,
  tombstone: Tombstone,
): boolean {
  if (conditions === undefined) return true;
  const succeeded = tombstone.exitCode === 0;
  return conditions.some((c) => c === 'completed' || (c === 'succeeded') === succeeded);
}

export interface ActionContext {
  trace: Trace;
  log: Log;
  /** Aborted when the child has exited: a pending call is dropped. */
  abort: AbortSignal;
}

/**
 * The death action: POST to KUBEXIT_DEATH_HTTP when set, and KUBEXIT_DEATH_SIGNAL when it is
 * not, or when the call fails (no answer within the timeout, a refused connection, a non-2xx
 * status). Resolves once the action is done.
 */
export async function runDeathAction(
  child: Child,
  ending: EndingConfig,
  { trace, log, abort }: ActionContext,
): Promise<void> {
  if (ending.deathHttp !== undefined) {
    trace.event(`Death action: POST ${ending.deathHttp}`);
    const result = await post(ending.deathHttp, ending.deathHttpTimeout, abort);
    if (abort.aborted) return;
    if (result.ok) return trace.event(`Death action: answered ${result.status}`);
    trace.event(`Death action failed: ${result.error}`);
    log.errorLine('death HTTP call failed: sending the death signal instead', {
      url: ending.deathHttp,
      error: result.error,
      signal: ending.deathSignal,
    });
  }
  sendDeathSignal(child, ending.deathSignal, trace);
}

/** The death action without a URL to call: the signal, sent before this returns. */
export function sendDeathSignal(child: Child, signal: NodeJS.Signals, trace: Trace): void {
  child.signal(signal);
  trace.event(
    signal === 'SIGTERM' ? 'Terminating child process' : `Terminating child process: ${signal}`,
  );
}

type PostResult = { ok: true; status: number } | { ok: false; error: string };

type Request = typeof httpRequest;

/**
 * node:http or node:https (TLS), loaded on first use: most runs never call a URL, and loading
 * them costs start-up time and memory. The supervisor warms it once the child runs.
 */
export function loadRequest(url: string): Promise<Request> {
  return url.startsWith('https:')
    ? import('node:https').then((m) => m.request)
    : import('node:http').then((m) => m.request);
}

/** One POST with an empty body; any 2xx status is a success. Never rejects. */
export async function post(url: string, timeout: bigint, abort: AbortSignal): Promise<PostResult> {
  let request: Request;
  try {
    request = await loadRequest(url);
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
  return new Promise((resolve) => {
    let req: ClientRequest | undefined;
    let settled = false;
    const settle = (r: PostResult): void => {
      if (settled) return;
      settled = true;
      cancelTimer();
      abort.removeEventListener('abort', onAbort);
      req?.destroy();
      resolve(r);
    };
    const cancelTimer = after(toMillis(timeout), () =>
      settle({ ok: false, error: `no answer within ${formatDuration(timeout)}` }),
    );
    const onAbort = (): void => settle({ ok: false, error: 'the child has exited' });
    abort.addEventListener('abort', onAbort);
    try {
      req = request(url, {
        method: 'POST',
        agent: false, // one connection, closed after: nothing outlives the call
        headers: { 'content-length': '0', 'user-agent': 'kubexit' },
      });
    } catch (err) {
      return settle({ ok: false, error: (err as Error).message });
    }
    req.on('response', (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      settle(
        status >= 200 && status < 300
          ? { ok: true, status }
          : { ok: false, error: `HTTP status ${status}` },
      );
    });
    req.on('error', (err) => settle({ ok: false, error: err.message }));
    req.end();
  });
}
