// A real Kubernetes control plane for the tests (etcd + kube-apiserver on 127.0.0.1, started by
// scripts/kube-local.sh), an admin client that plays the kubelet by PATCHing pods/status, and
// service-account folders such as the kubelet mounts into pods.
//
// The control plane is the "k8s" part of the suite (requires.ts): skipped only when
// KUBEXIT_TEST_SKIP says so; if it cannot start, the tests fail saying why.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ROOT, type Run } from './kubexit.js';
import { RequirementError, skipReason } from './requires.js';
import { tempDir } from './temp.js';

const SCRIPT = join(ROOT, 'scripts', 'kube-local.sh');
const EXPORTS = [
  'KUBECONFIG',
  'KUBEXIT_K8S_STATE',
  'KUBEXIT_K8S_SERVER',
  'KUBEXIT_K8S_CA',
  'KUBEXIT_K8S_ADMIN_TOKEN',
  'KUBEXIT_K8S_NOBODY_TOKEN',
  'KUBEXIT_K8S_KUBECTL',
  'KUBEXIT_K8S_SERVICE_HOST',
  'KUBEXIT_K8S_SERVICE_PORT',
] as const;

export interface InstanceOptions {
  /**
   * A private instance of this test process: its own state folder and free ports, so that
   * concurrent runs never meet; purge() removes it. Without it, the shared default instance.
   */
  name?: string;
  /** Extra kube-apiserver flags; a running instance started with other flags is restarted. */
  apiserverArgs?: string;
}

/** A private instance for this process, on ports that are free now. */
export async function privateInstance(name: string, apiserverArgs?: string) {
  const [apiPort, etcdPort, etcdPeerPort] = [await freePort(), await freePort(), await freePort()];
  return {
    name: `${name}-${process.pid}`,
    apiserverArgs,
    ports: { apiPort, etcdPort, etcdPeerPort },
  };
}

/** A TCP port on 127.0.0.1 that is free now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export type ClusterOrSkip = { cluster: Cluster; skip: false } | { cluster?: never; skip: string };

/**
 * Starts the instance (building the binaries first if needed), or finds it running. Resolves
 * with `skip` (a reason) only when KUBEXIT_TEST_SKIP opts out of the k8s part; when the control
 * plane cannot start, rejects with a RequirementError that names the opt-out.
 */
export async function startCluster(
  opts: InstanceOptions & { ports?: Record<'apiPort' | 'etcdPort' | 'etcdPeerPort', number> } = {},
): Promise<ClusterOrSkip> {
  const skip = skipReason('k8s');
  if (skip) return { skip };
  const env = instanceEnv(opts);
  try {
    if (opts.apiserverArgs !== undefined) {
      const argsFile = join(env.KUBEXIT_K8S_STATE || '/tmp/kubexit-k8s', 'apiserver.args');
      const current = existsSync(argsFile) ? readFileSync(argsFile, 'utf8').trim() : undefined;
      if (current !== undefined && current !== opts.apiserverArgs.trim()) {
        // `up` would leave it running with the old flags.
        await script(['apiserver-stop'], { ...env, KUBEXIT_K8S_STOP_SIGNAL: 'KILL' });
      }
    }
    const out = await script(
      [
        '-c',
        `set -e; exports=$(bash "$0" up); eval "$exports"; for v in ${EXPORTS.join(' ')}; do printf '%s=%s\\0' "$v" "\${!v}"; done`,
        SCRIPT,
      ],
      env,
      'bash',
    );
    const vars = Object.fromEntries(
      out
        .split('\0')
        .filter((kv) => kv.includes('='))
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    ) as Record<(typeof EXPORTS)[number], string>;
    return { cluster: new Cluster(vars, env), skip: false };
  } catch (err) {
    throw new RequirementError('k8s', `scripts/kube-local.sh up failed: ${(err as Error).message}`);
  }
}

function instanceEnv(
  opts: InstanceOptions & { ports?: Record<'apiPort' | 'etcdPort' | 'etcdPeerPort', number> },
): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env };
  delete env.KUBEXIT_K8S_ONLY; // `up` must start both components
  if (opts.name) {
    // Nothing of the shared instance's identity may leak into a private one.
    env.KUBEXIT_K8S_STATE = `/tmp/kubexit-k8s-${opts.name}`;
    delete env.KUBEXIT_K8S_APISERVER_ARGS;
  }
  if (opts.ports) {
    env.KUBEXIT_K8S_API_PORT = String(opts.ports.apiPort);
    env.KUBEXIT_K8S_ETCD_PORT = String(opts.ports.etcdPort);
    env.KUBEXIT_K8S_ETCD_PEER_PORT = String(opts.ports.etcdPeerPort);
  }
  if (opts.apiserverArgs !== undefined) env.KUBEXIT_K8S_APISERVER_ARGS = opts.apiserverArgs;
  return env;
}

function script(
  args: string[],
  env: Record<string, string | undefined>,
  file = 'bash',
): Promise<string> {
  const argv = file === 'bash' && args[0] !== '-c' ? [SCRIPT, ...args] : args;
  return new Promise((resolve, reject) => {
    execFile(file, argv, { env, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      // The script's own "error: …" line says it best.
      const lines = stderr.split('\n').filter((l) => l.trim() !== '');
      reject(
        new Error(lines.filter((l) => / error: /.test(l)).at(-1) ?? lines.at(-1) ?? err.message),
      );
    });
  });
}

export interface ApiResult {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

export interface ContainerState {
  ready: boolean;
  started?: boolean;
}

export class Cluster {
  readonly server: string;
  readonly host: string;
  readonly port: string;
  readonly caFile: string;
  readonly kubeconfig: string;
  readonly kubectl: string;
  readonly nobodyToken: string;
  private readonly adminToken: string;
  private readonly ca: Buffer;
  private readonly agent: Agent;

  constructor(
    vars: Record<(typeof EXPORTS)[number], string>,
    private readonly env: Record<string, string | undefined>,
  ) {
    this.server = vars.KUBEXIT_K8S_SERVER;
    this.host = vars.KUBEXIT_K8S_SERVICE_HOST;
    this.port = vars.KUBEXIT_K8S_SERVICE_PORT;
    this.caFile = vars.KUBEXIT_K8S_CA;
    this.kubeconfig = vars.KUBECONFIG;
    this.kubectl = vars.KUBEXIT_K8S_KUBECTL;
    this.nobodyToken = vars.KUBEXIT_K8S_NOBODY_TOKEN;
    this.adminToken = vars.KUBEXIT_K8S_ADMIN_TOKEN;
    this.ca = readFileSync(this.caFile);
    this.agent = new Agent({ ca: this.ca, keepAlive: true });
  }

  /** kubectl against this cluster: its exit code and its output (stdout, then stderr). */
  runKubectl(args: string[]): Promise<{ code: number; out: string }> {
    return new Promise((resolve) => {
      execFile(
        this.kubectl,
        args,
        { env: { ...process.env, KUBECONFIG: this.kubeconfig } },
        (err, stdout, stderr) =>
          resolve({ code: err ? Number(err.code ?? 1) : 0, out: stdout + stderr }),
      );
    });
  }

  /** Stops the apiserver (etcd keeps running); KILL, so watches break at once, as in a crash. */
  async apiserverStop(): Promise<void> {
    await script(['apiserver-stop'], { ...this.env, KUBEXIT_K8S_STOP_SIGNAL: 'KILL' });
    this.agent.destroy();
  }

  async apiserverStart(): Promise<void> {
    await script(['apiserver-start'], this.env);
  }

  /** Stops etcd and the apiserver of a private instance and deletes its state folder. */
  async purge(): Promise<void> {
    this.agent.destroy();
    await script(['purge'], { ...this.env, KUBEXIT_K8S_STOP_SIGNAL: 'KILL' });
  }

  close(): void {
    this.agent.destroy();
  }

  api(method: string, path: string, body?: unknown, contentType = 'application/json') {
    return new Promise<ApiResult>((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = request(`${this.server}${path}`, {
        method,
        agent: this.agent,
        headers: {
          Authorization: `Bearer ${this.adminToken}`,
          Accept: 'application/json',
          // Content-Length always: Node does not chunk a DELETE's body, and an unannounced body
          // would be read as the start of the next request on this kept-alive connection.
          ...(data === undefined
            ? {}
            : { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(data) }),
        },
      });
      req.on('error', reject);
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // keep the text
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      });
      req.end(data);
    });
  }

  /** Like api(), but anything but 2xx throws with the API's message. */
  async must(method: string, path: string, body?: unknown, contentType?: string) {
    const r = await this.api(method, path, body, contentType);
    if (r.status < 200 || r.status > 299) {
      throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    }
    return r.body as Record<string, unknown>;
  }

  /** A fresh namespace, so tests never see each other's objects. */
  async namespace(prefix: string): Promise<string> {
    const name = `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
    await this.must('POST', '/api/v1/namespaces', { metadata: { name } });
    return name;
  }

  /** A pod as kubectl would create it: not yet running, no container statuses. */
  async createPod(
    ns: string,
    name: string,
    containers: string[],
    initContainers: { name: string; sidecar?: boolean }[] = [],
  ): Promise<void> {
    await this.must('POST', `/api/v1/namespaces/${ns}/pods`, {
      metadata: { name, labels: { app: 'kubexit-test' } },
      spec: {
        containers: containers.map((c) => ({ name: c, image: `registry.example/${c}:1.0` })),
        initContainers: initContainers.map((c) => ({
          name: c.name,
          image: `registry.example/${c.name}:1.0`,
          ...(c.sidecar ? { restartPolicy: 'Always' } : {}),
        })),
      },
    });
  }

  /**
   * What the kubelet would write: phase Running and a status for every container, with `ready`
   * and `started` as given (unlisted containers: started, not ready).
   */
  async setStatus(
    ns: string,
    pod: string,
    containers: Record<string, ContainerState>,
    initContainers: Record<string, ContainerState> = {},
  ): Promise<void> {
    await this.must(
      'PATCH',
      `/api/v1/namespaces/${ns}/pods/${pod}/status`,
      {
        status: {
          phase: 'Running',
          conditions: [
            {
              type: 'Ready',
              status: Object.values(containers).every((c) => c.ready) ? 'True' : 'False',
              lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
            },
          ],
          containerStatuses: Object.entries(containers).map(([n, s]) => containerStatus(n, s)),
          initContainerStatuses: Object.entries(initContainers).map(([n, s]) =>
            containerStatus(n, s),
          ),
        },
      },
      'application/strategic-merge-patch+json',
    );
  }

  async deletePod(ns: string, pod: string): Promise<void> {
    await this.must('DELETE', `/api/v1/namespaces/${ns}/pods/${pod}?gracePeriodSeconds=0`);
  }

  async createServiceAccount(ns: string, name: string): Promise<void> {
    await this.must('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { metadata: { name } });
  }

  /** The documented least-privilege grant: get, list and watch on pods, in one namespace. */
  async grantPodReader(ns: string, serviceAccount: string): Promise<void> {
    await this.must('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`, {
      metadata: { name: 'kubexit-pod-reader' },
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }],
    });
    await this.must('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, {
      metadata: { name: 'kubexit-pod-reader' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'kubexit-pod-reader' },
      subjects: [{ kind: 'ServiceAccount', name: serviceAccount, namespace: ns }],
    });
  }

  /** A bound service-account token from the TokenRequest API, as the kubelet projects it. */
  async token(ns: string, serviceAccount: string, seconds = 3600): Promise<string> {
    const body = await this.must(
      'POST',
      `/api/v1/namespaces/${ns}/serviceaccounts/${serviceAccount}/token`,
      {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { expirationSeconds: seconds },
      },
    );
    return (body.status as { token: string }).token;
  }

  async createConfigMap(ns: string, name: string, data: Record<string, string>): Promise<void> {
    await this.must('POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name }, data });
  }

  /** A folder laid out like /var/run/secrets/kubernetes.io/serviceaccount. */
  serviceAccountDir(ns: string, token: string): string {
    const dir = tempDir('kubexit-sa-');
    writeFileSync(join(dir, 'token'), token);
    writeFileSync(join(dir, 'ca.crt'), this.ca);
    writeFileSync(join(dir, 'namespace'), ns);
    return dir;
  }

  /** The environment of a kubexit in a pod of this cluster. */
  inPodEnv(saDir: string): Record<string, string | undefined> {
    return {
      KUBERNETES_SERVICE_HOST: this.host,
      KUBERNETES_SERVICE_PORT: this.port,
      KUBEXIT_SERVICE_ACCOUNT_DIR: saDir,
      KUBECONFIG: undefined,
    };
  }
}

function containerStatus(name: string, s: ContainerState) {
  const started = s.started ?? true;
  return {
    name,
    image: `registry.example/${name}:1.0`,
    imageID: `registry.example/${name}@sha256:${'0123456789abcdef'.repeat(4)}`,
    containerID: `containerd://${'f'.repeat(64)}`,
    ready: s.ready,
    started,
    restartCount: 0,
    state: started
      ? { running: { startedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z') } }
      : { waiting: { reason: 'ContainerCreating' } },
  };
}

/**
 * Resolves when kubexit's stderr matches `pattern` for the `times`-th time; rejects if kubexit
 * exits first, with what it logged, so that a test fails instead of hanging.
 */
export function logged(run: Run, pattern: RegExp, times = 1): Promise<RegExpMatchArray> {
  const one = pattern.source;
  const nth = times > 1 ? new RegExp(`(?:${one}[\\s\\S]*?){${times - 1}}${one}`) : pattern;
  return Promise.race([
    run.stderr(nth),
    run.exited.then((exit) => {
      throw new Error(
        `kubexit exited (${exit.code ?? exit.signal}) before logging ${pattern}:\n${exit.stderr}`,
      );
    }),
  ]);
}
