import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { isUtcTzif, localZoneIsUtc } from '../src/platform/local-zone.js';
import { rfc3339Nano } from '../src/supervisor/clock.js';
import { tempDir } from './support/temp.js';

const ZONEINFO = '/usr/share/zoneinfo';
const zone = (name: string): Buffer => readFileSync(join(ZONEINFO, name));
const noZoneinfo = existsSync(join(ZONEINFO, 'Etc/UTC')) ? false : 'no tzdata here';

describe('local zone: UTC told without ICU', () => {
  const prev = process.env.TZ;
  afterEach(() => {
    if (prev === undefined) delete process.env.TZ;
    else process.env.TZ = prev;
  });

  it('takes the zone files of UTC for UTC', { skip: noZoneinfo }, () => {
    for (const name of ['Etc/UTC', 'UTC', 'Etc/UCT', 'Zulu', 'Etc/Universal']) {
      assert.equal(isUtcTzif(zone(name)), true, name);
    }
  });

  it('takes no other zone for UTC, not even one at offset 0 today', { skip: noZoneinfo }, () => {
    // Abidjan and London were at another offset once; Etc/GMT-3 never changes but is +03:00.
    for (const name of [
      'Europe/Paris',
      'Asia/Kolkata',
      'Etc/GMT-3',
      'Africa/Abidjan',
      'Europe/London',
    ]) {
      assert.equal(isUtcTzif(zone(name)), false, name);
    }
    if (existsSync(join(ZONEINFO, 'right/UTC'))) {
      assert.equal(isUtcTzif(zone('right/UTC')), false, 'right/UTC counts leap seconds');
    }
  });

  it('takes a truncated or foreign file for not UTC', { skip: noZoneinfo }, () => {
    const utc = zone('Etc/UTC');
    assert.equal(isUtcTzif(utc.subarray(0, utc.length - 3)), false);
    assert.equal(isUtcTzif(utc.subarray(0, 30)), false);
    assert.equal(
      isUtcTzif(Buffer.from('not a zone file at all, but long enough to have a header')),
      false,
    );
  });

  it(
    'reads TZ as Go does where Go and ICU agree, and leaves the rest to ICU',
    { skip: noZoneinfo },
    () => {
      const cases: [string, boolean][] = [
        ['UTC', true],
        [':UTC', true],
        ['Etc/UTC', true],
        [join(ZONEINFO, 'Etc/UTC'), true],
        ['Europe/Moscow', false],
        ['', false], // UTC to Go, /etc/localtime to ICU
        ['CET-1CEST,M3.5.0,M10.5.0/3', false],
        ['No/Such_Zone', false],
      ];
      for (const [tz, utc] of cases) {
        process.env.TZ = tz;
        assert.equal(localZoneIsUtc(), utc, `TZ=${JSON.stringify(tz)}`);
      }
    },
  );

  it('takes a folder where a zone file should be for not UTC', () => {
    process.env.TZ = tempDir();
    assert.equal(localZoneIsUtc(), false);
  });

  it('gives the timestamps ICU gives, in UTC and elsewhere', { skip: noZoneinfo }, () => {
    const micros = Date.UTC(2021, 9, 13, 23, 59, 59) * 1000 + 120;
    process.env.TZ = 'Etc/UTC';
    assert.equal(rfc3339Nano(micros), '2021-10-13T23:59:59.00012Z');
    process.env.TZ = 'Asia/Kolkata';
    assert.equal(rfc3339Nano(micros), '2021-10-14T05:29:59.00012+05:30');
    process.env.TZ = 'America/New_York';
    assert.equal(rfc3339Nano(micros), '2021-10-13T19:59:59.00012-04:00');
  });
});
