// The soak's short version (npm run soak is the long one): a sidecar under graveyard traffic
// ends with the file descriptors and live handles it started with, and still acts on a death.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { growth, soak } from '../bench/soak.js';

describe('soak, short', () => {
  it('60 lifecycles and a dependency flapping every 10 ms for 3 s: no fd or handle growth, the death still acts', async () => {
    const r = await soak({ lifecycles: 60, flapMs: 3000, samplesPerPhase: 2 });
    const g = growth(r);
    assert.equal(g.fds, 0, `fds grew: ${JSON.stringify(r.samples)}`);
    assert.deepEqual(g.resources, [], 'live handles grew');
    assert.ok(r.flaps > 50, `${r.flaps} flaps`);
    assert.equal(r.childGotTerm, true);
    assert.equal(r.exitCode, 0);
  });
});
