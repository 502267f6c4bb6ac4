import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  asksForKubexit,
  configOf,
  containersOf,
  parseSource,
  podTemplates,
  positionOf,
} from '../src/tooling/manifest.js';
import { usesApi } from '../src/supervisor/config.js';

const KINDS = `
apiVersion: v1
kind: Pod
metadata: {name: a-pod}
spec:
  containers: [{name: c, image: x}]
---
kind: CronJob
metadata: {name: nightly}
spec:
  jobTemplate:
    spec:
      template:
        metadata: {labels: {app: n}}
        spec:
          initContainers: [{name: setup, image: x}]
          containers:
            - name: main
              env:
                - name: KUBEXIT_GRACE_PERIOD
                  value: 10
                - name: KUBEXIT_POD_NAME
                  valueFrom: {fieldRef: {fieldPath: metadata.name}}
---
kind: List
items:
  - kind: Deployment
    metadata: {name: web}
    spec: {template: {spec: {containers: [{name: w}]}}}
  - kind: ConfigMap
    metadata: {name: not-a-pod}
---
kind: Service
metadata: {name: svc}
`;

describe('manifest: pod templates in YAML sources', () => {
  const source = parseSource('k.yaml', KINDS);
  const found = podTemplates(source);

  it('finds the pod spec of each kind that has one, List items included, in order', () => {
    assert.deepEqual(
      found.map((t) => `${t.kind}/${t.name}`),
      ['Pod/a-pod', 'CronJob/nightly', 'Deployment/web'],
    );
  });

  it('gives the pod template metadata, not the object metadata', () => {
    assert.equal(found[1]?.metadata?.toJSON().labels.app, 'n');
    assert.equal(found[2]?.metadata, undefined);
  });

  it('lists init containers, then containers, with literal env values as strings', () => {
    const containers = containersOf(found[1]!.spec);
    assert.deepEqual(
      containers.map((c) => [c.name, c.init, asksForKubexit(c)]),
      [
        ['setup', true, false],
        ['main', false, true],
      ],
    );
    const env = containers[1]!.env;
    assert.equal(env.get('KUBEXIT_GRACE_PERIOD')?.value, '10');
    assert.equal(env.get('KUBEXIT_POD_NAME')?.value, undefined);
    assert.ok(env.has('KUBEXIT_POD_NAME'));
  });

  it('points at source lines and columns', () => {
    const main = containersOf(found[1]!.spec)[1]!;
    assert.deepEqual(positionOf(source, main.node), { line: 18, col: 15 });
  });

  it('reads an empty source as no documents', () => {
    assert.deepEqual(podTemplates(parseSource('-', '')), []);
  });
});

describe('manifest: a container judged by the runtime validation', () => {
  const pod = (env: string) =>
    containersOf(
      podTemplates(
        parseSource('p.yaml', `kind: Pod\nspec:\n  containers:\n  - name: c\n    env: ${env}\n`),
      )[0]!.spec,
    )[0]!;

  it('reports every bad variable, each as the runtime refuses it, and configures the rest', () => {
    const { errors, config } = configOf(
      pod(
        '[{name: KUBEXIT_NAME, value: c}, {name: KUBEXIT_GRACE_PERIOD, value: ten}, {name: KUBEXIT_BIRTH_DEPS, value: "a,B_2"}, {name: KUBEXIT_DEATH_DEPS, value: main}]',
      ),
    );
    assert.deepEqual(
      errors.map((e) => e.variable),
      ['KUBEXIT_BIRTH_DEPS', 'KUBEXIT_GRACE_PERIOD'],
    );
    assert.match(errors[1]!.message, /KUBEXIT_GRACE_PERIOD="ten" is invalid/);
    assert.deepEqual(config?.deathDeps, ['main']);
  });

  it('stands in for downward-API values, and names them', () => {
    const { errors, config, fromElsewhere } = configOf(
      pod(
        '[{name: KUBEXIT_NAME, value: c}, {name: KUBEXIT_BIRTH_DEPS, value: s}, {name: KUBEXIT_POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}, {name: KUBEXIT_NAMESPACE, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}]',
      ),
    );
    assert.deepEqual(errors, []);
    assert.ok(config !== undefined && usesApi(config));
    assert.deepEqual([...fromElsewhere], ['KUBEXIT_POD_NAME', 'KUBEXIT_NAMESPACE']);
  });

  it('stops at a missing KUBEXIT_NAME', () => {
    const { errors, config } = configOf(pod('[{name: KUBEXIT_GRACE_PERIOD, value: 1s}]'));
    assert.deepEqual(
      errors.map((e) => e.variable),
      ['KUBEXIT_NAME'],
    );
    assert.equal(config, undefined);
  });
});
