import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  endingOf,
  exitCodeOf,
  exitCodeUnder,
  NO_POLICY,
  type Ending,
  type ExitPolicy,
  type Outcome,
} from '../src/supervisor/outcome.js';

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

describe('the exit-code policy (KUBEXIT_IGNORE_CODE_ON_DEATH_DEPS, KUBEXIT_EXIT_CODE_MAP)', () => {
  const byDeath = { kind: 'death', name: 'main' } as const;
  const bySignal = { kind: 'signal', signal: 'SIGTERM' } as const;
  const ignore: ExitPolicy = { ignoreCodeOnDeathDeps: true, exitCodeMap: new Map() };
  const map: ExitPolicy = {
    ignoreCodeOnDeathDeps: false,
    exitCodeMap: new Map([
      [143, 0],
      [137, 0],
      [0, 5],
    ]),
  };
  const rows: [string, Outcome, ExitPolicy, number][] = [
    ['no policy: the table', { kind: 'killed', signal: 'SIGTERM', cause: byDeath }, NO_POLICY, 143],
    ['ignore: TERMed by a death', { kind: 'killed', signal: 'SIGTERM', cause: byDeath }, ignore, 0],
    ['ignore: KILLed by a death', { kind: 'killed', signal: 'SIGKILL', cause: byDeath }, ignore, 0],
    ['ignore: exited 1 after a death', { kind: 'exited', code: 1, cause: byDeath }, ignore, 0],
    ['ignore: a death before the start', { kind: 'not-started', cause: byDeath }, ignore, 0],
    [
      'ignore: not a forwarded TERM',
      { kind: 'killed', signal: 'SIGTERM', cause: bySignal },
      ignore,
      143,
    ],
    ['ignore: not an exit of its own', { kind: 'exited', code: 3 }, ignore, 3],
    ['ignore: not a kubexit failure', { kind: 'failed', error: new Error() }, ignore, 1],
    ['map: 143 → 0', { kind: 'killed', signal: 'SIGTERM' }, map, 0],
    ['map: 137 → 0', { kind: 'killed', signal: 'SIGKILL' }, map, 0],
    ['map: one lookup, not chained (143 → 0, not → 5)', { kind: 'exited', code: 143 }, map, 0],
    ['map: 0 → 5', { kind: 'exited', code: 0 }, map, 5],
    ['map: unmapped', { kind: 'exited', code: 9 }, map, 9],
    [
      'map: never a usage error',
      { kind: 'usage', error: new Error() },
      { ...map, exitCodeMap: new Map([[2, 0]]) },
      2,
    ],
    [
      'both: the map comes last',
      { kind: 'killed', signal: 'SIGTERM', cause: byDeath },
      { ignoreCodeOnDeathDeps: true, exitCodeMap: new Map([[0, 7]]) },
      7,
    ],
  ];
  for (const [what, outcome, policy, code] of rows) {
    it(`${what} → ${code}`, () => assert.equal(exitCodeUnder(outcome, policy), code));
  }
});

describe("the tombstone's ending keys: what the child did, and why", () => {
  const rows: [Outcome, Ending][] = [
    [
      { kind: 'exited', code: 0 },
      { childExitCode: 0, reason: 'exited' },
    ],
    [
      { kind: 'killed', signal: 'SIGSEGV' },
      { childSignal: 'SIGSEGV', reason: 'killed' },
    ],
    [
      { kind: 'killed', signal: 'SIGTERM', cause: { kind: 'death', name: 'main' } },
      { childSignal: 'SIGTERM', reason: 'death dependency main' },
    ],
    [
      { kind: 'exited', code: 143, cause: { kind: 'signal', signal: 'SIGTERM' } },
      { childExitCode: 143, reason: 'signal SIGTERM' },
    ],
    [
      { kind: 'not-started', cause: { kind: 'death', name: 'main' } },
      { reason: 'not started: death dependency main' },
    ],
    [{ kind: 'cannot-run', error: errno('ENOENT') }, { reason: 'not started: command not found' }],
    [
      { kind: 'cannot-run', error: errno('EACCES') },
      { reason: 'not started: command not executable' },
    ],
    [{ kind: 'failed', error: new Error('x'.repeat(10_000)) }, { reason: 'kubexit failed' }],
  ];
  for (const [outcome, ending] of rows) {
    it(`${ending.reason}`, () => assert.deepEqual(endingOf(outcome), ending));
  }
});
