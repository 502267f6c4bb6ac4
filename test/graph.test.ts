// kubexit graph: the dependency graph of each pod template, exact output for the project's
// examples and for a pod with every kind of edge, through the module and through the CLI (the
// same tests run under `node dist/kubexit.js` and under KUBEXIT_BIN, the executable).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { graphsOf, renderDot, renderMermaid } from '../src/tooling/graph.js';
import { parseSource, podTemplates } from '../src/tooling/manifest.js';
import { FIXTURES, ROOT } from './support/kubexit.js';

const LEGEND =
  '  %% rounded: wrapped by kubexit; solid arrow: starts after (birth); dotted: stops it (death)';

/** The Mermaid graph of the examples whose client waits for a ready server that its death stops. */
function clientServer(title: string, client: string, server: string, grace: string): string {
  return [
    'flowchart LR',
    LEGEND,
    `  subgraph p1["Job ${title}"]`,
    `    p1c1(["${client}"])`,
    `    p1c2(["${server}"])`,
    '    p1c2 -->|"ready"| p1c1',
    `    p1c1 -.->|"died: SIGTERM, KILL after ${grace}"| p1c2`,
    '  end',
    '',
  ].join('\n');
}

const EXAMPLES: Readonly<Record<string, string>> = {
  'client-server-job': clientServer('client-server-job', 'client', 'server', '10s'),
  'cloudsql-proxy-job': clientServer('cloudsql-proxy-job', 'psql', 'cloudsql-proxy', '30s'),
  'image-volume': clientServer('image-volume-job', 'client', 'server', '10s'),
  'no-rbac-job': clientServer('no-rbac-job', 'client', 'server', '10s'),
};

const EVERY_EDGE = join(FIXTURES, 'graph', 'every-edge.yaml');
const HTTP_LABEL =
  'wait 5s, then POST http://127.0.0.1:15000/quit?a=#quot;b#quot;#35;c (else SIGQUIT), KILL after 1m30s';
const HOLD = 'KILL after 30s; holds its own SIGTERM until then, up to 20s';
const EVERY_EDGE_MERMAID = `flowchart LR
${LEGEND}
  subgraph p1["Pod every-edge"]
    p1c1(["proxy (init)"])
    p1c2(["app"])
    p1c3["db"]
    p1c4(["migrate"])
    p1c5["job"]
    p1c6{{"setup (not in this pod)"}}
    p1c7{{"ghost (not in this pod)"}}
    p1c2 -.->|"failed or succeeded: ${HTTP_LABEL}"| p1c1
    p1c5 -.->|"died: ${HTTP_LABEL}"| p1c1
    p1c1 -->|"started"| p1c2
    p1c3 -->|"ready"| p1c2
    p1c4 -->|"succeeded"| p1c2
    p1c6 -->|"completed"| p1c2
    p1c1 -.->|"failed: SIGTERM, ${HOLD}"| p1c2
    p1c7 -.->|"died: SIGTERM, ${HOLD}"| p1c2
    p1c3 -->|"ready, or start after 2m0s"| p1c4
  end
  subgraph p2["Deployment second"]
    p2c1["web"]
    p2c2(["logger"])
    p2c1 -.->|"died: SIGTERM, KILL after 30s"| p2c2
  end
`;

const DOT_HTTP =
  'wait 5s, then POST http://127.0.0.1:15000/quit?a=\\"b\\"#c (else SIGQUIT), KILL after 1m30s';
const EVERY_EDGE_DOT = `digraph kubexit {
  // rounded: wrapped by kubexit; solid arrow: starts after (birth); dashed: stops it (death)
  rankdir=LR;
  node [shape=box];
  subgraph cluster_p1 {
    label="Pod every-edge";
    p1c1 [label="proxy (init)", style=rounded];
    p1c2 [label="app", style=rounded];
    p1c3 [label="db"];
    p1c4 [label="migrate", style=rounded];
    p1c5 [label="job"];
    p1c6 [label="setup (not in this pod)", style=dashed];
    p1c7 [label="ghost (not in this pod)", style=dashed];
    p1c2 -> p1c1 [label="failed or succeeded: ${DOT_HTTP}", style=dashed];
    p1c5 -> p1c1 [label="died: ${DOT_HTTP}", style=dashed];
    p1c1 -> p1c2 [label="started"];
    p1c3 -> p1c2 [label="ready"];
    p1c4 -> p1c2 [label="succeeded"];
    p1c6 -> p1c2 [label="completed"];
    p1c1 -> p1c2 [label="failed: SIGTERM, ${HOLD}", style=dashed];
    p1c7 -> p1c2 [label="died: SIGTERM, ${HOLD}", style=dashed];
    p1c3 -> p1c4 [label="ready, or start after 2m0s"];
  }
  subgraph cluster_p2 {
    label="Deployment second";
    p2c1 [label="web"];
    p2c2 [label="logger", style=rounded];
    p2c1 -> p2c2 [label="died: SIGTERM, KILL after 30s", style=dashed];
  }
}
`;

const GRACE_WARNING =
  /^test\/fixtures\/graph\/every-edge\.yaml:41:11: warning: container app: KUBEXIT_GRACE_PERIOD="forever" is invalid .*; left out of the graph/;

function graphOf(path: string) {
  const source = parseSource(path, readFileSync(join(ROOT, path), 'utf8'));
  return graphsOf(podTemplates(source));
}

/** kubexit as a process: node dist/kubexit.js, or the executable named by KUBEXIT_BIN. */
function cli(args: string[], input?: string) {
  const bin = process.env.KUBEXIT_BIN;
  const [file, pre] = bin ? [bin, []] : [process.execPath, [join(ROOT, 'dist', 'kubexit.js')]];
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('KUBEXIT_')),
  );
  const r = spawnSync(file, [...pre, ...args], { cwd: ROOT, env, input, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('kubexit graph: dependency graphs of pod templates', () => {
  for (const [example, expected] of Object.entries(EXAMPLES)) {
    it(`graph of examples/${example}/job.yaml: client starts when server is ready, and its death stops server`, () => {
      const { graphs, warnings } = graphOf(`examples/${example}/job.yaml`);
      assert.equal(renderMermaid(graphs), expected);
      assert.deepEqual(warnings, []);
    });
  }

  it('graph of a pod with every edge kind: birth conditions, death conditions and actions, missing and unwrapped containers', () => {
    const { graphs, warnings } = graphOf('test/fixtures/graph/every-edge.yaml');
    assert.equal(renderMermaid(graphs), EVERY_EDGE_MERMAID);
    assert.equal(renderDot(graphs), EVERY_EDGE_DOT);
    assert.equal(warnings.length, 1);
    const [w] = warnings;
    assert.match(`${w?.path}:${w?.line}:${w?.col}: warning: ${w?.message}`, GRACE_WARNING);
  });

  it('graph output is the same on every run (deterministic)', () => {
    const once = renderMermaid(graphOf('test/fixtures/graph/every-edge.yaml').graphs);
    for (let i = 0; i < 3; i++)
      assert.equal(renderMermaid(graphOf('test/fixtures/graph/every-edge.yaml').graphs), once);
  });

  it('graph labels escape what would end a quote: Mermaid entity codes, DOT backslashes', () => {
    const source = parseSource(
      't.yaml',
      `kind: Pod
metadata: {name: 'say "hi" <b>&#'}
spec:
  containers:
    - name: a
      env: [{name: KUBEXIT_DEATH_DEPS, value: b}, {name: KUBEXIT_DEATH_HTTP, value: 'http://h/\\x"y'}]
    - name: b
`,
    );
    const { graphs } = graphsOf(podTemplates(source));
    const mermaid = renderMermaid(graphs);
    assert.match(mermaid, /subgraph p1\["Pod say #quot;hi#quot; #lt;b#gt;#amp;#35;"\]/);
    assert.match(
      mermaid,
      /-\.->\|"died: POST http:\/\/h\/\\x#quot;y \(else SIGTERM\), KILL after 30s"\|/,
    );
    const dot = renderDot(graphs);
    assert.match(dot, /label="Pod say \\"hi\\" <b>&#";/);
    assert.match(dot, /label="died: POST http:\/\/h\/\\\\x\\"y \(else SIGTERM\)/);
  });
});

describe('kubexit graph through the CLI', () => {
  it('kubexit graph examples/client-server-job/job.yaml prints its Mermaid graph', () => {
    const r = cli(['graph', 'examples/client-server-job/job.yaml']);
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    assert.equal(r.stdout, EXAMPLES['client-server-job']);
  });

  it('kubexit graph --format dot prints DOT, and the refused value as a warning on stderr', () => {
    const r = cli(['graph', '--format', 'dot', 'test/fixtures/graph/every-edge.yaml']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, EVERY_EDGE_DOT);
    assert.match(r.stderr, GRACE_WARNING);
    assert.equal(r.stderr.split('\n').filter((l) => l !== '').length, 1);
  });

  it('kubexit graph - reads the manifest from stdin', () => {
    const text = readFileSync(EVERY_EDGE, 'utf8');
    const r = cli(['graph', '--format=mermaid', '-'], text);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, EVERY_EDGE_MERMAID);
  });

  it('kubexit graph with bad arguments prints its usage and exits 2', () => {
    for (const args of [[], ['--format', 'svg', 'x.yaml'], ['a.yaml', 'b.yaml'], ['--nope', 'x']]) {
      const r = cli(['graph', ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^kubexit graph: .*\nUsage: kubexit graph \[--format mermaid\|dot\]/);
      assert.equal(r.stdout, '');
    }
  });

  it('kubexit graph on a missing file, broken YAML or no pod template: one line, exit 1', () => {
    const missing = cli(['graph', 'no/such.yaml']);
    assert.equal(missing.code, 1);
    assert.match(
      missing.stderr,
      /^kubexit graph: ENOENT: no such file or directory.*no\/such\.yaml'?\n$/,
    );
    const broken = cli(['graph', '-'], 'kind: Pod\nspec: [\n');
    assert.equal(broken.code, 1);
    assert.match(broken.stderr, /^kubexit graph: -: /);
    const none = cli(['graph', '-'], 'kind: ConfigMap\nmetadata: {name: x}\n');
    assert.equal(none.code, 1);
    assert.equal(none.stderr, 'kubexit graph: no pod template in -\n');
    assert.equal(none.stdout, '');
  });
});
