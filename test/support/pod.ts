// A pod on this machine, run the way a kubelet runs one: the Pod lives in the real apiserver,
// each container is a process in its own PID and mount namespaces (util-linux `unshare`) whose
// PID 1 is the container's entrypoint, chrooted into an "image" (a folder), with the pod's
// volumes, the service-account token and a kubelet-style /etc/hosts bind-mounted in. The
// network namespace is the host's: a pod's containers share one network namespace anyway, and
// the apiserver listens on the host's loopback.
//
// `Kubelet` starts the init containers one by one, then every app container at once, runs the
// readiness probes on their period, and PATCHes pods/status (strategic merge) as the state of
// each container changes. It is small on purpose: no restarts, no liveness or startup probes,
// tcpSocket readiness probes only.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import { readElf } from '../../src/tooling/install.js';
import type { Cluster } from './cluster.js';
import { ROOT, Watched, type Exit } from './kubexit.js';
import { executable, missing, needExecutables, ROOTS_DIR } from './roots.js';
import { tempDir } from './temp.js';

// ---------------------------------------------------------------------------------------------
// What this machine needs

const HOST_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

function which(name: string): string | undefined {
  return HOST_PATH.map((d) => join(d, name)).find((p) => existsSync(p));
}

const UNSHARE = which('unshare');
const MOUNT = which('mount');
const UMOUNT = which('umount');
const CHROOT = which('chroot');

/** A statically linked busybox: the only program of the app images. */
export function staticBusybox(): string | undefined {
  const candidates = [
    '/usr/bin/busybox',
    '/bin/busybox',
    join(ROOTS_DIR, 'empty', 'bin', 'busybox'),
  ];
  return candidates.find((p) => {
    try {
      return existsSync(p) && readElf(p).interp === undefined;
    } catch {
      return false;
    }
  });
}

/** `false` when simulated pods can run here, else the reason (requires.ts: skip or fail). */
export function podPrerequisites(): string | false {
  if (process.getuid?.() !== 0) return missing('needs root (namespaces, mounts, chroot)');
  const notBuilt = needExecutables('linux-x64');
  if (notBuilt) return notBuilt;
  for (const [tool, path] of Object.entries({
    unshare: UNSHARE,
    mount: MOUNT,
    umount: UMOUNT,
    chroot: CHROOT,
  })) {
    if (path === undefined) return missing(`no ${tool} command (util-linux / coreutils)`);
  }
  if (staticBusybox() === undefined) {
    return missing('no static busybox (apt-get install busybox-static)');
  }
  const probe = spawnSync(
    UNSHARE as string,
    ['--pid', '--mount', '--fork', '--kill-child', '/bin/true'],
    { encoding: 'utf8', timeout: 10_000 },
  );
  if (probe.status !== 0) {
    return missing(`unshare cannot make PID and mount namespaces here: ${probe.stderr.trim()}`);
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Images: folders that a container is chrooted into

/** The PATH a container gets when its image sets the usual one. */
export const IMAGE_PATH = HOST_PATH.join(':');

export interface Image {
  root: string;
  /** What runs when the container has no `command` (the image's ENTRYPOINT). */
  entrypoint?: string[];
  /**
   * Turns the container's command line into one this image can run: the images here have
   * busybox where the real ones have curl or nginx.
   */
  argv?: (argv: string[]) => string[];
  env?: Record<string, string>;
}

/** A root holding a static busybox and the given applets as links to it, plus `files`. */
export function busyboxImage(applets: string[], files: Record<string, string> = {}): string {
  const root = tempDir('kubexit-image-');
  mkdirSync(join(root, 'bin'));
  copyFileSync(staticBusybox() as string, join(root, 'bin', 'busybox'));
  for (const applet of applets) symlinkSync('busybox', join(root, 'bin', applet));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

/**
 * kubexit's own image as scripts/image-root.sh lays it out (what the Dockerfile ships): the
 * packaged executable at /usr/local/bin/kubexit and the glibc it needs, nothing else.
 */
export function kubexitImage(): Image {
  const root = join(tempDir('kubexit-image-'), 'rootfs');
  const made = spawnSync(
    'sh',
    [join(ROOT, 'scripts', 'image-root.sh'), 'amd64', executable('linux-x64'), root],
    { encoding: 'utf8', timeout: 60_000 },
  );
  if (made.status !== 0) throw new Error(`image-root.sh failed: ${made.stderr}`);
  return { root, entrypoint: ['/usr/local/bin/kubexit'] };
}

/** Removes an image folder made by busyboxImage() or kubexitImage(). */
export function removeImage(root: string): void {
  const dir = root.endsWith('/rootfs') ? dirname(root) : root;
  rmSync(dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------
// Containers: a process in new PID and mount namespaces

export interface Mount {
  source: string;
  /** Absolute path inside the container. */
  target: string;
  readOnly?: boolean;
}

/** How a container ended: the same shape as a kubexit run's. */
export type ContainerExit = Exit;

// Runs as PID 1 of the new PID namespace, inside the new mount namespace (private propagation,
// so nothing here is seen by the host), then execs the entrypoint through chroot: the
// entrypoint keeps PID 1. Before the new /proc is mounted, the host's /proc is still visible,
// and through it this shell learns the pid the host knows it by, the one a kubelet signals.
const SETUP = `set -eu
mount=$1 chroot=$2 root=$3 n=$4
shift 4
cd -P /proc/self
echo "container: host pid \${PWD#/proc/}" >&2
cd /
"$mount" -t proc -o nosuid,nodev,noexec proc "$root/proc"
"$mount" -t tmpfs -o nosuid,mode=0755,size=64k dev "$root/dev"
for d in null zero full random urandom; do
  : >"$root/dev/$d"
  "$mount" --bind "/dev/$d" "$root/dev/$d"
done
while [ "$n" -gt 0 ]; do
  "$mount" --bind "$1" "$root$2"
  if [ "$3" = ro ]; then "$mount" -o remount,bind,ro "$root$2"; fi
  shift 3
  n=$((n - 1))
done
exec "$chroot" "$root" "$@"
`;

/** A container: a process in new PID and mount namespaces, as startContainer() makes it. */
export class ContainerProcess extends Watched {
  /** The host's pid of the container's PID 1; rejects if the container ends before it runs. */
  readonly pid: Promise<number>;

  constructor(
    readonly name: string,
    root: string,
    argv: string[],
    env: Record<string, string>,
    mounts: Mount[],
  ) {
    super(startContainer(root, argv, env, mounts));
    this.pid = Promise.race([
      this.stderr(/^container: host pid (\d+)$/m).then((m) => Number(m[1])),
      this.exited.then((exit) => {
        throw new Error(`container ${name} ended (${exit.code}) before it ran:\n${exit.stderr}`);
      }),
    ]);
    this.pid.catch(() => undefined); // the kubelet reports it
  }

  /** Like stderr(), but rejects when the container ends first, so a test fails, not hangs. */
  logged(pattern: RegExp): Promise<RegExpMatchArray> {
    return Promise.race([
      this.stderr(pattern),
      this.exited.then((exit) => {
        throw new Error(
          `${this.name} ended (${exit.code}) before logging ${pattern}:\n${exit.stderr}`,
        );
      }),
    ]);
  }
}

function startContainer(
  root: string,
  argv: string[],
  env: Record<string, string>,
  mounts: Mount[],
): ChildProcess {
  mkdirSync(join(root, 'proc'), { recursive: true });
  mkdirSync(join(root, 'dev'), { recursive: true });
  for (const m of mounts) {
    const target = join(root, m.target);
    if (statSync(m.source).isDirectory()) {
      mkdirSync(target, { recursive: true });
    } else if (!existsSync(target)) {
      mkdirSync(dirname(target), { recursive: true });
      closeSync(openSync(target, 'a'));
    }
  }
  return spawn(
    UNSHARE as string,
    [
      '--pid',
      '--mount',
      '--fork',
      '--kill-child', // if unshare dies, so does the container
      '/bin/sh',
      '-c',
      SETUP,
      'container-setup',
      MOUNT as string,
      CHROOT as string,
      root,
      String(mounts.length),
      ...mounts.flatMap((m) => [m.source, m.target, m.readOnly ? 'ro' : 'rw']),
      ...argv,
    ],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
}

/** The kernel's view of a process: its pids from the host's namespace inward, caught signals. */
export function procStatus(pid: number) {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => text.match(new RegExp(`^${name}:\\s*(.*)$`, 'm'))?.[1] ?? '';
  return {
    nsPids: field('NSpid').split(/\s+/).map(Number),
    caught: BigInt(`0x${field('SigCgt')}`),
    pending: BigInt(`0x${field('SigPnd')}`) | BigInt(`0x${field('ShdPnd')}`),
    state: field('State'),
  };
}

export function signalBit(n: number): bigint {
  return 1n << BigInt(n - 1);
}

// ---------------------------------------------------------------------------------------------
// The Pod as the apiserver holds it (the fields used here)

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string } };
}

export interface Probe {
  tcpSocket?: { port: number | string; host?: string };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
}

export interface ContainerSpec {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  ports?: { containerPort: number; name?: string }[];
  readinessProbe?: Probe;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}

export interface Volume {
  name: string;
  emptyDir?: { medium?: string };
}

export interface PodSpec {
  containers: ContainerSpec[];
  initContainers?: ContainerSpec[];
  volumes?: Volume[];
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  restartPolicy?: string;
  terminationGracePeriodSeconds?: number;
  nodeName?: string;
}

export interface Pod {
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    labels?: Record<string, string>;
    deletionTimestamp?: string;
    deletionGracePeriodSeconds?: number;
  };
  spec: PodSpec;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  status?: any;
}

export interface PodTemplate {
  metadata?: { labels?: Record<string, string> };
  spec: PodSpec;
}

export const EXAMPLE = join(ROOT, 'examples', 'client-server-job');

/** The pod template of a Job manifest. */
export function jobPodTemplate(file: string): { jobName: string; template: PodTemplate } {
  const job = parse(readFileSync(file, 'utf8')) as {
    kind: string;
    metadata: { name: string };
    spec: { template: PodTemplate };
  };
  if (job.kind !== 'Job') throw new Error(`${file}: a ${job.kind}, not a Job`);
  return { jobName: job.metadata.name, template: job.spec.template };
}

/** The value of a downward-API fieldRef, as the kubelet resolves it. */
function fieldValue(pod: Pod, path: string): string {
  const values: Record<string, string | undefined> = {
    'metadata.name': pod.metadata.name,
    'metadata.namespace': pod.metadata.namespace,
    'metadata.uid': pod.metadata.uid,
    'spec.nodeName': pod.spec.nodeName,
    'spec.serviceAccountName': pod.spec.serviceAccountName,
    'status.podIP': POD_IP,
    'status.hostIP': POD_IP,
  };
  const value = values[path];
  if (value === undefined) throw new Error(`fieldRef ${path} is not simulated`);
  return value;
}

// ---------------------------------------------------------------------------------------------
// The kubelet

/** The pod's IP: the host's loopback, since the network namespace is the host's. */
const POD_IP = '127.0.0.1';
export const NODE_NAME = 'kubexit-sim-node';
const SERVICE_ACCOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface TimedEvent {
  /** Wall-clock milliseconds (Date.now()), comparable with tombstone and log times. */
  at: number;
  what: string;
}

type State =
  | { waiting: { reason: string } }
  | { running: { startedAt: string } }
  | {
      terminated: {
        exitCode: number;
        reason: string;
        startedAt?: string;
        finishedAt: string;
        containerID?: string;
      };
    };

interface Status {
  spec: ContainerSpec;
  ready: boolean;
  started: boolean;
  state: State;
  containerID?: string;
}

export interface KubeletOptions {
  k8s: Cluster;
  /** The pod as the apiserver returned it, bound to this node. */
  pod: Pod;
  /** By image reference: what each image is here. */
  images: Record<string, Image>;
  /** By volume name: the host folder that backs it. */
  volumes: Record<string, string>;
  serviceAccountDir: string;
  /** Environment the kubelet adds to every container (KUBERNETES_SERVICE_HOST and _PORT). */
  serviceEnv: Record<string, string>;
}

export class Kubelet {
  readonly events: TimedEvent[] = [];
  readonly containers = new Map<string, ContainerProcess>();
  private readonly pod: Pod;
  private readonly init: Status[];
  private readonly apps: Status[];
  private readonly conditions = new Map<string, { status: string; since: string }>();
  private readonly startTime = now();
  private phase = 'Pending';
  private patches: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  private readonly startedWaiters = new Map<
    string,
    { resolve: (c: ContainerProcess) => void; reject: (err: Error) => void }
  >();
  private readonly stoppers = new Set<() => void>();
  readonly hostsFile: string;

  constructor(private readonly opts: KubeletOptions) {
    this.pod = opts.pod;
    const fresh = (spec: ContainerSpec): Status => ({
      spec,
      ready: false,
      started: false,
      state: { waiting: { reason: 'PodInitializing' } },
    });
    this.init = (this.pod.spec.initContainers ?? []).map(fresh);
    this.apps = this.pod.spec.containers.map(fresh);
    // The kubelet-managed /etc/hosts: the pod's own name resolves to its IP.
    this.hostsFile = join(tempDir('kubexit-etc-hosts-'), 'hosts');
    writeFileSync(
      this.hostsFile,
      `# /etc/hosts of pod ${this.pod.metadata.name}, written by the simulated kubelet\n` +
        `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n` +
        `${POD_IP}\t${this.pod.metadata.name}\n`,
    );
  }

  private record(what: string): void {
    this.events.push({ at: Date.now(), what });
  }

  /** Resolves once the app container `name` runs (its PID 1 exists). */
  started(name: string): Promise<ContainerProcess> {
    const running = this.containers.get(name);
    if (running) return running.pid.then(() => running);
    return new Promise((resolve, reject) => this.startedWaiters.set(name, { resolve, reject }));
  }

  /** Runs the pod until every app container has ended; the final status is PATCHed. */
  async run(): Promise<void> {
    this.condition('PodScheduled', true);
    this.condition('Initialized', this.init.length === 0);
    this.sync();
    for (const status of this.init) {
      const exit = await this.runContainer(status, 'init container');
      if (exit.code !== 0) {
        this.phase = 'Failed';
        for (const s of this.apps) s.state = { waiting: { reason: 'PodInitializing' } };
        this.sync();
        await this.patches;
        throw new Error(
          `init container ${status.spec.name} failed (${exit.code}):\n${exit.stderr}`,
        );
      }
    }
    this.condition('Initialized', true);
    for (const s of this.apps) s.state = { waiting: { reason: 'ContainerCreating' } };
    this.sync();
    await Promise.all(this.apps.map((s) => this.runContainer(s, 'container')));
    const codes = this.apps.map((s) =>
      'terminated' in s.state ? s.state.terminated.exitCode : -1,
    );
    this.phase = codes.every((c) => c === 0) ? 'Succeeded' : 'Failed';
    this.record(`pod: ${this.phase}`);
    this.sync();
    await this.patches;
    if (this.failure) throw this.failure;
  }

  /**
   * Pod deletion as the kubelet carries it out: SIGTERM to every container's PID 1 at once,
   * SIGKILL to those still running after the grace period. run() then sees them end.
   */
  async kill(gracePeriodSeconds: number): Promise<void> {
    this.record('pod: killing');
    await Promise.all(
      [...this.containers.values()]
        .filter((c) => c.running)
        .map(async (c) => {
          const pid = await c.pid;
          process.kill(pid, 'SIGTERM');
          this.record(`${c.name}: SIGTERM to its PID 1`);
          const timer = setTimeout(() => {
            if (!c.running) return;
            this.record(`${c.name}: SIGKILL after ${gracePeriodSeconds}s`);
            process.kill(pid, 'SIGKILL');
          }, gracePeriodSeconds * 1000);
          await c.exited;
          clearTimeout(timer);
        }),
    );
  }

  /** The kubelet's last word on a deleted pod: delete it for good, now that nothing runs. */
  async finishDeletion(): Promise<void> {
    const { name, namespace } = this.pod.metadata;
    // In the query, not as DeleteOptions in a body: Cluster.api() sends a DELETE's body
    // without a length, which spoils the next request on the kept-alive connection.
    await this.opts.k8s.must(
      'DELETE',
      `/api/v1/namespaces/${namespace}/pods/${name}?gracePeriodSeconds=0`,
    );
    this.record('pod: deleted');
  }

  /** Ends whatever still runs (a failed test), at once. */
  dispose(): void {
    for (const stop of this.stoppers) stop();
    for (const c of this.containers.values()) if (c.running) c.proc.kill('SIGKILL');
    rmSync(dirname(this.hostsFile), { recursive: true, force: true });
  }

  private async runContainer(status: Status, kind: string): Promise<ContainerExit> {
    const { spec } = status;
    const image = this.opts.images[spec.image];
    if (image === undefined) throw new Error(`no image ${spec.image} on this node`);
    let argv = [...(spec.command ?? image.entrypoint ?? []), ...(spec.args ?? [])];
    if (image.argv) argv = image.argv(argv);
    const env: Record<string, string> = {
      PATH: IMAGE_PATH,
      ...image.env,
      HOSTNAME: this.pod.metadata.name,
      ...this.opts.serviceEnv,
    };
    for (const e of spec.env ?? []) {
      const ref = e.valueFrom?.fieldRef?.fieldPath;
      env[e.name] = ref === undefined ? (e.value ?? '') : fieldValue(this.pod, ref);
    }
    const mounts: Mount[] = (spec.volumeMounts ?? []).map((m) => {
      const source = this.opts.volumes[m.name];
      if (source === undefined) throw new Error(`no volume ${m.name} for ${spec.name}`);
      return { source, target: m.mountPath, readOnly: m.readOnly };
    });
    if (this.pod.spec.automountServiceAccountToken !== false) {
      mounts.push({
        source: this.opts.serviceAccountDir,
        target: SERVICE_ACCOUNT_PATH,
        readOnly: true,
      });
    }
    mounts.push({ source: this.hostsFile, target: '/etc/hosts' });

    const container = new ContainerProcess(spec.name, image.root, argv, env, mounts);
    this.containers.set(spec.name, container);
    let stopProbe = (): void => undefined;
    try {
      await container.pid;
      status.containerID = `containerd://${randomBytes(32).toString('hex')}`;
      status.state = { running: { startedAt: now() } };
      status.started = true;
      // Without a readiness probe a container is ready once it runs.
      status.ready = kind === 'container' && spec.readinessProbe === undefined;
      this.record(`${spec.name}: running`);
      this.sync();
      this.startedWaiters.get(spec.name)?.resolve(container);
      if (kind === 'container' && spec.readinessProbe) {
        stopProbe = this.probe(status, spec.readinessProbe);
      }
    } catch (err) {
      this.failure ??= err as Error;
      this.startedWaiters.get(spec.name)?.reject(err as Error);
    }
    const exit = await container.exited;
    stopProbe();
    const startedAt = 'running' in status.state ? status.state.running.startedAt : undefined;
    // unshare passes its child's exit code on; a container ended by a signal is 128+N. (When
    // its child dies of SIGKILL, util-linux 2.38's unshare says 1 instead: not seen here.)
    const code = exit.code ?? 128 + (exit.signal === null ? 0 : constants.signals[exit.signal]);
    status.state = {
      terminated: {
        exitCode: code,
        reason: code === 0 ? 'Completed' : 'Error',
        startedAt,
        finishedAt: now(),
        containerID: status.containerID,
      },
    };
    status.ready = false;
    status.started = false;
    this.record(`${spec.name}: exited ${code}`);
    this.sync();
    return exit;
  }

  /** The readiness probe's worker: on its period, from initialDelaySeconds on. */
  private probe(status: Status, probe: Probe): () => void {
    const { spec } = status;
    const tcp = probe.tcpSocket;
    if (tcp === undefined) throw new Error(`${spec.name}: only tcpSocket probes are simulated`);
    const port =
      typeof tcp.port === 'number'
        ? tcp.port
        : spec.ports?.find((p) => p.name === tcp.port)?.containerPort;
    if (port === undefined) throw new Error(`${spec.name}: no port ${tcp.port}`);
    const host = tcp.host ?? POD_IP;
    const period = (probe.periodSeconds ?? 10) * 1000;
    const delay = (probe.initialDelaySeconds ?? 0) * 1000;
    const timeout = (probe.timeoutSeconds ?? 1) * 1000;
    const successes = probe.successThreshold ?? 1;
    const failures = probe.failureThreshold ?? 3;
    const since = Date.now();
    let row = 0; // consecutive results: > 0 successes, < 0 failures
    let busy = false;
    let stopped = false;
    const tick = (): void => {
      if (busy || stopped || Date.now() - since < delay) return;
      busy = true;
      tcpConnects(host, port, timeout).then((ok) => {
        busy = false;
        if (stopped) return;
        row = ok ? Math.max(row, 0) + 1 : Math.min(row, 0) - 1;
        if (!status.ready && row >= successes) this.setReady(status, true);
        if (status.ready && -row >= failures) this.setReady(status, false);
      });
    };
    // The kubelet's own polling: the one timer of the simulation.
    const timer = setInterval(tick, period);
    const stop = (): void => {
      stopped = true;
      clearInterval(timer);
      this.stoppers.delete(stop);
    };
    this.stoppers.add(stop);
    return stop;
  }

  private setReady(status: Status, ready: boolean): void {
    status.ready = ready;
    this.record(`${status.spec.name}: ${ready ? 'ready' : 'not ready'}`);
    this.sync();
  }

  private condition(type: string, ok: boolean): void {
    const status = ok ? 'True' : 'False';
    if (this.conditions.get(type)?.status !== status) {
      this.conditions.set(type, { status, since: now() });
    }
  }

  /** Queues a PATCH of pods/status with the state as it is now; PATCHes go out one by one. */
  private sync(): void {
    const allReady = this.apps.every((s) => s.ready);
    this.condition('ContainersReady', allReady);
    this.condition('Ready', allReady);
    if (this.phase === 'Pending' && this.apps.some((s) => 'running' in s.state)) {
      this.phase = 'Running';
    }
    const body = {
      status: {
        phase: this.phase,
        hostIP: POD_IP,
        podIP: POD_IP,
        podIPs: [{ ip: POD_IP }],
        startTime: this.startTime,
        conditions: [...this.conditions].map(([type, c]) => ({
          type,
          status: c.status,
          lastProbeTime: null,
          lastTransitionTime: c.since,
        })),
        initContainerStatuses: this.init.map(apiStatus),
        containerStatuses: this.apps.map(apiStatus),
      },
    };
    const { name, namespace } = this.pod.metadata;
    this.patches = this.patches.then(async () => {
      try {
        await this.opts.k8s.must(
          'PATCH',
          `/api/v1/namespaces/${namespace}/pods/${name}/status`,
          body,
          'application/strategic-merge-patch+json',
        );
      } catch (err) {
        // A pod deleted for good takes no more status: that is the end of a deletion.
        if (!/: 404 /.test((err as Error).message)) this.failure ??= err as Error;
      }
    });
  }
}

/** One container's status as the API has it; null removes a state the container has left. */
function apiStatus(s: Status) {
  const state = s.state as Partial<Record<'waiting' | 'running' | 'terminated', unknown>>;
  return {
    name: s.spec.name,
    image: s.spec.image,
    imageID: s.containerID === undefined ? '' : `${s.spec.image}@sha256:${'5eed'.repeat(16)}`,
    ...(s.containerID === undefined ? {} : { containerID: s.containerID }),
    ready: s.ready,
    started: s.started,
    restartCount: 0,
    state: {
      waiting: state.waiting ?? null,
      running: state.running ?? null,
      terminated: state.terminated ?? null,
    },
  };
}

function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

function tcpConnects(host: string, port: number, timeout: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}

// ---------------------------------------------------------------------------------------------
// Putting a pod on the node

export interface SimulatedPod {
  pod: Pod;
  kubelet: Kubelet;
  /** Host folders backing the pod's volumes, by name. */
  volumes: Record<string, string>;
  dispose(): void;
}

/**
 * What `kubectl apply -k` and the Job controller, scheduler and kubelet do before any container
 * starts: the example's ServiceAccount, Role and RoleBinding in `namespace` (if it has them), a
 * Pod from the template bound to this node, a token bound to that Pod in a service-account
 * folder (unless `automountServiceAccountToken: false`), and the pod's emptyDir volumes (a tmpfs
 * for `medium: Memory`). `example`: the folder of the manifests (client-server-job's default).
 */
export async function schedulePod(
  k8s: Cluster,
  namespace: string,
  job: { jobName: string; template: PodTemplate },
  images: Record<string, Image>,
  example = EXAMPLE,
): Promise<SimulatedPod> {
  const base = `/api/v1/namespaces/${namespace}`;
  const rbac = `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}`;
  const manifest = (file: string) =>
    parse(readFileSync(join(example, file), 'utf8')) as Record<string, unknown> & {
      metadata: Record<string, unknown>;
    };
  // An example without them (no-rbac-job) gets none: its pod has no access to the API.
  if (existsSync(join(example, 'service-account.yaml'))) {
    const sa = manifest('service-account.yaml');
    await k8s.must('POST', `${base}/serviceaccounts`, sa);
    await k8s.must('POST', `${rbac}/roles`, manifest('role.yaml'));
    const binding = manifest('role-binding.yaml') as ReturnType<typeof manifest> & {
      subjects: { kind: string; namespace?: string }[];
    };
    // As kustomize's `namespace:` does: service-account subjects are in that namespace.
    for (const s of binding.subjects) if (s.kind === 'ServiceAccount') s.namespace = namespace;
    await k8s.must('POST', `${rbac}/rolebindings`, binding);
  }

  // The Job controller's pod: <job>-<5 random characters>, the template's labels plus its own.
  const name = `${job.jobName}-${Math.random().toString(36).slice(2, 7)}`;
  await k8s.must('POST', `${base}/pods`, {
    metadata: {
      name,
      labels: { ...job.template.metadata?.labels, 'job-name': job.jobName },
    },
    spec: job.template.spec,
  });
  // The scheduler's binding.
  await k8s.must('POST', `${base}/pods/${name}/binding`, {
    apiVersion: 'v1',
    kind: 'Binding',
    metadata: { name },
    target: { apiVersion: 'v1', kind: 'Node', name: NODE_NAME },
  });
  const pod = (await k8s.must('GET', `${base}/pods/${name}`)) as unknown as Pod;

  // The projected token the kubelet mounts, bound to this pod: none when the pod opts out
  // (the kubelet then mounts nothing, and this folder stays empty and unused).
  let serviceAccountDir = tempDir('kubexit-sa-none-');
  if (pod.spec.automountServiceAccountToken !== false) {
    rmSync(serviceAccountDir, { recursive: true, force: true });
    const account = pod.spec.serviceAccountName ?? 'default';
    const request = await k8s.must('POST', `${base}/serviceaccounts/${account}/token`, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: {
        expirationSeconds: 3607,
        boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name, uid: pod.metadata.uid },
      },
    });
    serviceAccountDir = k8s.serviceAccountDir(
      namespace,
      (request.status as { token: string }).token,
    );
  }

  const volumes: Record<string, string> = {};
  const unmounts: string[] = [];
  const cleanup = (): void => {
    for (const dir of unmounts) spawnSync(UMOUNT as string, ['-l', dir]);
    for (const dir of Object.values(volumes)) rmSync(dir, { recursive: true, force: true });
    rmSync(serviceAccountDir, { recursive: true, force: true });
  };
  try {
    for (const v of pod.spec.volumes ?? []) {
      if (v.emptyDir === undefined) throw new Error(`volume ${v.name}: only emptyDir is simulated`);
      const dir = tempDir(`kubexit-volume-${v.name}-`);
      volumes[v.name] = dir;
      if (v.emptyDir.medium === 'Memory') {
        const r = spawnSync(MOUNT as string, ['-t', 'tmpfs', '-o', 'size=16m', v.name, dir], {
          encoding: 'utf8',
        });
        if (r.status !== 0) throw new Error(`mount tmpfs on ${dir}: ${r.stderr}`);
        unmounts.push(dir);
      }
    }
  } catch (err) {
    cleanup();
    throw err;
  }
  const kubelet = new Kubelet({
    k8s,
    pod,
    images,
    volumes,
    serviceAccountDir,
    serviceEnv: { KUBERNETES_SERVICE_HOST: k8s.host, KUBERNETES_SERVICE_PORT: k8s.port },
  });
  return {
    pod,
    kubelet,
    volumes,
    dispose: () => {
      kubelet.dispose();
      cleanup();
    },
  };
}
