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

export class DurationSyntaxError extends Error {}

/** Parses like Go's time.ParseDuration; throws DurationSyntaxError with Go's reason. */
export function parseDuration(text: string): bigint {
  let s = text;
  let negative = false;
  if (s.startsWith('-') || s.startsWith('+')) {
    negative = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') throw new DurationSyntaxError(`invalid duration ${JSON.stringify(text)}`);
  let total = 0n;
  while (s !== '') {
    const m = /^([0-9]*)(?:\.([0-9]*))?/.exec(s);
    const whole = m?.[1] ?? '';
    const frac = m?.[2] ?? '';
    if (whole === '' && frac === '') {
      throw new DurationSyntaxError(`invalid duration ${JSON.stringify(text)}`);
    }
    s = s.slice(m?.[0].length ?? 0);
    const unitMatch = /^[^0-9.]*/.exec(s);
    const unit = unitMatch?.[0] ?? '';
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
    let value = BigInt(whole === '' ? '0' : whole) * scale;
    if (frac !== '') value += (BigInt(frac) * scale) / 10n ** BigInt(frac.length);
    total += value;
    // Go allows one more on the negative side: -2562047h47m16.854775808s is the least int64.
    if (total > MAX_NS + (negative ? 1n : 0n)) {
      throw new DurationSyntaxError(`invalid duration ${JSON.stringify(text)}`);
    }
  }
  return negative ? -total : total;
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
