// The birth wait over two sources: the dependencies' tombstones (always, when there is a
// graveyard) and the pod's status from the Kubernetes API (when the pod is named). A
// dependency is met when either source says so; the wait ends when all are. A source that
// knows a dependency can never meet its condition ends the wait at once; an API that refuses
// (403) or can't be reached is retried, and meanwhile tombstones may start the child.
import type { BirthWait } from './birth.js';
import { watchBirthTombstones, type TombstoneSource } from './birth-tombstones.js';
import { birthDepText, usesApi } from './config.js';
import { formatDuration, toMillis } from './duration.js';
import { after } from './timers.js';

export function waitForBirth(wait: BirthWait): Promise<void> {
  const { config, trace, log, graveyard } = wait;
  const deps = config.birthConditions;
  const pending = new Set(deps.map((d) => d.name));
  const api = usesApi(config);
  // The API source stops on this, after the tombstones: its `done` is the wait's last event.
  const inner = new AbortController();

  return new Promise<void>((resolve, reject) => {
    let done = false;
    // The folder watch and the timeout don't keep the process alive; the wait must. This timer
    // never fires in practice (24.8 days): it is only a reference on the event loop.
    const alive = setInterval(() => undefined, 2 ** 31 - 1);
    let tombstones: TombstoneSource | undefined;
    let timeoutParts: ((pending: ReadonlySet<string>) => string[]) | undefined;

    const finish = (
      err?: Error,
      event = `All birth deps ready: ${deps.map(birthDepText).join(', ')}`,
    ): void => {
      if (done) return;
      done = true;
      clearInterval(alive);
      cancelTimeout();
      wait.signal.removeEventListener('abort', onAbort);
      tombstones?.close();
      if (!err) trace.event(event);
      inner.abort();
      if (err) reject(err);
      else resolve();
    };
    const met = (name: string): void => {
      if (pending.delete(name) && pending.size === 0) finish();
    };

    const onAbort = (): void => finish(new Error('the birth wait was interrupted'));
    const cancelTimeout = after(toMillis(config.birthTimeout), () => {
      const parts = [
        `timed out waiting for birth deps to be ready: ${formatDuration(config.birthTimeout)}`,
        ...describePending(),
      ];
      const error = parts.join('; ');
      if (config.birthTimeoutAction === 'start') {
        log.info('birth deps not ready: starting anyway (KUBEXIT_BIRTH_TIMEOUT_ACTION=start)', {
          error,
        });
        finish(undefined, `Birth timeout: starting anyway without ${[...pending].join(', ')}`);
      } else {
        finish(new Error(error));
      }
    });
    if (wait.signal.aborted) return onAbort();
    wait.signal.addEventListener('abort', onAbort, { once: true });

    /** The API's side first (as before tombstones counted), then what tombstones say. */
    function describePending(): string[] {
      const parts = timeoutParts?.(pending) ?? [];
      const said = (tombstones?.pending() ?? []).filter((p) => pending.has(p.name));
      // With the API, a missing tombstone is no news (the dependency may not run kubexit).
      const worth = api ? said.filter((p) => p.why !== 'no tombstone') : said;
      if (worth.length > 0) {
        const list = worth.map((p) => `${p.name} (${p.why})`).join(', ');
        parts.push(api ? `tombstones: ${list}` : `not ready: ${list}`);
      }
      return parts;
    }

    if (graveyard) {
      try {
        tombstones = watchBirthTombstones(graveyard, config.name, deps, trace, {
          podStatusToo: api,
          met,
          failed: (err) => finish(err),
          lost: (err) =>
            log.errorLine(
              'graveyard watch lost: birth dependencies are not seen until it is watched again',
              { error: err.message, graveyard: config.graveyard },
            ),
        });
      } catch (err) {
        if (!api) return finish(err as Error);
        // inotify refused (a limit): the API alone may still do.
        log.errorLine('cannot watch the graveyard: birth dependencies from the API only', {
          error: (err as Error).message,
          graveyard: config.graveyard,
        });
      }
      if (done) return;
    }

    if (!api) return;
    void import('./kube/readiness.js').then(
      ({ watchPodConditions }) => {
        if (done) return;
        const pod = watchPodConditions({ ...wait, signal: inner.signal }, (names) => {
          for (const name of names) met(name);
        });
        timeoutParts = pod.timeoutParts;
        pod.done.catch((err: Error) => finish(err));
      },
      (err: Error) => finish(err),
    );
  });
}
