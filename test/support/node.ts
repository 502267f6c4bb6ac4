// The real single-node cluster of scripts/kube-node.sh as the tests use it: kubectl and the API
// as its admin, watches that resolve when an object reaches a state, `kubectl logs -f` followers,
// the host side of a pod's emptyDir volumes, and kustomize overlays that point the examples at
// the images this machine has.
//
// The tests only use a cluster that is up; they never start or stop it (`up` takes minutes cold
// and needs root). When it is not up, findNode() says why, for the tests to skip.
import { execFile, spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { isAbsolute, join, relative } from 'node:path';
import { ROOT, Watched } from './kubexit.js';
import { tempDir } from './temp.js';

export const NODE_SCRIPT = join(ROOT, 'scripts', 'kube-node.sh');
export const EXAMPLES = join(ROOT, 'examples');

const ENV_NAMES = [
  'KUBECONFIG',
  'KUBEXIT_NODE_SERVER',
  'KUBEXIT_NODE_CA',
  'KUBEXIT_NODE_ADMIN_CERT',
  'KUBEXIT_NODE_ADMIN_KEY',
  'KUBEXIT_NODE_KUBECTL',
  'KUBEXIT_NODE_NAME',
  'KUBEXIT_NODE_KUBELET_ROOT',
  'KUBEXIT_NODE_KUBEXIT_IMAGE',
] as const;
type NodeEnv = Record<(typeof ENV_NAMES)[number], string>;

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], env?: Record<string, string>): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { env: { ...process.env, ...env }, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

export type NodeOrSkip = { node: RealNode; skip: false } | { node?: never; skip: string };

/** The cluster if `kube-node.sh status` says it is up and Ready, else why not. */
export async function findNode(): Promise<NodeOrSkip> {
  if (process.getuid?.() !== 0) return { skip: 'the real node needs root' };
  const status = await run('bash', [NODE_SCRIPT, 'status']);
  if (status.code !== 0) {
    const down = status.stdout
      .split('\n')
      .filter((l) => / (stopped|not ready)$/.test(l))
      .map((l) => l.replace(/\s+(stopped|not ready)$/, ''));
    return {
      skip: `the single-node cluster is not up (${down.join(', ')} down; start it: sudo scripts/kube-node.sh up)`,
    };
  }
  const out = await run('bash', [
    '-c',
    `set -e; eval "$(bash "$0" env)"; for v in ${ENV_NAMES.join(' ')}; do printf '%s=%s\\0' "$v" "\${!v}"; done`,
    NODE_SCRIPT,
  ]);
  if (out.code !== 0) return { skip: `kube-node.sh env failed: ${out.stderr}` };
  const env = Object.fromEntries(
    out.stdout
      .split('\0')
      .filter((kv) => kv.includes('='))
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  ) as NodeEnv;
  return { node: new RealNode(env), skip: false };
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid: string;
  resourceVersion: string;
  deletionTimestamp?: string;
  annotations?: Record<string, string>;
  finalizers?: string[];
}

export interface ContainerState {
  running?: { startedAt: string };
  terminated?: { exitCode: number; reason?: string; startedAt: string; finishedAt: string };
  waiting?: { reason: string };
}

export interface ContainerStatus {
  name: string;
  ready: boolean;
  restartCount: number;
  state: ContainerState;
}

export interface PodObject {
  metadata: ObjectMeta;
  spec: {
    nodeName?: string;
    serviceAccountName?: string;
    volumes: { name: string; secret?: { secretName: string } }[];
    containers: { name: string; volumeMounts?: { name: string; mountPath: string }[] }[];
  };
  status: {
    phase: string;
    hostIP?: string;
    podIP?: string;
    initContainerStatuses?: ContainerStatus[];
    containerStatuses?: ContainerStatus[];
  };
}

export interface JobObject {
  metadata: ObjectMeta;
  status: { succeeded?: number; failed?: number; active?: number; conditions?: { type: string }[] };
}

interface List<T> {
  metadata: { resourceVersion: string };
  items: T[];
}

/**
 * The output in a CRI log file: lines `<time> <stream> <F|P> <text>`, where P marks a part of a
 * line that the next entry continues.
 */
export function criLog(text: string): string {
  let out = '';
  for (const line of text.split('\n')) {
    const m = /^\S+ (?:stdout|stderr) ([FP]) ?(.*)$/.exec(line);
    if (m) out += (m[2] ?? '') + (m[1] === 'F' ? '\n' : '');
  }
  return out;
}

/** What each container ended with, `name=code`, init containers included, sorted. */
export function exitCodes(pod: PodObject): string[] {
  return [...(pod.status.initContainerStatuses ?? []), ...(pod.status.containerStatuses ?? [])]
    .map((s) => `${s.name}=${s.state.terminated?.exitCode ?? 'not terminated'}`)
    .sort();
}

export class RealNode {
  readonly kubeletRoot: string;
  readonly nodeName: string;
  /** The kubexit image as imported into containerd, e.g. docker.io/local/kubexit:0.4.0-amd64. */
  readonly kubexitImage: string;
  private readonly agent: Agent;
  private readonly namespaces: string[] = [];
  private readonly followers = new Set<Watched>();
  private readonly overlays: string[] = [];

  constructor(private readonly env: NodeEnv) {
    this.kubeletRoot = env.KUBEXIT_NODE_KUBELET_ROOT;
    this.nodeName = env.KUBEXIT_NODE_NAME;
    this.kubexitImage = env.KUBEXIT_NODE_KUBEXIT_IMAGE;
    this.agent = new Agent({
      ca: readFileSync(env.KUBEXIT_NODE_CA),
      cert: readFileSync(env.KUBEXIT_NODE_ADMIN_CERT),
      key: readFileSync(env.KUBEXIT_NODE_ADMIN_KEY),
      keepAlive: true,
    });
  }

  kubectl(args: string[]): Promise<Ran> {
    return run(this.env.KUBEXIT_NODE_KUBECTL, args, { KUBECONFIG: this.env.KUBECONFIG });
  }

  async mustKubectl(args: string[]): Promise<string> {
    const r = await this.kubectl(args);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    return r.stdout;
  }

  /** kube-node.sh COMMAND… (image imports). */
  async script(args: string[]): Promise<void> {
    const r = await run('bash', [NODE_SCRIPT, ...args]);
    if (r.code !== 0)
      throw new Error(`kube-node.sh ${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
  }

  /** A new namespace, deleted (with everything in it) by close(). */
  async namespace(prefix: string): Promise<string> {
    const name = `${prefix}-${process.pid}-${this.namespaces.length}`;
    await this.mustKubectl(['create', 'namespace', name]);
    this.namespaces.push(name);
    return name;
  }

  async get<T>(path: string): Promise<T> {
    const res = await this.request('GET', path);
    if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${res.body}`);
    return JSON.parse(res.body) as T;
  }

  private request(method: string, path: string): Promise<{ status: number; body: string }> {
    const url = new URL(path, this.env.KUBEXIT_NODE_SERVER);
    return new Promise((resolve, reject) => {
      const req = request(url, { method, agent: this.agent }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  /**
   * Lists `collection` (an API path with its query) and watches it until `accept`, given every
   * object as last seen, returns one; rejects after `timeoutMs`.
   */
  async until<T extends { metadata: ObjectMeta }>(
    collection: string,
    accept: (items: T[]) => T | undefined,
    timeoutMs: number,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let seen: T[] = [];
    while (Date.now() < deadline) {
      const list = await this.get<List<T>>(collection);
      seen = list.items;
      const now = accept(seen);
      if (now) return now;
      const found = await this.watchFrom(
        collection,
        list.metadata.resourceVersion,
        seen,
        accept,
        deadline,
      );
      if (found) return found;
    }
    throw new Error(
      `timed out after ${timeoutMs} ms watching ${collection}; last seen:\n${JSON.stringify(seen, null, 1)}`,
    );
  }

  private watchFrom<T extends { metadata: ObjectMeta }>(
    collection: string,
    resourceVersion: string,
    seen: T[],
    accept: (items: T[]) => T | undefined,
    deadline: number,
  ): Promise<T | undefined> {
    const sep = collection.includes('?') ? '&' : '?';
    const seconds = Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
    const url = new URL(
      `${collection}${sep}watch=1&resourceVersion=${resourceVersion}&timeoutSeconds=${seconds}`,
      this.env.KUBEXIT_NODE_SERVER,
    );
    const byName = new Map(seen.map((o) => [o.metadata.name, o]));
    return new Promise((resolve, reject) => {
      const req = request(url, { agent: this.agent }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          resolve(undefined); // e.g. 410 Gone: list again
          return;
        }
        let buffer = '';
        res.setEncoding('utf8').on('data', (d: string) => {
          buffer += d;
          let nl: number;
          while ((nl = buffer.indexOf('\n')) >= 0) {
            const event = JSON.parse(buffer.slice(0, nl)) as { type: string; object: T };
            buffer = buffer.slice(nl + 1);
            if (event.type === 'DELETED') byName.delete(event.object.metadata.name);
            else if (event.type === 'ADDED' || event.type === 'MODIFIED') {
              byName.set(event.object.metadata.name, event.object);
            } else continue;
            const found = accept([...byName.values()]);
            if (found) {
              resolve(found);
              req.destroy();
              return;
            }
          }
        });
        res.on('end', () => resolve(undefined));
        res.on('error', () => resolve(undefined));
      });
      req.on('error', (err) => (req.destroyed ? resolve(undefined) : reject(err)));
      req.end();
    });
  }

  /** `kubectl logs -f` of one container: its whole log, then each new line, until it ends. */
  follow(namespace: string, pod: string, container: string): Watched {
    const proc = spawn(
      this.env.KUBEXIT_NODE_KUBECTL,
      ['logs', '--follow', '--namespace', namespace, pod, '--container', container],
      {
        env: { ...process.env, KUBECONFIG: this.env.KUBECONFIG },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const watched = new Watched(proc);
    this.followers.add(watched);
    void watched.exited.then(() => this.followers.delete(watched));
    return watched;
  }

  /** The whole log of a container, as `kubectl logs` prints it (stdout and stderr merged). */
  logs(namespace: string, pod: string, container: string): Promise<string> {
    return this.mustKubectl(['logs', '--namespace', namespace, pod, '--container', container]);
  }

  /**
   * A container's log file (the CRI's, under /var/log/pods), opened now. For a deleted pod the
   * kubelet removes the containers, and their logs, as soon as they exited; the open file
   * still reads whole, and once the kubelet reports the container terminated it is complete
   * (the runtime drains the output first).
   */
  openLog(pod: PodObject, container: string): { read(): string } {
    const status = pod.status.containerStatuses?.find((s) => s.name === container);
    const file = join(
      '/var/log/pods',
      `${pod.metadata.namespace}_${pod.metadata.name}_${pod.metadata.uid}`,
      container,
      `${status?.restartCount ?? 0}.log`,
    );
    const fd = openSync(file, 'r');
    return {
      read: () => {
        try {
          return criLog(readFileSync(fd, 'utf8'));
        } finally {
          closeSync(fd);
        }
      },
    };
  }

  /**
   * The host pids of the pod's processes whose command line starts with `argv` (found by the
   * pod's cgroup, which the kubelet names after its uid).
   */
  pids(pod: PodObject, argv: string[]): number[] {
    const prefix = argv.map((a) => `${a}\0`).join('');
    const found: number[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const cgroups = readFileSync(`/proc/${entry}/cgroup`, 'utf8');
        if (!cgroups.includes(`/pod${pod.metadata.uid}/`)) continue;
        if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').startsWith(prefix))
          found.push(Number(entry));
      } catch {
        // gone meanwhile
      }
    }
    return found;
  }

  /** Where the kubelet keeps a pod's emptyDir volume on this machine. */
  emptyDir(pod: PodObject, volume: string): string {
    return join(
      this.kubeletRoot,
      'pods',
      pod.metadata.uid,
      'volumes',
      'kubernetes.io~empty-dir',
      volume,
    );
  }

  /**
   * A kustomize overlay of an example: its manifests as they are, in `namespace`, with the
   * example's images replaced by `images` (image name → name:tag here) and `patches` (strategic
   * merge) applied. kubectl 1.20 embeds kustomize 2.0, hence `bases`.
   */
  overlay(
    example: string,
    namespace: string,
    images: Record<string, string>,
    patches: object[] = [],
  ): string {
    const dir = tempDir('kubexit-overlay-');
    this.overlays.push(dir);
    patches.forEach((p, i) =>
      writeFileSync(join(dir, `patch-${i}.yaml`), JSON.stringify(p, null, 1)),
    );
    const kustomization = {
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      namespace,
      // An example's name, or the absolute path of another base (a test fixture).
      bases: [relative(dir, isAbsolute(example) ? example : join(EXAMPLES, example))],
      images: Object.entries(images).map(([name, ref]) => {
        const colon = ref.lastIndexOf(':');
        return { name, newName: ref.slice(0, colon), newTag: ref.slice(colon + 1) };
      }),
      patchesStrategicMerge: patches.map((_, i) => `patch-${i}.yaml`),
    };
    writeFileSync(join(dir, 'kustomization.yaml'), JSON.stringify(kustomization, null, 1));
    return dir;
  }

  /** Deletes the namespaces made here (their pods get the kubelet's SIGTERM) and ends followers. */
  async close(): Promise<void> {
    for (const f of this.followers) f.proc.kill('SIGTERM');
    if (this.namespaces.length) {
      await this.kubectl(['delete', 'namespace', '--wait=false', ...this.namespaces]);
    }
    this.agent.destroy();
    for (const dir of this.overlays) rmSync(dir, { recursive: true, force: true });
  }
}
