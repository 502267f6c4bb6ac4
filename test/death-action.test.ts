import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import type { DeathCondition } from '../src/supervisor/config.js';
import { deathCounts, post } from '../src/supervisor/death-action.js';

describe('death conditions', () => {
  const rows: [DeathCondition[] | undefined, number | undefined, boolean][] = [
    [undefined, 0, true],
    [undefined, 1, true],
    [['completed'], 1, true],
    [['failed'], 1, true],
    [['failed'], 143, true],
    [['failed'], 0, false],
    [['failed'], undefined, true], // Died without ExitCode: not known to have succeeded
    [['succeeded'], 0, true],
    [['succeeded'], 2, false],
    [['succeeded'], undefined, false],
    [['succeeded', 'failed'], 2, true],
  ];
  for (const [conditions, exitCode, counts] of rows) {
    it(`${conditions?.join('+') ?? 'none'}, ExitCode ${exitCode} → ${counts ? 'counts' : 'not counted'}`, () =>
      assert.equal(deathCounts(conditions, { died: 'x', exitCode }), counts));
  }
});

describe('the HTTP quit call', () => {
  it('a call the child outlives is dropped when it exits (abort), without waiting for the timeout', async () => {
    const srv = createServer(() => {}); // never answers
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const { port } = srv.address() as AddressInfo;
    try {
      const gone = new AbortController();
      const result = post(`http://127.0.0.1:${port}/quit`, 3_600_000_000_000n, gone.signal);
      await new Promise((resolve) => srv.once('request', resolve));
      gone.abort();
      assert.deepEqual(await result, { ok: false, error: 'the child has exited' });
    } finally {
      srv.closeAllConnections();
      srv.close();
    }
  });

  it('a URL Node cannot request is a failure, not a throw', async () => {
    const result = await post('http://[::1', 1_000_000_000n, new AbortController().signal);
    assert.equal(result.ok, false);
  });
});
