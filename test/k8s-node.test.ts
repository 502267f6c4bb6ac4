// The examples as real Jobs on a real kubelet: `kubectl apply -k` of a test-bed overlay of
// examples/client-server-job and examples/cloudsql-proxy-job on the single-node cluster of
// scripts/kube-node.sh (kubelet, containerd and runc, the Job controller, the scheduler, the
// service-account token controller, kube-proxy for the `kubernetes` Service).
//
// The overlay keeps each example's manifests and changes only what this machine needs or what
// the test reads:
// - images: kubexit's own image as `npm run image` builds it; for curl, nginx, postgres and the
//   Cloud SQL proxy, shell stand-ins on busybox (test/fixtures/node-standins: no registry here),
//   which take exactly the examples' command lines;
// - the namespace: one per test;
// - KUBEXIT_INSTANT_LOGGING=true in the app containers, so that the containers' logs hold
//   kubexit's events in order.
// Nothing else: the kubexit init container installs from the image, the app containers run
// /kubexit/kubexit, kubexit reads the pod through the Service with the token the cluster mounted
// (ServiceAccount admission + the controller manager's token controller), under the examples'
// Role. The kubelet keeps terminated pods' volumes (--keep-terminated-pod-volumes), so the
// graveyard can be read from this machine once a pod is done.
//
// The "node" part of the suite (test/support/requires.ts): npm test brings the cluster up
// (scripts/kube-node.sh up); KUBEXIT_TEST_SKIP=node leaves these tests out.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FIXTURES, parseLines, tombstone } from './support/kubexit.js';
import {
  exitCodes,
  findNode,
  type JobObject,
  type PodObject,
  type RealNode,
} from './support/node.js';
import { procStatus, signalBit } from './support/pod.js';
import { requires } from './support/requires.js';

const skip = requires('node');
const found = skip ? { skip } : await findNode();
if (!skip && found.skip) requires('node', () => found.skip);

const STANDINS = join(FIXTURES, 'node-standins');
const STANDIN_IMAGE = 'docker.io/local/example-standins:1';
const PAGE = 'served by the nginx stand-in';
const TIME = String.raw`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z`;
const LIVED = new RegExp(
  `^Born: "(${TIME})"\nDied: "(${TIME})"\nExitCode: (\\d+)\n(?:Ready: "[^"]+"\n)?$`,
);
const NEVER_BORN = new RegExp(`^Died: "(${TIME})"\nExitCode: (\\d+)\n$`);
const JOB_TIMEOUT = 180_000;
const SIGTERM = 15;

/** Nanosecond-exact order of two RFC 3339 UTC times (the tombstones'). */
function before_(a: string, b: string): boolean {
  const norm = (t: string) => {
    const [s, frac = ''] = t.replace('Z', '').split('.');
    return `${s}.${frac.padEnd(9, '0')}`;
  };
  return norm(a) < norm(b);
}

/** kubexit's trace events in a container's log, in order. */
function events(log: string): string[] {
  return parseLines(log)
    .filter((l) => typeof l.event === 'string')
    .map((l) => l.event as string);
}

/** The lines of a container's log that are not kubexit's (the child's output). */
function childLines(log: string): string[] {
  return log.split('\n').filter((l) => l !== '' && !l.startsWith('{'));
}

/** The child's lines after the line `marker`, newline-terminated (kubexit's lines left out). */
function afterMarker(log: string, marker: string): string {
  const at = log.indexOf(`${marker}\n`);
  assert.ok(at >= 0, `no "${marker}" in:\n${log}`);
  return childLines(log.slice(at + marker.length + 1))
    .map((l) => `${l}\n`)
    .join('');
}

function instantLogging(job: string, containers: string[]): object {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: job },
    spec: {
      template: {
        spec: {
          containers: containers.map((name) => ({
            name,
            env: [{ name: 'KUBEXIT_INSTANT_LOGGING', value: 'true' }],
          })),
        },
      },
    },
  };
}

describe(
  'the examples as real Jobs on a real kubelet',
  { skip: found.skip, timeout: 600_000 },
  () => {
    let node: RealNode;
    let images: Record<string, string>;

    before(async () => {
      node = found.node as RealNode;
      // Both imports are no-ops for containerd when nothing changed.
      await node.script(['kubexit-image']);
      await node.script(['image', 'example-standins:1', STANDINS]);
      images = {
        kubexit: node.kubexitImage,
        'curlimages/curl': STANDIN_IMAGE,
        nginx: STANDIN_IMAGE,
        postgres: STANDIN_IMAGE,
        'gcr.io/cloud-sql-connectors/cloud-sql-proxy': STANDIN_IMAGE,
      };
    });
    after(() => node?.close());

    async function jobDone(ns: string, name: string): Promise<JobObject> {
      return node.until<JobObject>(
        `/apis/batch/v1/namespaces/${ns}/jobs?fieldSelector=metadata.name%3D${name}`,
        (jobs) => jobs.find((j) => (j.status.succeeded ?? 0) + (j.status.failed ?? 0) > 0),
        JOB_TIMEOUT,
      );
    }

    async function onlyPod(ns: string, job: string): Promise<PodObject> {
      const pods = await node.get<{ items: PodObject[] }>(
        `/api/v1/namespaces/${ns}/pods?labelSelector=job-name%3D${job}`,
      );
      assert.equal(pods.items.length, 1, pods.items.map((p) => p.metadata.name).join(' '));
      return pods.items[0] as PodObject;
    }

    /** The pod's token volume is the secret the token controller made for the job's account. */
    async function assertClusterToken(ns: string, pod: PodObject, account: string): Promise<void> {
      assert.equal(pod.spec.serviceAccountName, account);
      const volume = pod.spec.volumes.find((v) =>
        v.secret?.secretName.startsWith(`${account}-token-`),
      );
      assert.ok(volume?.secret, `no token volume in ${JSON.stringify(pod.spec.volumes)}`);
      const secret = await node.get<{
        type: string;
        metadata: { annotations: Record<string, string> };
        data: Record<string, string>;
      }>(`/api/v1/namespaces/${ns}/secrets/${volume.secret.secretName}`);
      assert.equal(secret.type, 'kubernetes.io/service-account-token');
      assert.equal(secret.metadata.annotations['kubernetes.io/service-account.name'], account);
      assert.deepEqual(Object.keys(secret.data).sort(), ['ca.crt', 'namespace', 'token']);
      const volumeName = volume.name;
      for (const c of pod.spec.containers) {
        const mount = c.volumeMounts?.find((m) => m.name === volumeName);
        assert.equal(mount?.mountPath, '/var/run/secrets/kubernetes.io/serviceaccount', c.name);
      }
    }

    /**
     * The two tombstones in the pod's graveyard: both lived and exited 0, `first` was born before
     * `second` and `second` died before `first` (the server outlives its client).
     */
    function livedInOrder(pod: PodObject, first: string, second: string): [string, string] {
      const graveyard = node.emptyDir(pod, 'graveyard');
      const stones = [first, second].map((n) => readFileSync(join(graveyard, n), 'utf8'));
      const [a = [], b = []] = stones.map((t) => LIVED.exec(t) ?? []);
      const [, aBorn, aDied, aCode] = a;
      const [, bBorn, bDied, bCode] = b;
      assert.ok(aBorn && aDied && bBorn && bDied, stones.join(''));
      assert.deepEqual([aCode, bCode], ['0', '0'], stones.join(''));
      assert.ok(before_(aBorn, bBorn), `${first} born ${aBorn}, ${second} ${bBorn}`);
      assert.ok(before_(bDied, aDied), `${second} died ${bDied}, ${first} ${aDied}`);
      return stones as [string, string];
    }

    it('client-server-job completes: the client starts once the real kubelet found the server ready, the server stops once the client died', async () => {
      const ns = await node.namespace('node-client-server');
      const dir = node.overlay('client-server-job', ns, images, [
        instantLogging('client-server-job', ['client', 'server']),
      ]);
      await node.mustKubectl(['apply', '-k', dir]);
      const job = await jobDone(ns, 'client-server-job');
      const pod = await onlyPod(ns, 'client-server-job');
      const name = pod.metadata.name;
      const client = await node.logs(ns, name, 'client');
      const server = await node.logs(ns, name, 'server');
      const diagnostics = `\n--- client\n${client}\n--- server\n${server}`;
      assert.equal(job.status.succeeded, 1, JSON.stringify(job.status) + diagnostics);
      assert.equal(job.status.failed ?? 0, 0);

      // Scheduled onto the real node; every container, kubexit's init container first, ended 0.
      assert.equal(pod.spec.nodeName, node.nodeName);
      assert.equal(pod.status.phase, 'Succeeded');
      assert.deepEqual(exitCodes(pod), ['client=0', 'kubexit=0', 'server=0']);
      await assertClusterToken(ns, pod, 'client-server-job');

      // The tombstones, in the graveyard emptyDir (tmpfs) on this machine.
      const [, clientStone] = livedInOrder(pod, 'server', 'client');

      // Birth: the client's kubexit watched the pod through the `kubernetes` Service until the
      // kubelet marked the server ready, then started curl, which got the page.
      const clientEvents = events(client);
      const waiting = clientEvents.findIndex((e) =>
        new RegExp(`^Pod Watch\\(${name}\\): \\w+: waiting for server$`).test(e),
      );
      const allReady = clientEvents.indexOf('All birth deps ready: server');
      const start = clientEvents.indexOf(
        'Start: curl --fail --silent --show-error http://localhost:80/',
      );
      assert.ok(waiting >= 0 && waiting < allReady && allReady < start, clientEvents.join('\n'));
      assert.deepEqual(childLines(client), [PAGE], diagnostics);

      // Death: the server's kubexit TERMed nginx after the client's tombstone said Died, and nginx
      // saw that tombstone's final bytes.
      const serverEvents = events(server);
      for (const e of ['New death: client', 'Terminating child process']) {
        assert.ok(serverEvents.includes(e), serverEvents.join('\n'));
      }
      assert.ok(!serverEvents.includes('Received signal: terminated'), 'no TERM from the kubelet');
      assert.equal(afterMarker(server, 'nginx: SIGTERM; /graveyard/client holds:'), clientStone);
    });

    it('client-server-job, pod deleted while the client waits: the kubelet TERMs every PID 1 at once, the client ends unborn (143, or 1 when the server’s Died comes first), the server passes the TERM on and ends 0', async () => {
      const ns = await node.namespace('node-delete');
      // A server the kubelet declares ready only after an hour: the client waits all along.
      const slowReady = {
        apiVersion: 'batch/v1',
        kind: 'Job',
        metadata: { name: 'client-server-job' },
        spec: {
          template: {
            spec: {
              containers: [{ name: 'server', readinessProbe: { initialDelaySeconds: 3600 } }],
            },
          },
        },
      };
      const dir = node.overlay('client-server-job', ns, images, [
        instantLogging('client-server-job', ['client', 'server']),
        slowReady,
      ]);
      await node.mustKubectl(['apply', '-k', dir]);
      const pods = `/api/v1/namespaces/${ns}/pods?labelSelector=job-name%3Dclient-server-job`;
      const bothRunning = (p: PodObject) =>
        (p.status.containerStatuses ?? []).filter((s) => s.state.running).length === 2;
      const pod = await node.until<PodObject>(pods, (ps) => ps.find(bothRunning), JOB_TIMEOUT);
      const name = pod.metadata.name;
      const client = node.follow(ns, name, 'client');
      const server = node.follow(ns, name, 'server');
      const logs = { client: node.openLog(pod, 'client'), server: node.openLog(pod, 'server') };
      // Each kubexit is PID 1 of its container's PID namespace and catches SIGTERM.
      for (const program of ['curl', 'nginx']) {
        const pids = node.pids(pod, ['/kubexit/kubexit', program]);
        assert.equal(pids.length, 1, `${program}: ${pids.join(' ')}`);
        const st = procStatus(pids[0] as number);
        assert.equal(st.nsPids.at(-1), 1, `${program}: NSpid ${st.nsPids.join(' ')}`);
        assert.notEqual(st.caught & signalBit(SIGTERM), 0n, `${program}'s kubexit catches SIGTERM`);
      }
      // The client's kubexit (watching the pod, as its log said) was told the API is the
      // `kubernetes` Service, as in any cluster: kube-proxy took it to the apiserver.
      const service = await node.get<{ spec: { clusterIP: string } }>(
        '/api/v1/namespaces/default/services/kubernetes',
      );
      const [clientPid] = node.pids(pod, ['/kubexit/kubexit', 'curl']);
      const environ = readFileSync(`/proc/${clientPid}/environ`, 'utf8').split('\0');
      assert.ok(
        environ.includes(`KUBERNETES_SERVICE_HOST=${service.spec.clusterIP}`),
        environ.join(' '),
      );
      assert.ok(environ.includes('KUBERNETES_SERVICE_PORT=443'), environ.join(' '));
      await server.stdout(/^nginx: httpd started$/m);
      await client.stdout(/Pod Watch\([^)]+\): watching from resourceVersion \d+/);
      const graveyard = node.emptyDir(pod, 'graveyard');
      await tombstone(graveyard, 'server', (t) => t.startsWith('Born:'));

      // No Job controller to replace the pod, and a finalizer that keeps its object (and so its
      // statuses and volumes) after the kubelet is done with it.
      await node.mustKubectl([
        'delete',
        'job',
        '--namespace',
        ns,
        'client-server-job',
        '--cascade=false',
      ]);
      await node.mustKubectl([
        'patch',
        'pod',
        '--namespace',
        ns,
        name,
        '--type=merge',
        '--patch',
        '{"metadata":{"finalizers":["kubexit.test/keep"]}}',
      ]);
      try {
        await node.mustKubectl(['delete', 'pod', '--namespace', ns, name, '--wait=false']);
        const allDone = (p: PodObject) =>
          p.metadata.name === name &&
          (p.status.containerStatuses ?? []).every((s) => s.state.terminated) &&
          p.status.containerStatuses?.length === 2;
        const ended = await node.until<PodObject>(pods, (ps) => ps.find(allDone), 60_000);
        // The kubelet removes a deleted pod's containers at once: their logs from the files.
        const c = logs.client.read();
        const s = logs.server.read();
        const diagnostics = `\n--- client\n${c}\n--- server\n${s}`;
        assert.ok(ended.metadata.deletionTimestamp);

        // Exit codes as the kubelet reports them. The kubelet TERMs both containers at once, in
        // no set order: the client's kubexit, in its birth wait, ends on whichever it learns
        // first: its own TERM (143), or the server's Died before it was ready (1). Either way
        // curl never ran. The server's passed the TERM to nginx, which exited 0.
        const last = parseLines(c).at(-1);
        const clientEvents = events(c);
        assert.ok(!clientEvents.some((e) => e.startsWith('Start:')), clientEvents.join('\n'));
        const clientCode = exitCodes(ended)[0]?.slice('client='.length);
        if (clientCode === '143') {
          assert.deepEqual(exitCodes(ended), ['client=143', 'kubexit=0', 'server=0'], diagnostics);
          assert.ok(clientEvents.includes('Received signal: terminated'), clientEvents.join('\n'));
          assert.equal(last?.message, 'child not started');
          assert.equal(last?.reason, 'received SIGTERM');
        } else {
          assert.deepEqual(exitCodes(ended), ['client=1', 'kubexit=0', 'server=0'], diagnostics);
          assert.equal(
            last?.error,
            'birth dependency server ended before it was ready (exit code 0)',
            diagnostics,
          );
        }
        assert.deepEqual(childLines(c), [], 'curl never ran');

        // Likewise the server's kubexit ends nginx on whichever comes first: its own TERM, or the
        // client's Died (the client is quick to end: it never started).
        const serverEvents = events(s);
        assert.ok(
          serverEvents.includes('Received signal: terminated') ||
            serverEvents.includes('New death: client'),
          serverEvents.join('\n'),
        );
        assert.match(s, /^nginx: SIGTERM; \/graveyard\/client holds:$/m);

        const clientStone = readFileSync(join(graveyard, 'client'), 'utf8');
        assert.equal(NEVER_BORN.exec(clientStone)?.[2], clientCode, clientStone);
        const serverStone = readFileSync(join(graveyard, 'server'), 'utf8');
        assert.equal(LIVED.exec(serverStone)?.[3], '0', serverStone);
      } finally {
        await node.kubectl([
          'patch',
          'pod',
          '--namespace',
          ns,
          name,
          '--type=json',
          '--patch',
          '[{"op":"remove","path":"/metadata/finalizers"}]',
        ]);
      }
    });

    it('cloudsql-proxy-job completes with a stand-in proxy: psql starts once the proxy is ready, the proxy exits 0 once psql died', async () => {
      const ns = await node.namespace('node-cloudsql');
      // The secrets the example's README asks for (application data, not service-account tokens).
      await node.mustKubectl([
        'create',
        'secret',
        'generic',
        'cloudsql-credentials',
        '--namespace',
        ns,
        '--from-literal=key.json={"type": "service_account", "note": "stand-in"}',
      ]);
      await node.mustKubectl([
        'create',
        'secret',
        'generic',
        'cloudsql-database',
        '--namespace',
        ns,
        '--from-literal=database=app',
        '--from-literal=user=jobs',
        '--from-literal=password=secret',
      ]);
      const dir = node.overlay('cloudsql-proxy-job', ns, images, [
        instantLogging('cloudsql-proxy-job', ['psql', 'cloudsql-proxy']),
      ]);
      await node.mustKubectl(['apply', '-k', dir]);
      const job = await jobDone(ns, 'cloudsql-proxy-job');
      const pod = await onlyPod(ns, 'cloudsql-proxy-job');
      const name = pod.metadata.name;
      const psql = await node.logs(ns, name, 'psql');
      const proxy = await node.logs(ns, name, 'cloudsql-proxy');
      const diagnostics = `\n--- psql\n${psql}\n--- cloudsql-proxy\n${proxy}`;
      assert.equal(job.status.succeeded, 1, JSON.stringify(job.status) + diagnostics);
      assert.equal(job.status.failed ?? 0, 0);
      assert.equal(pod.status.phase, 'Succeeded');
      assert.deepEqual(exitCodes(pod), ['cloudsql-proxy=0', 'kubexit=0', 'psql=0'], diagnostics);
      await assertClusterToken(ns, pod, 'cloudsql-proxy-job');

      const psqlEvents = events(psql);
      const waiting = psqlEvents.findIndex((e) => /: waiting for cloudsql-proxy$/.test(e));
      const allReady = psqlEvents.indexOf('All birth deps ready: cloudsql-proxy');
      const start = psqlEvents.indexOf('Start: psql --no-psqlrc --command "SELECT now();"');
      assert.ok(waiting >= 0 && waiting < allReady && allReady < start, psqlEvents.join('\n'));
      assert.deepEqual(childLines(psql), [
        'psql: jobs@127.0.0.1:5432/app: SELECT now();',
        'now() for my-project:my-region:my-instance',
      ]);

      // The proxy exits 0 on SIGTERM (--exit-zero-on-sigterm).
      const [, psqlStone] = livedInOrder(pod, 'cloudsql-proxy', 'psql');
      const proxyEvents = events(proxy);
      assert.ok(proxyEvents.includes('New death: psql'), proxyEvents.join('\n'));
      assert.equal(
        afterMarker(proxy, 'cloud-sql-proxy: SIGTERM; /graveyard/psql holds:'),
        psqlStone,
      );
    });

    it("the Go kubexit's own client-server Job, as written for it (init container `cp /app/bin/kubexit /kubexit/kubexit`, kubexit started from sh -c), completes with only the images changed", async () => {
      const ns = await node.namespace('node-go-era');
      const dir = node.overlay(join(FIXTURES, 'go-era-client-server-job'), ns, {
        ...images,
        kubexit: node.kubexitImage, // the fork's kubexit:latest: the one line a user changes
        alpine: STANDIN_IMAGE,
      });
      await node.mustKubectl(['apply', '-k', dir]);
      const job = await jobDone(ns, 'client-server-job');
      const pod = await onlyPod(ns, 'client-server-job');
      const name = pod.metadata.name;
      const init = await node.logs(ns, name, 'kubexit');
      const client = await node.logs(ns, name, 'client');
      const server = await node.logs(ns, name, 'server');
      const diagnostics = `\n--- kubexit\n${init}\n--- client\n${client}\n--- server\n${server}`;
      assert.equal(job.status.succeeded, 1, JSON.stringify(job.status) + diagnostics);
      assert.deepEqual(exitCodes(pod), ['client=0', 'kubexit=0', 'server=0'], diagnostics);
      // The image's /bin/cp is kubexit: the Go-era copy installed the executable and its loader.
      assert.match(init, /^installed \/kubexit\/kubexit with /, diagnostics);

      const [, clientStone] = livedInOrder(pod, 'server', 'client');
      assert.deepEqual(childLines(client).slice(-1), [PAGE], diagnostics);
      assert.equal(afterMarker(server, 'nginx: SIGTERM; /graveyard/client holds:'), clientStone);
    });
  },
);
