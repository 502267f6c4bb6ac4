import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDuration, parseDuration, toMillis } from '../src/supervisor/duration.js';

describe('Go durations', () => {
  const valid: [string, bigint][] = [
    ['0', 0n],
    ['+0', 0n],
    ['-0', 0n],
    ['30s', 30_000_000_000n],
    ['1m30s', 90_000_000_000n],
    ['1.5h', 5_400_000_000_000n],
    ['300ms', 300_000_000n],
    ['2h45m', 9_900_000_000_000n],
    ['1us', 1_000n],
    ['1µs', 1_000n],
    ['1μs', 1_000n],
    ['7ns', 7n],
    ['.5s', 500_000_000n],
    ['1.s', 1_000_000_000n],
    ['1h1m1s1ms1us1ns', 3_661_001_001_001n],
    ['-1.5s', -1_500_000_000n],
    ['0.000000001s', 1n],
    ['2562047h47m16.854775807s', (1n << 63n) - 1n],
    // Go's range is int64: the most negative value is one more than the most positive.
    ['-9223372036854775808ns', -(1n << 63n)],
    ['-2562047h47m16.854775808s', -(1n << 63n)],
    // Fractions are scaled in float64 as Go does, rounding included.
    ['0.9999999999999999999999h', 3_600_000_000_000n],
    ['1.00000000000000000000001h', 3_600_000_000_000n],
  ];
  for (const [text, ns] of valid) {
    it(`parses ${JSON.stringify(text)}`, () => assert.equal(parseDuration(text), ns));
  }
  const invalid = [
    '',
    '1',
    '30',
    's',
    '.s',
    '1d',
    '1 s',
    ' 1s',
    '1s ',
    '--1s',
    '1.2.3s',
    'abc',
    '9223372036854775808ns',
    '1sm',
    // Over ~292 years: Go's overflow errors, in each place it checks.
    '2562048h',
    '2562047h47m16.854775808s',
    '9223372036854775807ns1ns',
    '-9223372036854775809ns',
    '9223372036854775808.5ns',
    '153722868m',
    `1${'0'.repeat(100_000)}s`,
  ];
  for (const text of invalid) {
    it(`rejects ${JSON.stringify(text.slice(0, 40))}`, () =>
      assert.throws(() => parseDuration(text), /invalid duration|unit/));
  }
  it('names the missing unit like Go', () =>
    assert.throws(() => parseDuration('5'), /missing unit in duration "5"/));
  it('names the unknown unit like Go', () =>
    assert.throws(() => parseDuration('5d'), /unknown unit "d" in duration "5d"/));

  const formats: [bigint, string][] = [
    [0n, '0s'],
    [30_000_000_000n, '30s'],
    [90_000_000_000n, '1m30s'],
    [3_600_000_000_000n, '1h0m0s'],
    [1_500_000_000n, '1.5s'],
    [500_000_000n, '500ms'],
    [1_500n, '1.5µs'],
    [7n, '7ns'],
    [-2_000_000_000n, '-2s'],
  ];
  for (const [ns, text] of formats) {
    it(`formats ${ns}ns as ${text}`, () => assert.equal(formatDuration(ns), text));
  }
  it('rounds sub-millisecond timers up', () => {
    assert.equal(toMillis(0n), 0);
    assert.equal(toMillis(1n), 1);
    assert.equal(toMillis(1_500_000n), 2);
    assert.equal(toMillis(30_000_000_000n), 30_000);
  });
});
