// Bad input: one JSON error line naming the variable, the value and the form expected; exit 2;
// the child never starts; the tombstone still tells dependents.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { kubexit, ROOT, Watched } from './support/kubexit.js';
import { tempDir } from './support/temp.js';

const cases: [string, Record<string, string>][] = [
  ['KUBEXIT_NAME', { KUBEXIT_NAME: '../escape' }],
  ['KUBEXIT_NAME', {}],
  ['KUBEXIT_DEATH_DEPS', { KUBEXIT_NAME: 'app', KUBEXIT_DEATH_DEPS: 'db, ../x' }],
  ['KUBEXIT_BIRTH_DEPS', { KUBEXIT_NAME: 'app', KUBEXIT_BIRTH_DEPS: '..' }],
  ['KUBEXIT_BIRTH_TIMEOUT', { KUBEXIT_NAME: 'app', KUBEXIT_BIRTH_TIMEOUT: '1d' }],
  ['KUBEXIT_GRACE_PERIOD', { KUBEXIT_NAME: 'app', KUBEXIT_GRACE_PERIOD: '-5s' }],
  [
    'KUBEXIT_POD_NAME',
    { KUBEXIT_NAME: 'app', KUBEXIT_BIRTH_DEPS: 'proxy', KUBEXIT_NAMESPACE: 'default' },
  ],
  ['KUBEXIT_BIRTH_DEPS', { KUBEXIT_NAME: 'app', KUBEXIT_BIRTH_DEPS: 'proxy:healthy' }],
  ['KUBEXIT_BIRTH_TIMEOUT_ACTION', { KUBEXIT_NAME: 'app', KUBEXIT_BIRTH_TIMEOUT_ACTION: 'retry' }],
  ['KUBEXIT_READY_PROBE', { KUBEXIT_NAME: 'app', KUBEXIT_READY_PROBE: 'udp://x:53' }],
  ['KUBEXIT_READY_PROBE', { KUBEXIT_NAME: 'app', KUBEXIT_READY_PROBE: 'tcp://localhost' }],
  ['KUBEXIT_READY_PROBE_PERIOD', { KUBEXIT_NAME: 'app', KUBEXIT_READY_PROBE_PERIOD: '0' }],
  ['KUBEXIT_READY_PROBE_TIMEOUT', { KUBEXIT_NAME: 'app', KUBEXIT_READY_PROBE_TIMEOUT: '1' }],
  [
    'KUBEXIT_READY_PROBE_INITIAL_DELAY',
    { KUBEXIT_NAME: 'app', KUBEXIT_READY_PROBE_INITIAL_DELAY: '-1s' },
  ],
  [
    'KUBEXIT_NAMESPACE',
    { KUBEXIT_NAME: 'app', KUBEXIT_BIRTH_DEPS: 'proxy', KUBEXIT_POD_NAME: 'pod' },
  ],
  ['KUBEXIT_VERBOSE_LEVEL', { KUBEXIT_NAME: 'app', KUBEXIT_VERBOSE_LEVEL: 'high' }],
  ['KUBEXIT_INSTANT_LOGGING', { KUBEXIT_NAME: 'app', KUBEXIT_INSTANT_LOGGING: 'yes' }],
  // Hardening (issue 7): accepted until then.
  ['KUBEXIT_NAME', { KUBEXIT_NAME: 'app\nDied: "2020-01-01T00:00:00Z"' }],
  ['KUBEXIT_NAME', { KUBEXIT_NAME: 'app\u001b[2J' }],
  ['KUBEXIT_NAME', { KUBEXIT_NAME: 'a\u0085pp' }],
  ['KUBEXIT_NAME', { KUBEXIT_NAME: 'a\ufffdpp' }],
  ['KUBEXIT_NAME', { KUBEXIT_NAME: 'x'.repeat(256) }],
  ['KUBEXIT_NAME', { KUBEXIT_NAME: '.kubexit-0123abc.tmp' }],
  ['KUBEXIT_DEATH_DEPS', { KUBEXIT_NAME: 'app', KUBEXIT_DEATH_DEPS: 'db,cache\tx' }],
  ['KUBEXIT_DEATH_DEPS', { KUBEXIT_NAME: 'app', KUBEXIT_DEATH_DEPS: 'é'.repeat(200) }],
  ['KUBEXIT_VERBOSE_LEVEL', { KUBEXIT_NAME: 'app', KUBEXIT_VERBOSE_LEVEL: '9223372036854775808' }],
  ['KUBEXIT_GRACE_PERIOD', { KUBEXIT_NAME: 'app', KUBEXIT_GRACE_PERIOD: '2562048h' }],
  ['KUBEXIT_BIRTH_DEPS', { KUBEXIT_NAME: 'app', KUBEXIT_BIRTH_DEPS: 'Proxy' }],
  [
    'KUBEXIT_NAMESPACE',
    {
      KUBEXIT_NAME: 'app',
      KUBEXIT_BIRTH_DEPS: 'proxy',
      KUBEXIT_POD_NAME: 'pod',
      KUBEXIT_NAMESPACE: '../../x',
    },
  ],
  [
    'KUBEXIT_POD_NAME',
    {
      KUBEXIT_NAME: 'app',
      KUBEXIT_BIRTH_DEPS: 'proxy',
      KUBEXIT_POD_NAME: '../../api/v1/secrets',
      KUBEXIT_NAMESPACE: 'default',
    },
  ],
  ['KUBEXIT_SERVICE_ACCOUNT_DIR', { KUBEXIT_NAME: 'app', KUBEXIT_SERVICE_ACCOUNT_DIR: '/sa\n' }],
];

/** A value as a test name shows it: JSON, with invisible characters spelled out. */
function visible(v: string | null): string {
  return JSON.stringify(v).replace(
    /[\u007f-\u009f\ufffd]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

describe('configuration errors', () => {
  for (const [variable, env] of cases) {
    const shown = env[variable] ?? null;
    const label =
      shown !== null && shown.length > 40 ? `${shown.slice(0, 12)}…(${shown.length})` : shown;
    it(`${variable}=${visible(label)}`, async () => {
      const graveyard = tempDir();
      const marker = join(tempDir(), 'child-ran');
      const exit = await kubexit(['touch', marker], { KUBEXIT_GRAVEYARD: graveyard, ...env })
        .exited;
      assert.equal(exit.code, 2);
      assert.equal(existsSync(marker), false, 'the child never starts');
      const lines = exit.stderr.trim().split('\n');
      assert.equal(lines.length, 1, 'one line');
      const line = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
      assert.equal(line.level, 'error');
      assert.equal(line.variable, variable);
      assert.equal(line.value, env[variable]);
      assert.equal(typeof line.expected, 'string');
      assert.match(String(line.error), new RegExp(variable));
      const name = env.KUBEXIT_NAME;
      if (variable !== 'KUBEXIT_NAME' && name) {
        assert.match(readFileSync(join(graveyard, name), 'utf8'), /^Died: "[^"]+"\nExitCode: 2\n$/);
      }
    });
  }

  it('a graveyard path with a control character: refused, and nothing written', async () => {
    const root = tempDir();
    const marker = join(tempDir(), 'child-ran');
    const exit = await kubexit(['touch', marker], {
      KUBEXIT_NAME: 'app',
      KUBEXIT_GRAVEYARD: join(root, 'g\nx'),
    }).exited;
    assert.equal(exit.code, 2);
    assert.equal(exit.logs[0]?.variable, 'KUBEXIT_GRAVEYARD');
    assert.equal(existsSync(marker), false, 'the child never starts');
    assert.deepEqual(readdirSync(root), []);
  });

  it('a name that is not UTF-8 is refused, not written under another name', async () => {
    // Only a shell can put raw bytes into an environment variable.
    const graveyard = tempDir();
    const marker = join(tempDir(), 'child-ran');
    const bin = process.env.KUBEXIT_BIN;
    const [file, pre] = bin ? [bin, []] : [process.execPath, [join(ROOT, 'dist', 'kubexit.js')]];
    const run = new Watched(
      spawn(
        'sh',
        [
          '-c',
          'KUBEXIT_NAME="$(printf "a\\377pp")" exec "$@"',
          'sh',
          file,
          ...pre,
          'touch',
          marker,
        ],
        {
          env: { ...process.env, KUBEXIT_GRAVEYARD: graveyard },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      ),
    );
    const exit = await run.exited;
    assert.equal(exit.code, 2);
    assert.equal(exit.logs[0]?.variable, 'KUBEXIT_NAME');
    assert.match(String(exit.logs[0]?.problem), /not valid UTF-8/);
    assert.equal(existsSync(marker), false, 'the child never starts');
    assert.deepEqual(readdirSync(graveyard), []);
  });

  it('kubexit with an empty command: a usage error (2), not 126', async () => {
    const graveyard = tempDir();
    const exit = await kubexit(['', 'arg'], { KUBEXIT_NAME: 'app', KUBEXIT_GRAVEYARD: graveyard })
      .exited;
    assert.equal(exit.code, 2);
    const last = exit.logs.at(-1);
    assert.equal(last?.message, 'invalid command');
    assert.equal(last?.value, '');
    assert.equal(typeof last?.expected, 'string');
    assert.match(readFileSync(join(graveyard, 'app'), 'utf8'), /^Died: "[^"]+"\nExitCode: 2\n$/);
  });

  it('"--" is not an option: it is the command, as with Go\'s kubexit', async () => {
    const exit = await kubexit(['--', 'true'], {
      KUBEXIT_NAME: 'app',
      KUBEXIT_GRAVEYARD: tempDir(),
    }).exited;
    assert.equal(exit.code, 127);
    assert.match(String(exit.logs.at(-1)?.error), /spawn -- ENOENT/);
  });

  it('a bad name writes nothing outside the graveyard', async () => {
    const root = tempDir();
    const graveyard = join(root, 'graveyard');
    await kubexit(['true'], { KUBEXIT_GRAVEYARD: graveyard, KUBEXIT_NAME: '../escape' }).exited;
    assert.equal(existsSync(join(root, 'escape')), false);
  });

  it('--version and --help answer without configuration', async () => {
    const v = await kubexit(['--version'], {}).exited;
    assert.equal(v.code, 0);
    assert.match(v.stdout, /^kubexit \d+\.\d+\.\d+/);
    const h = await kubexit(['--help'], {}).exited;
    assert.equal(h.code, 0);
    for (const variable of [
      'KUBEXIT_NAME',
      'KUBEXIT_GRAVEYARD',
      'KUBEXIT_DEATH_DEPS',
      'KUBEXIT_GRACE_PERIOD',
      'KUBEXIT_BIRTH_DEPS',
      'KUBEXIT_BIRTH_TIMEOUT',
      'KUBEXIT_POD_NAME',
      'KUBEXIT_NAMESPACE',
      'KUBEXIT_VERBOSE_LEVEL',
      'KUBEXIT_INSTANT_LOGGING',
      'KUBEXIT_BIRTH_TIMEOUT_ACTION',
      'KUBEXIT_READY_PROBE',
      'KUBEXIT_READY_PROBE_PERIOD',
      'KUBEXIT_READY_PROBE_TIMEOUT',
      'KUBEXIT_READY_PROBE_INITIAL_DELAY',
    ]) {
      assert.match(h.stdout, new RegExp(variable));
    }
  });

  it('the first argument is the command, even one that looks like a flag', async () => {
    const exit = await kubexit(['--version', 'x'], {
      KUBEXIT_NAME: 'app',
      KUBEXIT_GRAVEYARD: tempDir(),
    }).exited;
    assert.equal(exit.code, 127);
  });
});
