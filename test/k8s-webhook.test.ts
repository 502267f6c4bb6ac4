// kubexit webhook against a real kube-apiserver: the apiserver calls `kubexit webhook` (the CLI,
// under `node dist/kubexit.js` or KUBEXIT_BIN) at https://127.0.0.1:<port>/mutate, registered
// with the settings of deploy/webhook/mutating-webhook.yaml (failure policy, selectors...) but
// a URL, a CA made here, and a namespace selector only this run's namespaces match.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { makeCa, makeServingCert } from './support/certs.js';
import { logged, startCluster, type Cluster } from './support/cluster.js';
import { kubexit, ROOT, type Run } from './support/kubexit.js';
import { tempDir } from './support/temp.js';

const started = await startCluster();

// ─── The mutation under test: inject's own (src/tooling/inject.ts injectPodObject) ─────────
// ASKING asks for kubexit (a KUBEXIT_* variable); CANNOT_WIRE asks but has no command to wrap.
const ASKING = {
  containers: [
    {
      name: 'app',
      image: 'registry.example/app:1.0',
      command: ['app', '--serve'],
      env: [{ name: 'KUBEXIT_DEATH_DEPS', value: 'db' }],
    },
    { name: 'db', image: 'registry.example/db:1.0' },
  ],
};
const CANNOT_WIRE = {
  containers: [
    {
      name: 'nocommand',
      image: 'registry.example/app:1.0',
      env: [{ name: 'KUBEXIT_DEATH_DEPS', value: 'db' }],
    },
  ],
};
interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string }[];
  volumeMounts?: { name: string; mountPath: string }[];
}
interface Spec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: { name: string; emptyDir?: { medium?: string } }[];
}
/** What kubexit inject adds: the installer, the two volumes, the wrapped command and its env. */
function assertWired(spec: Spec): void {
  const what = JSON.stringify(spec);
  const installer = spec.initContainers?.[0];
  assert.equal(installer?.name, 'kubexit', what);
  assert.deepEqual(installer?.args, ['install', '/kubexit'], what);
  assert.deepEqual(spec.volumes?.map((v) => v.name).sort(), ['graveyard', 'kubexit'], what);
  const app = spec.containers.find((c) => c.name === 'app');
  assert.deepEqual(app?.command, ['/kubexit/kubexit', 'app', '--serve'], what);
  const env = Object.fromEntries((app?.env ?? []).map((e) => [e.name, e.value]));
  assert.equal(env.KUBEXIT_NAME, 'app', what);
  assert.equal(env.KUBEXIT_GRAVEYARD, '/graveyard', what);
  assert.deepEqual(
    app?.volumeMounts?.map((m) => `${m.name}:${m.mountPath}`).sort(),
    ['graveyard:/graveyard', 'kubexit:/kubexit'],
    what,
  );
  // The container that doesn't ask is left alone.
  const db = spec.containers.find((c) => c.name === 'db');
  assert.equal(db?.command, undefined, what);
  assert.equal(db?.env, undefined, what);
}
function assertUntouched(spec: { containers: Container[] }): void {
  assert.deepEqual(
    spec.containers.map((c) => ({ name: c.name, command: c.command, env: c.env })),
    ASKING.containers.map((c) => ({ name: c.name, command: c.command, env: c.env })),
  );
}
// ──────────────────────────────────────────────────────────────────────────────────────────

/** The shipped webhook entry, as deploy/webhook/mutating-webhook.yaml has it. */
function shippedWebhook(): Record<string, unknown> {
  const text = readFileSync(join(ROOT, 'deploy', 'webhook', 'mutating-webhook.yaml'), 'utf8');
  const [doc] = parseAllDocuments(text) as unknown as {
    toJS(): { webhooks: Record<string, unknown>[] };
  }[];
  return doc?.toJS().webhooks[0] as Record<string, unknown>;
}

describe(
  'kubexit webhook on a real kube-apiserver',
  { skip: started.skip, timeout: 120_000 },
  () => {
    let k8s: Cluster;
    let run: Run;
    const id = `kxwh-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    const configName = `kubexit-test-${id}`;
    const namespaces: string[] = [];
    let optedIn: string;
    let elsewhere: string;

    async function namespace(prefix: string, labels: Record<string, string>): Promise<string> {
      const name = `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
      await k8s.must('POST', '/api/v1/namespaces', { metadata: { name, labels } });
      namespaces.push(name);
      return name;
    }

    function createPod(
      ns: string,
      name: string,
      spec: object,
      labels: Record<string, string> = {},
      dryRun = false,
    ) {
      return k8s.api('POST', `/api/v1/namespaces/${ns}/pods${dryRun ? '?dryRun=All' : ''}`, {
        metadata: { name, labels },
        spec,
      });
    }

    before(async () => {
      k8s = started.cluster as Cluster;
      const ca = makeCa(tempDir('kubexit-ca-'));
      const serving = makeServingCert(ca, 'webhook');
      const dir = tempDir('kubexit-webhook-');
      const certFile = join(dir, 'tls.crt');
      const keyFile = join(dir, 'tls.key');
      const { writeFileSync } = await import('node:fs');
      writeFileSync(certFile, serving.cert);
      writeFileSync(keyFile, serving.key);
      run = kubexit(
        ['webhook', '--cert', certFile, '--key', keyFile, '--port', '0', '--addr', '127.0.0.1'],
        {},
      );
      const port = Number(
        (await logged(run, /"message":"webhook listening","path":"\/mutate","port":(\d+)/))[1],
      );

      optedIn = await namespace('webhook-in', {
        'kubexit-injection': 'enabled',
        'kubexit-test-webhook': id,
      });
      elsewhere = await namespace('webhook-out', { 'kubexit-test-webhook': id });
      const shipped = shippedWebhook();
      const selector = shipped.namespaceSelector as { matchLabels: Record<string, string> };
      await k8s.must(
        'POST',
        '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations',
        {
          metadata: { name: configName },
          webhooks: [
            {
              ...shipped,
              name: `${id}.kubexit-test.svc`,
              clientConfig: {
                url: `https://127.0.0.1:${port}/mutate`,
                caBundle: Buffer.from(ca.pem).toString('base64'),
              },
              // Only this run's namespaces: a leftover Fail webhook must not touch anyone else's.
              namespaceSelector: {
                matchLabels: { ...selector.matchLabels, 'kubexit-test-webhook': id },
              },
            },
          ],
        },
      );
      // The apiserver takes the new configuration from its informer a moment later: there is no
      // event to wait for, so dry-run creations ask until one comes back wired.
      for (let i = 0; ; i++) {
        const r = await createPod(optedIn, 'probe', ASKING, {}, true);
        const app = (r.body?.spec?.containers as Container[] | undefined)?.find(
          (c) => c.name === 'app',
        );
        if (r.status === 201 && app?.env?.some((e) => e.name === 'KUBEXIT_NAME')) break;
        if (i > 300) throw new Error(`the webhook was never called: ${JSON.stringify(r.body)}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    });

    after(async () => {
      if (k8s === undefined) return;
      await k8s.api(
        'DELETE',
        `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${configName}`,
      );
      for (const ns of namespaces) await k8s.api('DELETE', `/api/v1/namespaces/${ns}`);
      if (run?.running) run.kill('SIGTERM');
      k8s.close();
    });

    it('webhook: a pod created in an opted-in namespace is stored wired', async () => {
      const r = await createPod(optedIn, 'wired', ASKING);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const stored = await k8s.must('GET', `/api/v1/namespaces/${optedIn}/pods/wired`);
      assertWired(stored.spec as Spec);
      await logged(
        run,
        new RegExp(`"message":"pod admitted","patch_operations":\\d+,"pod":"${optedIn}/wired"`),
      );
    });

    it('webhook: a pod in a namespace without the opt-in label, or labelled kubexit-injection=disabled, is stored untouched', async () => {
      const r = await createPod(elsewhere, 'plain', ASKING);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assertUntouched(
        (await k8s.must('GET', `/api/v1/namespaces/${elsewhere}/pods/plain`)).spec as {
          containers: Container[];
        },
      );
      const out = await createPod(optedIn, 'opted-out', ASKING, {
        'kubexit-injection': 'disabled',
      });
      assert.equal(out.status, 201, JSON.stringify(out.body));
      assertUntouched(
        (await k8s.must('GET', `/api/v1/namespaces/${optedIn}/pods/opted-out`)).spec as {
          containers: Container[];
        },
      );
    });

    it('webhook: a pod that asks for kubexit but cannot be wired is refused with the reason', async () => {
      const r = await createPod(optedIn, 'refused', CANNOT_WIRE);
      assert.equal(r.status, 422, JSON.stringify(r.body));
      assert.match(
        String(r.body.message),
        new RegExp(
          `admission webhook "${id}\\.kubexit-test\\.svc" denied the request: kubexit webhook: pod ${optedIn}/refused asks for kubexit but cannot be wired: .*nocommand`,
        ),
      );
      const gone = await k8s.api('GET', `/api/v1/namespaces/${optedIn}/pods/refused`);
      assert.equal(gone.status, 404);
    });

    it('webhook down: creation in an opted-in namespace is refused (failurePolicy Fail); elsewhere goes on', async () => {
      run.kill('SIGTERM');
      assert.equal((await run.exited).code, 0);
      const r = await createPod(optedIn, 'while-down', ASKING);
      assert.equal(r.status, 500, JSON.stringify(r.body));
      assert.match(String(r.body.message), /failed calling webhook .*connection refused/);
      const other = await createPod(elsewhere, 'while-down', ASKING);
      assert.equal(other.status, 201, JSON.stringify(other.body));
    });

    it('deploy/webhook passes kubectl apply --dry-run=server', async () => {
      const ns = await k8s.api('POST', '/api/v1/namespaces', {
        metadata: { name: 'kubexit-system' },
      });
      assert.ok([201, 409].includes(ns.status), `namespace: ${ns.status}`);
      const { code, out } = await k8s.runKubectl([
        'apply',
        '--dry-run=server',
        '-k',
        join(ROOT, 'deploy', 'webhook'),
      ]);
      // policy/v1 PodDisruptionBudget is in Kubernetes >= 1.21 (and policy/v1beta1 is gone
      // from 1.25): an older apiserver refuses that one object, and nothing else.
      const version = await k8s.api('GET', '/version');
      const older = Number(String(version.body?.minor).replace(/\D/g, '')) < 21;
      const kinds = [
        'namespace',
        'deployment.apps',
        'service',
        'mutatingwebhookconfiguration.admissionregistration.k8s.io',
      ];
      if (older) {
        assert.notEqual(code, 0, out);
        assert.match(out, /no matches for kind "PodDisruptionBudget" in version "policy\/v1"/);
        assert.equal(out.split('\n').filter((l) => /error/i.test(l)).length, 1, out);
      } else {
        assert.equal(code, 0, out);
        kinds.push('poddisruptionbudget.policy');
      }
      for (const kind of kinds)
        assert.match(
          out,
          new RegExp(
            `^${kind.replace(/\./g, '\\.')}/[^ ]+ (created|configured|unchanged) \\(server dry run\\)$`,
            'm',
          ),
          out,
        );
    });
  },
);
