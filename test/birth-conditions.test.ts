// Conditions of birth dependencies, judged from a tombstone and from a pod's status: plain
// values, no processes (the end-to-end cases are in e2e-readiness and k8s-birth).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { judge } from '../src/supervisor/birth-tombstones.js';
import type { Condition } from '../src/supervisor/config.js';
import { checkConditions, type Pod } from '../src/supervisor/kube/pod.js';
import type { Tombstone } from '../src/supervisor/tombstone.js';

const T = '2026-01-01T00:00:00Z';
const waiting: Tombstone = { birthDeps: 'x' };
const born: Tombstone = { born: T };
const ready: Tombstone = { born: T, ready: T };
const ok: Tombstone = { born: T, ready: T, died: T, exitCode: 0 };
const failedReady: Tombstone = { born: T, ready: T, died: T, exitCode: 2 };
const diedUnready: Tombstone = { born: T, died: T, exitCode: 3 };
const neverBorn: Tombstone = { died: T, exitCode: 143 };

describe('a tombstone judged for each condition', () => {
  const table: [Condition, Tombstone, 'met' | 'wait' | RegExp][] = [
    ['started', waiting, 'wait'],
    ['started', born, 'met'],
    ['started', diedUnready, 'met'],
    ['started', neverBorn, /^birth dependency d ended before it started \(exit code 143\)$/],
    ['ready', born, 'wait'],
    ['ready', ready, 'met'],
    ['ready', failedReady, 'met'], // it was ready: a death is for death deps to act on
    ['ready', diedUnready, /^birth dependency d ended before it was ready \(exit code 3\)$/],
    ['ready', neverBorn, /ended before it was ready \(exit code 143\)/],
    ['completed', ready, 'wait'],
    ['completed', failedReady, 'met'],
    ['completed', neverBorn, 'met'],
    ['succeeded', ready, 'wait'],
    ['succeeded', ok, 'met'],
    [
      'succeeded',
      failedReady,
      /^birth dependency d ended with exit code 2: d:succeeded needs exit code 0$/,
    ],
    ['succeeded', { died: T }, /ended with no exit code/],
  ];
  for (const [condition, t, want] of table) {
    it(`${condition}: ${JSON.stringify(t)}`, () => {
      const v = judge('d', condition, t);
      if (want === 'met') assert.deepEqual(v, { met: true });
      else if (want === 'wait') assert.equal('met' in v && v.met, false);
      else assert.match('hopeless' in v ? v.hopeless : '', want);
    });
  }
  it('a Born without Ready (a Go kubexit) is started, not ready, and says why', () => {
    const v = judge('go', 'ready', born);
    assert.ok('why' in v && /Go kubexit/.test(v.why));
  });
  it("with the pod status read too, a Ready that only says the child runs (no probe: the time of Born) is left to the kubelet; a probe's Ready counts", () => {
    const implicit = judge('d', 'ready', ready, true);
    assert.ok('why' in implicit && /pod status/.test(implicit.why));
    assert.deepEqual(judge('d', 'ready', { born: T, ready: '2026-01-01T00:00:01Z' }, true), {
      met: true,
    });
    assert.deepEqual(judge('d', 'ready', ready, false), { met: true });
  });
});

describe('the pod status judged for each condition', () => {
  const pod = (statuses: object[], restartPolicy?: string): Pod => ({
    metadata: { name: 'p' },
    spec: { restartPolicy, containers: [{ name: 'app' }, { name: 'db' }, { name: 'job' }] },
    status: {
      containerStatuses: statuses as Pod['status'] extends { containerStatuses?: infer S }
        ? S
        : never,
    },
  });
  const deps = [
    { name: 'db', condition: 'started' as const },
    { name: 'job', condition: 'succeeded' as const },
  ];
  it('started from `started` or a running state; succeeded from terminated.exitCode 0', () => {
    const c = checkConditions(
      pod([
        { name: 'db', started: true },
        { name: 'job', state: { terminated: { exitCode: 0 } } },
      ]),
      deps,
    );
    assert.deepEqual(c.met, ['db', 'job']);
    assert.equal(c.ready, true);
  });
  it('not started, still running: waiting', () => {
    const c = checkConditions(
      pod([
        { name: 'db', started: false },
        { name: 'job', state: { running: {} } },
      ]),
      deps,
    );
    assert.deepEqual(c.waiting, ['db', 'job']);
    assert.equal(c.failed, undefined);
  });
  it('a non-zero exit is final only with restartPolicy Never', () => {
    const statuses = [{ name: 'job', state: { terminated: { exitCode: 3 } } }];
    assert.equal(checkConditions(pod(statuses), deps).failed, undefined);
    assert.equal(checkConditions(pod(statuses, 'OnFailure'), deps).failed, undefined);
    assert.deepEqual(checkConditions(pod(statuses, 'Never'), deps).failed, {
      name: 'job',
      exitCode: 3,
    });
  });
  it('completed: any terminated state; unknown names are reported', () => {
    const c = checkConditions(pod([{ name: 'job', state: { terminated: { exitCode: 9 } } }]), [
      { name: 'job', condition: 'completed' },
      { name: 'nope', condition: 'ready' },
    ]);
    assert.deepEqual(c.met, ['job']);
    assert.deepEqual(c.unknown, ['nope']);
  });
});
