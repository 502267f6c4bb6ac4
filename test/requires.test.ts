// The suite's parts (test/support/requires.ts): a part runs, is skipped because
// KUBEXIT_TEST_SKIP names it or a part it builds on, or fails loudly with the opt-out.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import {
  dependents,
  optedOut,
  PART_NAMES,
  RequirementError,
  requires,
  skipReason,
} from './support/requires.js';

describe('KUBEXIT_TEST_SKIP and requires()', () => {
  const saved = process.env.KUBEXIT_TEST_SKIP;
  afterEach(() => {
    if (saved === undefined) delete process.env.KUBEXIT_TEST_SKIP;
    else process.env.KUBEXIT_TEST_SKIP = saved;
  });

  it('reads a comma or space separated list, any case; "all" is every part', () => {
    assert.deepEqual([...optedOut('k8s, ROOTS arm64')], ['k8s', 'roots', 'arm64']);
    assert.deepEqual([...optedOut('')], []);
    assert.deepEqual([...optedOut('all')].sort(), [...PART_NAMES].sort());
  });

  it('an unknown part name is an error that lists the parts', () => {
    assert.throws(
      () => optedOut('k8s,kubernetes'),
      /unknown part kubernetes; the parts are exe, k8s/,
    );
  });

  it('skipping a part skips the parts built on it, saying why', () => {
    const out = optedOut('roots');
    assert.match(skipReason('roots', out) || '', /^KUBEXIT_TEST_SKIP=/);
    assert.equal(skipReason('image', out), 'needs roots, which KUBEXIT_TEST_SKIP skips');
    assert.equal(skipReason('arm64', out), 'needs roots, which KUBEXIT_TEST_SKIP skips');
    assert.equal(skipReason('k8s', out), false);
    assert.deepEqual(dependents('roots').sort(), ['arm64', 'image']);
  });

  it('a part not opted out runs when every check passes, and fails loudly when one does not', () => {
    process.env.KUBEXIT_TEST_SKIP = 'k8s';
    assert.equal(
      requires('roots', () => false),
      false,
    );
    let err: unknown;
    try {
      requires(
        'roots',
        () => false,
        () => 'no debootstrap',
      );
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof RequirementError);
    assert.match(err.message, /^the "roots" tests cannot run here: no debootstrap\n/);
    // The opt-out keeps what was already opted out and names what else it leaves out.
    assert.match(err.message, /KUBEXIT_TEST_SKIP=k8s,roots npm test \(also skips arm64, image\)/);
  });

  it('an opted-out part is skipped without running its checks', () => {
    process.env.KUBEXIT_TEST_SKIP = 'roots';
    const skip = requires('image', () => {
      throw new Error('a check ran');
    });
    assert.equal(skip, 'needs roots, which KUBEXIT_TEST_SKIP skips');
  });
});
