import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BIRTH_DEPS_FORM,
  commandProblem,
  ConfigError,
  configFields,
  dnsLabelProblem,
  dnsSubdomainProblem,
  nameProblem,
  parseConfig,
  parseGoInt,
  usesApi,
  type Env,
} from '../src/supervisor/config.js';
import { parseProbe, type ProbeSpec } from '../src/supervisor/probe-spec.js';

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
      ending: {
        ignoreCodeOnDeathDeps: false,
        exitCodeMap: new Map(),
        deathConditions: new Map(),
        deathSignal: 'SIGTERM',
        deathHttp: undefined,
        deathHttpTimeout: 2_000_000_000n,
        deathDelay: 0n,
        shutdownAfterDeps: false,
        shutdownHold: 30_000_000_000n,
        killGroup: false,
      },
      birthConditions: [],
      birthTimeoutAction: 'fail',
      readyProbe: undefined,
      readyProbePeriod: 1_000_000_000n,
      readyProbeTimeout: 1_000_000_000n,
      readyProbeInitialDelay: 0n,
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
    // B23: waiting for its own readiness would only end in the timeout.
    ['KUBEXIT_BIRTH_DEPS', { KUBEXIT_NAME: 'app', KUBEXIT_BIRTH_DEPS: 'proxy,app' }, 'proxy,app'],
    ['KUBEXIT_BIRTH_TIMEOUT', { KUBEXIT_NAME: 'a', KUBEXIT_BIRTH_TIMEOUT: '10' }, '10'],
    ['KUBEXIT_GRACE_PERIOD', { KUBEXIT_NAME: 'a', KUBEXIT_GRACE_PERIOD: '-1s' }, '-1s'],
    ['KUBEXIT_GRACE_PERIOD', { KUBEXIT_NAME: 'a', KUBEXIT_GRACE_PERIOD: '3 days' }, '3 days'],
    // The pod named by halves: the API needs both, tombstones neither.
    [
      'KUBEXIT_POD_NAME',
      { KUBEXIT_NAME: 'a', KUBEXIT_BIRTH_DEPS: 'b', KUBEXIT_NAMESPACE: 'n' },
      undefined,
    ],
    [
      'KUBEXIT_NAMESPACE',
      { KUBEXIT_NAME: 'a', KUBEXIT_BIRTH_DEPS: 'b', KUBEXIT_POD_NAME: 'p' },
      undefined,
    ],
    ['KUBEXIT_VERBOSE_LEVEL', { KUBEXIT_NAME: 'a', KUBEXIT_VERBOSE_LEVEL: ' 1' }, ' 1'],
    ['KUBEXIT_VERBOSE_LEVEL', { KUBEXIT_NAME: 'a', KUBEXIT_VERBOSE_LEVEL: 'true' }, 'true'],
    ['KUBEXIT_INSTANT_LOGGING', { KUBEXIT_NAME: 'a', KUBEXIT_INSTANT_LOGGING: 'yes' }, 'yes'],
  ];
  // Hardening (issue 7): values Go's kubexit took, that would make a wrong file, log or URL.
  const birth = { KUBEXIT_NAME: 'a', KUBEXIT_BIRTH_DEPS: 'proxy' };
  const pod = { ...birth, KUBEXIT_POD_NAME: 'web-0', KUBEXIT_NAMESPACE: 'default' };
  const names = [
    'a\nb', // a newline would split log lines and Go readers' YAML
    'a\tb',
    'a\rb',
    '\u001b[31mred',
    'a\u007fb', // DEL
    'a\u0085b', // C1: NEL
    'a\u009bb', // C1: CSI
    'a\ud800b', // a lone surrogate: no UTF-8 for it
    'a\ufffdb', // what bytes that are not UTF-8 become
    'x'.repeat(256), // over NAME_MAX
    'é'.repeat(128), // 128 characters, 256 bytes
    '.kubexit-abc123.tmp', // the form of kubexit's own temporary files
    '',
  ];
  for (const name of names) {
    bad.push(['KUBEXIT_NAME', { KUBEXIT_NAME: name }, name]);
    if (name === '') continue; // empty items are dropped from lists
    const list = `b,${name}`;
    bad.push(['KUBEXIT_DEATH_DEPS', { KUBEXIT_NAME: 'a', KUBEXIT_DEATH_DEPS: list }, list]);
  }
  for (const path of ['/g\n', '/g\u001b[2J', '/g\u0085', '/g\ud800']) {
    bad.push(['KUBEXIT_GRAVEYARD', { KUBEXIT_NAME: 'a', KUBEXIT_GRAVEYARD: path }, path]);
    bad.push([
      'KUBEXIT_SERVICE_ACCOUNT_DIR',
      { KUBEXIT_NAME: 'a', KUBEXIT_SERVICE_ACCOUNT_DIR: path },
      path,
    ]);
  }
  for (const v of ['9223372036854775808', '-9223372036854775809', '1'.repeat(100), '+', '-']) {
    bad.push(['KUBEXIT_VERBOSE_LEVEL', { KUBEXIT_NAME: 'a', KUBEXIT_VERBOSE_LEVEL: v }, v]);
  }
  for (const d of ['2562048h', '9223372036854775808ns', '3000000h']) {
    bad.push(['KUBEXIT_GRACE_PERIOD', { KUBEXIT_NAME: 'a', KUBEXIT_GRACE_PERIOD: d }, d]);
    bad.push(['KUBEXIT_BIRTH_TIMEOUT', { KUBEXIT_NAME: 'a', KUBEXIT_BIRTH_TIMEOUT: d }, d]);
  }
  for (const c of ['Proxy', 'a_b', '-a', 'a-', 'a.b', 'x'.repeat(64), 'a\nb', '..']) {
    bad.push(['KUBEXIT_BIRTH_DEPS', { ...pod, KUBEXIT_BIRTH_DEPS: `db,${c}` }, `db,${c}`]);
  }
  for (const ns of ['../../x', 'Default', 'kube.system', 'a/b', 'x'.repeat(64), '-a', 'a\n']) {
    bad.push(['KUBEXIT_NAMESPACE', { ...pod, KUBEXIT_NAMESPACE: ns }, ns]);
  }
  for (const p of ['../../x', 'pod/x', 'Pod', 'a..b', '.a', 'a.', 'a'.repeat(254), 'a b', '%2e']) {
    bad.push(['KUBEXIT_POD_NAME', { ...pod, KUBEXIT_POD_NAME: p }, p]);
  }
  for (const d of ['db:', 'db:Ready', 'db:healthy', 'db:ready:x', ':ready', 'Db:started']) {
    bad.push(['KUBEXIT_BIRTH_DEPS', { KUBEXIT_NAME: 'a', KUBEXIT_BIRTH_DEPS: d }, d]);
  }
  for (const a of ['Start', 'retry', 'true']) {
    bad.push([
      'KUBEXIT_BIRTH_TIMEOUT_ACTION',
      { KUBEXIT_NAME: 'a', KUBEXIT_BIRTH_TIMEOUT_ACTION: a },
      a,
    ]);
  }
  for (const p of [
    'tcp://host',
    'tcp://:80',
    'tcp://host:0',
    'tcp://host:70000',
    'tcp://host:80/path',
    'udp://host:53',
    'localhost:8080',
    'http://',
    'exec:',
    'exec:   ',
    'exec:sh -c "unclosed',
    "exec:sh -c 'unclosed",
    'exec:x\\',
    'exec:a\nb',
    'http://x/\u0007',
  ]) {
    const value = p;
    bad.push(['KUBEXIT_READY_PROBE', { KUBEXIT_NAME: 'a', KUBEXIT_READY_PROBE: value }, value]);
  }
  for (const [v, d] of [
    ['KUBEXIT_READY_PROBE_PERIOD', '0'],
    ['KUBEXIT_READY_PROBE_PERIOD', '-1s'],
    ['KUBEXIT_READY_PROBE_TIMEOUT', '0s'],
    ['KUBEXIT_READY_PROBE_TIMEOUT', '5'],
    ['KUBEXIT_READY_PROBE_INITIAL_DELAY', '-1ms'],
    ['KUBEXIT_READY_PROBE_INITIAL_DELAY', '1d'],
  ] as const) {
    bad.push([v, { KUBEXIT_NAME: 'a', [v]: d }, d]);
  }
  const show = (v: string | undefined) =>
    String(
      JSON.stringify(v === undefined ? v : v.length > 40 ? `${v.slice(0, 20)}…(${v.length})` : v),
    )
      // invisible characters spelled out in the test's name
      .replace(
        /[\u007f-\u009f\ufffd]/g,
        (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
      );
  for (const [variable, env, value] of bad) {
    it(`rejects ${variable}=${show(value)}`, () => {
      const err = configError(env);
      assert.equal(err.variable, variable);
      assert.equal(err.value, value);
      assert.match(err.message, new RegExp(`^${variable}`));
      assert.equal(err.message.includes('\n'), false, 'one line');
      assert.ok(err.expected.length > 10, 'names the expected form');
    });
  }

  const good: [string, Env][] = [
    ['a name of 255 bytes', { KUBEXIT_NAME: 'x'.repeat(255) }],
    ['a name of 127 two-byte characters', { KUBEXIT_NAME: 'é'.repeat(127) }],
    ['a name outside the BMP', { KUBEXIT_NAME: 'tomb-🪦' }],
    ['a name with spaces and dots', { KUBEXIT_NAME: 'my app.v2' }],
    ['a name only like a temp file', { KUBEXIT_NAME: '.kubexit-ABC.tmp' }],
    [
      'the largest verbose level',
      { KUBEXIT_NAME: 'a', KUBEXIT_VERBOSE_LEVEL: '9223372036854775807' },
    ],
    [
      'the smallest verbose level',
      { KUBEXIT_NAME: 'a', KUBEXIT_VERBOSE_LEVEL: '-9223372036854775808' },
    ],
    ['leading zeros', { KUBEXIT_NAME: 'a', KUBEXIT_VERBOSE_LEVEL: '-000000000000000000000001' }],
    [
      'the longest grace period',
      { KUBEXIT_NAME: 'a', KUBEXIT_GRACE_PERIOD: '2562047h47m16.854775807s' },
    ],
    ['a pod name with dots', { ...pod, KUBEXIT_POD_NAME: 'web-0.a1.b' }],
    [
      'a 253-character pod name',
      { ...pod, KUBEXIT_POD_NAME: `${'a'.repeat(63)}.`.repeat(3) + 'a'.repeat(61) },
    ],
    [
      '63-character labels',
      { ...pod, KUBEXIT_NAMESPACE: 'n'.repeat(63), KUBEXIT_BIRTH_DEPS: 'c'.repeat(63) },
    ],
    // Unused without birth deps: left unchecked, as Go's kubexit leaves them.
    [
      'pod and namespace without birth deps',
      { KUBEXIT_NAME: 'a', KUBEXIT_POD_NAME: '../x', KUBEXIT_NAMESPACE: 'A B' },
    ],
  ];
  for (const [what, env] of good) {
    it(`accepts ${what}`, () => assert.doesNotThrow(() => parseConfig(env)));
  }

  it('says which item of a list is wrong and why', () => {
    const err = configError({ KUBEXIT_NAME: 'a', KUBEXIT_DEATH_DEPS: 'b,c\nd' });
    assert.equal(err.problem, 'item "c\\nd": control character U+000A');
    assert.match(err.message, /\(item "c\\nd": control character U\+000A\): expected/);
    assert.equal(configError({ KUBEXIT_NAME: 'x'.repeat(300) }).problem, '300 bytes long');
  });

  it("reads the verbose level as Go's strconv.Atoi does on 64-bit", () => {
    assert.equal(parseGoInt('+1'), 1n);
    assert.equal(parseGoInt('-0'), 0n);
    assert.equal(parseGoInt('9223372036854775807'), (1n << 63n) - 1n);
    assert.equal(parseGoInt('-9223372036854775808'), -(1n << 63n));
    assert.equal(parseGoInt('9223372036854775808'), undefined);
    assert.equal(parseGoInt('1_000'), undefined);
    assert.equal(parseGoInt('0x10'), undefined);
  });

  it('exports each check, for anything else that judges these values', () => {
    assert.equal(nameProblem('app'), undefined);
    assert.equal(nameProblem('a/b'), 'not a file name');
    assert.equal(dnsLabelProblem('proxy-1'), undefined);
    assert.equal(dnsLabelProblem('Proxy'), 'not a DNS-1123 label');
    assert.equal(dnsSubdomainProblem('web-0.x'), undefined);
    assert.equal(dnsSubdomainProblem('../../x'), 'not a DNS-1123 subdomain');
    assert.equal(commandProblem(['']), 'the command is empty');
    assert.equal(commandProblem(['--', 'x']), undefined);
  });

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

  it('birth deps without the pod: tombstones only, no API', () => {
    const c = parseConfig({ KUBEXIT_NAME: 'a', KUBEXIT_BIRTH_DEPS: 'b' });
    assert.equal(usesApi(c), false);
    assert.equal(usesApi(parseConfig({ ...pod })), true);
  });

  it('reads a condition after each birth dependency, ready by default', () => {
    const c = parseConfig({
      KUBEXIT_NAME: 'a',
      KUBEXIT_BIRTH_DEPS: 'proxy, migrate:succeeded,db:started ,job:completed,x:ready',
    });
    assert.deepEqual(c.birthDeps, ['proxy', 'migrate', 'db', 'job', 'x']);
    assert.deepEqual(c.birthConditions, [
      { name: 'proxy', condition: 'ready' },
      { name: 'migrate', condition: 'succeeded' },
      { name: 'db', condition: 'started' },
      { name: 'job', condition: 'completed' },
      { name: 'x', condition: 'ready' },
    ]);
    assert.deepEqual(configFields(c).birth_conditions, [
      'proxy',
      'migrate:succeeded',
      'db:started',
      'job:completed',
      'x',
    ]);
  });

  it('names the bad condition', () => {
    const err = configError({ KUBEXIT_NAME: 'a', KUBEXIT_BIRTH_DEPS: 'db,migrate:ok' });
    assert.equal(err.problem, 'item "migrate:ok": unknown condition "ok"');
    assert.equal(err.expected, BIRTH_DEPS_FORM);
  });

  it('a birth dep on itself is refused, whatever its condition', () => {
    const err = configError({ KUBEXIT_NAME: 'app', KUBEXIT_BIRTH_DEPS: 'app:completed' });
    assert.equal(err.variable, 'KUBEXIT_BIRTH_DEPS');
  });

  it('reads the timeout action and the ready probe', () => {
    const c = parseConfig({
      KUBEXIT_NAME: 'a',
      KUBEXIT_BIRTH_TIMEOUT_ACTION: 'start',
      KUBEXIT_READY_PROBE: 'tcp://[::1]:8080',
      KUBEXIT_READY_PROBE_PERIOD: '2s',
      KUBEXIT_READY_PROBE_TIMEOUT: '300ms',
      KUBEXIT_READY_PROBE_INITIAL_DELAY: '1m',
    });
    assert.equal(c.birthTimeoutAction, 'start');
    assert.deepEqual(c.readyProbe, { kind: 'tcp', host: '::1', port: 8080 });
    assert.equal(c.readyProbePeriod, 2_000_000_000n);
    assert.equal(c.readyProbeTimeout, 300_000_000n);
    assert.equal(c.readyProbeInitialDelay, 60_000_000_000n);
    assert.equal(configFields(c).ready_probe, 'tcp://[::1]:8080');
  });

  const probes: [string, ProbeSpec][] = [
    ['tcp://db:5432', { kind: 'tcp', host: 'db', port: 5432 }],
    [
      'http://localhost:8080/healthz?x=1',
      { kind: 'http', url: 'http://localhost:8080/healthz?x=1' },
    ],
    ['https://127.0.0.1/ready', { kind: 'http', url: 'https://127.0.0.1/ready' }],
    ['exec:pg_isready -h localhost', { kind: 'exec', argv: ['pg_isready', '-h', 'localhost'] }],
    [
      `exec:sh -c 'test -f /tmp/ready && echo "ok"'`,
      { kind: 'exec', argv: ['sh', '-c', 'test -f /tmp/ready && echo "ok"'] },
    ],
    ['exec: a  "b c" d\\ e ""', { kind: 'exec', argv: ['a', 'b c', 'd e', ''] }],
    ['exec:"a\\"b"', { kind: 'exec', argv: ['a"b'] }],
  ];
  for (const [text, want] of probes) {
    it(`reads the probe ${text}`, () => {
      assert.deepEqual(parseProbe(text), want);
      assert.deepEqual(
        parseConfig({ KUBEXIT_NAME: 'a', KUBEXIT_READY_PROBE: text }).readyProbe,
        want,
      );
    });
  }

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

  it('logs birth conditions, the timeout action and the ready probe only when set', () => {
    const f = configFields(
      parseConfig({
        KUBEXIT_NAME: 'a',
        KUBEXIT_BIRTH_DEPS: 'migrate:succeeded,proxy',
        KUBEXIT_BIRTH_TIMEOUT_ACTION: 'start',
        KUBEXIT_READY_PROBE: 'tcp://127.0.0.1:8080',
      }),
    );
    assert.deepEqual(f.birth_conditions, ['migrate:succeeded', 'proxy']);
    assert.equal(f.birth_timeout_action, 'start');
    assert.equal(typeof f.ready_probe, 'string');
    assert.equal(f.ready_probe_period, 1_000_000_000n);
    const plain = configFields(parseConfig({ KUBEXIT_NAME: 'a', KUBEXIT_BIRTH_DEPS: 'proxy' }));
    assert.equal('birth_conditions' in plain || 'ready_probe' in plain, false);
  });
});

describe('configuration: how it ends (issue 10)', () => {
  const ending = (env: Env) => parseConfig({ KUBEXIT_NAME: 'a', ...env }).ending;

  it('reads the exit-code policy', () => {
    const e = ending({
      KUBEXIT_IGNORE_CODE_ON_DEATH_DEPS: 'true',
      KUBEXIT_EXIT_CODE_MAP: ' 143:0, 137:0 ,,1:3',
    });
    assert.equal(e.ignoreCodeOnDeathDeps, true);
    assert.deepEqual(
      e.exitCodeMap,
      new Map([
        [143, 0],
        [137, 0],
        [1, 3],
      ]),
    );
  });

  for (const [value, problem] of [
    ['143', 'item "143": not from:to'],
    ['143:0:1', 'item "143:0:1": not from:to'],
    ['-1:0', 'item "-1:0": not from:to'],
    ['256:0', 'item "256:0": exit codes go from 0 to 255'],
    ['143:1000', 'item "143:1000": not from:to'],
    ['143:0,143:1', 'item "143:1": 143 is mapped twice'],
    ['x:0', 'item "x:0": not from:to'],
  ]) {
    it(`refuses KUBEXIT_EXIT_CODE_MAP=${JSON.stringify(value)}`, () => {
      const err = configError({ KUBEXIT_NAME: 'a', KUBEXIT_EXIT_CODE_MAP: value });
      assert.equal(err.variable, 'KUBEXIT_EXIT_CODE_MAP');
      assert.equal(err.value, value);
      assert.equal(err.problem, problem);
      assert.match(err.expected, /from:to/);
    });
  }

  it('reads death conditions; deathDeps keeps the names', () => {
    const c = parseConfig({
      KUBEXIT_NAME: 'a',
      KUBEXIT_DEATH_DEPS: 'main:failed, logger ,job:succeeded,job:failed,x:y:completed',
    });
    assert.deepEqual(c.deathDeps, ['main', 'logger', 'job', 'job', 'x:y']);
    assert.deepEqual(
      c.ending.deathConditions,
      new Map([
        ['main', ['failed']],
        ['job', ['succeeded', 'failed']],
        ['x:y', ['completed']],
      ]),
    );
  });

  it('a name listed also without a condition counts on any death', () => {
    const e = ending({ KUBEXIT_DEATH_DEPS: 'main:failed,main' });
    assert.equal(e.deathConditions.has('main'), false);
  });

  for (const [value, problem] of [
    ['main:failled', 'item "main:failled": unknown condition "failled"'],
    ['a:b', 'item "a:b": unknown condition "b"'],
    [':failed', 'item ":failed": empty'],
    ['../x:failed', 'item "../x:failed": not a file name'],
  ]) {
    it(`refuses KUBEXIT_DEATH_DEPS=${JSON.stringify(value)}`, () => {
      const err = configError({ KUBEXIT_NAME: 'a', KUBEXIT_DEATH_DEPS: value });
      assert.equal(err.variable, 'KUBEXIT_DEATH_DEPS');
      assert.ok(err.problem?.startsWith(problem as string), err.problem);
      assert.match(err.expected, /:failed or :succeeded/);
    });
  }

  it('reads a death signal with or without SIG, in any case', () => {
    assert.equal(ending({ KUBEXIT_DEATH_SIGNAL: 'SIGQUIT' }).deathSignal, 'SIGQUIT');
    assert.equal(ending({ KUBEXIT_DEATH_SIGNAL: 'int' }).deathSignal, 'SIGINT');
    assert.equal(ending({ KUBEXIT_DEATH_SIGNAL: 'KILL' }).deathSignal, 'SIGKILL');
    assert.equal(ending({ KUBEXIT_DEATH_SIGNAL: '' }).deathSignal, 'SIGTERM');
  });

  for (const value of ['SIGSTOP', 'SIGCHLD', '15', 'TERM ', 'SIGFOO', 'SIGSEGV']) {
    it(`refuses KUBEXIT_DEATH_SIGNAL=${JSON.stringify(value)}`, () => {
      const err = configError({ KUBEXIT_NAME: 'a', KUBEXIT_DEATH_SIGNAL: value });
      assert.equal(err.variable, 'KUBEXIT_DEATH_SIGNAL');
      assert.match(err.expected, /signal name/);
    });
  }

  it('reads the HTTP action, its timeout and the delay', () => {
    const e = ending({
      KUBEXIT_DEATH_HTTP: 'http://127.0.0.1:15000/quitquitquit',
      KUBEXIT_DEATH_HTTP_TIMEOUT: '500ms',
      KUBEXIT_DEATH_DELAY: '1m',
    });
    assert.equal(e.deathHttp, 'http://127.0.0.1:15000/quitquitquit');
    assert.equal(e.deathHttpTimeout, 500_000_000n);
    assert.equal(e.deathDelay, 60_000_000_000n);
  });

  for (const [value, problem] of [
    ['127.0.0.1:15000/quit', 'not a URL'],
    ['localhost:15000/quit', 'scheme localhost: is not http: or https:'],
    ['ftp://x/quit', 'scheme ftp: is not http: or https:'],
    ['http://', 'not a URL'],
    ['http://x/\nquit', 'control character U+000A'],
  ]) {
    it(`refuses KUBEXIT_DEATH_HTTP=${JSON.stringify(value)}`, () => {
      const err = configError({ KUBEXIT_NAME: 'a', KUBEXIT_DEATH_HTTP: value });
      assert.equal(err.variable, 'KUBEXIT_DEATH_HTTP');
      assert.equal(err.problem, problem);
      assert.match(err.expected, /http:\/\/ or https:\/\//);
    });
  }

  for (const variable of [
    'KUBEXIT_DEATH_DELAY',
    'KUBEXIT_DEATH_HTTP_TIMEOUT',
    'KUBEXIT_SHUTDOWN_HOLD',
  ]) {
    it(`refuses a bad duration in ${variable}`, () => {
      const err = configError({ KUBEXIT_NAME: 'a', [variable]: '-1s' });
      assert.equal(err.variable, variable);
      assert.equal(err.problem, 'negative');
    });
  }

  for (const variable of [
    'KUBEXIT_IGNORE_CODE_ON_DEATH_DEPS',
    'KUBEXIT_SHUTDOWN_AFTER_DEPS',
    'KUBEXIT_KILL_GROUP',
  ]) {
    it(`refuses a bad boolean in ${variable}`, () => {
      const err = configError({ KUBEXIT_NAME: 'a', [variable]: 'yes' });
      assert.equal(err.variable, variable);
      assert.match(err.expected, /boolean/);
    });
  }

  it('KUBEXIT_KILL_GROUP takes a Go boolean', () => {
    assert.equal(ending({ KUBEXIT_KILL_GROUP: 'T' }).killGroup, true);
    assert.equal(ending({ KUBEXIT_KILL_GROUP: '0' }).killGroup, false);
    assert.equal(ending({}).killGroup, false);
  });

  it('the shutdown hold defaults to the grace period', () => {
    const e = ending({ KUBEXIT_SHUTDOWN_AFTER_DEPS: '1', KUBEXIT_GRACE_PERIOD: '45s' });
    assert.equal(e.shutdownAfterDeps, true);
    assert.equal(e.shutdownHold, 45_000_000_000n);
    assert.equal(ending({ KUBEXIT_SHUTDOWN_HOLD: '10s' }).shutdownHold, 10_000_000_000n);
  });

  it('logs the settings that are set: the map and conditions as objects, the URL without its password', () => {
    const f = configFields(
      parseConfig({
        KUBEXIT_NAME: 'a',
        KUBEXIT_DEATH_DEPS: 'main:failed',
        KUBEXIT_EXIT_CODE_MAP: '143:0',
        KUBEXIT_DEATH_HTTP: 'http://u:secret@127.0.0.1:1/quit',
        KUBEXIT_DEATH_SIGNAL: 'QUIT',
        KUBEXIT_DEATH_DELAY: '1s',
        KUBEXIT_IGNORE_CODE_ON_DEATH_DEPS: 'true',
        KUBEXIT_SHUTDOWN_AFTER_DEPS: 'true',
        KUBEXIT_KILL_GROUP: 'true',
      }),
    );
    assert.deepEqual(Object.keys(f).slice(11), [
      'ignore_code_on_death_deps',
      'exit_code_map',
      'death_conditions',
      'death_signal',
      'death_http',
      'death_http_timeout',
      'death_delay',
      'shutdown_after_deps',
      'shutdown_hold',
      'kill_group',
    ]);
    assert.deepEqual(f.exit_code_map, { 143: 0 });
    assert.deepEqual(f.death_conditions, { main: ['failed'] });
    assert.equal(f.death_http, 'http://u:***@127.0.0.1:1/quit');
    assert.equal(f.death_http_timeout, 2_000_000_000n);
    assert.equal(f.shutdown_hold, 30_000_000_000n);
    assert.deepEqual(f.death_deps, ['main']);
  });
});
