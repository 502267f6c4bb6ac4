// kubexit inject between kustomize and a real kube-apiserver: an unwired app built by
// `kubectl kustomize` (namespace set, kubectl's YAML style), wired on stdin with --rbac, and
// the result accepted by the apiserver (server-side dry run: validation, defaulting, admission).
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { startCluster } from './support/cluster.js';
import { ROOT } from './support/kubexit.js';
import { tempDir } from './support/temp.js';

const started = await startCluster();
const NAMESPACE = 'kubexit-inject';

function run(
  file: string,
  args: readonly string[],
  input: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(file, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin.end(input);
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** The Job's pod spec in a stream. */
function podSpec(stream: string): unknown {
  const docs = parseAllDocuments(stream).map((d) => d.toJSON() as Record<string, never>);
  const job = docs.find((d) => d.kind === 'Job') as
    { spec: { template: { spec: unknown } } } | undefined;
  assert.ok(job, 'a Job');
  return job.spec.template.spec;
}

function inject(args: readonly string[], input: string) {
  const bin = process.env.KUBEXIT_BIN;
  const [file, pre] = bin ? [bin, []] : [process.execPath, [join(ROOT, 'dist', 'kubexit.js')]];
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('KUBEXIT_')),
  );
  return run(file, [...pre, 'inject', ...args], input, env);
}

describe(
  'kubexit inject between kustomize and a real kube-apiserver',
  { skip: started.skip },
  () => {
    after(() => started.cluster?.close());

    for (const example of ['client-server-job', 'cloudsql-proxy-job', 'no-rbac-job']) {
      it(`kubectl kustomize (${example}/app.yaml) | kubexit inject --rbac - | kubectl apply --dry-run=server`, async () => {
        const k8s = started.cluster;
        assert.ok(k8s);
        const dir = tempDir('inject-kustomize');
        copyFileSync(join(ROOT, 'examples', example, 'app.yaml'), join(dir, 'app.yaml'));
        writeFileSync(
          join(dir, 'kustomization.yaml'),
          `namespace: ${NAMESPACE}\nresources:\n  - app.yaml\n`,
        );
        const env = { ...process.env, KUBECONFIG: k8s.kubeconfig };
        const built = await new Promise<string>((resolve, reject) =>
          execFile(k8s.kubectl, ['kustomize', dir], { env }, (err, out) =>
            err ? reject(err) : resolve(out),
          ),
        );
        const wired = await inject(['--rbac', '-'], built);
        assert.equal(wired.code, 0, wired.stderr);
        const ns = await k8s.api('POST', '/api/v1/namespaces', { metadata: { name: NAMESPACE } });
        assert.ok([201, 409].includes(ns.status), `namespace: ${ns.status}`);
        const applied = await run(
          k8s.kubectl,
          ['apply', '--dry-run=server', '-f', '-'],
          wired.stdout,
          env,
        );
        assert.equal(applied.code, 0, applied.stdout + applied.stderr);
        const rbac = example === 'no-rbac-job' ? [] : ['serviceaccount', 'role', 'rolebinding'];
        const lines = applied.stdout.trim().split('\n');
        assert.deepEqual(
          lines.map((l) => l.split(/[./]/, 1)[0]),
          [...rbac, 'job'],
          applied.stdout,
        );
        for (const line of lines) assert.match(line, / created \(server dry run\)$/);
        // The wiring of kubectl's style is the wiring of the example's own.
        const fromSource = await inject(
          ['--rbac', join(ROOT, 'examples', example, 'app.yaml')],
          '',
        );
        assert.deepEqual(podSpec(wired.stdout), podSpec(fromSource.stdout));
      });
    }
  },
);
