import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, configFields, parseConfig, type Env } from '../src/config.js';

function configError(env: Env): ConfigError {
  try {
    parseConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  assert.fail('expected a ConfigError');
}

describe('configuration', () => {
  it('has the Go defaults', () => {
    const c = parseConfig({ KUBEXIT_NAME: 'app' });
    assert.deepEqual(c, {
      name: 'app',
      graveyard: '/graveyard',
      birthDeps: [],
      deathDeps: [],
      birthTimeout: 30_000_000_000n,
      gracePeriod: 30_000_000_000n,
      podName: '',
      namespace: '',
      verboseLevel: 0,
      instantLogging: false,
      serviceAccountDir: '/var/run/secrets/kubernetes.io/serviceaccount',
    });
  });

  it('trims dependency lists and drops empty items', () => {
    const c = parseConfig({ KUBEXIT_NAME: 'a', KUBEXIT_DEATH_DEPS: ' b, c ,,d,' });
    assert.deepEqual(c.deathDeps, ['b', 'c', 'd']);
  });

  it('cleans the graveyard path, keeping "/" as "/"', () => {
    const g = (v: string) => parseConfig({ KUBEXIT_NAME: 'a', KUBEXIT_GRAVEYARD: v }).graveyard;
    assert.equal(g('/tmp//x/./y/'), '/tmp/x/y');
    assert.equal(g('/'), '/');
    assert.equal(g(''), '/graveyard');
    assert.equal(g('rel/dir//'), 'rel/dir');
  });

  it('parses durations, verbose level and instant logging like Go', () => {
    const c = parseConfig({
      KUBEXIT_NAME: 'a',
      KUBEXIT_GRACE_PERIOD: '1m30s',
      KUBEXIT_BIRTH_TIMEOUT: '0',
      KUBEXIT_VERBOSE_LEVEL: '+1',
      KUBEXIT_INSTANT_LOGGING: 'T',
    });
    assert.equal(c.gracePeriod, 90_000_000_000n);
    assert.equal(c.birthTimeout, 0n);
    assert.equal(c.verboseLevel, 1);
    assert.equal(c.instantLogging, true);
  });

  const bad: [string, Env, string | undefined][] = [
    ['KUBEXIT_NAME', {}, undefined],
    ['KUBEXIT_NAME', { KUBEXIT_NAME: '..' }, '..'],
    ['KUBEXIT_NAME', { KUBEXIT_NAME: '.' }, '.'],
    ['KUBEXIT_NAME', { KUBEXIT_NAME: '../etc/passwd' }, '../etc/passwd'],
    ['KUBEXIT_NAME', { KUBEXIT_NAME: 'a\0b' }, 'a\0b'],
    ['KUBEXIT_GRAVEYARD', { KUBEXIT_NAME: 'a', KUBEXIT_GRAVEYARD: '/x\0' }, '/x\0'],
    ['KUBEXIT_DEATH_DEPS', { KUBEXIT_NAME: 'a', KUBEXIT_DEATH_DEPS: 'b,../c' }, 'b,../c'],
    ['KUBEXIT_BIRTH_DEPS', { KUBEXIT_NAME: 'a', KUBEXIT_BIRTH_DEPS: 'x/y' }, 'x/y'],
    ['KUBEXIT_BIRTH_TIMEOUT', { KUBEXIT_NAME: 'a', KUBEXIT_BIRTH_TIMEOUT: '10' }, '10'],
    ['KUBEXIT_GRACE_PERIOD', { KUBEXIT_NAME: 'a', KUBEXIT_GRACE_PERIOD: '-1s' }, '-1s'],
    ['KUBEXIT_GRACE_PERIOD', { KUBEXIT_NAME: 'a', KUBEXIT_GRACE_PERIOD: '3 days' }, '3 days'],
    ['KUBEXIT_POD_NAME', { KUBEXIT_NAME: 'a', KUBEXIT_BIRTH_DEPS: 'b' }, undefined],
    [
      'KUBEXIT_NAMESPACE',
      { KUBEXIT_NAME: 'a', KUBEXIT_BIRTH_DEPS: 'b', KUBEXIT_POD_NAME: 'p' },
      undefined,
    ],
    ['KUBEXIT_VERBOSE_LEVEL', { KUBEXIT_NAME: 'a', KUBEXIT_VERBOSE_LEVEL: ' 1' }, ' 1'],
    ['KUBEXIT_VERBOSE_LEVEL', { KUBEXIT_NAME: 'a', KUBEXIT_VERBOSE_LEVEL: 'true' }, 'true'],
    ['KUBEXIT_INSTANT_LOGGING', { KUBEXIT_NAME: 'a', KUBEXIT_INSTANT_LOGGING: 'yes' }, 'yes'],
  ];
  for (const [variable, env, value] of bad) {
    it(`rejects ${variable}=${JSON.stringify(value)}`, () => {
      const err = configError(env);
      assert.equal(err.variable, variable);
      assert.equal(err.value, value);
      assert.match(err.message, new RegExp(variable));
      assert.ok(err.expected.length > 10, 'names the expected form');
    });
  }

  it('keeps what it read before the bad variable, for the tombstone', () => {
    const err = configError({
      KUBEXIT_NAME: 'a',
      KUBEXIT_GRAVEYARD: '/g',
      KUBEXIT_GRACE_PERIOD: 'x',
    });
    assert.deepEqual(err.partial, { name: 'a', graveyard: '/g' });
  });

  it('needs the pod only with birth dependencies', () => {
    assert.doesNotThrow(() => parseConfig({ KUBEXIT_NAME: 'a', KUBEXIT_DEATH_DEPS: 'b' }));
  });

  it('logs durations as integer nanoseconds and unset lists as null', () => {
    const f = configFields(parseConfig({ KUBEXIT_NAME: 'a', KUBEXIT_BIRTH_DEPS: '' }));
    assert.equal(f.birth_timeout, 30_000_000_000n);
    assert.equal(f.birth_deps, null);
    assert.deepEqual(Object.keys(f), [
      'name',
      'graveyard',
      'birth_deps',
      'death_deps',
      'birth_timeout',
      'grace_period',
      'pod_name',
      'namespace',
      'verbose_level',
      'instant_logging',
      'service_account_dir',
    ]);
  });
});
