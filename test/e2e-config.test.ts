// Bad input: one JSON error line naming the variable, the value and the form expected; exit 2;
// the child never starts; the tombstone still tells dependents.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { kubexit } from './support/kubexit.js';
import { tempDir } from './support/temp.js';

const cases: [string, Record<string, string>][] = [
  ['KUBEXIT_NAME', { KUBEXIT_NAME: '../escape' }],
  ['KUBEXIT_NAME', {}],
  ['KUBEXIT_DEATH_DEPS', { KUBEXIT_NAME: 'app', KUBEXIT_DEATH_DEPS: 'db, ../x' }],
  ['KUBEXIT_BIRTH_DEPS', { KUBEXIT_NAME: 'app', KUBEXIT_BIRTH_DEPS: '..' }],
  ['KUBEXIT_BIRTH_TIMEOUT', { KUBEXIT_NAME: 'app', KUBEXIT_BIRTH_TIMEOUT: '1d' }],
  ['KUBEXIT_GRACE_PERIOD', { KUBEXIT_NAME: 'app', KUBEXIT_GRACE_PERIOD: '-5s' }],
  ['KUBEXIT_POD_NAME', { KUBEXIT_NAME: 'app', KUBEXIT_BIRTH_DEPS: 'proxy' }],
  [
    'KUBEXIT_NAMESPACE',
    { KUBEXIT_NAME: 'app', KUBEXIT_BIRTH_DEPS: 'proxy', KUBEXIT_POD_NAME: 'pod' },
  ],
  ['KUBEXIT_VERBOSE_LEVEL', { KUBEXIT_NAME: 'app', KUBEXIT_VERBOSE_LEVEL: 'high' }],
  ['KUBEXIT_INSTANT_LOGGING', { KUBEXIT_NAME: 'app', KUBEXIT_INSTANT_LOGGING: 'yes' }],
];

describe('configuration errors', () => {
  for (const [variable, env] of cases) {
    it(`${variable}=${JSON.stringify(env[variable] ?? null)}`, async () => {
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
