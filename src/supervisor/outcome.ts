// How a run ends, and the one table that turns that into kubexit's exit code. The tombstone's
// ExitCode is always the same number kubexit exits with, the user's exit-code policy included.
import { signalNumber } from './signals.js';

/** Why the child was stopped, or never started. */
export type StopCause =
  { kind: 'death'; name: string } | { kind: 'signal'; signal: NodeJS.Signals };

export type Outcome =
  /** The child ran and exited on its own terms (or after our TERM). */
  | { kind: 'exited'; code: number; cause?: StopCause }
  /** The child ran and a signal ended it. */
  | { kind: 'killed'; signal: NodeJS.Signals; cause?: StopCause }
  /** A death dependency or a signal came before the child could start. */
  | { kind: 'not-started'; cause: StopCause }
  /** exec failed: the command is missing, or cannot be executed. */
  | { kind: 'cannot-run'; error: NodeJS.ErrnoException }
  /** Bad configuration or no command. */
  | { kind: 'usage'; error: Error }
  /** kubexit itself failed: the tombstone check before the start, Born, the birth wait, the API.
   * (A Died that cannot be written is logged; it does not change the outcome.) */
  | { kind: 'failed'; error: Error };

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_CANNOT_EXECUTE = 126;
export const EXIT_NOT_FOUND = 127;

export function exitCodeOf(o: Outcome): number {
  switch (o.kind) {
    case 'exited':
      return o.code;
    case 'killed':
      return 128 + signalNumber(o.signal);
    case 'not-started':
      // As if the child had run and been ended the way it would have been.
      return 128 + signalNumber(o.cause.kind === 'signal' ? o.cause.signal : 'SIGTERM');
    case 'cannot-run':
      return o.error.code === 'ENOENT' || o.error.code === 'ENOTDIR'
        ? EXIT_NOT_FOUND
        : EXIT_CANNOT_EXECUTE;
    case 'usage':
      return EXIT_USAGE;
    case 'failed':
      return EXIT_FAILURE;
  }
}

/** The user's exit-code policy (KUBEXIT_IGNORE_CODE_ON_DEATH_DEPS, KUBEXIT_EXIT_CODE_MAP). */
export interface ExitPolicy {
  ignoreCodeOnDeathDeps: boolean;
  exitCodeMap: ReadonlyMap<number, number>;
}

export const NO_POLICY: ExitPolicy = { ignoreCodeOnDeathDeps: false, exitCodeMap: new Map() };

export function hasPolicy(p: ExitPolicy): boolean {
  return p.ignoreCodeOnDeathDeps || p.exitCodeMap.size > 0;
}

/**
 * What kubexit exits with and writes as ExitCode: the table above, then 0 when a death
 * dependency stopped the child (or kept it from starting) and the user asked for that, then
 * the map. A usage error stays 2: the policy itself may be what was wrong.
 */
export function exitCodeUnder(o: Outcome, policy: ExitPolicy): number {
  if (o.kind === 'usage') return EXIT_USAGE;
  let code = exitCodeOf(o);
  if (policy.ignoreCodeOnDeathDeps && causeOf(o)?.kind === 'death') code = 0;
  return policy.exitCodeMap.get(code) ?? code;
}

function causeOf(o: Outcome): StopCause | undefined {
  return o.kind === 'exited' || o.kind === 'killed' || o.kind === 'not-started'
    ? o.cause
    : undefined;
}

/** What the child itself did and why it ended: the tombstone's keys after ExitCode. */
export interface Ending {
  childExitCode?: number;
  childSignal?: NodeJS.Signals;
  reason: string;
}

export function endingOf(o: Outcome): Ending {
  const why = (c: StopCause): string =>
    c.kind === 'death' ? `death dependency ${c.name}` : `signal ${c.signal}`;
  switch (o.kind) {
    case 'exited':
      return { childExitCode: o.code, reason: o.cause ? why(o.cause) : 'exited' };
    case 'killed':
      return { childSignal: o.signal, reason: o.cause ? why(o.cause) : 'killed' };
    case 'not-started':
      return { reason: `not started: ${why(o.cause)}` };
    case 'cannot-run':
      return {
        reason:
          exitCodeOf(o) === EXIT_NOT_FOUND
            ? 'not started: command not found'
            : 'not started: command not executable',
      };
    case 'usage':
      return { reason: 'not started: bad configuration' };
    case 'failed':
      // The error itself is in the log; a tombstone stays far below the readers' 4 KiB cap.
      return { reason: 'kubexit failed' };
  }
}
