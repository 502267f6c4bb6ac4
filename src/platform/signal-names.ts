// Real-time signals have no constant in Node or Bun (Bun gives their number alone): they are
// named here as glibc's `kill -l` does, SIGRTMIN+3 for 37, so that every signal has a name that
// tells its number back.

/** glibc's SIGRTMIN on Linux: the kernel's first real-time signal is 32, glibc keeps 32 and 33. */
const SIGRTMIN = 34;
const REALTIME = /^SIGRTMIN([+-]\d+)?$/;

export function realtimeSignalName(n: number): NodeJS.Signals {
  const k = n - SIGRTMIN;
  return `SIGRTMIN${k === 0 ? '' : k > 0 ? `+${k}` : k}` as NodeJS.Signals;
}

/** The number of a name made by realtimeSignalName; undefined for any other name. */
export function realtimeSignalNumber(sig: string): number | undefined {
  const m = REALTIME.exec(sig);
  return m ? SIGRTMIN + Number(m[1] ?? 0) : undefined;
}
