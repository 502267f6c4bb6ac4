import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exitCodeOf, type Outcome } from '../src/supervisor/outcome.js';

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(code), { code });
}

describe('the exit-code table', () => {
  const rows: [string, Outcome, number][] = [
    ['child exits 0', { kind: 'exited', code: 0 }, 0],
    ['child exits 42', { kind: 'exited', code: 42 }, 42],
    ['child killed by TERM', { kind: 'killed', signal: 'SIGTERM' }, 143],
    ['child killed by KILL', { kind: 'killed', signal: 'SIGKILL' }, 137],
    ['child killed by INT', { kind: 'killed', signal: 'SIGINT' }, 130],
    ['death before start', { kind: 'not-started', cause: { kind: 'death', name: 'x' } }, 143],
    ['INT before start', { kind: 'not-started', cause: { kind: 'signal', signal: 'SIGINT' } }, 130],
    ['command not found', { kind: 'cannot-run', error: errno('ENOENT') }, 127],
    ['command not executable', { kind: 'cannot-run', error: errno('EACCES') }, 126],
    ['bad configuration', { kind: 'usage', error: new Error() }, 2],
    ['kubexit failure', { kind: 'failed', error: new Error() }, 1],
  ];
  for (const [what, outcome, code] of rows) {
    it(`${what} → ${code}`, () => assert.equal(exitCodeOf(outcome), code));
  }
});
