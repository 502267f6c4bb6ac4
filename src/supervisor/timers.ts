// Node timers overflow past 2^31-1 ms (about 24.8 days) and then fire at once; a grace period
// or birth timeout of a month must still mean a month.
const MAX_DELAY = 2 ** 31 - 1;

/** Calls `fn` after `ms` milliseconds; returns a cancel function. Does not keep Node alive. */
export function after(ms: number, fn: () => void): () => void {
  let timer: NodeJS.Timeout;
  const arm = (left: number): void => {
    const step = Math.min(left, MAX_DELAY);
    timer = setTimeout(() => (left > step ? arm(left - step) : fn()), step);
    timer.unref();
  };
  arm(Math.max(0, ms));
  return () => clearTimeout(timer);
}
