// How a run ends, and the one table that turns that into kubexit's exit code. The tombstone's
// ExitCode is always the same number kubexit exits with.
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
