// Every example's manifests are accepted by a real kube-apiserver (server-side dry run: the
// API's own validation, defaulting and admission, nothing created).
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { load as loadYaml } from 'js-yaml';
import { startCluster } from './support/cluster.js';
import { ROOT } from './support/kubexit.js';

const started = await startCluster();
const EXAMPLES = join(ROOT, 'examples');
const withManifests = readdirSync(EXAMPLES).filter((d) =>
  existsSync(join(EXAMPLES, d, 'kustomization.yaml')),
);
// Examples that use a field newer than some apiservers: the Kubernetes minor version that has it,
// and kubectl's rejection of it before (the only one: everything else must be accepted).
const NEWER: Record<string, { minor: number; rejected: RegExp }> = {
  'image-volume': {
    minor: 31,
    rejected: /ValidationError\(Job\.spec\.template\.spec\.volumes\[1\]\): unknown field "image"/,
  },
};

// Examples that need no API access: nothing but the Job, whose pod mounts no token.
const NO_RBAC = new Set(['no-rbac-job']);
interface PodSpec {
  automountServiceAccountToken?: boolean;
  serviceAccountName?: string;
  containers: { name: string; env: { name: string }[] }[];
}

function kubectl(args: string[]): Promise<{ code: number; out: string }> {
  if (!started.cluster) throw new Error('no cluster');
  return started.cluster.runKubectl(args);
}

describe('examples apply to a real kube-apiserver', { skip: started.skip }, () => {
  after(() => started.cluster?.close());

  it('there are examples with manifests', () => {
    assert.deepEqual(withManifests.sort(), [
      'client-server-job',
      'cloudsql-proxy-job',
      'image-volume',
      'no-rbac-job',
    ]);
  });

  for (const example of withManifests) {
    it(`kubectl apply --dry-run=server -k examples/${example}`, async () => {
      const k8s = started.cluster;
      assert.ok(k8s);
      const ns = await k8s.api('POST', '/api/v1/namespaces', {
        metadata: { name: 'kubexit-example' },
      });
      assert.ok([201, 409].includes(ns.status), `namespace: ${ns.status}`);
      const { code, out } = await kubectl([
        'apply',
        '--dry-run=server',
        '-k',
        join(EXAMPLES, example),
      ]);
      const newer = NEWER[example];
      const version = await k8s.api('GET', '/version');
      const older = newer && Number(String(version.body?.minor).replace(/\D/g, '')) < newer.minor;
      if (older) {
        // The rest is accepted; the Job is validated against the API's models instead, in
        // test/package-image.test.ts.
        assert.notEqual(code, 0, out);
        assert.match(out, newer.rejected);
        assert.equal(out.match(/ValidationError/g)?.length, 1, out);
      } else {
        assert.equal(code, 0, out);
      }
      const rbac = NO_RBAC.has(example) ? [] : ['serviceaccount', 'role', 'rolebinding'];
      for (const kind of [...rbac, ...(older ? [] : ['job'])]) {
        assert.match(
          out,
          new RegExp(`^${kind}[./][^ ]+ (created|configured) \\(server dry run\\)$`, 'm'),
        );
      }
      if (NO_RBAC.has(example)) {
        assert.doesNotMatch(out, /^(serviceaccount|role|rolebinding)[./]/m, out);
        // The pod the apiserver accepted above mounts no token and asks the API for nothing.
        const job = loadYaml(readFileSync(join(EXAMPLES, example, 'job.yaml'), 'utf8')) as {
          spec: { template: { spec: PodSpec } };
        };
        const spec = job.spec.template.spec;
        for (const c of spec.containers) {
          const names = c.env.map((e) => e.name);
          assert.ok(!names.includes('KUBEXIT_POD_NAME'), c.name);
          assert.ok(!names.includes('KUBEXIT_NAMESPACE'), c.name);
        }
      }
    });
  }
});
