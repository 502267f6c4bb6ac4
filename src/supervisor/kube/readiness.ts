// Birth dependencies on the Kubernetes API: list this pod, then watch it from the list's
// resourceVersion, and let the child start on the first event in which every dependency is
// ready. A watch the server ends is resumed where it stopped; an expired resourceVersion (410)
// means listing again; any other failure is retried with a bounded, jittered backoff until the
// birth timeout. Missing permissions are reported at once, with the fix.
import { watch as watchFolder, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import type { BirthWait } from '../birth.js';
import { formatDuration, toMillis } from '../duration.js';
import { after } from '../timers.js';
import { nameSelector, podsPath } from './api-path.js';
import { fromUsername, loadCredentials, type Credentials } from './client.js';
import { bytes } from './file.js';
import {
  ApiError,
  describe,
  EventTooLarge,
  failure,
  MAX_BODY,
  open,
  readJson,
  statusText,
  type Call,
  type Status,
} from './http.js';
import { LineBuffer, LineTooLong } from './lines.js';
import { checkConditions, containerNames, type Pod } from './pod.js';

const BACKOFF_FIRST_MS = 100;
const BACKOFF_MAX_MS = 5_000;
/** A watch that ends sooner than this with no event in it counts as a failure. */
const WATCH_MIN_LIFE_MS = 1_000;
/**
 * Watches are started afresh after 5 to 6 minutes, so that a connection that died without a
 * word (no RST, and TCP keep-alive takes ~11 min to notice) cannot hold the wait for long.
 * No timeoutSeconds is sent: the server ends watches on its own after --min-request-timeout
 * (30 to 60 min by default), and that end is handled like any other.
 */
const WATCH_RECYCLE_MS = 5 * 60_000;

export function waitForPodReadiness(wait: BirthWait): Promise<void> {
  return new PodWait(wait).run();
}

/** The pod as one source among others: it reports what it sees, the caller decides. */
export interface PodSource {
  /** Settles when the caller's signal ends it (rejected), or on a hopeless failure. */
  done: Promise<void>;
  /** What the timeout error says of the API's side, for the dependencies still pending. */
  timeoutParts(pending: ReadonlySet<string>): string[];
}

/**
 * The pod's status as a source of met conditions: `met` is called with the dependencies each
 * sight of the pod shows met. No timeout of its own: the caller has one, and its signal.
 */
export function watchPodConditions(wait: BirthWait, met: (names: string[]) => void): PodSource {
  const pod = new PodWait(wait, met);
  return { done: pod.run(), timeoutParts: (pending) => pod.timeoutParts(pending) };
}

interface WatchEvent {
  type?: string;
  object?: unknown;
}

/** How a watch ended when it did not fail: resume it, list again, or stop for good. */
type WatchEnd = 'resume' | 'relist' | 'halted';

class PodWait {
  private readonly halt = new AbortController();
  private readonly where: string;
  private readonly what: string;
  private creds: Credentials | undefined;
  private finish: (err?: Error) => void = () => undefined;
  /** Where the next watch starts. */
  private resourceVersion = '';
  private failures = 0;
  private lastError: ApiError | undefined;
  /** The dependencies that were not ready when the pod was last seen. */
  private waiting: string[] | undefined;
  private listed = false;
  private seen = false;
  private readonly reported = new Set<string>();

  constructor(
    private readonly wait: BirthWait,
    /** Set when another source shares the wait: report, don't finish on success. */
    private readonly met?: (names: string[]) => void,
  ) {
    this.where = `Pod Watch(${wait.config.podName})`;
    this.what = `pods in namespace "${wait.config.namespace}"`;
  }

  private get halted(): boolean {
    return this.halt.signal.aborted;
  }

  private event(message: string): void {
    this.wait.trace.event(message);
  }

  run(): Promise<void> {
    const { config, signal } = this.wait;
    this.event(`Watching pod ${config.podName} updates`);
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => this.finish(new Error('the birth wait was interrupted'));
      let done = false;
      this.finish = (err) => {
        if (done) return;
        done = true;
        this.halt.abort();
        cancelTimeout();
        signal.removeEventListener('abort', onAbort);
        this.creds?.close();
        if (err) reject(err);
        else resolve();
        this.event(`${this.where}: done`);
      };
      const cancelTimeout = this.met
        ? () => undefined
        : after(toMillis(config.birthTimeout), () => this.finish(this.timeoutError()));
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.loop().catch((err: unknown) => this.fatal(err as Error));
    });
  }

  private fatal(err: Error): void {
    if (this.halted) return;
    this.event(`${this.where}: terminal error: ${err.message}`);
    this.finish(err);
  }

  private async loop(): Promise<void> {
    // Refuses, before any request, a namespace that cannot be a path segment.
    this.call('list', this.selector());
    const creds = await loadCredentials(process.env, this.wait.config.serviceAccountDir);
    if (this.halted) return creds.close();
    this.creds = creds;
    let relist = true;
    while (!this.halted) {
      try {
        if (relist) {
          await this.list();
          relist = false;
          if (this.halted) return;
        }
        relist = (await this.watchOnce()) === 'relist';
      } catch (err) {
        if (this.halted) return;
        const error =
          err instanceof ApiError ? err : new ApiError('watch', `${this.where}: ${String(err)}`);
        if (error instanceof EventTooLarge) {
          // Whatever the event said is lost: list again, after the usual backoff.
          this.lastError = error;
          this.event(`${this.where}: recoverable error: ${error.message}; listing again`);
          await this.sleep(this.nextDelay(), false);
          relist = true;
          continue;
        }
        if (error.code !== 410) {
          await this.retryLater(error);
          continue;
        }
        this.event(`${this.where}: recoverable error: ${error.message}; listing again`);
        relist = true;
      }
      if (relist) await this.beforeRelist();
    }
  }

  private call(verb: 'list' | 'watch', query: URLSearchParams): Call {
    const { namespace } = this.wait.config;
    return {
      creds: this.creds as Credentials,
      verb,
      what: this.what,
      path: podsPath(namespace, query),
      halt: this.halt.signal,
    };
  }

  private selector(): URLSearchParams {
    return new URLSearchParams({ fieldSelector: nameSelector(this.wait.config.podName) });
  }

  private async list(): Promise<void> {
    const call = this.call('list', this.selector());
    const { res } = await open(call);
    const list = (await readJson(call, res)) as {
      metadata?: { resourceVersion?: string };
      items?: Pod[];
    };
    if (this.halted) return;
    this.resourceVersion = list.metadata?.resourceVersion ?? '';
    const pod = list.items?.find((p) => p.metadata?.name === this.wait.config.podName);
    const first = !this.listed;
    this.listed = true;
    if (pod) return this.observe('LIST', pod);
    if (this.seen) return this.deleted();
    if (first) {
      const { namespace, podName } = this.wait.config;
      this.event(`${this.where}: no pod ${podName} in namespace ${namespace} yet; waiting for it`);
    }
  }

  private async watchOnce(): Promise<WatchEnd> {
    const query = this.selector();
    query.set('watch', '1');
    query.set('allowWatchBookmarks', 'true');
    if (this.resourceVersion !== '') query.set('resourceVersion', this.resourceVersion);
    const call = this.call('watch', query);
    const { req, res } = await open(call);
    if (res.statusCode !== 200) throw await failure(call, res);
    if (this.halted) {
      req.destroy();
      return 'halted';
    }
    req.setTimeout(0);
    this.lastError = undefined;
    this.event(`${this.where}: watching from resourceVersion ${this.resourceVersion}`);
    const started = performance.now();
    let news = false;

    return new Promise<WatchEnd>((resolve, reject) => {
      let over = false;
      const end = (how: WatchEnd | ApiError): void => {
        if (over) return;
        over = true;
        if (performance.now() - started >= WATCH_MIN_LIFE_MS) this.failures = 0;
        cancelRecycle();
        this.halt.signal.removeEventListener('abort', onHalt);
        if (how !== 'resume' || !res.complete) req.destroy();
        if (how instanceof ApiError) reject(how);
        else resolve(how);
      };
      const onHalt = (): void => end('halted');
      this.halt.signal.addEventListener('abort', onHalt, { once: true });
      const cancelRecycle = after(WATCH_RECYCLE_MS * (1 + Math.random() / 5), () => {
        this.event(`${this.where}: restarting a long-lived watch`);
        end('resume');
      });

      const lines = new LineBuffer(MAX_BODY);
      res.on('data', (chunk: Buffer) => {
        try {
          for (const line of lines.push(chunk)) {
            if (over) return;
            if (line.trim() === '') continue;
            let event: WatchEvent;
            try {
              event = JSON.parse(line) as WatchEvent;
            } catch {
              end(new ApiError('watch', `${describe(call)}: an event is not JSON`));
              return;
            }
            news = true;
            const outcome = this.onEvent(call, event);
            if (outcome !== undefined) end(outcome);
          }
        } catch (err) {
          // A line too long, or an event whose shape is not a pod's (a server's bug, or
          // worse): this watch ends, and the loop decides what next. Never a crash.
          end(
            err instanceof LineTooLong
              ? new EventTooLarge(
                  'watch',
                  `${describe(call)}: an event larger than ${bytes(MAX_BODY)}`,
                )
              : new ApiError('watch', `${describe(call)}: a malformed event: ${String(err)}`),
          );
        }
      });
      res.once('end', () => {
        if (over) return;
        if (!news && performance.now() - started < WATCH_MIN_LIFE_MS) {
          end(new ApiError('watch', `${describe(call)}: the server ended the watch at once`));
          return;
        }
        this.event(
          `${this.where}: the server ended the watch; watching again from resourceVersion ${this.resourceVersion}`,
        );
        end('resume');
      });
      const lost = (err?: Error): void => {
        end(
          new ApiError(
            'watch',
            `${describe(call)}: connection lost${err ? `: ${err.message}` : ''}`,
          ),
        );
      };
      res.on('error', lost);
      res.once('close', () => lost());
    });
  }

  /** Handles one watch event; returns how the watch must end, if it must. */
  private onEvent(call: Call, event: WatchEvent): WatchEnd | ApiError | undefined {
    switch (event.type) {
      case 'ADDED':
      case 'MODIFIED': {
        this.failures = 0;
        const pod = (event.object ?? {}) as Pod;
        this.resourceVersion = pod.metadata?.resourceVersion ?? this.resourceVersion;
        if (!this.isOurs(event.type, pod)) return undefined;
        this.observe(event.type, pod);
        return this.halted ? 'halted' : undefined;
      }
      case 'DELETED':
        if (!this.isOurs(event.type, event.object as Pod)) return undefined;
        this.deleted();
        return 'halted';
      case 'BOOKMARK':
        this.failures = 0;
        this.resourceVersion =
          (event.object as Pod | undefined)?.metadata?.resourceVersion ?? this.resourceVersion;
        return undefined;
      case 'ERROR': {
        const status = (event.object ?? {}) as Status;
        if (status.code === 410) {
          this.event(`${this.where}: recoverable error: ${statusText(status)}; listing again`);
          return 'relist';
        }
        return new ApiError(
          'watch',
          `${describe(call)}: ${statusText(status)}`,
          status.code,
          status.message,
        );
      }
      default:
        this.event(`${this.where}: ignoring an event of type ${String(event.type)}`);
        return undefined;
    }
  }

  /**
   * Whether a watch event is about our pod. The field selector should see to it; checked as
   * the list's items are, so that no selector mishap can make another pod count.
   */
  private isOurs(type: string, pod: Pod | undefined): boolean {
    const name = pod?.metadata?.name;
    if (name === this.wait.config.podName) return true;
    this.event(`${this.where}: ignoring a ${type} event for pod ${String(name)}`);
    return false;
  }

  /** Judges one sight of the pod: ready, hopeless, or still waiting. */
  private observe(how: string, pod: Pod): void {
    const { birthDeps, namespace, podName } = this.wait.config;
    this.seen = true;
    const conditions =
      this.wait.config.birthConditions ?? birthDeps.map((name) => ({ name, condition: 'ready' }));
    const readiness = checkConditions(pod, conditions);
    if (readiness.unknown.length > 0) {
      const names = readiness.unknown.map((n) => `"${n}"`).join(', ');
      const one = readiness.unknown.length === 1;
      this.fatal(
        new Error(
          `birth ${one ? 'dependency' : 'dependencies'} ${names} ${one ? 'is not a container' : 'are not containers'} ` +
            `of pod ${namespace}/${podName}; its containers: ${containerNames(pod).join(', ')}`,
        ),
      );
      return;
    }
    if (readiness.failed) {
      const { name, exitCode } = readiness.failed;
      this.fatal(
        new Error(
          `birth dependency ${name} exited with code ${exitCode} (pod status; restartPolicy Never): ` +
            `${name}:succeeded needs 0`,
        ),
      );
      return;
    }
    this.waiting = readiness.waiting;
    if (this.met) {
      if (readiness.waiting.length > 0)
        this.event(`${this.where}: ${how}: waiting for ${readiness.waiting.join(', ')}`);
      this.met(readiness.met);
      return;
    }
    if (readiness.ready) {
      this.event(`All birth deps ready: ${birthDeps.join(', ')}`);
      this.finish();
      return;
    }
    this.event(`${this.where}: ${how}: waiting for ${readiness.waiting.join(', ')}`);
  }

  private deleted(): void {
    const { namespace, podName } = this.wait.config;
    this.event(`${this.where}: pod deleted`);
    this.finish(
      new Error(`pod ${namespace}/${podName} was deleted while kubexit waited for its birth deps`),
    );
  }

  private async retryLater(err: ApiError): Promise<void> {
    this.lastError = err;
    this.event(`${this.where}: recoverable error: ${err.message}`);
    if (err.code === 401 || err.code === 403) this.reportPermission(err);
    await this.sleep(this.nextDelay(), err.code === 401);
  }

  /** A first 410 lists again at once; 410s in a row, with no news between them, back off. */
  private async beforeRelist(): Promise<void> {
    if (this.failures === 0) this.failures = 1;
    else await this.sleep(this.nextDelay(), false);
  }

  /**
   * 100 ms, doubling up to 5 s, each drawn between half and all of that: clients that lost
   * the same apiserver do not come back in step. Reset by news from a watch, or a watch that
   * lasted.
   */
  private nextDelay(): number {
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.failures);
    this.failures = Math.min(this.failures + 1, 30);
    return ceiling / 2 + (Math.random() * ceiling) / 2;
  }

  /**
   * Backoff pause. A plain, referenced timer: it lasts seconds at most, and while it runs it
   * may be all that keeps the process alive. After a 401 a new token ends it early.
   */
  private sleep(ms: number, untilNewToken: boolean): Promise<void> {
    return new Promise((resolve) => {
      if (this.halted) return resolve();
      let folder: FSWatcher | undefined;
      const wake = (): void => {
        clearTimeout(timer);
        folder?.close();
        this.halt.signal.removeEventListener('abort', wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.halt.signal.addEventListener('abort', wake, { once: true });
      const creds = this.creds;
      if (untilNewToken && creds?.tokenFile) {
        try {
          // The kubelet swaps the projected token in with a symlink rename in this folder.
          folder = watchFolder(dirname(creds.tokenFile), { persistent: false }, wake);
        } catch {
          // the timer will do
        }
        if (creds.tokenChanged?.()) wake();
      }
    });
  }

  /** One clear line per kind of refusal, with what is missing and how to grant it. */
  private reportPermission(err: ApiError): void {
    const key = `${err.code} ${err.verb}`;
    if (this.reported.has(key)) return;
    this.reported.add(key);
    const { namespace } = this.wait.config;
    const identity = this.creds?.identity();
    const user = /User "([^"]+)"/.exec(err.detail ?? '')?.[1];
    const serviceAccount = (user && fromUsername(user)) || identity?.serviceAccount;
    const common = {
      status_code: err.code,
      verb: err.verb,
      resource: 'pods',
      namespace,
      service_account: serviceAccount,
      credentials: identity?.source,
      api_error: err.message,
    };
    if (err.code === 403) {
      const subject = serviceAccount ?? `${namespace}:<the pod's service account>`;
      this.wait.log.errorLine(
        `not allowed to ${err.verb} pods in namespace ${namespace}: birth dependencies need ` +
          'get, list and watch on pods; kubexit keeps trying until the birth timeout',
        {
          ...common,
          user,
          fix:
            `kubectl create role kubexit-pod-reader --namespace=${namespace} ` +
            '--verb=get,list,watch --resource=pods && ' +
            `kubectl create rolebinding kubexit-pod-reader --namespace=${namespace} ` +
            `--role=kubexit-pod-reader --serviceaccount=${subject}`,
        },
      );
    } else {
      this.wait.log.errorLine(
        `the API server rejected kubexit's credentials (401 Unauthorized) to ${err.verb} pods ` +
          `in namespace ${namespace}: the token is expired, revoked or not from this cluster; ` +
          'it is read again for every request, and kubexit keeps trying until the birth timeout',
        common,
      );
    }
  }

  private timeoutError(): Error {
    const { birthTimeout } = this.wait.config;
    const parts = [`timed out waiting for birth deps to be ready: ${formatDuration(birthTimeout)}`];
    return new Error([...parts, ...this.timeoutParts()].join('; '));
  }

  /** What the API told of the dependencies still pending (all of them, by default). */
  timeoutParts(pending?: ReadonlySet<string>): string[] {
    const { namespace, podName } = this.wait.config;
    const parts: string[] = [];
    const waiting = this.waiting?.filter((n) => pending?.has(n) ?? true);
    if (this.seen && waiting?.length) parts.push(`not ready: ${waiting.join(', ')}`);
    else if (this.listed && !this.seen) parts.push(`pod ${namespace}/${podName} not found`);
    if (this.lastError) parts.push(`last API error: ${this.lastError.message}`);
    return parts;
  }
}
