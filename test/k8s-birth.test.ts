// Birth dependencies against a real kube-apiserver: kubexit runs as a real process inside a
// "pod" whose status the test writes as the kubelet would. Each test has its own namespace.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Config } from '../src/supervisor/config.js';
import { parseDuration } from '../src/supervisor/duration.js';
import { waitForPodReadiness } from '../src/supervisor/kube/readiness.js';
import { Log } from '../src/supervisor/log.js';
import { logged, startCluster, type Cluster } from './support/cluster.js';
import { kubexit, traceEvents, type Exit, type Run } from './support/kubexit.js';
import { tempDir } from './support/temp.js';

const started = await startCluster();
const TRACE = 'birth dependencies watcher';
const WATCHING = /Pod Watch\(p\): watching from resourceVersion \d+/;
const DIED_143 = /^Died: "[^"]+"\nExitCode: 143\n$/;

describe(
  'birth dependencies on a real kube-apiserver',
  { skip: started.skip, timeout: 120_000 },
  () => {
    let k8s: Cluster;
    before(() => {
      k8s = started.cluster as Cluster;
    });
    after(() => k8s?.close());

    /** A namespace with pod "p" (containers app + the given ones) and a least-privilege SA. */
    async function pod(
      prefix: string,
      containers: string[],
      initContainers: { name: string; sidecar?: boolean }[] = [],
    ) {
      const ns = await k8s.namespace(prefix);
      await k8s.createPod(ns, 'p', ['app', ...containers], initContainers);
      await k8s.createServiceAccount(ns, 'app');
      await k8s.grantPodReader(ns, 'app');
      const saDir = k8s.serviceAccountDir(ns, await k8s.token(ns, 'app'));
      return { ns, saDir };
    }

    interface Start {
      ns: string;
      saDir: string;
      deps: string;
      timeout?: string;
      env?: Record<string, string | undefined>;
    }

    /** kubexit in container "app", its child touching a marker file and printing "started". */
    function start({ ns, saDir, deps, timeout = '30s', env = {} }: Start) {
      const graveyard = tempDir();
      const marker = join(tempDir(), 'child-ran');
      const run = kubexit(['sh', '-c', `touch ${marker}; echo started`], {
        KUBEXIT_NAME: 'app',
        KUBEXIT_GRAVEYARD: graveyard,
        KUBEXIT_BIRTH_DEPS: deps,
        KUBEXIT_BIRTH_TIMEOUT: timeout,
        KUBEXIT_POD_NAME: 'p',
        KUBEXIT_NAMESPACE: ns,
        KUBEXIT_INSTANT_LOGGING: 'true',
        KUBEXIT_VERBOSE_LEVEL: '1',
        ...k8s.inPodEnv(saDir),
        ...env,
      });
      return { run, graveyard, marker };
    }

    function events(exit: Exit): string[] {
      return traceEvents(exit.logs.at(-1), TRACE);
    }

    function assertStarted(exit: Exit, marker: string, deps: string): void {
      assert.equal(exit.code, 0, exit.stderr);
      assert.ok(existsSync(marker), 'the child ran');
      assert.match(exit.stdout, /^started\n$/);
      const ev = events(exit);
      assert.ok(ev.includes(`All birth deps ready: ${deps}`), ev.join('\n'));
      assert.equal(ev.at(-1), 'Pod Watch(p): done');
    }

    async function assertFailed(run: Run, graveyard: string, marker: string): Promise<Exit> {
      const exit = await run.exited;
      assert.equal(exit.code, 1, exit.stderr);
      assert.equal(existsSync(marker), false, 'the child never ran');
      assert.match(readFileSync(join(graveyard, 'app'), 'utf8'), /^Died: "[^"]+"\nExitCode: 1\n$/);
      assert.equal(exit.logs.at(-1)?.level, 'error');
      return exit;
    }

    it('starts at once when the dependency is already ready', async () => {
      const { ns, saDir } = await pod('ready', ['db']);
      await k8s.setStatus(ns, 'p', { app: { ready: false }, db: { ready: true } });
      const { run, marker } = start({ ns, saDir, deps: 'db' });
      const exit = await run.exited;
      assertStarted(exit, marker, 'db');
      assert.ok(!events(exit).some((e) => WATCHING.test(e)), 'the list was enough: no watch');
    });

    it('starts when the dependency becomes ready later (watch event)', async () => {
      const { ns, saDir } = await pod('later', ['db']);
      await k8s.setStatus(ns, 'p', { app: { ready: false }, db: { ready: false } });
      const { run, marker } = start({ ns, saDir, deps: 'db' });
      await logged(run, WATCHING);
      assert.equal(existsSync(marker), false);
      await k8s.setStatus(ns, 'p', { app: { ready: false }, db: { ready: true } });
      const exit = await run.exited;
      assertStarted(exit, marker, 'db');
      assert.ok(events(exit).includes('Pod Watch(p): LIST: waiting for db'));
    });

    it('waits for every dependency: two, ready at different times', async () => {
      const { ns, saDir } = await pod('two', ['db', 'cache']);
      const { run, marker } = start({ ns, saDir, deps: 'db, cache' });
      await logged(run, WATCHING);
      await k8s.setStatus(ns, 'p', {
        app: { ready: false },
        db: { ready: true },
        cache: { ready: false },
      });
      await logged(run, /Pod Watch\(p\): MODIFIED: waiting for cache/);
      assert.equal(existsSync(marker), false, 'one of two is not enough');
      await k8s.setStatus(ns, 'p', {
        app: { ready: false },
        db: { ready: true },
        cache: { ready: true },
      });
      assertStarted(await run.exited, marker, 'db, cache');
    });

    it('times out when the dependency never gets ready: exit 1, Died, no child', async () => {
      const { ns, saDir } = await pod('never', ['db']);
      await k8s.setStatus(ns, 'p', { app: { ready: false }, db: { ready: false } });
      const { run, graveyard, marker } = start({ ns, saDir, deps: 'db', timeout: '2s' });
      const exit = await assertFailed(run, graveyard, marker);
      assert.equal(
        exit.logs.at(-1)?.error,
        'timed out waiting for birth deps to be ready: 2s; not ready: db',
      );
    });

    it('a native sidecar is ready through initContainerStatuses', async () => {
      const { ns, saDir } = await pod('sidecar', [], [{ name: 'proxy', sidecar: true }]);
      const { run, marker } = start({ ns, saDir, deps: 'proxy' });
      await logged(run, WATCHING);
      // Started but not ready: the API (1.20) drops restartPolicy, so the readiness probe rule
      // applies; the started-only rule for probe-less sidecars is covered by the unit tests.
      await k8s.setStatus(ns, 'p', { app: { ready: false } }, { proxy: { ready: false } });
      await logged(run, /Pod Watch\(p\): MODIFIED: waiting for proxy/);
      await k8s.setStatus(ns, 'p', { app: { ready: false } }, { proxy: { ready: true } });
      assertStarted(await run.exited, marker, 'proxy');
    });

    it('fails at once on a dependency that is not a container of the pod', async () => {
      const { ns, saDir } = await pod('unknown', ['db'], [{ name: 'migrate' }]);
      const t0 = Date.now();
      const { run, graveyard, marker } = start({ ns, saDir, deps: 'db,dbb', timeout: '60s' });
      const exit = await assertFailed(run, graveyard, marker);
      assert.ok(Date.now() - t0 < 20_000, 'long before the timeout');
      assert.equal(
        exit.logs.at(-1)?.error,
        `birth dependency "dbb" is not a container of pod ${ns}/p; ` +
          'its containers: app, db, migrate (init container)',
      );
      assert.ok(events(exit).some((e) => e.startsWith('Pod Watch(p): terminal error: birth')));
    });

    it('403: reports the missing Role at once, then starts once it is granted', async () => {
      const ns = await k8s.namespace('forbidden');
      await k8s.createPod(ns, 'p', ['app', 'db']);
      await k8s.setStatus(ns, 'p', { app: { ready: false }, db: { ready: true } });
      await k8s.createServiceAccount(ns, 'app');
      const saDir = k8s.serviceAccountDir(ns, await k8s.token(ns, 'app'));
      const { run, marker } = start({ ns, saDir, deps: 'db' });
      const line = (await logged(run, /^\{.*not allowed to list pods.*\}$/m))[0];
      const report = JSON.parse(line) as Record<string, unknown>;
      assert.equal(report.status_code, 403);
      assert.equal(report.verb, 'list');
      assert.equal(report.resource, 'pods');
      assert.equal(report.namespace, ns);
      assert.equal(report.service_account, `${ns}:app`);
      assert.equal(report.user, `system:serviceaccount:${ns}:app`);
      assert.match(
        String(report.fix),
        new RegExp(
          `kubectl create role kubexit-pod-reader --namespace=${ns} --verb=get,list,watch --resource=pods && ` +
            `kubectl create rolebinding kubexit-pod-reader --namespace=${ns} --role=kubexit-pod-reader --serviceaccount=${ns}:app`,
        ),
      );
      await k8s.grantPodReader(ns, 'app');
      const exit = await run.exited;
      assertStarted(exit, marker, 'db');
      const reports = exit.logs.filter((l) => l.status_code === 403);
      assert.equal(reports.length, 1, 'reported once, not at every retry');
    });

    it('401 with a garbage token: reported at once; the timeout names the last API error', async () => {
      const { ns } = await pod('unauthorized', ['db']);
      const saDir = k8s.serviceAccountDir(ns, 'not-a-token');
      const { run, graveyard, marker } = start({ ns, saDir, deps: 'db', timeout: '2s' });
      const report = JSON.parse(
        (await logged(run, /^\{.*401 Unauthorized.*"level":"error".*\}$/m))[0],
      ) as Record<string, unknown>;
      assert.equal(report.status_code, 401);
      assert.equal(report.verb, 'list');
      assert.equal(report.credentials, `token ${join(saDir, 'token')}`);
      const exit = await assertFailed(run, graveyard, marker);
      assert.equal(
        exit.logs.at(-1)?.error,
        'timed out waiting for birth deps to be ready: 2s; last API error: ' +
          `list pods in namespace "${ns}": 401 Unauthorized: Unauthorized`,
      );
    });

    it('re-reads the token file: a valid token written mid-wait cures the 401s', async () => {
      const { ns } = await pod('rotate', ['db']);
      await k8s.setStatus(ns, 'p', { app: { ready: false }, db: { ready: true } });
      const saDir = k8s.serviceAccountDir(ns, 'expired-or-garbage');
      const { run, marker } = start({ ns, saDir, deps: 'db' });
      await logged(run, /401 Unauthorized/);
      writeFileSync(join(saDir, 'token'), await k8s.token(ns, 'app'));
      assertStarted(await run.exited, marker, 'db');
    });

    it('fails at once when the pod is deleted during the wait', async () => {
      const { ns, saDir } = await pod('deleted', ['db']);
      const t0 = Date.now();
      const { run, graveyard, marker } = start({ ns, saDir, deps: 'db', timeout: '60s' });
      await logged(run, WATCHING);
      await k8s.deletePod(ns, 'p');
      const exit = await assertFailed(run, graveyard, marker);
      assert.ok(Date.now() - t0 < 20_000, 'long before the timeout');
      assert.equal(
        exit.logs.at(-1)?.error,
        `pod ${ns}/p was deleted while kubexit waited for its birth deps`,
      );
      assert.ok(events(exit).includes('Pod Watch(p): pod deleted'));
    });

    it('SIGTERM during the wait: exit 143, the child never starts, Died 143', async () => {
      const { ns, saDir } = await pod('sigterm', ['db']);
      const { run, graveyard, marker } = start({ ns, saDir, deps: 'db' });
      await logged(run, WATCHING);
      run.kill('SIGTERM');
      const exit = await run.exited;
      assert.equal(exit.code, 143, exit.stderr);
      assert.equal(existsSync(marker), false);
      assert.match(readFileSync(join(graveyard, 'app'), 'utf8'), DIED_143);
      assert.equal(exit.logs.at(-1)?.reason, 'received SIGTERM');
      assert.equal(events(exit).at(-1), 'Pod Watch(p): done');
    });

    it('a death dependency dying during the wait: exit 143, the child never starts', async () => {
      const { ns, saDir } = await pod('death', ['db', 'main']);
      const { run, graveyard, marker } = start({
        ns,
        saDir,
        deps: 'db',
        env: { KUBEXIT_DEATH_DEPS: 'main' },
      });
      await logged(run, WATCHING);
      writeFileSync(
        join(graveyard, 'main'),
        'Born: "2026-01-01T00:00:00Z"\nDied: "2026-01-01T00:00:01Z"\nExitCode: 0\n',
      );
      const exit = await run.exited;
      assert.equal(exit.code, 143, exit.stderr);
      assert.equal(existsSync(marker), false);
      assert.match(readFileSync(join(graveyard, 'app'), 'utf8'), DIED_143);
      assert.equal(exit.logs.at(-1)?.reason, 'death dependency main died');
    });

    it('tombstone readiness with the API configured but forbidden (RBAC missing) still starts the child', async () => {
      const ns = await k8s.namespace('tomb-forbidden');
      await k8s.createPod(ns, 'p', ['app', 'db']);
      await k8s.setStatus(ns, 'p', { app: { ready: false }, db: { ready: false } });
      await k8s.createServiceAccount(ns, 'app'); // and no Role: every list is a 403
      const saDir = k8s.serviceAccountDir(ns, await k8s.token(ns, 'app'));
      const { run, graveyard, marker } = start({ ns, saDir, deps: 'db' });
      await logged(run, /^\{.*not allowed to list pods.*\}$/m);
      assert.equal(existsSync(marker), false);
      // What a kubexit in container db writes once its child runs (or its probe passes).
      writeFileSync(
        join(graveyard, 'db'),
        'Born: "2026-01-01T00:00:00Z"\nReady: "2026-01-01T00:00:01Z"\n',
      );
      const exit = await run.exited;
      assertStarted(exit, marker, 'db');
      assert.ok(events(exit).includes(`Birth Tombstones(${graveyard}): db: met`));
    });

    /** Writes the pod's container statuses as given (the kubelet's shape, in part). */
    async function statuses(ns: string, containerStatuses: unknown[]): Promise<void> {
      await k8s.must(
        'PATCH',
        `/api/v1/namespaces/${ns}/pods/p/status`,
        { status: { phase: 'Running', containerStatuses } },
        'application/strategic-merge-patch+json',
      );
    }
    const image = (name: string) => ({
      image: `registry.example/${name}:1.0`,
      imageID: `registry.example/${name}@sha256:${'0123456789abcdef'.repeat(4)}`,
      restartCount: 0,
    });
    const at = '2026-01-01T00:00:00Z';

    it('conditions from the pod status: started, and succeeded from state.terminated.exitCode', async () => {
      const { ns, saDir } = await pod('conditions', ['db', 'migrate']);
      const { run, marker } = start({ ns, saDir, deps: 'db:started,migrate:succeeded' });
      await logged(run, WATCHING);
      await statuses(ns, [
        {
          name: 'db',
          ...image('db'),
          ready: false,
          started: true,
          state: { running: { startedAt: at } },
        },
        {
          name: 'migrate',
          ...image('migrate'),
          ready: false,
          started: true,
          state: { running: { startedAt: at } },
        },
      ]);
      await logged(run, /Pod Watch\(p\): MODIFIED: waiting for migrate/);
      assert.equal(existsSync(marker), false);
      await statuses(ns, [
        {
          name: 'migrate',
          ...image('migrate'),
          ready: false,
          started: false,
          state: {
            terminated: { exitCode: 0, reason: 'Completed', startedAt: at, finishedAt: at },
          },
        },
      ]);
      assertStarted(await run.exited, marker, 'db:started, migrate:succeeded');
    });

    it('succeeded: a non-zero exit in a restartPolicy Never pod fails the wait at once', async () => {
      const ns = await k8s.namespace('never');
      await k8s.must('POST', `/api/v1/namespaces/${ns}/pods`, {
        metadata: { name: 'p' },
        spec: {
          restartPolicy: 'Never',
          containers: ['app', 'migrate'].map((c) => ({
            name: c,
            image: `registry.example/${c}:1.0`,
          })),
        },
      });
      await k8s.createServiceAccount(ns, 'app');
      await k8s.grantPodReader(ns, 'app');
      const saDir = k8s.serviceAccountDir(ns, await k8s.token(ns, 'app'));
      const { run, graveyard, marker } = start({
        ns,
        saDir,
        deps: 'migrate:succeeded',
        timeout: '60s',
      });
      await logged(run, WATCHING);
      await statuses(ns, [
        {
          name: 'migrate',
          ...image('migrate'),
          ready: false,
          started: false,
          state: { terminated: { exitCode: 3, reason: 'Error', startedAt: at, finishedAt: at } },
        },
      ]);
      const exit = await assertFailed(run, graveyard, marker);
      assert.equal(
        exit.logs.at(-1)?.error,
        'birth dependency migrate exited with code 3 (pod status; restartPolicy Never): migrate:succeeded needs 0',
      );
    });

    it('outside a pod, KUBECONFIG is used (client certificate)', async () => {
      const { ns } = await pod('kubeconfig', ['db']);
      await k8s.setStatus(ns, 'p', { app: { ready: false }, db: { ready: true } });
      const { run, marker } = start({
        ns,
        saDir: '/nonexistent',
        deps: 'db',
        env: { KUBERNETES_SERVICE_HOST: undefined, KUBECONFIG: k8s.kubeconfig },
      });
      assertStarted(await run.exited, marker, 'db');
    });

    it('fails at once, clearly, when the service-account token is not mounted', async () => {
      const { ns, saDir } = await pod('notoken', ['db']);
      unlinkSync(join(saDir, 'token'));
      const { run, graveyard, marker } = start({ ns, saDir, deps: 'db' });
      const exit = await assertFailed(run, graveyard, marker);
      assert.match(
        String(exit.logs.at(-1)?.error),
        /^cannot read the service-account token: ENOENT.*token' \(automountServiceAccountToken: false\?/,
      );
    });
  },
);

// Config validation refuses a namespace or pod name that is not a Kubernetes name (exit 2), so
// kubexit, the process, never sends one. These run the wait itself, in this process, with such
// values: the URLs must hold on their own (defence in depth).
describe(
  'birth dependencies: odd names reach no other path or pod of a real kube-apiserver (in-process)',
  { skip: started.skip, timeout: 120_000 },
  () => {
    let k8s: Cluster;
    before(() => {
      k8s = started.cluster as Cluster;
    });
    after(() => k8s?.close());

    interface Waited {
      ready: boolean;
      error?: string;
      events: string[];
    }

    /** The birth wait for db of pod `podName` in `namespace`; `during` runs once it watches. */
    async function waitInProcess(
      namespace: string,
      podName: string,
      saDir: string,
      during?: () => Promise<void>,
    ): Promise<Waited> {
      const saved = { ...process.env };
      Object.assign(process.env, k8s.inPodEnv(saDir));
      delete process.env.KUBECONFIG;
      const events: string[] = [];
      let watching: () => void = () => undefined;
      const watched = new Promise<void>((resolve) => (watching = resolve));
      const log = new Log({
        instant: true,
        sink: (line) => {
          const event = (JSON.parse(line) as { event?: string }).event ?? '';
          events.push(event);
          if (/watching from resourceVersion/.test(event)) watching();
        },
      });
      const config = {
        name: 'app',
        birthDeps: ['db'],
        birthTimeout: parseDuration('4s'),
        podName,
        namespace,
        serviceAccountDir: saDir,
      } as Config;
      const waiting = waitForPodReadiness({
        config,
        signal: new AbortController().signal,
        trace: log.trace(TRACE),
        log,
      });
      try {
        if (during) {
          await Promise.race([watched, waiting.catch(() => undefined)]);
          await during();
        }
        await waiting;
        return { ready: true, events };
      } catch (err) {
        return { ready: false, error: (err as Error).message, events };
      } finally {
        for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
        Object.assign(process.env, saved);
      }
    }

    /** Namespace with pod p (app, db), db ready, and service account app that may read pods. */
    async function readyPod(prefix: string) {
      const ns = await k8s.namespace(prefix);
      await k8s.createPod(ns, 'p', ['app', 'db']);
      await k8s.setStatus(ns, 'p', { app: { ready: false }, db: { ready: true } });
      await k8s.createServiceAccount(ns, 'app');
      await k8s.grantPodReader(ns, 'app');
      return { ns, saDir: k8s.serviceAccountDir(ns, await k8s.token(ns, 'app')) };
    }

    it('namespace "..": refused at once, never the pods of every namespace (/api/v1/pods)', async () => {
      const { ns, saDir } = await readyPod('dotdot');
      // Enough rights to list pods cluster-wide, so that a request that escaped to
      // /api/v1/pods would be answered, with pod p among the results.
      const role = `kubexit-test-all-pods-${ns}`;
      await k8s.must('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
        metadata: { name: role },
        rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }],
      });
      await k8s.must('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
        metadata: { name: role },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
        subjects: [{ kind: 'ServiceAccount', name: 'app', namespace: ns }],
      });
      try {
        const waited = await waitInProcess('..', 'p', saDir);
        assert.equal(waited.ready, false, waited.events.join('\n'));
        assert.equal(waited.error, 'namespace ".." cannot be a segment of an API path');
      } finally {
        await k8s.must('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${role}`);
        await k8s.must('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterroles/${role}`);
      }
    });

    it('namespace "x/../<ns>": one segment, never namespace <ns>', async () => {
      const { ns, saDir } = await readyPod('slashes');
      const waited = await waitInProcess(`x/../${ns}`, 'p', saDir);
      assert.equal(waited.ready, false, waited.events.join('\n'));
      assert.match(String(waited.error), /^timed out waiting for birth deps to be ready: 4s/);
      assert.ok(!waited.events.includes('All birth deps ready: db'));
    });

    it('pod name "p,metadata.namespace=<ns>": selects no pod, and pod p never counts', async () => {
      const { ns, saDir } = await readyPod('selector');
      await k8s.setStatus(ns, 'p', { app: { ready: false }, db: { ready: false } });
      const name = `p,metadata.namespace=${ns}`;
      const waited = await waitInProcess(ns, name, saDir, () =>
        // Pod p becomes ready while the odd name is watched: that must not be news for it.
        k8s.setStatus(ns, 'p', { app: { ready: false }, db: { ready: true } }),
      );
      assert.equal(waited.ready, false, waited.events.join('\n'));
      assert.equal(
        waited.error,
        `timed out waiting for birth deps to be ready: 4s; pod ${ns}/${name} not found`,
      );
    });
  },
);
