// Wall-clock timestamps in Go's RFC3339Nano form, the form Go kubexit writes into tombstones and
// logs: local zone ("Z" when the offset is zero), fraction with trailing zeros dropped.
import { localZoneIsUtc } from '../platform/local-zone.js';

/** Current wall time in microseconds (the best resolution Node's clock gives). */
function nowMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

export function rfc3339Nano(micros: number = nowMicros()): string {
  const ms = Math.floor(micros / 1000);
  // Asking the offset wakes ICU's time zones, slow to start: not in UTC (see local-zone.ts).
  const offsetMin = localZoneIsUtc() ? 0 : -new Date(ms).getTimezoneOffset();
  const d = new Date(ms + offsetMin * 60_000); // its UTC fields are the local ones
  const date = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  const subSecondMicros = (ms % 1000) * 1000 + (micros % 1000);
  const frac =
    subSecondMicros === 0
      ? ''
      : '.' +
        String(subSecondMicros * 1000)
          .padStart(9, '0')
          .replace(/0+$/, '');
  return `${date}T${time}${frac}${zone(offsetMin)}`;
}

function zone(offsetMin: number): string {
  if (offsetMin === 0) return 'Z';
  const sign = offsetMin < 0 ? '-' : '+';
  const abs = Math.abs(offsetMin);
  return `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Whether a timestamp is in the RFC 3339 form Go's time.Time accepts when decoding. */
export function isRfc3339(text: string): boolean {
  return RFC3339.test(text);
}
