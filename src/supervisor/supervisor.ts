// The orchestration: watch for deaths, wait for births, run the child, stop it when a
// dependency dies, and record how it all ended in our tombstone.
import type { WaitForBirth } from './birth.js';
import { endRestOfGroup, startChild, type Child } from './child.js';
import { birthDepText, type Config } from './config.js';
import { deathCounts, loadRequest, runDeathAction, sendDeathSignal } from './death-action.js';
import { formatDuration, toMillis } from './duration.js';
import { OwnTombstone, type Graveyard } from './graveyard.js';
import type { DeathWatch } from './death.js';
import { holdLiveness } from './liveness.js';
import type { Log } from './log.js';
import { endingOf, exitCodeUnder, hasPolicy, type Outcome, type StopCause } from './outcome.js';
import { reapOrphans } from '../platform/reap.js';
import { goSignalName, STOPS_START, type SignalTrap } from './signals.js';
import { after } from './timers.js';
import { TombstoneWriteError } from './tombstone-write.js';

/** What the supervisor needs from the outside world; each part is small and replaceable. */
export interface Services {
  log: Log;
  signals: SignalTrap;
  graveyard: Graveyard;
  waitForBirth: WaitForBirth;
}

export async function supervise(
  config: Config,
  command: readonly string[],
  { log, signals, graveyard, waitForBirth }: Services,
): Promise<Outcome> {
  // Traces are created in the fork's order, which is the order they are printed in.
  const tombstone = new OwnTombstone(graveyard, config.name, log.trace(`${config.name} tombstone`));
  const trace = log.trace('supervisor');

  let child: Child | undefined;
  let starting = false;
  const startingSignals: NodeJS.Signals[] = [];
  let stop: StopCause | undefined; // the first reason to stop, before or after the start
  const abortWait = new AbortController();
  const stopBeforeStart = (cause: StopCause): void => {
    stop ??= cause;
    abortWait.abort();
  };

  // The shutdown hold (KUBEXIT_SHUTDOWN_AFTER_DEPS): on pod deletion every container gets its
  // TERM at once; ours waits for a death dependency to die first, at most SHUTDOWN_HOLD.
  const { ending: how } = config;
  const holds = how.shutdownAfterDeps && config.deathDeps.length > 0;
  let deathSeen = false; // a dependency died, counted or not: a TERM is not held any more
  let holding: (() => void) | undefined; // cancels the hold's timer
  let terminating = false;
  const holdTerm = (running: Child): void => {
    if (holding) {
      trace.event('Received a second SIGTERM: the hold ends');
      return endHold(running);
    }
    const hold = formatDuration(how.shutdownHold);
    trace.event(`Holding SIGTERM until a death dependency dies, at most ${hold}`);
    holding = after(toMillis(how.shutdownHold), () => {
      trace.event(`Shutdown hold elapsed: ${hold}`);
      endHold(running);
    });
  };
  const endHold = (running: Child): void => {
    holding?.();
    holding = undefined;
    stop ??= { kind: 'signal', signal: 'SIGTERM' };
    terminate(running);
  };

  signals.listen((sig) => {
    if (child) {
      if (sig === 'SIGTERM' && holds && !deathSeen && !terminating) holdTerm(child);
      else {
        child.signal(sig); // first: the log line can wait, the child shouldn't
        if (STOPS_START.has(sig)) stop ??= { kind: 'signal', signal: sig };
      }
    } else if (starting) startingSignals.push(sig);
    else if (STOPS_START.has(sig)) stopBeforeStart({ kind: 'signal', signal: sig });
    trace.event(`Received signal: ${goSignalName(sig)}`);
  });

  // A tombstone that cannot be written never changes the exit code (the child's, when it ran):
  // it costs the dependents their news, so it is said loudly, in a line of its own.
  let releaseLiveness = (): void => {};
  let liveness = false; // our socket is up: kubexit dependents see our end even without Died
  // With an exit-code policy, ExitCode may not be the child's own: the tombstone then also says
  // what the child did and why it ended.
  const ending = (outcome: Outcome): Outcome => {
    const code = exitCodeUnder(outcome, how);
    try {
      tombstone.died(code, hasPolicy(how) ? endingOf(outcome) : undefined);
      releaseLiveness(); // kept after a Died that did not land: it then tells of this end
    } catch (err) {
      log.errorLine('tombstone not written', {
        ...fieldsOf(err),
        error: (err as Error).message,
        consequence: liveness
          ? `the tombstone keeps its last content: kubexit dependents of ${config.name} see this end as a death without a record when this process exits; Go kubexit dependents don't see it`
          : `the tombstone keeps its last content: dependents with ${config.name} in KUBEXIT_DEATH_DEPS will not see this end`,
        exit_code: code,
      });
    }
    return outcome;
  };

  // 0. Our liveness socket (crash-safe deaths), listening before our tombstone first lands;
  // then our tombstone: know that it can be written before anything runs, and hold its place.
  const alive = await holdLiveness(graveyard.dir, config.name);
  if (alive.ok) {
    releaseLiveness = alive.release;
    liveness = true;
  } else
    log.warning(
      'liveness socket not set up: dependents see this container end from its tombstone only',
      {
        socket: alive.path,
        error: alive.error,
      },
    );
  try {
    // Our own birth deps go in too: a kubexit waiting for us can see a cycle through us.
    tombstone.reserve(config.birthConditions.map(birthDepText).join(','));
  } catch (err) {
    releaseLiveness();
    return { kind: 'failed', error: wrap('child not started: tombstone not writable', err) };
  }

  // 1. Deaths: watch before the wait and the start, so no death is missed. A death waits
  // KUBEXIT_DEATH_DELAY, then the death action runs (a signal, or an HTTP call with the signal
  // as fallback), once; then the grace period and the KILL.
  let cancelKill: (() => void) | undefined;
  let cancelDelay: (() => void) | undefined;
  const childGone = new AbortController();
  const terminate = (running: Child): void => {
    if (terminating) return;
    terminating = true;
    // Without a URL to call, the signal goes out in this very turn: no async function, no
    // promise, no object on its way (the first run of each costs Bun tens of microseconds).
    if (how.deathHttp === undefined) {
      sendDeathSignal(running, how.deathSignal, trace);
      return graceThenKill(running);
    }
    void runDeathAction(running, how, { trace, log, abort: childGone.signal }).then(() =>
      graceThenKill(running),
    );
  };
  const graceThenKill = (running: Child): void => {
    if (!running.running()) return;
    cancelKill = after(toMillis(config.gracePeriod), () => {
      trace.event(`Timeout elapsed: ${formatDuration(config.gracePeriod)}`);
      if (!running.running()) return;
      trace.event('Killing child process');
      running.signal('SIGKILL');
    });
  };
  let pendingDeath: string | undefined; // a death while the child was being started
  const onDeath = (name: string): void => {
    const cause: StopCause = { kind: 'death', name };
    deathSeen = true;
    if (!child) {
      if (starting) pendingDeath ??= name;
      else stopBeforeStart(cause);
      return;
    }
    if (holding) {
      holding();
      holding = undefined;
      trace.event(`Shutdown hold released: ${name} died`);
    }
    const running = child;
    if (how.deathDelay === 0n) {
      stop ??= cause;
      return terminate(running);
    }
    trace.event(`Death action in ${formatDuration(how.deathDelay)}`);
    cancelDelay = after(toMillis(how.deathDelay), () => {
      stop ??= cause;
      terminate(running);
    });
  };
  let deaths: DeathWatch | undefined;
  const uncounted = new Set<string>();
  if (config.deathDeps.length > 0) {
    const deathTrace = log.trace('death graveyard watcher');
    try {
      const { watchDeaths } = await import('./death.js');
      // The folder exists: step 0 wrote into it.
      deaths = watchDeaths(
        graveyard,
        config.deathDeps,
        deathTrace,
        ({ name, unrecorded }) => {
          onDeath(name);
          if (unrecorded !== undefined)
            log.warning('death dependency died without a record', {
              dependency: name,
              how: unrecorded,
            });
        },
        (err) =>
          log.errorLine('graveyard watch lost: deaths are not seen until it is watched again', {
            error: err.message,
            graveyard: config.graveyard,
          }),
        // During a hold any death ends it: the hold is about order, the condition about whether
        // a death alone is reason to stop. Without conditions every death counts: nothing to ask.
        how.deathConditions.size === 0
          ? undefined
          : ({ name, tombstone: t }) => {
              const conditions = how.deathConditions.get(name);
              if (holding || deathCounts(conditions, t)) return true;
              deathSeen = true;
              // Said once per death, at info level: it is why the child keeps running.
              const key = `${name}\n${t.died}`;
              if (!uncounted.has(key)) {
                uncounted.add(key);
                log.info('death not counted: the child keeps running', {
                  dependency: name,
                  exit_code: t.exitCode ?? null,
                  conditions,
                });
              }
              return false;
            },
      );
    } catch (err) {
      return ending({ kind: 'failed', error: wrap('failed to watch graveyard', err) });
    }
  }

  // 2. Births: hold the start until the dependencies are ready, or something stops us.
  if (config.birthDeps.length > 0 && !stop) {
    const birthTrace = log.trace('birth dependencies watcher');
    try {
      await waitForBirth({ config, signal: abortWait.signal, trace: birthTrace, log, graveyard });
    } catch (err) {
      if (!stop) {
        deaths?.close();
        return ending({ kind: 'failed', error: err as Error });
      }
    }
  }
  // A dependency whose liveness socket refuses is dead: know it before the start.
  if (!stop) await deaths?.settled();
  if (stop) {
    deaths?.close();
    return ending({ kind: 'not-started', cause: stop });
  }

  // 3. The child. Signals that land while it is being started are passed on once it runs.
  trace.event(`Start: ${displayCommand(command)}`);
  starting = true;
  try {
    child = await startChild(command, { group: how.killGroup });
  } catch (err) {
    deaths?.close();
    return ending({ kind: 'cannot-run', error: err as NodeJS.ErrnoException });
  } finally {
    starting = false;
  }
  const running = child;
  reapOrphans(
    () => (running.running() ? running.pid : undefined),
    (err) => log.errorLine('orphans are not reaped: waitpid not loaded', { error: err.message }),
  );
  for (const sig of startingSignals) child.signal(sig);
  if (pendingDeath) onDeath(pendingDeath);

  try {
    // Without a probe, the child is ready once it runs: Born and Ready in one write.
    tombstone.born(config.readyProbe === undefined);
  } catch (err) {
    // Dependents could never learn of our death: don't run blind.
    child.signal('SIGKILL');
    await child.exited;
    deaths?.close();
    return ending({ kind: 'failed', error: wrap('failed to create tombstone', err) });
  }
  const probe = config.readyProbe ? await startReadyProbe(config, tombstone, log) : undefined;
  // The quit call's HTTP client, loaded now that the child runs, not when a death is waiting.
  if (how.deathHttp !== undefined) void loadRequest(how.deathHttp).catch(() => {});

  const exit = await child.exited;
  probe?.stop();
  cancelKill?.();
  cancelDelay?.();
  holding?.();
  childGone.abort();
  deaths?.close();
  trace.event(`Received signal: ${goSignalName('SIGCHLD')}`);
  // KUBEXIT_KILL_GROUP: what the child started ends before our tombstone says Died.
  if (child.group) await endRestOfGroup(child, toMillis(config.gracePeriod), trace);
  return ending(
    exit.signal === null
      ? { kind: 'exited', code: exit.code, cause: stop }
      : { kind: 'killed', signal: exit.signal, cause: stop },
  );
}

/**
 * Probes the running child until it first passes, then writes Ready. Neither a failing probe
 * nor a Ready that can't be written changes anything for the child: they are only logged.
 */
async function startReadyProbe(
  config: Config,
  tombstone: OwnTombstone,
  log: Log,
): Promise<{ stop(): void }> {
  const { startProbe } = await import('./probe.js');
  return startProbe(config.readyProbe as NonNullable<Config['readyProbe']>, {
    periodMs: toMillis(config.readyProbePeriod),
    timeoutMs: toMillis(config.readyProbeTimeout),
    initialDelayMs: toMillis(config.readyProbeInitialDelay),
    trace: log.trace('ready probe'),
    onPass: () => {
      try {
        tombstone.ready();
      } catch (err) {
        log.errorLine('tombstone not written: Ready', {
          ...fieldsOf(err),
          error: (err as Error).message,
          consequence: `dependents waiting for ${config.name} to be ready keep waiting`,
        });
      }
    },
  });
}

/** The tombstone path, errno and hint of a TombstoneWriteError, for its log line. */
export function fieldsOf(err: unknown): Record<string, string> {
  return err instanceof TombstoneWriteError ? err.fields : {};
}

function wrap(message: string, err: unknown): Error {
  const e = new Error(`${message}: ${(err as Error).message}`, { cause: err });
  if (err instanceof Error && err.stack) e.stack = err.stack.replace(/^.*/, `Error: ${e.message}`);
  return e;
}

/** As Go kubexit shows a command line: elements with a space are quoted. */
export function displayCommand(command: readonly string[]): string {
  return command.map((a) => (a.includes(' ') ? `"${a}"` : a)).join(' ');
}
