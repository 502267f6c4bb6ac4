// Is the local time zone UTC? Asked before the first timestamp: the JS engines answer local-time
// questions through ICU, whose time zone set-up costs 10-15 ms under Bun (as much as the rest
// of kubexit's start), while a container's zone is nearly always UTC. When this says yes,
// timestamps are made with the UTC getters and never wake ICU; when unsure, it says no and ICU
// decides, as before. It says yes only where Go and ICU both see UTC.
import { closeSync, constants, fstatSync, openSync, readSync } from './fs.js';

const LOCALTIME = '/etc/localtime';
const ZONEINFO = '/usr/share/zoneinfo';
/** Zone files are a few KiB; anything bigger is not one. */
const MAX_TZIF = 1 << 16;

let known: { tz: string | undefined; utc: boolean } | undefined;

/** Worked out once per value of TZ (tests change it as they go). */
export function localZoneIsUtc(): boolean {
  const tz = process.env.TZ;
  if (known === undefined || known.tz !== tz) known = { tz, utc: zoneIsUtc(tz) };
  return known.utc;
}

function zoneIsUtc(tz: string | undefined): boolean {
  let file = LOCALTIME;
  if (tz !== undefined) {
    const name = tz.startsWith(':') ? tz.slice(1) : tz;
    if (name === 'UTC') return true;
    // An empty TZ is UTC to Go and /etc/localtime to ICU; a rule ("CET-1CEST") is no file.
    if (name === '' || !/^[A-Za-z0-9/_+.-]+$/.test(name)) return false;
    file = name.startsWith('/') ? name : `${ZONEINFO}/${name}`;
  }
  try {
    const tzif = readSmallFile(file);
    return tzif !== undefined && isUtcTzif(tzif);
  } catch (err) {
    // No /etc/localtime and no TZ: UTC for Go, for glibc and so for ICU.
    return tz === undefined && (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/** A regular file's bytes, opened without blocking (a FIFO there must not hang kubexit). */
function readSmallFile(path: string): Buffer | undefined {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > MAX_TZIF) return undefined;
    const buf = Buffer.alloc(st.size);
    let n = 0;
    while (n < buf.length) {
      const got = readSync(fd, buf, n, buf.length - n, n);
      if (got === 0) break;
      n += got;
    }
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

const HEADER = 44;

/**
 * A TZif file (RFC 8536) that says UTC at every instant: no transitions, no leap seconds, one
 * local time type with offset 0, and (version 2 and later) a footer rule of offset 0 without
 * daylight saving time. The version 2+ block, when present, is the one that counts.
 */
export function isUtcTzif(buf: Buffer): boolean {
  const v1 = block(buf, 0, 4);
  if (v1 === undefined) return false;
  if (buf[4] === 0) return v1.utc; // version 1: no second block, no footer
  const v2 = block(buf, v1.end, 8);
  if (v2 === undefined || !v2.utc) return false;
  const footer = buf.subarray(v2.end).toString('latin1');
  // "\nUTC0\n", "\n<+00>0\n", or "\n\n" (no rule: the last type holds for ever)
  return /^\n(?:(?:[A-Za-z]{3,}|<[A-Za-z0-9+-]{3,}>)[+-]?0)?\n$/.test(footer);
}

function block(
  buf: Buffer,
  at: number,
  timeSize: number,
): { utc: boolean; end: number } | undefined {
  if (buf.length < at + HEADER || buf.toString('latin1', at, at + 4) !== 'TZif') return undefined;
  const count = (i: number): number => buf.readUInt32BE(at + 20 + 4 * i);
  const [isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt] = [0, 1, 2, 3, 4, 5].map(count);
  const types = at + HEADER + (timecnt as number) * (timeSize + 1);
  const end =
    types +
    (typecnt as number) * 6 +
    (charcnt as number) +
    (leapcnt as number) * (timeSize + 4) +
    (isstdcnt as number) +
    (isutcnt as number);
  if (end > buf.length) return undefined;
  const utc = timecnt === 0 && leapcnt === 0 && typecnt === 1 && buf.readInt32BE(types) === 0;
  return { utc, end };
}
