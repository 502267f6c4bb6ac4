// Every signal rule in one place: which signals kubexit catches, which of them stop a child
// from ever being started, and how Go names them in logs.
import { realtimeSignalNumber } from '../platform/signal-names.js';

/**
 * Caught from the first line of main and forwarded to the child once it runs. Not here: KILL
 * and STOP (uncatchable), CHLD (ours, not the child's), SEGV/BUS/FPE/ILL (faults of kubexit
 * itself, not messages to pass on).
 */
export const CAUGHT: readonly NodeJS.Signals[] = [
  'SIGTERM',
  'SIGINT',
  'SIGHUP',
  'SIGQUIT',
  'SIGUSR1',
  'SIGUSR2',
  'SIGWINCH',
  'SIGCONT',
  'SIGTSTP',
  'SIGTTIN',
  'SIGTTOU',
  'SIGALRM',
  'SIGPIPE',
  'SIGVTALRM',
  'SIGPROF',
  'SIGXCPU',
  'SIGXFSZ',
  'SIGIO',
  'SIGPWR',
  'SIGSYS',
  'SIGTRAP',
  'SIGABRT',
  'SIGURG',
  'SIGSTKFLT',
];

/** Before the child starts, these mean "shut down": the child is then never started. */
export const STOPS_START: ReadonlySet<NodeJS.Signals> = new Set<NodeJS.Signals>([
  'SIGTERM',
  'SIGINT',
  'SIGHUP',
  'SIGQUIT',
]);

/**
 * node:os, loaded on first use: numbers are needed once the run ends, never before the child
 * starts (under Bun, the module costs some 0.5 ms and 0.6 MiB at start-up).
 */
let signals: Partial<Record<string, number>> | undefined;
function osSignals(): Partial<Record<string, number>> {
  if (signals === undefined) {
    const os = (process.getBuiltinModule?.('node:os') ??
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- Node < 20.16: the bundle's require
      require('node:os')) as typeof import('node:os');
    signals = os.constants.signals;
  }
  return signals;
}

export function signalNumber(sig: NodeJS.Signals): number {
  const n = osSignals()[sig] ?? realtimeSignalNumber(sig);
  if (n === undefined) throw new Error(`unknown signal ${sig}`);
  return n;
}

/** Go's names for signals (syscall.Signal.String on Linux), as the original logs them. */
const GO_NAMES: Partial<Record<NodeJS.Signals, string>> = {
  SIGHUP: 'hangup',
  SIGINT: 'interrupt',
  SIGQUIT: 'quit',
  SIGTRAP: 'trace/breakpoint trap',
  SIGABRT: 'aborted',
  SIGUSR1: 'user defined signal 1',
  SIGUSR2: 'user defined signal 2',
  SIGPIPE: 'broken pipe',
  SIGALRM: 'alarm clock',
  SIGTERM: 'terminated',
  SIGSTKFLT: 'stack fault',
  SIGCHLD: 'child exited',
  SIGCONT: 'continued',
  SIGTSTP: 'stopped',
  SIGTTIN: 'stopped (tty input)',
  SIGTTOU: 'stopped (tty output)',
  SIGURG: 'urgent I/O condition',
  SIGXCPU: 'CPU time limit exceeded',
  SIGXFSZ: 'file size limit exceeded',
  SIGVTALRM: 'virtual timer expired',
  SIGPROF: 'profiling timer expired',
  SIGWINCH: 'window changed',
  SIGIO: 'I/O possible',
  SIGPWR: 'power failure',
  SIGSYS: 'bad system call',
  SIGKILL: 'killed',
};

export function goSignalName(sig: NodeJS.Signals): string {
  const realtime = realtimeSignalNumber(sig);
  return GO_NAMES[sig] ?? (realtime === undefined ? sig : `signal ${realtime}`);
}

export type SignalListener = (sig: NodeJS.Signals) => void;

/**
 * Catches every signal in CAUGHT from the moment it is made, so none is lost or fatal during
 * start-up; signals that arrive before a listener is set are delivered to it, in order.
 *
 * The SIGPIPE rule: a SIGPIPE that kubexit's own write raised is kubexit's business, never the
 * child's. Nothing tells who sent a SIGPIPE, but a write that failed with EPIPE raised exactly
 * one, already pending when the write returns and handled after it: `ownSigpipe()` says so, and
 * the next SIGPIPE is swallowed. The log writer stops writing after its first EPIPE, so there is
 * at most one; a SIGPIPE sent by anyone else (kill -PIPE) is forwarded as any other signal.
 */
export class SignalTrap {
  private listener: SignalListener | undefined;
  private readonly early: NodeJS.Signals[] = [];
  private ownSigpipes = 0;
  private released = false;
  private readonly handler = (sig: NodeJS.Signals): void => {
    if (this.released) return;
    if (sig === 'SIGPIPE' && this.ownSigpipes > 0) {
      this.ownSigpipes--;
      return;
    }
    if (this.listener) this.listener(sig);
    else this.early.push(sig);
  };

  /** One of kubexit's own writes just failed with EPIPE: its SIGPIPE is on its way. */
  ownSigpipe(): void {
    this.ownSigpipes++;
  }

  constructor() {
    for (const sig of CAUGHT) process.on(sig, this.handler);
  }

  /**
   * Not a supervisor after all (a manifest tool, the webhook): signals get the runtime's default
   * behaviour back, so that Ctrl-C or a pod's TERM ends the tool, and one that came meanwhile is
   * sent again to take its default effect now. SIGPIPE stays ignored, as for any Node program.
   */
  release(): void {
    this.released = true;
    for (const sig of CAUGHT) if (sig !== 'SIGPIPE') process.off(sig, this.handler);
    for (const sig of this.early.splice(0)) if (sig !== 'SIGPIPE') process.kill(process.pid, sig);
  }

  listen(listener: SignalListener): void {
    this.listener = listener;
    for (const sig of this.early.splice(0)) listener(sig);
  }
}
