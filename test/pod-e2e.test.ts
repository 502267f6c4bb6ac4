// examples/client-server-job (and examples/no-rbac-job, with no API access) run on this machine
// as a kubelet would run it (test/support/pod.ts): the Pod from the Job's template in the real
// apiserver, the init container side-loading kubexit from its image into the `kubexit` volume,
// each app container in its own PID and mount namespaces with kubexit as PID 1, the graveyard a
// tmpfs shared by bind mounts, and a kubelet that probes readiness and PATCHes pods/status. Then
// the same pod deleted while it waits: the kubelet's SIGTERM to each container's PID 1.
//
// The images are stand-ins: this machine has no curl or nginx, so the "curl" image runs busybox
// wget on the same URL, and the "nginx" image runs busybox httpd in a small shell that exits 0
// on SIGTERM, as nginx does (httpd itself dies of the signal: 143). Everything of kubexit's (the
// commands' /kubexit/kubexit, the env, the volumes, the RBAC) is the example's own. Only the
// port differs (a free one instead of 80: the network namespace is the host's) and
// KUBEXIT_INSTANT_LOGGING=true is added, so that the test can follow each kubexit's events.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort, startCluster, type Cluster } from './support/cluster.js';
import { tombstone } from './support/kubexit.js';
import { requires } from './support/requires.js';
import {
  busyboxImage,
  ContainerProcess,
  EXAMPLE,
  IMAGE_PATH,
  jobPodTemplate,
  kubexitImage,
  podPrerequisites,
  procStatus,
  removeImage,
  schedulePod,
  signalBit,
  type ContainerExit,
  type ContainerSpec,
  type Image,
  type PodTemplate,
} from './support/pod.js';

const unable = requires('pod', podPrerequisites);
const started = unable ? undefined : await startCluster();
const skip = unable || started?.skip || false;

const NO_RBAC_EXAMPLE = join(EXAMPLE, '..', 'no-rbac-job');
const SIGKILL = 9;
const SIGTERM = 15;
const PAGE = 'served by the simulated nginx\n';
const TIME = String.raw`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z`;
const LIVED = new RegExp(
  `^Born: "(${TIME})"\nDied: "(${TIME})"\nExitCode: (\\d+)\n(?:Ready: "[^"]+"\n)?$`,
);
const NEVER_BORN = new RegExp(`^Died: "(${TIME})"\nExitCode: (\\d+)\n$`);

/** Wall-clock milliseconds of an RFC 3339 time, keeping the fraction below the millisecond. */
function wallMs(time: string): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(time);
  if (!m) throw new Error(`not an RFC 3339 time: ${time}`);
  return Date.parse(`${m[1]}${m[3]}`) + Number(`0.${m[2] ?? '0'}`) * 1000;
}

/** kubexit's trace events (instant logging), in the order it logged them. */
function events(exit: ContainerExit): string[] {
  return exit.logs.filter((l) => typeof l.event === 'string').map((l) => l.event as string);
}

function eventTime(exit: ContainerExit, event: string): number {
  const line = exit.logs.find((l) => l.event === event);
  assert.ok(line, `no event "${event}" in:\n${exit.stderr}`);
  return wallMs(line['@timestamp'] as string);
}

function container(template: PodTemplate, name: string): ContainerSpec {
  const found = [...(template.spec.initContainers ?? []), ...template.spec.containers].find(
    (c) => c.name === name,
  );
  assert.ok(found, `the example has no container ${name}`);
  return found;
}

/** The example's template, on `port` instead of 80, with instant logging in both kubexits. */
function clientServerJob(port: number) {
  const job = jobPodTemplate(join(EXAMPLE, 'job.yaml'));
  const server = container(job.template, 'server');
  const client = container(job.template, 'client');
  assert.deepEqual(server.ports, [{ containerPort: 80 }]);
  assert.equal(server.readinessProbe?.tcpSocket?.port, 80);
  server.ports = [{ containerPort: port }];
  server.readinessProbe.tcpSocket.port = port;
  assert.deepEqual(client.args, ['http://localhost:80/']);
  client.args = [`http://localhost:${port}/`];
  for (const c of [server, client]) {
    c.env = [...(c.env ?? []), { name: 'KUBEXIT_INSTANT_LOGGING', value: 'true' }];
  }
  return job;
}

/** examples/no-rbac-job's template, its probe on `port` instead of 80, with instant logging. */
function noRbacJob(port: number) {
  const job = jobPodTemplate(join(NO_RBAC_EXAMPLE, 'job.yaml'));
  const server = container(job.template, 'server');
  const client = container(job.template, 'client');
  assert.equal(job.template.spec.automountServiceAccountToken, false);
  assert.equal(server.readinessProbe, undefined, "no kubelet probe: only kubexit's");
  const probe = server.env?.find((e) => e.name === 'KUBEXIT_READY_PROBE');
  assert.equal(probe?.value, 'tcp://127.0.0.1:80');
  probe.value = `tcp://127.0.0.1:${port}`;
  server.ports = [{ containerPort: port }];
  assert.deepEqual(client.args, ['http://localhost:80/']);
  client.args = [`http://localhost:${port}/`];
  for (const c of [server, client]) {
    assert.ok(!c.env?.some((e) => e.name === 'KUBEXIT_POD_NAME' || e.name === 'KUBEXIT_NAMESPACE'));
    c.env = [...(c.env ?? []), { name: 'KUBEXIT_INSTANT_LOGGING', value: 'true' }];
  }
  return job;
}

describe('client-server-job in a simulated pod', { skip, timeout: 60_000 }, () => {
  let k8s: Cluster;
  let kubexitRoot: Image;
  let curlRoot = '';
  let nginxRoot = '';
  before(() => {
    k8s = started?.cluster as Cluster;
    kubexitRoot = kubexitImage();
    curlRoot = busyboxImage(['sh', 'wget']);
    nginxRoot = busyboxImage(['sh', 'httpd', 'cat', 'sleep'], {
      'usr/share/nginx/html/index.html': PAGE,
    });
  });
  after(() => {
    k8s?.close();
    for (const root of [kubexitRoot?.root, curlRoot, nginxRoot]) if (root) removeImage(root);
  });

  /**
   * The example's three images as this machine has them; argv maps curl and nginx. `warmUp`:
   * seconds the "nginx" waits before it listens.
   */
  function images(template: PodTemplate, port: number, warmUp = 0): Record<string, Image> {
    return {
      [container(template, 'kubexit').image]: kubexitRoot,
      [container(template, 'client').image]: {
        root: curlRoot,
        argv: ([kubexit, program, ...args]) => {
          assert.equal(program, 'curl');
          return [kubexit as string, 'wget', '-q', '-O', '-', args.at(-1) as string];
        },
      },
      [container(template, 'server').image]: {
        root: nginxRoot,
        argv: ([kubexit, program]) => {
          assert.equal(program, 'nginx');
          // On SIGTERM: say what the client's tombstone held at that moment, stop httpd, exit 0.
          const script = [
            `trap 'echo "nginx: SIGTERM; /graveyard/client holds:"; cat /graveyard/client || echo "(nothing)"; kill "$httpd"; wait "$httpd"; exit 0' TERM`,
            ...(warmUp > 0 ? [`sleep ${warmUp}`] : []),
            `httpd -f -p 127.0.0.1:${port} -h /usr/share/nginx/html &`,
            'httpd=$!',
            'echo "nginx: httpd started"',
            'wait "$httpd"',
          ].join('\n');
          return [kubexit as string, 'sh', '-c', script];
        },
      },
    };
  }

  it('runs to completion: the client starts once the server is ready, the server stops once the client died', async () => {
    const port = await freePort();
    const job = clientServerJob(port);
    const ns = await k8s.namespace('pod-e2e');
    const sim = await schedulePod(k8s, ns, job, images(job.template, port));
    const { kubelet } = sim;
    const podName = sim.pod.metadata.name;
    try {
      await kubelet.run();
      const graveyard = sim.volumes.graveyard as string;
      const at = (what: string): number => {
        const e = kubelet.events.find((x) => x.what === what);
        assert.ok(e, `the kubelet never saw "${what}": ${JSON.stringify(kubelet.events)}`);
        return e.at;
      };
      const index = (what: string) => kubelet.events.findIndex((x) => x.what === what);

      // The init container ran first, and left the installed folder in the volume.
      assert.ok(index('kubexit: exited 0') >= 0, JSON.stringify(kubelet.events));
      for (const c of ['client', 'server']) {
        assert.ok(index('kubexit: exited 0') < index(`${c}: running`), c);
      }
      const volume = sim.volumes.kubexit as string;
      assert.deepEqual(readdirSync(volume).sort(), ['kubexit', 'ld', 'lib']);
      assert.ok(readdirSync(join(volume, 'lib')).includes('libc.so.6'));

      const client = await kubelet.containers.get('client')?.exited;
      const server = await kubelet.containers.get('server')?.exited;
      assert.ok(client && server);
      assert.equal(client.code, 0, client.stderr);
      assert.equal(server.code, 0, server.stderr);
      assert.equal(client.stdout, PAGE, 'wget got the page');

      // The tombstones: Go's bytes, UTC (no zone in the roots), nothing else in the graveyard.
      assert.deepEqual(readdirSync(graveyard).sort(), ['client', 'server']);
      const clientStone = readFileSync(join(graveyard, 'client'), 'utf8');
      const serverStone = readFileSync(join(graveyard, 'server'), 'utf8');
      const [, clientBorn, clientDied, clientCode] = LIVED.exec(clientStone) ?? [];
      const [, serverBorn, serverDied, serverCode] = LIVED.exec(serverStone) ?? [];
      assert.ok(clientBorn && clientDied && serverBorn && serverDied, clientStone + serverStone);
      assert.equal(clientCode, '0');
      assert.equal(serverCode, '0');

      // Birth: the client's child started only after the kubelet marked the server ready, which
      // it did only once the probe reached httpd, which the server's kubexit had started.
      const ready = at('server: ready');
      assert.ok(wallMs(serverBorn) < ready, `server born ${serverBorn}, ready at ${ready}`);
      assert.ok(wallMs(clientBorn) > ready, `client born ${clientBorn}, ready at ${ready}`);
      const clientEvents = events(client);
      const waiting = clientEvents.findIndex((e) =>
        new RegExp(`^Pod Watch\\(${podName}\\): \\w+: waiting for server$`).test(e),
      );
      const allReady = clientEvents.indexOf('All birth deps ready: server');
      const start = clientEvents.indexOf(`Start: wget -q -O - http://localhost:${port}/`);
      assert.ok(waiting >= 0 && waiting < allReady && allReady < start, clientEvents.join('\n'));
      assert.ok(eventTime(client, 'All birth deps ready: server') > ready);

      // Death: the server's child got SIGTERM after the client's tombstone said Died, and
      // saw it: the bytes it printed in its trap are the final ones.
      assert.ok(wallMs(clientDied) < wallMs(serverDied));
      const [, seen] = server.stdout.split('nginx: SIGTERM; /graveyard/client holds:\n');
      assert.equal(seen, clientStone, server.stdout);
      // kubexit acts first and logs after: both events are there, in either order.
      const serverEvents = events(server);
      for (const e of ['New death: client', 'Terminating child process']) {
        assert.ok(serverEvents.includes(e), serverEvents.join('\n'));
      }
      assert.ok(!serverEvents.includes('Received signal: terminated'), 'no TERM from outside');

      // What the apiserver holds at the end: the Job's pod Succeeded.
      const pod = await k8s.must('GET', `/api/v1/namespaces/${ns}/pods/${podName}`);
      const status = pod.status as {
        phase: string;
        containerStatuses: { name: string; state: { terminated?: { exitCode: number } } }[];
        initContainerStatuses: { name: string; state: { terminated?: { exitCode: number } } }[];
      };
      assert.equal(status.phase, 'Succeeded');
      const codes = [...status.initContainerStatuses, ...status.containerStatuses]
        .map((s) => `${s.name}=${s.state.terminated?.exitCode}`)
        .sort();
      assert.deepEqual(codes, ['client=0', 'kubexit=0', 'server=0']);
    } finally {
      sim.dispose();
    }
  });

  it('pod deletion: SIGTERM to each PID 1 ends the server and the client still in its birth wait', async () => {
    const port = await freePort();
    const job = clientServerJob(port);
    // A server slow to be declared ready: the client waits for it all along.
    const probe = container(job.template, 'server').readinessProbe;
    assert.ok(probe);
    probe.initialDelaySeconds = 3600;
    const ns = await k8s.namespace('pod-e2e-delete');
    const sim = await schedulePod(k8s, ns, job, images(job.template, port));
    const { kubelet, pod } = sim;
    const podPath = `/api/v1/namespaces/${ns}/pods/${pod.metadata.name}`;
    try {
      const running = kubelet.run();
      running.catch(() => undefined); // awaited below
      const server = await kubelet.started('server');
      const client = await kubelet.started('client');
      // The server's child runs (its trap set), the client's kubexit watches the pod.
      await Promise.race([
        server.stdout(/^nginx: httpd started$/m),
        server.exited.then((e) => assert.fail(`server ended: ${e.stderr}`)),
      ]);
      await tombstone(sim.volumes.graveyard as string, 'server', (t) => t.startsWith('Born:'));
      await client.logged(/Pod Watch\([^)]+\): watching from resourceVersion \d+/);

      // Each kubexit is PID 1 of a PID namespace of its own, has its own mount namespace,
      // shares the host's network namespace, and catches SIGTERM.
      const pids = { client: await client.pid, server: await server.pid };
      const ns_ = (pid: number | 'self', kind: string) => readlinkSync(`/proc/${pid}/ns/${kind}`);
      for (const [name, pid] of Object.entries(pids)) {
        const st = procStatus(pid);
        assert.deepEqual(st.nsPids, [pid, 1], `${name}: NSpid`);
        assert.notEqual(st.caught & signalBit(SIGTERM), 0n, `${name} catches SIGTERM`);
        assert.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /^\/kubexit\/kubexit\0/);
        for (const kind of ['pid', 'mnt']) assert.notEqual(ns_(pid, kind), ns_('self', kind));
        assert.equal(ns_(pid, 'net'), ns_('self', 'net'));
      }
      assert.notEqual(ns_(pids.client, 'pid'), ns_(pids.server, 'pid'));
      assert.notEqual(ns_(pids.client, 'mnt'), ns_(pids.server, 'mnt'));

      // kubectl delete pod: graceful, so the pod stays until the kubelet is done with it.
      const deleting = (await k8s.must('DELETE', podPath)) as { metadata: Record<string, unknown> };
      assert.ok(deleting.metadata.deletionTimestamp, 'graceful deletion');
      const grace = deleting.metadata.deletionGracePeriodSeconds as number;
      assert.equal(grace, 30);
      await kubelet.kill(grace);
      await running;
      await kubelet.finishDeletion();

      const c = await client.exited;
      const s = await server.exited;
      const graveyard = sim.volumes.graveyard as string;
      // The client's kubexit took the TERM during its birth wait: no child, 143, a tombstone
      // without Born.
      assert.equal(c.code, 128 + SIGTERM, c.stderr);
      assert.equal(c.stdout, '', 'wget never ran');
      const clientEvents = events(c);
      assert.ok(clientEvents.includes('Received signal: terminated'), clientEvents.join('\n'));
      assert.ok(!clientEvents.some((e) => e.startsWith('Start:')), clientEvents.join('\n'));
      assert.equal(c.logs.at(-1)?.message, 'child not started');
      assert.equal(c.logs.at(-1)?.reason, 'received SIGTERM');
      const clientStone = readFileSync(join(graveyard, 'client'), 'utf8');
      assert.equal(NEVER_BORN.exec(clientStone)?.[2], '143', clientStone);

      // The server's kubexit took it too and passed it on: the child's trap ran, its exit code
      // (0) is kubexit's and the tombstone's.
      assert.ok(events(s).includes('Received signal: terminated'), s.stderr);
      assert.match(s.stdout, /^nginx: SIGTERM; \/graveyard\/client holds:$/m);
      assert.equal(s.code, 0, s.stderr);
      const serverStone = readFileSync(join(graveyard, 'server'), 'utf8');
      assert.equal(LIVED.exec(serverStone)?.[3], '0', serverStone);

      assert.ok(!kubelet.events.some((e) => e.what.includes('SIGKILL')), 'within the grace period');
      assert.equal((await k8s.api('GET', podPath)).status, 404, 'the pod is gone');
    } finally {
      sim.dispose();
    }
  });

  it('pod deletion with KUBEXIT_SHUTDOWN_AFTER_DEPS: the server holds its SIGTERM until the client has drained and died, then stops; both exit 0', async () => {
    const port = await freePort();
    const job = clientServerJob(port);
    const server = container(job.template, 'server');
    server.env = [...(server.env ?? []), { name: 'KUBEXIT_SHUTDOWN_AFTER_DEPS', value: 'true' }];
    const ns = await k8s.namespace('pod-e2e-hold');
    const url = `http://localhost:${port}/`;
    // A client that works until it is told to stop, then drains: it waits for the test's word
    // (a file in the graveyard, written once the server holds its TERM: the kubelet TERMs both
    // at once, in no set order), makes one more request to the server, which must still serve,
    // and exits 0.
    const drainRoot = busyboxImage(['sh', 'wget', 'sleep']);
    const imgs = images(job.template, port);
    imgs[container(job.template, 'client').image] = {
      root: drainRoot,
      argv: ([kubexit]) => {
        const drain = `while [ ! -e /graveyard/drain ]; do sleep 0.05; done; wget -q -O - ${url}`;
        const script = [
          `trap 'echo "client: SIGTERM, draining"; ${drain} && echo "client: drained" && exit 0; exit 1' TERM`,
          'echo "client: working"',
          'while :; do sleep 1 & wait $!; done',
        ].join('\n');
        return [kubexit as string, 'sh', '-c', script];
      },
    };
    const sim = await schedulePod(k8s, ns, job, imgs);
    const { kubelet, pod } = sim;
    const podPath = `/api/v1/namespaces/${ns}/pods/${pod.metadata.name}`;
    try {
      const running = kubelet.run();
      running.catch(() => undefined); // awaited below
      const serverC = await kubelet.started('server');
      const clientC = await kubelet.started('client');
      await Promise.race([
        clientC.stdout(/^client: working$/m),
        clientC.exited.then((e) => assert.fail(`client ended: ${e.stderr}`)),
      ]);
      await serverC.stdout(/^nginx: httpd started$/m);

      // kubectl delete pod: the kubelet TERMs both PID 1s at once.
      await k8s.must('DELETE', podPath);
      const killing = kubelet.kill(30);
      await serverC.logged(/Holding SIGTERM until a death dependency dies/);
      await clientC.stdout(/^client: SIGTERM, draining$/m);
      writeFileSync(join(sim.volumes.graveyard as string, 'drain'), '');
      await killing;
      await running;
      await kubelet.finishDeletion();

      const c = await clientC.exited;
      const s = await serverC.exited;
      const graveyard = sim.volumes.graveyard as string;
      assert.equal(c.code, 0, c.stderr);
      assert.equal(s.code, 0, s.stderr);
      // The client's last request after its TERM was served: the server's TERM was held.
      assert.equal(
        c.stdout,
        `client: working\nclient: SIGTERM, draining\n${PAGE}client: drained\n`,
      );

      const clientStone = readFileSync(join(graveyard, 'client'), 'utf8');
      const serverStone = readFileSync(join(graveyard, 'server'), 'utf8');
      const [, , clientDied, clientCode] = LIVED.exec(clientStone) ?? [];
      const [, , serverDied, serverCode] = LIVED.exec(serverStone) ?? [];
      assert.ok(clientDied && serverDied, clientStone + serverStone);
      assert.equal(clientCode, '0');
      assert.equal(serverCode, '0');
      // nginx got its TERM once the client's tombstone said Died: it printed those very bytes.
      const [, seen] = s.stdout.split('nginx: SIGTERM; /graveyard/client holds:\n');
      assert.equal(seen, clientStone, s.stdout);

      // The order, from timestamps: the server held the kubelet's TERM (default hold: its
      // grace period, 10s), the client died, then the hold was released and nginx TERMed.
      const held = eventTime(s, 'Holding SIGTERM until a death dependency dies, at most 10s');
      const released = eventTime(s, 'Shutdown hold released: client died');
      assert.ok(held < wallMs(clientDied), `held ${held}, client died ${clientDied}`);
      assert.ok(wallMs(clientDied) <= released, `client died ${clientDied}, released ${released}`);
      assert.ok(released < wallMs(serverDied), `released ${released}, server died ${serverDied}`);
      const serverEvents = events(s);
      assert.ok(serverEvents.includes('Terminating child process'), serverEvents.join('\n'));
      assert.ok(!kubelet.events.some((e) => e.what.includes('SIGKILL')), 'within the grace period');
    } finally {
      sim.dispose();
      removeImage(drainRoot);
    }
  });

  it("no-rbac-job: no token, no RBAC, no pod name: the client starts once the server's tombstone says Ready, the server stops once the client died", async () => {
    const port = await freePort();
    const job = noRbacJob(port);
    const ns = await k8s.namespace('pod-e2e-no-rbac');
    // nginx listens a second late: the client must wait for the probe, not for the child.
    const sim = await schedulePod(k8s, ns, job, images(job.template, port, 1), NO_RBAC_EXAMPLE);
    const { kubelet } = sim;
    try {
      await kubelet.run();
      const graveyard = sim.volumes.graveyard as string;
      const client = await kubelet.containers.get('client')?.exited;
      const server = await kubelet.containers.get('server')?.exited;
      assert.ok(client && server);
      assert.equal(client.code, 0, client.stderr);
      assert.equal(server.code, 0, server.stderr);
      // busybox wget makes one attempt: the page proves the server listened before it ran.
      assert.equal(client.stdout, PAGE, 'wget got the page');

      // No ServiceAccount, Role or RoleBinding was created, and no token was mounted.
      for (const kind of ['serviceaccounts']) {
        const list = await k8s.must('GET', `/api/v1/namespaces/${ns}/${kind}`);
        assert.deepEqual(list.items, [], kind);
      }
      const rbac = `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}`;
      for (const kind of ['roles', 'rolebindings']) {
        assert.deepEqual((await k8s.must('GET', `${rbac}/${kind}`)).items, [], kind);
      }
      assert.deepEqual(readdirSync(sim.volumes.graveyard as string).sort(), ['client', 'server']);

      const clientStone = readFileSync(join(graveyard, 'client'), 'utf8');
      const serverStone = readFileSync(join(graveyard, 'server'), 'utf8');
      const serverReady = /^Ready: "([^"]+)"$/m.exec(serverStone)?.[1];
      const [, clientBorn, clientDied] = LIVED.exec(clientStone) ?? [];
      const [, serverBorn, serverDied, serverCode] =
        LIVED.exec(serverStone.replace(/^(ChildExitCode|ChildSignal|Reason): .*\n/gm, '')) ?? [];
      assert.ok(
        serverReady && clientBorn && clientDied && serverBorn && serverDied,
        clientStone + serverStone,
      );
      assert.equal(serverCode, '0');
      // The order, from the tombstones: server born, ready (its probe), client born, client
      // died, server died.
      assert.ok(wallMs(serverBorn) < wallMs(serverReady), serverStone);
      assert.ok(wallMs(serverReady) <= wallMs(clientBorn), clientStone + serverStone);
      assert.ok(wallMs(clientDied) < wallMs(serverDied), clientStone + serverStone);
      assert.match(serverStone, /^Reason: "death dependency client"$/m);

      // The client's kubexit waited on the tombstone only: never the API.
      const clientEvents = events(client);
      assert.ok(clientEvents.includes('All birth deps ready: server'), clientEvents.join('\n'));
      assert.ok(!clientEvents.some((e) => e.startsWith('Pod Watch')), clientEvents.join('\n'));
      assert.ok(
        !client.logs.some((l) => l.level === 'error' || l.level === 'warning'),
        client.stderr,
      );

      const pod = await k8s.must('GET', `/api/v1/namespaces/${ns}/pods/${sim.pod.metadata.name}`);
      assert.equal((pod.status as { phase: string }).phase, 'Succeeded');
    } finally {
      sim.dispose();
    }
  });

  it('control: a PID 1 without a SIGTERM handler does not get the same SIGTERM at all', async () => {
    // Why kubexit must catch it: the kernel drops, at kill() time, a signal sent to a PID
    // namespace's init that has no handler for it (pid_namespaces(7)).
    const sleeper = new ContainerProcess(
      'control',
      nginxRoot,
      ['/bin/sh', '-c', 'echo up; exec sleep 600'],
      { PATH: IMAGE_PATH },
      [],
    );
    try {
      await sleeper.stdout(/^up$/m);
      const pid = await sleeper.pid;
      assert.equal(procStatus(pid).caught & signalBit(SIGTERM), 0n);
      process.kill(pid, 'SIGTERM');
      // A fatal signal would have marked the process for death (a pending SIGKILL) before
      // kill() returned; a caught one would be pending. Neither: it was dropped.
      const st = procStatus(pid);
      assert.equal(st.pending & (signalBit(SIGTERM) | signalBit(SIGKILL)), 0n);
      assert.doesNotMatch(st.state, /^[ZX]/);
    } finally {
      sleeper.proc.kill('SIGKILL'); // unshare --kill-child: its child goes too
      await sleeper.exited;
    }
  });
});
