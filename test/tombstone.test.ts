import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  formatTombstone,
  isDead,
  parseCanonical,
  tombstoneJson,
} from '../src/supervisor/tombstone.js';
import { parseTombstone } from '../src/supervisor/tombstone-parse.js';

describe('tombstone bytes (as Go kubexit writes them)', () => {
  it('after birth', () =>
    assert.equal(
      formatTombstone({ born: '2020-04-28T10:41:46.9926314Z' }),
      'Born: "2020-04-28T10:41:46.9926314Z"\n',
    ));
  it('after death', () =>
    assert.equal(
      formatTombstone({
        born: '2020-04-28T10:41:46.9926314Z',
        died: '2020-04-28T10:41:47.0496314Z',
        exitCode: 0,
      }),
      'Born: "2020-04-28T10:41:46.9926314Z"\nDied: "2020-04-28T10:41:47.0496314Z"\nExitCode: 0\n',
    ));
  it('never born', () =>
    assert.equal(
      formatTombstone({ died: '2021-10-13T15:00:21+03:00', exitCode: 143 }),
      'Died: "2021-10-13T15:00:21+03:00"\nExitCode: 143\n',
    ));
  it("new keys after Go's: Born, Died and ExitCode stay a byte-identical prefix", () =>
    assert.equal(
      formatTombstone({
        born: '2020-04-28T10:41:46.9926314Z',
        died: '2020-04-28T10:41:47.0496314Z',
        exitCode: 0,
        ready: '2020-04-28T10:41:46.99Z',
      }),
      'Born: "2020-04-28T10:41:46.9926314Z"\nDied: "2020-04-28T10:41:47.0496314Z"\nExitCode: 0\n' +
        'Ready: "2020-04-28T10:41:46.99Z"\n',
    ));
  it('a kubexit still waiting for its birth deps: only BirthDeps', () =>
    assert.equal(
      formatTombstone({ birthDeps: 'migrate:succeeded,server' }),
      'BirthDeps: "migrate:succeeded,server"\n',
    ));
  it('logs the compact JSON form', () =>
    assert.equal(
      tombstoneJson({ born: 'b', died: 'd', exitCode: 0 }),
      '{"Born":"b","Died":"d","ExitCode":0}',
    ));
});

describe('reading tombstones as leniently as Go', () => {
  const dead = '2020-04-28T10:41:47.0496314Z';
  const cases: [string, string, boolean][] = [
    ['the Go shape', `Born: "${dead}"\nDied: "${dead}"\nExitCode: 0\n`, true],
    ['unquoted timestamps', `Born: ${dead}\nDied: ${dead}\n`, true],
    ['lower-case keys', `died: "${dead}"\nexitcode: 1\n`, true],
    ['upper-case keys', `DIED: "${dead}"\n`, true],
    ['unknown keys (v0.1 Ready)', `Born: "${dead}"\nReady: false\n`, false],
    ['Ready after Died', `Born: "${dead}"\nDied: "${dead}"\nExitCode: 0\nReady: "${dead}"\n`, true],
    ['an empty file', '', false],
    ['birth only', `Born: "${dead}"\n`, false],
    ['Died: null', `Born: "${dead}"\nDied: null\n`, false],
    ['Died: ~', `Died: ~\n`, false],
    ['an offset', `Died: "2021-10-13T15:00:21+03:00"\n`, true],
    ['a negative exit code', `Died: "${dead}"\nExitCode: -1\n`, true],
  ];
  for (const [what, text, isDeadNow] of cases) {
    it(`reads ${what}`, () => assert.equal(isDead(parseTombstone(text)), isDeadNow));
  }
  it('reads Ready and BirthDeps; ignores a Ready that is not a time (v0.1 wrote false)', () => {
    assert.deepEqual(
      parseTombstone(`Born: "${dead}"\nReady: "${dead}"\nBirthDeps: "a,b:started"\n`),
      {
        born: dead,
        ready: dead,
        birthDeps: 'a,b:started',
      },
    );
    assert.deepEqual(parseTombstone(`Born: "${dead}"\nReady: false\n`), { born: dead });
  });
  it('keeps the values', () =>
    assert.deepEqual(parseTombstone(`born: "${dead}"\nDied: "${dead}"\nExitCode: 137\n`), {
      born: dead,
      died: dead,
      exitCode: 137,
    }));

  const garbage: [string, string][] = [
    ['not YAML', 'Died: "unterminated\n'],
    ['a list', '- a\n- b\n'],
    ['a scalar', 'garbage\n'],
    ['a date without time', 'Died: 2020-04-28\n'],
    ['a space-separated time', 'Died: 2020-04-28 10:41:47\n'],
    ['a string exit code', `Died: "${dead}"\nExitCode: "2"\n`],
    ['a fractional exit code', `Died: "${dead}"\nExitCode: 1.5\n`],
    ['a number as time', 'Died: 12\n'],
  ];
  for (const [what, text] of garbage) {
    it(`refuses ${what}`, () => assert.throws(() => parseTombstone(text)));
  }
});

describe('the fast path for the shape kubexits write', () => {
  const born = '2020-04-28T10:41:46.9926314Z';
  const died = '2021-10-13T15:00:21+03:00';
  it('decodes what formatTombstone writes', () => {
    for (const t of [
      {},
      { born },
      { born, died, exitCode: 0 },
      { died, exitCode: -1 },
      { born, ready: born },
      { born, died, exitCode: 1, ready: died },
      { birthDeps: 'a,b:started,c-1:succeeded' },
    ]) {
      assert.deepEqual(parseCanonical(formatTombstone(t).replace('{}\n', '')), t);
    }
  });
  it('decodes the ending keys written after ExitCode, and ignores them as Go does', () => {
    const ending = { childSignal: 'SIGTERM', reason: 'death dependency a "b" \\ c:d' };
    const text = formatTombstone({ born, died, exitCode: 0, ...ending });
    assert.equal(
      text,
      `Born: "${born}"\nDied: "${died}"\nExitCode: 0\nChildSignal: SIGTERM\nReason: "death dependency a \\"b\\" \\\\ c:d"\n`,
    );
    assert.deepEqual(parseCanonical(text), { born, died, exitCode: 0 });
    assert.deepEqual(parseTombstone(text), { born, died, exitCode: 0 });
    const own = formatTombstone({ died, exitCode: 0, childExitCode: 3, reason: 'exited' });
    assert.equal(own, `Died: "${died}"\nExitCode: 0\nChildExitCode: 3\nReason: "exited"\n`);
    assert.deepEqual(parseCanonical(own), { died, exitCode: 0 });
  });
  it('leaves everything else to the YAML reader', () => {
    for (const text of [
      `died: "${died}"\n`,
      `Died: ${died}\n`,
      `Born: "${born}"\nReady: false\n`,
      `Died: "${died}"\nExitCode: 1.5\n`,
      `Died: "${died}"\nReason: "a\tb"\n`,
      `Died: "${died}"\nReason: "a\\nb"\n`,
      `Died: "${died}"\nReason: exited\n`,
      `Died: "${died}"\nChildSignal: SIGTERM\nChildExitCode: 1\n`,
      `Died: "${died}"`,
      'garbage',
    ]) {
      assert.equal(parseCanonical(text), undefined, text);
    }
  });
});
