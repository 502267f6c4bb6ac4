// kubexit inject on YAML text: what it adds to each kind of pod template, what it leaves as it
// was (bytes, comments, key order), Go-era wiring upgraded, the annotations, --rbac, and the
// JSON entry the webhook uses. The CLI itself: test/e2e-inject.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { injectPodObject, injectSources, type InjectOptions } from '../src/tooling/inject.js';
import { parseSource } from '../src/tooling/manifest.js';

const IMAGE = 'kubexit:test';

function inject(text: string, options: InjectOptions = {}) {
  const { output, diagnostics } = injectSources([parseSource('in.yaml', text)], {
    image: IMAGE,
    ...options,
  });
  return { output, diagnostics: diagnostics.map((d) => d.line) };
}

/** inject, expecting no diagnostics; the output. */
function wired(text: string, options: InjectOptions = {}): string {
  const { output, diagnostics } = inject(text, options);
  assert.deepEqual(diagnostics, []);
  return output;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

function docs(stream: string): Json[] {
  return parseAllDocuments(stream).map((d) => d.toJSON() as Json);
}

/** `a` appears in `b` in order, lines only added around it. */
function addedLinesOnly(a: string, b: string): string[] {
  const want = a.split('\n');
  const added: string[] = [];
  let i = 0;
  for (const line of b.split('\n')) {
    if (i < want.length && line === want[i]) i++;
    else added.push(line);
  }
  assert.equal(i, want.length, `input line ${i + 1} (${JSON.stringify(want[i])}) not kept`);
  return added;
}

const env = (name: string, value: string) => ({ name, value });
const GRAVEYARD_MOUNT = { name: 'graveyard', mountPath: '/graveyard' };
const KUBEXIT_MOUNT = { name: 'kubexit', mountPath: '/kubexit' };
const INSTALLER = {
  name: 'kubexit',
  image: IMAGE,
  args: ['install', '/kubexit'],
  volumeMounts: [KUBEXIT_MOUNT],
};
const VOLUMES = [
  { name: 'graveyard', emptyDir: { medium: 'Memory' } },
  { name: 'kubexit', emptyDir: {} },
];

const APP = `containers:
  - name: app
    image: app:1
    command: [app, --serve]
    env:
      - name: KUBEXIT_DEATH_DEPS
        value: other`;

const indent = (text: string, by: number) => text.replace(/\n/g, `\n${' '.repeat(by)}`);

/** Each kind with a pod template, the pod spec at `path`. */
const KINDS: [string, string, string[]][] = [
  ['Pod', `spec:\n  ${indent(APP, 2)}`, ['spec']],
  ['PodTemplate', `template:\n  spec:\n    ${indent(APP, 4)}`, ['template', 'spec']],
  ...['Job', 'Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'ReplicationController'].map(
    (kind): [string, string, string[]] => [
      kind,
      `spec:\n  template:\n    spec:\n      ${indent(APP, 6)}`,
      ['spec', 'template', 'spec'],
    ],
  ),
  [
    'CronJob',
    `spec:\n  schedule: '@daily'\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          ${indent(APP, 10)}`,
    ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
  ],
];
const ALL_KINDS = KINDS.map(
  ([kind, body]) => `kind: ${kind}\nmetadata:\n  name: ${kind.toLowerCase()}\n${body}\n`,
).join('---\n');

function dig(object: Json, path: string[]): Json {
  return path.reduce((o, k) => o?.[k], object);
}

describe('inject: what it adds', () => {
  it('wires the pod template of every kind (and of List items) the same way', () => {
    const list = `kind: List\nitems:\n  - kind: Pod\n    metadata: {name: in-list}\n    spec:\n      ${indent(APP, 6)}\n`;
    const out = docs(wired(`${ALL_KINDS}---\n${list}`));
    const specs = [
      ...KINDS.map(([, , path], i) => dig(out[i], path)),
      out[KINDS.length].items[0].spec,
    ];
    assert.equal(specs.length, KINDS.length + 1);
    for (const spec of specs) {
      assert.deepEqual(spec, {
        volumes: VOLUMES,
        initContainers: [INSTALLER],
        containers: [
          {
            name: 'app',
            image: 'app:1',
            command: ['/kubexit/kubexit', 'app', '--serve'],
            env: [
              env('KUBEXIT_NAME', 'app'),
              env('KUBEXIT_GRAVEYARD', '/graveyard'),
              env('KUBEXIT_DEATH_DEPS', 'other'),
            ],
            volumeMounts: [GRAVEYARD_MOUNT, KUBEXIT_MOUNT],
          },
        ],
      });
    }
  });

  it('leaves containers that do not ask alone, and pods with none that ask byte for byte', () => {
    const pod = `kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - {name: a, command: [a]}\n`;
    assert.equal(wired(pod), pod);
    const mixed = docs(
      wired(
        `kind: Pod\nspec:\n  containers:\n    - {name: plain, command: [p]}\n    - name: wired\n      command: [w]\n      env: [{name: KUBEXIT_GRACE_PERIOD, value: 5s}]\n`,
      ),
    )[0];
    assert.deepEqual(mixed.spec.containers[0], { name: 'plain', command: ['p'] });
    assert.deepEqual(mixed.spec.containers[1].command, ['/kubexit/kubexit', 'w']);
  });

  it('keeps a literal KUBEXIT_NAME and mounts the graveyard where KUBEXIT_GRAVEYARD says', () => {
    const out = docs(
      wired(`kind: Pod
spec:
  containers:
    - name: app
      command: [app]
      env:
        - {name: KUBEXIT_GRAVEYARD, value: /tombs}
        - {name: KUBEXIT_NAME, value: main}
`),
    )[0];
    const c = out.spec.containers[0];
    assert.deepEqual(
      c.env.map((e: Json) => e.name),
      ['KUBEXIT_GRAVEYARD', 'KUBEXIT_NAME'],
    );
    assert.deepEqual(c.volumeMounts, [{ name: 'graveyard', mountPath: '/tombs' }, KUBEXIT_MOUNT]);
  });

  it('a container without command: an error at its line naming it and what to add', () => {
    const { output, diagnostics } = inject(`kind: Job
metadata:
  name: batch
spec:
  template:
    spec:
      containers:
        - name: worker
          image: worker:1
          args: [--once]
          env: [{name: KUBEXIT_DEATH_DEPS, value: x}]
`);
    assert.deepEqual(diagnostics, [
      'in.yaml:8:11: error: container "worker" of Job batch has no command: kubexit must start ' +
        "its process, and the image entrypoint is not known here; add command: [<the image's " +
        'entrypoint>, …] (args stay as they are)',
    ]);
    assert.ok(output.length > 0, 'the CLI, not injectSources, withholds the output');
  });

  it('an app container already named kubexit: an error, since the init container needs the name', () => {
    const input = `kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: kubexit\n      command: [k]\n      env: [{name: KUBEXIT_DEATH_DEPS, value: x}]\n`;
    assert.deepEqual(inject(input).diagnostics, [
      "in.yaml:4:3: error: Pod p: a container is already named kubexit: rename it, so that kubexit's init container can have that name",
    ]);
  });

  it('a YAML syntax error: file:line:col', () => {
    const { diagnostics } = inject('kind: Pod\nspec: [unclosed\n');
    assert.equal(diagnostics.length, 1);
    assert.match(diagnostics[0] as string, /^in\.yaml:\d+:\d+: error: /);
  });

  it('--image-volume: the image as a volume mounted with subPath kubexit, no init container', () => {
    const out = docs(wired(`kind: Pod\nspec:\n  ${indent(APP, 2)}\n`, { imageVolume: true }))[0];
    assert.equal(out.spec.initContainers, undefined);
    assert.deepEqual(out.spec.volumes[1], {
      name: 'kubexit',
      image: { reference: IMAGE, pullPolicy: 'IfNotPresent' },
    });
    assert.deepEqual(out.spec.containers[0].volumeMounts, [
      GRAVEYARD_MOUNT,
      { ...KUBEXIT_MOUNT, subPath: 'kubexit' },
    ]);
  });

  it('--image replaces the image of an existing init container; without it, the image stays', () => {
    const once = wired(`kind: Pod\nspec:\n  ${indent(APP, 2)}\n`);
    assert.equal(injectSources([parseSource('in.yaml', once)]).output, once, 'no --image');
    const other = injectSources([parseSource('in.yaml', once)], { image: 'kubexit:2' }).output;
    assert.equal(docs(other)[0].spec.initContainers[0].image, 'kubexit:2');
  });
});

describe('inject: what it keeps', () => {
  const COMMENTED = `# The app, as its authors wrote it.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web # the name
  labels: {tier: front}
spec:
  replicas: 2
  template:
    metadata:
      labels: # who selects it
        app: web
    spec:
      # the only container
      containers:
        - name: web
          image: 'web:1'
          command:
            - /bin/web
          args: ["--port", "8080"]
          env:
            - name: MODE # not kubexit's
              value: "production"
            - name: KUBEXIT_DEATH_DEPS
              value: sidecar # stop with it
          resources: {}
      terminationGracePeriodSeconds: 45
# the end of the Deployment
`;

  it('comments, quoting and key order: the input is in the output, lines only added', () => {
    const out = wired(COMMENTED);
    const added = addedLinesOnly(COMMENTED, out);
    assert.deepEqual(added, [
      '      volumes:',
      '        - name: graveyard',
      '          emptyDir:',
      '            medium: Memory',
      '        - name: kubexit',
      '          emptyDir: {}',
      '      initContainers:',
      '        - name: kubexit',
      `          image: ${IMAGE}`,
      "          args: ['install', '/kubexit']",
      '          volumeMounts:',
      '            - name: kubexit',
      '              mountPath: /kubexit',
      '            - /kubexit/kubexit',
      '            - name: KUBEXIT_NAME',
      '              value: web',
      '            - name: KUBEXIT_GRAVEYARD',
      '              value: /graveyard',
      '          volumeMounts:',
      '            - name: graveyard',
      '              mountPath: /graveyard',
      '            - name: kubexit',
      '              mountPath: /kubexit',
    ]);
  });

  it('kubectl/kustomize style (sequences not indented) stays that style', () => {
    const kustomized = `apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  containers:
  - command:
    - app
    env:
    - name: KUBEXIT_DEATH_DEPS
      value: other
    image: app:1
    name: app
`;
    const added = addedLinesOnly(kustomized, wired(kustomized));
    assert.ok(added.includes('    - /kubexit/kubexit'), added.join('\n'));
    assert.ok(added.includes('  - name: kubexit'), added.join('\n'));
  });

  it('documents it does not change come out byte for byte, whatever their formatting', () => {
    const odd = `%YAML 1.2\n---\nkind:    Service   # odd spacing\nspec: { ports: [ {port: 80} ] }\n...\n`;
    const plain = `# between\n---\nkind: ConfigMap\ndata:\n  k: "v"\n\n\n`;
    const input = `${odd}---\nkind: Pod\nspec:\n  ${indent(APP, 2)}\n---\n${plain}`;
    const out = wired(input);
    assert.ok(out.startsWith(odd), out);
    assert.ok(out.endsWith(plain), out);
    const unwired = `${odd}${plain}`;
    assert.equal(wired(unwired), unwired);
  });

  it('JSON in (kubectl get -o json), JSON out, with the same indentation', () => {
    const pod = { kind: 'Pod', spec: parse(`${indent(APP, 0)}\n`) as Json };
    for (const indentBy of [0, 4]) {
      const input = `${JSON.stringify(pod, null, indentBy)}\n`;
      const out = wired(input);
      const json = JSON.parse(out) as Json;
      assert.deepEqual(json.spec.containers[0].command, ['/kubexit/kubexit', 'app', '--serve']);
      assert.equal(out, `${JSON.stringify(json, null, indentBy)}\n`);
      assert.equal(wired(out), out);
    }
    const stream = `kind: ConfigMap\n---\n${JSON.stringify(pod)}\n`;
    const out = wired(stream);
    assert.ok(out.startsWith('kind: ConfigMap\n---\n{"kind":"Pod"'), out);
    assert.equal(docs(out).length, 2);
  });

  it('inject twice is inject once, byte for byte (with --rbac too)', () => {
    for (const options of [{}, { rbac: true }, { imageVolume: true }]) {
      for (const input of [ALL_KINDS, COMMENTED, API_POD]) {
        const once = wired(input, options);
        assert.notEqual(once, input);
        assert.equal(wired(once, options), once, JSON.stringify(options));
      }
    }
  });
});

const GO_ERA = `apiVersion: batch/v1
kind: Job
metadata:
  name: example-job
spec:
  template:
    spec:
      restartPolicy: Never
      volumes:
      - name: graveyard
        emptyDir:
          medium: Memory
      - name: kubexit
        emptyDir: {}
      initContainers:
      - name: kubexit
        image: karlkfi/kubexit:latest
        command: ['cp', '/bin/kubexit', '/kubexit/kubexit']
        volumeMounts:
        - mountPath: /kubexit
          name: kubexit
      containers:
      - name: client
        image: alpine:3.11
        command: ['sh', '-c']
        args:
        - |
          set -o errexit
          apk --no-cache add curl
          /kubexit/kubexit curl -v --fail http://localhost:80/
        env:
        - name: KUBEXIT_NAME
          value: client
        - name: KUBEXIT_GRAVEYARD
          value: /graveyard
        - name: KUBEXIT_BIRTH_DEPS
          value: server
        - name: KUBEXIT_POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        - name: KUBEXIT_NAMESPACE
          valueFrom:
            fieldRef:
              fieldPath: metadata.namespace
        volumeMounts:
        - mountPath: /graveyard
          name: graveyard
        - mountPath: /kubexit
          name: kubexit
      - name: server
        image: nginx:1.17-alpine
        command: ['sh', '-c', 'sleep 10 && /kubexit/kubexit nginx -g "daemon off;"']
        env:
        - name: KUBEXIT_NAME
          value: server
        - name: KUBEXIT_GRAVEYARD
          value: /graveyard
        - name: KUBEXIT_DEATH_DEPS
          value: client
        readinessProbe:
          tcpSocket:
            port: 80
        volumeMounts:
        - mountPath: /graveyard
          name: graveyard
        - mountPath: /kubexit
          name: kubexit
`;

describe('inject: Go-era wiring upgraded', () => {
  it("upstream's cp /bin/kubexit init container becomes ours; nothing else changes", () => {
    const out = wired(GO_ERA);
    const before = docs(GO_ERA)[0].spec.template.spec;
    const after = docs(out)[0].spec.template.spec;
    assert.deepEqual(after.initContainers, [
      {
        name: 'kubexit',
        image: IMAGE,
        args: ['install', '/kubexit'],
        volumeMounts: [{ mountPath: '/kubexit', name: 'kubexit' }],
      },
    ]);
    // The sh -c scripts already call /kubexit/kubexit: not wrapped again.
    assert.deepEqual(after.containers, before.containers);
    assert.deepEqual(after.volumes, before.volumes);
    assert.equal(wired(out), out);
  });

  it("the fork's cp /app/bin/kubexit, also inside sh -c, is recognised too", () => {
    for (const command of [
      "['cp', '/app/bin/kubexit', '/kubexit/kubexit']",
      "['sh', '-c', 'cp /app/bin/kubexit /kubexit/kubexit && chmod +x /kubexit/kubexit']",
    ]) {
      const input = GO_ERA.replace("['cp', '/bin/kubexit', '/kubexit/kubexit']", command);
      const init = docs(wired(input))[0].spec.template.spec.initContainers;
      assert.deepEqual(init, [
        {
          name: 'kubexit',
          image: IMAGE,
          args: ['install', '/kubexit'],
          volumeMounts: [{ mountPath: '/kubexit', name: 'kubexit' }],
        },
      ]);
    }
  });

  it('a copy elsewhere than /kubexit: an error, since this kubexit runs from /kubexit only', () => {
    const input = GO_ERA.replace("'/kubexit/kubexit']", "'/opt/kubexit']");
    const { diagnostics } = inject(input);
    assert.equal(diagnostics.length, 1);
    assert.match(
      diagnostics[0] as string,
      /^in\.yaml:16:\d+: error: container "kubexit" of Job example-job copies kubexit to "\/opt"; this kubexit runs from \/kubexit only/,
    );
  });

  it('a hostile sh -c script (200,000 slashes and operators) is read in one pass', () => {
    const script = ';a/'.repeat(70_000);
    const input = `kind: Pod\nspec:\n  containers:\n    - name: s\n      command: [sh, -c, '${script}']\n      env: [{name: KUBEXIT_DEATH_DEPS, value: x}]\n  initContainers:\n    - {name: i, command: [sh, -c, 'cp ${script}']}\n`;
    const out = docs(wired(input))[0];
    assert.deepEqual(out.spec.containers[0].command.slice(0, 3), ['/kubexit/kubexit', 'sh', '-c']);
  });

  it('a kubexit built into the image (command: [kubexit, …]): left alone, with a warning', () => {
    const input = `kind: Pod
metadata: {name: p}
spec:
  containers:
    - name: psql
      command: ['kubexit', 'psql']
      env: [{name: KUBEXIT_NAME, value: psql}, {name: KUBEXIT_GRAVEYARD, value: /graveyard}]
      volumeMounts: [{name: graveyard, mountPath: /graveyard}]
  volumes: [{name: graveyard, emptyDir: {medium: Memory}}]
`;
    const { output, diagnostics } = inject(input);
    assert.deepEqual(diagnostics, [
      'in.yaml:6:16: warning: container "psql" of Pod p calls a kubexit of its own image ("kubexit"): left as it is; to run this kubexit, call /kubexit/kubexit',
    ]);
    assert.equal(output, input);
  });
});

describe('inject: the annotations', () => {
  const annotated = (value: string) => `kind: Pod
metadata:
  name: p
  annotations:
    kubexit.io/inject: ${value}
spec:
  initContainers:
    - {name: migrate, command: [migrate]}
    - {name: proxy, restartPolicy: Always, command: [proxy]}
  containers:
    - {name: app, command: [app]}
    - name: other
      command: [other]
      env: [{name: KUBEXIT_DEATH_DEPS, value: app}]
`;

  it('kubexit.io/inject: "true" wires every container and native sidecar, not plain init containers', () => {
    const spec = docs(wired(annotated('"true"')))[0].spec;
    assert.deepEqual(
      spec.initContainers.map((c: Json) => [c.name, c.command]),
      [
        ['kubexit', undefined],
        ['migrate', ['migrate']],
        ['proxy', ['/kubexit/kubexit', 'proxy']],
      ],
    );
    assert.deepEqual(
      spec.containers.map((c: Json) => c.command),
      [
        ['/kubexit/kubexit', 'app'],
        ['/kubexit/kubexit', 'other'],
      ],
    );
  });

  it('kubexit.io/inject: "false" leaves the pod alone, KUBEXIT_* or not', () => {
    const input = annotated("'false'");
    assert.equal(wired(input), input);
  });

  it('any other value: an error at the annotation', () => {
    assert.deepEqual(inject(annotated('enabled')).diagnostics, [
      'in.yaml:5:24: error: Pod p: annotation kubexit.io/inject: expected "true" or "false", got "enabled"',
    ]);
  });
});

const API_POD = `kind: Job
metadata:
  name: client-server
  namespace: shop
spec:
  template:
    spec:
      containers:
        - name: client
          command: [curl]
          env: [{name: KUBEXIT_BIRTH_DEPS, value: server}]
        - name: server
          command: [nginx]
          env: [{name: KUBEXIT_DEATH_DEPS, value: client}]
          readinessProbe: {tcpSocket: {port: 80}}
`;

describe('inject: the Kubernetes API, where birth dependencies need it', () => {
  const envOf = (text: string, options: InjectOptions = {}, container = 0) =>
    docs(wired(text, options))
      .at(-1)
      .spec.template.spec.containers[container].env.map((e: Json) =>
        e.valueFrom ? `${e.name}<-${e.valueFrom.fieldRef.fieldPath}` : e.name,
      );
  const API = ['KUBEXIT_POD_NAME<-metadata.name', 'KUBEXIT_NAMESPACE<-metadata.namespace'];
  const BASE = ['KUBEXIT_NAME', 'KUBEXIT_GRAVEYARD', 'KUBEXIT_BIRTH_DEPS'];

  it('a dependency on a kubelet readiness probe: the pod name and namespace from the downward API', () => {
    assert.deepEqual(envOf(API_POD), [...BASE, ...API]);
    assert.deepEqual(envOf(API_POD, {}, 1), [
      'KUBEXIT_NAME',
      'KUBEXIT_GRAVEYARD',
      'KUBEXIT_DEATH_DEPS',
    ]);
  });

  it('a dependency on a container without kubexit: the API (there is no tombstone)', () => {
    const input = API_POD.replace(
      '{name: KUBEXIT_DEATH_DEPS, value: client}',
      '{name: X, value: y}',
    );
    assert.deepEqual(envOf(input), [...BASE, ...API]);
  });

  it('tombstones are enough: its own kubexit probe, a :started condition, or no token', () => {
    const probe = API_POD.replace(
      '{name: KUBEXIT_DEATH_DEPS, value: client}',
      '{name: KUBEXIT_READY_PROBE, value: "tcp://127.0.0.1:80"}',
    );
    assert.deepEqual(envOf(probe), BASE);
    assert.deepEqual(envOf(API_POD.replace('value: server', 'value: "server:started"')), BASE);
    const noToken = API_POD.replace(
      '    spec:\n',
      '    spec:\n      automountServiceAccountToken: false\n',
    );
    assert.deepEqual(envOf(noToken), BASE);
  });

  it('kubexit.io/api decides: "false" never, "true" always; half a pair is completed', () => {
    const annotate = (v: string) =>
      API_POD.replace(
        '    spec:\n',
        `    metadata:\n      annotations: {kubexit.io/api: "${v}"}\n    spec:\n`,
      );
    assert.deepEqual(envOf(annotate('false')), BASE);
    const probe = annotate('true').replace(
      '{name: KUBEXIT_DEATH_DEPS, value: client}',
      '{name: KUBEXIT_READY_PROBE, value: "tcp://127.0.0.1:80"}',
    );
    assert.deepEqual(envOf(probe), [...BASE, ...API]);
    const half = annotate('false').replace(
      '[{name: KUBEXIT_BIRTH_DEPS, value: server}]',
      '[{name: KUBEXIT_BIRTH_DEPS, value: server}, {name: KUBEXIT_POD_NAME, value: fixed}]',
    );
    assert.deepEqual(envOf(half), [...BASE, 'KUBEXIT_POD_NAME', API[1]]);
  });
});

describe('inject --rbac', () => {
  it('ServiceAccount, Role (get/list/watch pods) and RoleBinding before the workload, in its namespace', () => {
    const out = docs(wired(API_POD, { rbac: true }));
    assert.deepEqual(
      out.map((d) => `${d.kind}/${d.metadata.name}/${d.metadata.namespace}`),
      [
        'ServiceAccount/client-server/shop',
        'Role/kubexit-pod-reader/shop',
        'RoleBinding/client-server-pod-reader/shop',
        'Job/client-server/shop',
      ],
    );
    assert.deepEqual(out[1].rules, [
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
    ]);
    assert.deepEqual(out[2].roleRef, {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'Role',
      name: 'kubexit-pod-reader',
    });
    assert.deepEqual(out[2].subjects, [{ kind: 'ServiceAccount', name: 'client-server' }]);
    assert.equal(out[3].spec.template.spec.serviceAccountName, 'client-server');
  });

  it("the pod's own service account is bound (default: not made); what the input has is not made again", () => {
    const named = API_POD.replace('    spec:\n', '    spec:\n      serviceAccountName: shopper\n');
    assert.deepEqual(
      docs(wired(named, { rbac: true })).map((d) => `${d.kind}/${d.metadata.name}`),
      [
        'ServiceAccount/shopper',
        'Role/kubexit-pod-reader',
        'RoleBinding/shopper-pod-reader',
        'Job/client-server',
      ],
    );
    const byDefault = API_POD.replace(
      '    spec:\n',
      '    spec:\n      serviceAccountName: default\n',
    );
    assert.deepEqual(
      docs(wired(byDefault, { rbac: true })).map((d) => d.kind),
      ['Role', 'RoleBinding', 'Job'],
    );
    const role = 'kind: Role\nmetadata: {name: kubexit-pod-reader}\nrules: []\n';
    const twoJobs = `${role}---\n${API_POD}---\n${API_POD.replace('name: client-server', 'name: second')}`;
    assert.deepEqual(
      docs(wired(twoJobs, { rbac: true })).map((d) => `${d.kind}/${d.metadata.name}`),
      [
        'Role/kubexit-pod-reader',
        'ServiceAccount/client-server',
        'RoleBinding/client-server-pod-reader',
        'Job/client-server',
        'ServiceAccount/second',
        'RoleBinding/second-pod-reader',
        'Job/second',
      ],
    );
  });

  it('pods that do not read the API get no RBAC and no serviceAccountName', () => {
    const input = `kind: Pod\nmetadata: {name: p}\nspec:\n  ${indent(APP, 2)}\n`;
    const out = docs(wired(input, { rbac: true }));
    assert.deepEqual(
      out.map((d) => d.kind),
      ['Pod'],
    );
    assert.equal(out[0].spec.serviceAccountName, undefined);
  });
});

describe('injectPodObject (the webhook): the same wiring on JSON', () => {
  const pod = () => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'client-server', namespace: 'shop' },
    spec: parse(API_POD).spec.template.spec,
  });

  it('gives the pod the CLI gives, and is idempotent', () => {
    const cli = docs(wired(`${JSON.stringify(pod())}\n`, { rbac: true })).at(-1);
    const { pod: json, problems, changed } = injectPodObject(pod(), { image: IMAGE, rbac: true });
    assert.deepEqual(problems, []);
    assert.ok(changed);
    assert.deepEqual(json, cli);
    const again = injectPodObject(json, { image: IMAGE, rbac: true });
    assert.deepEqual([again.pod, again.changed], [json, false]);
  });

  it('a problem: the pod comes back as it was, and the problem names the container', () => {
    const input = pod();
    delete input.spec.containers[1].command;
    const before = structuredClone(input);
    const { pod: json, problems } = injectPodObject(input, { image: IMAGE });
    assert.deepEqual(json, before);
    assert.equal(problems.length, 1);
    assert.match(problems[0] as string, /^container "server" has no command: /);
  });
});
