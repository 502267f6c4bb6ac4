import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isMap, isScalar, isSeq, parse, type Node } from 'yaml';
import { lintSources, lintText, type Located } from '../src/tooling/lint.js';
import { KNOWN_VARIABLES } from '../src/tooling/lint/pod.js';
import { parseSourceFast } from '../src/tooling/lint/fast-yaml.js';
import { parseSource, readSources } from '../src/tooling/manifest.js';
import { FIXTURES, ROOT } from './support/kubexit.js';
import { tempDir } from './support/temp.js';

const CORPUS = join(FIXTURES, 'lint');
const at = (name: string): string => join(CORPUS, `${name}.yaml`);

type Expected = [line: number, col: number, severity: string, rule: string, message: string];

const short = (f: Located): Expected => [f.line, f.col, f.severity, f.rule, f.message];

/** Each broken manifest of the corpus: one fault, and exactly what lint says of it. */
const CORPUS_FINDINGS: Record<string, Expected[]> = {
  'automount-off': [
    [
      11,
      37,
      'warning',
      'service-account',
      "automountServiceAccountToken is false, but container client's birth dependencies read the pod from the API: kubexit finds no token to read it with",
    ],
  ],
  'birth-cycle': [
    [
      28,
      50,
      'error',
      'birth-cycle',
      'birth dependency cycle: client → server → client: each waits for the next, none can start',
    ],
  ],
  'birth-readiness': [
    [
      28,
      50,
      'warning',
      'birth-readiness',
      'birth dependency "server": container server has neither a readinessProbe nor KUBEXIT_READY_PROBE, so it is ready as soon as it runs (say "server:started" if that is meant)',
    ],
  ],
  'config-duration': [
    [
      38,
      52,
      'error',
      'config',
      'KUBEXIT_GRACE_PERIOD="10 seconds" is invalid (unknown unit " seconds" in duration "10 seconds"): expected a Go duration that is not negative and at most 2562047h47m16.854775807s, such as 30s, 1m30s, 500ms or 1.5h',
    ],
  ],
  'config-no-name': [
    [
      36,
      13,
      'error',
      'config',
      'KUBEXIT_NAME is not set: expected a file name of 1 to 255 bytes: not "." or "..", no "/", no control characters, not .kubexit-*.tmp',
    ],
  ],
  'downward-api': [
    [
      30,
      51,
      'error',
      'downward-api',
      "KUBEXIT_POD_NAME comes from fieldRef spec.nodeName, not the pod's metadata.name: use valueFrom: {fieldRef: {fieldPath: metadata.name}}",
    ],
  ],
  'duplicate-name': [
    [
      34,
      44,
      'error',
      'duplicate-name',
      'KUBEXIT_NAME "client" is also container worker\'s: both would write one tombstone',
    ],
  ],
  'executable-install-dir': [
    [
      34,
      21,
      'error',
      'executable',
      'kubexit install points the executable at its loader and libraries in /kubexit, but container server mounts volume "kubexit" at /opt/kubexit: mount it at /kubexit',
    ],
  ],
  'executable-not-installed': [
    [
      19,
      21,
      'error',
      'executable',
      'nothing installs kubexit at /kubexit/kubexit in container client: no init container installs into volume "kubexit" (an init container with the kubexit image, args: [install, /kubexit], mounting it)',
    ],
    [
      28,
      21,
      'error',
      'executable',
      'nothing installs kubexit at /kubexit/kubexit in container server: no init container installs into volume "kubexit" (an init container with the kubexit image, args: [install, /kubexit], mounting it)',
    ],
  ],
  'executable-not-run': [
    [
      34,
      20,
      'error',
      'executable',
      "container server's command doesn't run kubexit, so its KUBEXIT_* variables do nothing: put /kubexit/kubexit first in command",
    ],
  ],
  'go-era-cp': [
    [
      19,
      20,
      'warning',
      'go-era',
      "old-style wiring: init container kubexit copies kubexit with cp (the Go kubexit's way; this image still answers to it); kubexit inject upgrades it to args: [install, /kubexit]",
    ],
  ],
  'go-era-original': [
    [
      13,
      7,
      'warning',
      'service-account',
      'container client\'s birth dependencies read the pod from the API as service account "default" (serviceAccountName is not set): give the pod its own account, allowed to get, list and watch pods',
    ],
    [
      22,
      18,
      'warning',
      'go-era',
      "old-style wiring: init container kubexit uses the Go kubexit's image karlkfi/kubexit:latest; kubexit inject upgrades it to this kubexit's image with args: [install, /kubexit]",
    ],
    [
      35,
      15,
      'warning',
      'go-era',
      'old-style wiring: container client starts kubexit inside an sh -c script, so the shell is the container\'s PID 1 and may not pass the kubelet\'s SIGTERM on; write "exec /kubexit/kubexit …" in the script, or make /kubexit/kubexit the first element of command',
    ],
    [
      63,
      15,
      'warning',
      'go-era',
      'old-style wiring: container server starts kubexit inside an sh -c script, so the shell is the container\'s PID 1 and may not pass the kubelet\'s SIGTERM on; write "exec /kubexit/kubexit …" in the script, or make /kubexit/kubexit the first element of command',
    ],
  ],
  'go-era-shell': [
    [
      34,
      44,
      'warning',
      'go-era',
      'old-style wiring: container server starts kubexit inside an sh -c script, so the shell is the container\'s PID 1 and may not pass the kubelet\'s SIGTERM on; write "exec /kubexit/kubexit …" in the script, or make /kubexit/kubexit the first element of command',
    ],
  ],
  'graveyard-apart': [
    [
      43,
      23,
      'error',
      'graveyard',
      'container server\'s graveyard (/tmp/graveyard) is "graveyard" in volume "scratch", but container client\'s is volume "graveyard": they don\'t see each other\'s tombstones',
    ],
  ],
  'graveyard-no-volume': [
    [
      30,
      23,
      'error',
      'graveyard',
      'volume "graveyrd" (mounted for the graveyard) is not among the pod\'s volumes (did you mean "graveyard"?)',
    ],
  ],
  'graveyard-unmounted': [
    [
      32,
      17,
      'error',
      'graveyard',
      'no volume is mounted at /graveyard (KUBEXIT_GRAVEYARD) in container server: the other containers never see its tombstone',
    ],
  ],
  'image-volume-subpath': [
    [
      19,
      21,
      'error',
      'executable',
      'container client runs /kubexit/kubexit, which is "kubexit" in the image volume "kubexit", but the kubexit image holds the executable at kubexit/kubexit (with its loader, for /kubexit): mount it with subPath: kubexit',
    ],
  ],
  'no-tombstone-birth': [
    [
      31,
      58,
      'error',
      'no-tombstone',
      'birth dependency "db": container db doesn\'t run kubexit (no KUBEXIT_* variables), so it writes no tombstone, and without KUBEXIT_POD_NAME and KUBEXIT_NAMESPACE (the API) only tombstones are read: it is never ready',
    ],
  ],
  'no-tombstone-death': [
    [
      39,
      50,
      'error',
      'no-tombstone',
      'death dependency "logger": container logger doesn\'t run kubexit (no KUBEXIT_* variables), so it writes no tombstone: its death is never seen',
    ],
  ],
  'rbac-verbs': [
    [
      55,
      3,
      'error',
      'rbac',
      'service account "demo" (bound by RoleBinding demo-pod-reader to Role pod-reader) may do get, list on pods, but the birth wait also needs watch',
    ],
  ],
  'service-account-default': [
    [
      9,
      7,
      'warning',
      'service-account',
      'container client\'s birth dependencies read the pod from the API as service account "default" (serviceAccountName is not set): give the pod its own account, allowed to get, list and watch pods',
    ],
  ],
  'shutdown-budget': [
    [
      38,
      59,
      'error',
      'shutdown-budget',
      "container server's ordered shutdown takes up to KUBEXIT_SHUTDOWN_HOLD 30s + KUBEXIT_DEATH_DELAY 5s + KUBEXIT_GRACE_PERIOD 30s = 1m5s, more than terminationGracePeriodSeconds 30 (the default): the kubelet KILLs it first; raise terminationGracePeriodSeconds to 65 or shorten these",
    ],
  ],
  'unknown-birth-dep': [
    [
      28,
      50,
      'error',
      'unknown-dependency',
      'birth dependency "sever" is not a container of this pod (did you mean "server"?)',
    ],
  ],
  'unknown-death-dep': [
    [
      37,
      58,
      'error',
      'unknown-dependency',
      'death dependency "clinet" is neither a container nor a tombstone (KUBEXIT_NAME) of this pod (did you mean "client"?)',
    ],
  ],
  'unknown-variable': [
    [
      38,
      23,
      'warning',
      'unknown-variable',
      'KUBEXIT_GRACE_PERIDO is not a kubexit variable (did you mean "KUBEXIT_GRACE_PERIOD"?): kubexit ignores it',
    ],
  ],
  'yaml-syntax': [
    [
      20,
      11,
      'error',
      'yaml-syntax',
      'Flow sequence in block collection must be sufficiently indented and end with a ]',
    ],
  ],
};

/** kubexit lint as a real process: node dist/kubexit.js, or the executable in KUBEXIT_BIN. */
function cli(
  args: string[],
  input?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const bin = process.env.KUBEXIT_BIN;
  const [file, pre] = bin ? [bin, []] : [process.execPath, [join(ROOT, 'dist', 'kubexit.js')]];
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('KUBEXIT_')),
  );
  const proc = spawn(file, [...pre, 'lint', ...args], { env, stdio: 'pipe' });
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  proc.stdin.end(input ?? '');
  return new Promise((resolve) => proc.once('close', (code) => resolve({ code, stdout, stderr })));
}

describe('lint: the corpus of broken manifests, one fault each', () => {
  for (const [name, expected] of Object.entries(CORPUS_FINDINGS)) {
    it(`${name}: says exactly what is wrong, and where`, () => {
      const { findings } = lintSources(readSources([at(name)]));
      assert.deepEqual(findings.map(short), expected);
    });
  }

  it('covers every fixture of the corpus (the clean ones say nothing)', () => {
    const files = readdirSync(CORPUS).map((f) => f.replace(/\.yaml$/, ''));
    for (const name of files) {
      if (name.startsWith('clean')) {
        assert.deepEqual(lintSources(readSources([at(name)])).findings, [], name);
      } else assert.ok(name in CORPUS_FINDINGS, `${name} has no expected findings`);
    }
  });
});

describe('lint: rules in detail', () => {
  it("knows every variable the runtime's configuration reads", () => {
    const source = readFileSync(join(ROOT, 'src', 'supervisor', 'config.ts'), 'utf8');
    const read = new Set(source.match(/KUBEXIT_[A-Z_]+/g));
    assert.deepEqual([...read].sort(), [...KNOWN_VARIABLES].sort());
  });

  it('finds the RBAC of a pod in another file of the input, and points into that file', () => {
    const dir = tempDir();
    const job = readFileSync(at('rbac-verbs'), 'utf8').split('\n---\n');
    writeFileSync(join(dir, 'a-job.yaml'), job[0] as string);
    writeFileSync(join(dir, 'b-rbac.yaml'), job.slice(1).join('\n---\n'));
    const { findings } = lintSources(readSources([dir]));
    rmSync(dir, { recursive: true });
    assert.deepEqual(
      findings.map((f) => [f.file.slice(dir.length + 1), f.line, f.rule]),
      [['b-rbac.yaml', 9, 'rbac']],
    );
  });

  it('accepts a Role that grants every verb ("*"), and a binding to a role it cannot see', () => {
    const text = readFileSync(at('rbac-verbs'), 'utf8');
    assert.deepEqual(lintText('x.yaml', text.replace('[get, list]', "['*']")).findings, []);
    assert.deepEqual(
      lintText('x.yaml', text.replace('name: pod-reader }', 'name: elsewhere }')).findings,
      [],
    );
  });

  it('asks no graveyard of a lone kubexit without dependencies', () => {
    const lone = `kind: Pod
metadata: { name: p }
spec:
  volumes: [{ name: kubexit, emptyDir: {} }]
  initContainers:
    - { name: kubexit, image: 'kubexit:0.4.0', args: [install, /kubexit], volumeMounts: [{ name: kubexit, mountPath: /kubexit }] }
  containers:
    - name: app
      command: [/kubexit/kubexit, app]
      env: [{ name: KUBEXIT_NAME, value: app }, { name: KUBEXIT_EXIT_CODE_MAP, value: '143:0' }]
      volumeMounts: [{ name: kubexit, mountPath: /kubexit }]
`;
    assert.deepEqual(lintText('lone.yaml', lone).findings, []);
    const dependent = lone
      .replace("value: '143:0'", 'value: other')
      .replace('EXIT_CODE_MAP', 'DEATH_DEPS');
    assert.deepEqual(
      lintText('lone.yaml', dependent).findings.map((f) => f.rule),
      ['graveyard', 'unknown-dependency'],
    );
  });

  it('sorts findings by position and reads a YAML syntax error as a broken input', () => {
    const text =
      readFileSync(at('birth-cycle'), 'utf8') +
      '---\n' +
      readFileSync(at('unknown-birth-dep'), 'utf8');
    const { findings, broken } = lintText('two.yaml', text);
    assert.equal(broken, false);
    assert.deepEqual(
      findings.map((f) => f.rule),
      ['birth-cycle', 'unknown-dependency'],
    );
    assert.ok((findings[0] as Located).line < (findings[1] as Located).line);
    assert.equal(lintText('bad.yaml', readFileSync(at('yaml-syntax'), 'utf8')).broken, true);
  });

  it('points at the bad name inside a comma-separated list', () => {
    const { findings } = lintText(
      'p.yaml',
      readFileSync(at('clean'), 'utf8').replace(
        '{ name: KUBEXIT_BIRTH_DEPS, value: server }',
        '{ name: KUBEXIT_BIRTH_DEPS, value: "server, proxy:started" }',
      ),
    );
    assert.deepEqual(findings.map(short), [
      [
        28,
        59,
        'error',
        'unknown-dependency',
        'birth dependency "proxy" is not a container of this pod',
      ],
    ]);
  });
});

/** Every node's start, path by path (null scalars aside: where an absent value "is" differs). */
function starts(node: unknown, path = '', out = new Map<string, number>()): Map<string, number> {
  if (isScalar(node) && node.value === null) return out;
  const at = (node as Node | null)?.range?.[0];
  if (at !== undefined) out.set(path, at);
  if (isMap(node))
    node.items.forEach((p, i) => {
      starts(p.key, `${path}.key${i}`, out);
      starts(p.value, `${path}.${String(isScalar(p.key) ? p.key.value : i)}`, out);
    });
  if (isSeq(node)) node.items.forEach((item, i) => starts(item, `${path}[${i}]`, out));
  return out;
}

const EDGES = `%YAML 1.2
---
# tags, anchors, comments between a key and its value, block scalars, markers
kind: Pod
metadata: &meta
  name: "p"   # trailing
  labels: { "a b": 'c', d: [1, 2, {e: f}] }
spec:
  containers:
    -   name: a
        command:
          - sh
          - |
            exec /kubexit/kubexit x
        env:
          - name: KUBEXIT_NAME
            value: !!str a
          -
            name: KUBEXIT_GRAVEYARD
            # a comment before the value
            value:
              /graveyard
  empty:
...
---
- a
- b:
  - c
--- |
  text
`;

describe("lint's fast YAML reader", () => {
  const texts: [string, string][] = [['edges.yaml', EDGES]];
  for (const dir of [
    CORPUS,
    ...readdirSync(join(ROOT, 'examples')).map((d) => join(ROOT, 'examples', d)),
  ])
    for (const source of readSources([dir])) texts.push([source.path, source.text]);

  it('reads every corpus file, example and edge case as the yaml library does, node positions included', () => {
    for (const [path, text] of texts) {
      const slow = parseSource(path, text);
      const fast = parseSourceFast(path, text);
      assert.deepEqual(
        fast.docs.map((d) => d.toJSON()),
        slow.docs.map((d) => d.toJSON()),
        path,
      );
      assert.deepEqual(
        fast.docs.map((d) => starts(d.contents)),
        slow.docs.map((d) => starts(d.contents)),
        path,
      );
    }
  });

  it('leaves aliases and syntax errors to the yaml library', () => {
    const alias = 'a: &x {b: 1}\nc: *x\n';
    assert.deepEqual(parseSourceFast('a.yaml', alias).docs[0]?.toJSON(), {
      a: { b: 1 },
      c: { b: 1 },
    });
    const broken = parseSourceFast('b.yaml', 'a: [1\n');
    assert.equal(broken.docs[0]?.errors[0]?.code, 'BAD_INDENT');
  });
});

/** What each example applies: the resources its kustomization lists (app.yaml is inject's input). */
function exampleManifests(): string[] {
  const files: string[] = [];
  for (const d of readdirSync(join(ROOT, 'examples'), { withFileTypes: true })) {
    const kustomization = join(ROOT, 'examples', d.name, 'kustomization.yaml');
    if (!d.isDirectory() || !existsSync(kustomization)) continue;
    const { resources } = parse(readFileSync(kustomization, 'utf8')) as { resources: string[] };
    files.push(...resources.map((r) => join(ROOT, 'examples', d.name, r)));
  }
  return files;
}

describe('lint: the project examples', () => {
  it('lint clean, each file and all together', () => {
    const files = exampleManifests();
    assert.ok(files.length >= 4, String(files));
    for (const file of files) assert.deepEqual(lintSources(readSources([file])).findings, [], file);
    assert.deepEqual(lintSources(readSources(files)).findings, []);
  });
});

describe('kubexit lint: the command', () => {
  it('prints file:line:col: severity: message [rule] and exits 1 on errors', async () => {
    const { code, stdout, stderr } = await cli([at('unknown-birth-dep')]);
    assert.equal(stderr, '');
    assert.equal(
      stdout,
      `${at('unknown-birth-dep')}:28:50: error: birth dependency "sever" is not a container of this pod (did you mean "server"?) [unknown-dependency]\n`,
    );
    assert.equal(code, 1);
  });

  it('exits 0 with warnings only, and 0 with nothing to say', async () => {
    const warned = await cli([at('go-era-cp')]);
    assert.match(warned.stdout, /: warning: old-style wiring: .* \[go-era\]\n$/);
    assert.equal(warned.code, 0);
    const clean = await cli([at('clean')]);
    assert.deepEqual([clean.code, clean.stdout], [0, '']);
  });

  it('--json prints an array of {file, line, col, severity, rule, message}', async () => {
    const { code, stdout } = await cli(['--json', at('birth-cycle'), at('clean')]);
    assert.equal(code, 1);
    assert.deepEqual(JSON.parse(stdout), [
      {
        file: at('birth-cycle'),
        line: 28,
        col: 50,
        severity: 'error',
        rule: 'birth-cycle',
        message:
          'birth dependency cycle: client → server → client: each waits for the next, none can start',
      },
    ]);
    const none = await cli(['--json', at('clean')]);
    assert.deepEqual(JSON.parse(none.stdout), []);
  });

  it('reads stdin as "-", named <stdin>', async () => {
    const { code, stdout } = await cli(['-'], readFileSync(at('duplicate-name'), 'utf8'));
    assert.match(stdout, /^<stdin>:34:44: error: KUBEXIT_NAME "client" is also container worker's/);
    assert.equal(code, 1);
  });

  it('lints every YAML file given: the examples are clean', async () => {
    const { code, stdout } = await cli(exampleManifests());
    assert.deepEqual([code, stdout], [0, '']);
  });

  it('lints every YAML file of a folder: an unwired app.yaml is not clean', async () => {
    const { code, stdout } = await cli([join(ROOT, 'examples', 'client-server-job')]);
    assert.match(
      stdout,
      /app\.yaml:\d+:\d+: error: container client's command doesn't run kubexit/,
    );
    assert.equal(code, 1);
  });

  it('exits 2 on a YAML syntax error, with its position', async () => {
    const { code, stdout } = await cli([at('yaml-syntax')]);
    assert.equal(
      stdout,
      `${at('yaml-syntax')}:20:11: error: Flow sequence in block collection must be sufficiently indented and end with a ] [yaml-syntax]\n`,
    );
    assert.equal(code, 2);
  });

  it('exits 2 on an unreadable file, naming it, and still lints the others', async () => {
    const missing = join(tempDir(), 'missing.yaml');
    const { code, stdout, stderr } = await cli([missing, at('birth-cycle')]);
    assert.match(stderr, new RegExp(`^kubexit lint: cannot read ${missing}: ENOENT`));
    assert.match(stdout, /\[birth-cycle\]\n$/);
    assert.equal(code, 2);
  });

  it('exits 2 with its usage on no input or an unknown option', async () => {
    for (const args of [[], ['--jsn', at('clean')]]) {
      const { code, stdout, stderr } = await cli(args);
      assert.equal(stdout, '');
      assert.match(stderr, /^kubexit lint: .*\nUsage: kubexit lint \[--json\] FILE\|DIR\|- …\n/);
      assert.equal(code, 2);
    }
  });

  it('prints a large report whole before it exits', async () => {
    const doc = readFileSync(at('unknown-birth-dep'), 'utf8');
    const { code, stdout } = await cli(['-'], Array(1000).fill(doc).join('---\n'));
    assert.equal(stdout.split('\n').filter((l) => l.endsWith('[unknown-dependency]')).length, 1000);
    assert.equal(code, 1);
  });
});
