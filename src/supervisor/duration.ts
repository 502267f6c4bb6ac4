// Go's time.Duration grammar, so manifests written for the Go kubexit keep their meaning.
// Durations are carried as integer nanoseconds (bigint: Go's range is int64 nanoseconds).

const UNITS: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n, // U+00B5 MICRO SIGN
  μs: 1_000n, // U+03BC GREEK SMALL LETTER MU
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

const MAX_NS = (1n << 63n) - 1n;
const LIMIT = 1n << 63n; // Go accumulates in uint64 and allows 1<<63 for a negative result

export class DurationSyntaxError extends Error {}

/**
 * Parses like Go's time.ParseDuration, step for step, overflow rules included (the range is
 * int64 nanoseconds, about 292 years); throws DurationSyntaxError with Go's reason.
 */
export function parseDuration(text: string): bigint {
  const invalid = (): never => {
    throw new DurationSyntaxError(`invalid duration ${JSON.stringify(text)}`);
  };
  let s = text;
  let negative = false;
  if (s.startsWith('-') || s.startsWith('+')) {
    negative = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') invalid();
  let total = 0n;
  while (s !== '') {
    const m = /^([0-9]*)(?:\.([0-9]*))?/.exec(s);
    const whole = m?.[1] ?? '';
    const frac = m?.[2];
    if (whole === '' && !frac) invalid(); // no digits: "", ".", ".s"
    s = s.slice(m?.[0].length ?? 0);
    const unit = /^[^0-9.]*/.exec(s)?.[0] ?? '';
    if (unit === '') {
      throw new DurationSyntaxError(`missing unit in duration ${JSON.stringify(text)}`);
    }
    const scale = UNITS[unit];
    if (scale === undefined) {
      throw new DurationSyntaxError(
        `unknown unit ${JSON.stringify(unit)} in duration ${JSON.stringify(text)}`,
      );
    }
    s = s.slice(unit.length);
    const digits = whole.replace(/^0+/, '');
    if (digits.length > 19) invalid(); // over 1<<63 whatever the unit: no huge BigInt
    const v = BigInt(digits === '' ? '0' : digits);
    if (v > LIMIT || v > LIMIT / scale) invalid();
    let value = v * scale;
    if (frac) {
      // Go keeps the fraction's digits while they fit, and scales them in float64.
      const [f, fscale] = leadingFraction(frac);
      if (f > 0n) value += BigInt(Math.trunc(Number(f) * (Number(scale) / fscale)));
      if (value > LIMIT) invalid();
    }
    total += value;
    if (total > LIMIT) invalid();
  }
  if (negative) return -total;
  if (total > MAX_NS) invalid();
  return total;
}

/** Go's leadingFraction: the digits that fit in int64, and 10^(their count) as a float. */
function leadingFraction(digits: string): [bigint, number] {
  let x = 0n;
  let scale = 1;
  for (const c of digits) {
    if (x > MAX_NS / 10n) break;
    const y = x * 10n + BigInt(c);
    if (y > LIMIT) break;
    x = y;
    scale *= 10;
  }
  return [x, scale];
}

/** Formats like Go's Duration.String(): 30s, 1m30s, 1h0m0s, 1.5s, 300ms, 0s. */
export function formatDuration(ns: bigint): string {
  if (ns === 0n) return '0s';
  const sign = ns < 0n ? '-' : '';
  const u = ns < 0n ? -ns : ns;
  if (u < 1_000_000_000n) {
    if (u < 1_000n) return `${sign}${u}ns`;
    if (u < 1_000_000n) return `${sign}${fraction(u, 1_000n)}µs`;
    return `${sign}${fraction(u, 1_000_000n)}ms`;
  }
  const h = u / 3_600_000_000_000n;
  const m = (u / 60_000_000_000n) % 60n;
  const secs = fraction(u % 60_000_000_000n, 1_000_000_000n);
  if (h > 0n) return `${sign}${h}h${m}m${secs}s`;
  if (m > 0n) return `${sign}${m}m${secs}s`;
  return `${sign}${secs}s`;
}

function fraction(value: bigint, unit: bigint): string {
  const whole = value / unit;
  const rest = value % unit;
  if (rest === 0n) return String(whole);
  const digits = String(unit).length - 1;
  return `${whole}.${String(rest).padStart(digits, '0').replace(/0+$/, '')}`;
}

/** Milliseconds for timers; Node timers are ms-grained, so sub-ms rounds up to 1 ms. */
export function toMillis(ns: bigint): number {
  if (ns <= 0n) return 0;
  return Number((ns + 999_999n) / 1_000_000n);
}
