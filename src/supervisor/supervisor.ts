// The orchestration: watch for deaths, wait for births, run the child, stop it when a
// dependency dies, and record how it all ended in our tombstone.
import type { WaitForBirth } from './birth.js';
import { startChild, type Child } from './child.js';
import { birthDepText, type Config } from './config.js';
import { formatDuration, toMillis } from './duration.js';
import { OwnTombstone, type Graveyard } from './graveyard.js';
import type { Log } from './log.js';
import { exitCodeOf, type Outcome, type StopCause } from './outcome.js';
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

  signals.listen((sig) => {
    if (child)
      child.signal(sig); // first: the log line can wait, the child shouldn't
    else if (starting) startingSignals.push(sig);
    else if (STOPS_START.has(sig)) stopBeforeStart({ kind: 'signal', signal: sig });
    trace.event(`Received signal: ${goSignalName(sig)}`);
  });

  // A tombstone that cannot be written never changes the exit code (the child's, when it ran):
  // it costs the dependents their news, so it is said loudly, in a line of its own.
  const ending = (outcome: Outcome): Outcome => {
    try {
      tombstone.died(exitCodeOf(outcome));
    } catch (err) {
      log.errorLine('tombstone not written', {
        ...fieldsOf(err),
        error: (err as Error).message,
        consequence: `the tombstone keeps its last content: dependents with ${config.name} in KUBEXIT_DEATH_DEPS will not see this end`,
        exit_code: exitCodeOf(outcome),
      });
    }
    return outcome;
  };

  // 0. Our tombstone: know that it can be written before anything runs, and hold its place.
  try {
    // Our own birth deps go in too: a kubexit waiting for us can see a cycle through us.
    tombstone.reserve(config.birthConditions.map(birthDepText).join(','));
  } catch (err) {
    return { kind: 'failed', error: wrap('child not started: tombstone not writable', err) };
  }

  // 1. Deaths: watch before the wait and the start, so no death is missed.
  let cancelKill: (() => void) | undefined;
  const terminate = (running: Child): void => {
    running.signal('SIGTERM');
    trace.event('Terminating child process');
    cancelKill = after(toMillis(config.gracePeriod), () => {
      trace.event(`Timeout elapsed: ${formatDuration(config.gracePeriod)}`);
      if (!running.running()) return;
      trace.event('Killing child process');
      running.signal('SIGKILL');
    });
  };
  let deaths: { close(): void } | undefined;
  if (config.deathDeps.length > 0) {
    const deathTrace = log.trace('death graveyard watcher');
    try {
      const { watchDeaths } = await import('./death.js');
      // The folder exists: step 0 wrote into it.
      deaths = watchDeaths(
        graveyard,
        config.deathDeps,
        deathTrace,
        ({ name }) => {
          const cause: StopCause = { kind: 'death', name };
          if (!child) return stopBeforeStart(cause);
          stop ??= cause;
          terminate(child);
        },
        (err) =>
          log.errorLine('graveyard watch lost: deaths are not seen until it is watched again', {
            error: err.message,
            graveyard: config.graveyard,
          }),
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
  if (stop) {
    deaths?.close();
    return ending({ kind: 'not-started', cause: stop });
  }

  // 3. The child. Signals that land while it is being started are passed on once it runs.
  trace.event(`Start: ${displayCommand(command)}`);
  starting = true;
  try {
    child = await startChild(command);
  } catch (err) {
    deaths?.close();
    return ending({ kind: 'cannot-run', error: err as NodeJS.ErrnoException });
  } finally {
    starting = false;
  }
  for (const sig of startingSignals) child.signal(sig);

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

  const exit = await child.exited;
  probe?.stop();
  cancelKill?.();
  deaths?.close();
  trace.event(`Received signal: ${goSignalName('SIGCHLD')}`);
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
