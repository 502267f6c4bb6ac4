// Where the Kubernetes API is and how to authenticate to it.
//
// In a pod (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT set) the in-cluster setup is
// three facts: the service address, the CA and the service-account token. It is done here,
// without @kubernetes/client-node: its KubeConfig pulls ~1.5 MB of code in (the generated API
// models come with it), which costs ~80 ms and ~20 MB of memory at every start, and its
// token-file provider re-reads a rotated token only once a minute. Here the token is read again
// for every request, so a projected token that the kubelet rotated is used at once.
//
// Outside a pod, kubeconfig files are where the client earns its place: contexts, client
// certificates, exec credential plugins, OIDC, proxies. That code is loaded only on that path
// (kubeconfig.ts, a chunk of its own).
import { existsSync } from 'node:fs';
import { Agent as HttpsAgent, type RequestOptions } from 'node:https';
import { isIPv6 } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { FileError, MAX_PEM_BYTES, MAX_TOKEN_BYTES, readRegularFile } from './file.js';

export interface Credentials {
  /** The API server's base address, without a trailing slash (it may carry a path prefix). */
  readonly server: string;
  /** TLS material, agent and auth headers for one request, freshly read. */
  requestOptions(): Promise<RequestOptions>;
  /** Who the API server will see, as far as we can tell; for permission hints. */
  identity(): Identity;
  /** A file whose change may cure a 401 (the projected token), if there is one. */
  readonly tokenFile?: string;
  /** Whether the token file now holds something else than the last token sent. */
  tokenChanged?(): boolean;
  /** Closes every socket. */
  close(): void;
}

export interface Identity {
  /** Where the credentials come from, e.g. `token /var/run/…/token`. */
  source: string;
  /** `namespace:name`, from the token's `sub` claim when it is a service-account JWT. */
  serviceAccount?: string;
}

export async function loadCredentials(env: NodeJS.ProcessEnv, saDir: string): Promise<Credentials> {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (host && port) return inCluster(host, port, saDir);
  const kubeconfig = env.KUBECONFIG || join(homedir(), '.kube', 'config');
  if (!env.KUBECONFIG && !existsSync(kubeconfig)) {
    throw new Error(
      'no Kubernetes API to ask: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not both set ' +
        `(not in a pod?) and there is no KUBECONFIG nor ${kubeconfig}`,
    );
  }
  const { fromKubeconfig } = await import('./kubeconfig.js');
  return fromKubeconfig(kubeconfig);
}

function inCluster(host: string, port: string, saDir: string): Credentials {
  const caFile = join(saDir, 'ca.crt');
  const tokenFile = join(saDir, 'token');
  let ca: Buffer;
  try {
    ca = readRegularFile(caFile, MAX_PEM_BYTES);
  } catch (err) {
    throw new Error(`cannot read the cluster CA: ${(err as Error).message}`);
  }
  const readToken = (): string => {
    // Read for every request, so never blocking and never unbounded (file.ts).
    const token = readRegularFile(tokenFile, MAX_TOKEN_BYTES).toString('utf8').trim();
    if (token === '')
      throw new FileError(`the service-account token file ${tokenFile} is empty`, tokenFile);
    return token;
  };
  try {
    readToken();
  } catch (err) {
    const hint =
      (err as FileError).code === 'ENOENT'
        ? ' (automountServiceAccountToken: false? KUBEXIT_SERVICE_ACCOUNT_DIR?)'
        : '';
    throw new Error(`cannot read the service-account token: ${(err as Error).message}${hint}`);
  }
  // One keep-alive connection serves the list and then the watch.
  const agent = new HttpsAgent({ ca, keepAlive: true });
  let lastToken = '';
  return {
    server: `https://${isIPv6(host) ? `[${host}]` : host}:${port}`,
    tokenFile,
    async requestOptions() {
      lastToken = readToken();
      return { agent, headers: { Authorization: `Bearer ${lastToken}` } };
    },
    tokenChanged() {
      try {
        return readToken() !== lastToken;
      } catch {
        return false;
      }
    },
    identity() {
      let token = lastToken;
      try {
        token = readToken();
      } catch {
        // the last one sent will do
      }
      return { source: `token ${tokenFile}`, serviceAccount: serviceAccountOf(token) };
    },
    close() {
      agent.destroy();
    },
  };
}

/** `namespace:name` from a service-account JWT's `sub` claim; undefined for anything else. */
export function serviceAccountOf(token: string): string | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as {
      sub?: unknown;
    };
    return typeof claims.sub === 'string' ? fromUsername(claims.sub) : undefined;
  } catch {
    return undefined;
  }
}

/** `system:serviceaccount:ns:name` → `ns:name`. */
export function fromUsername(user: string): string | undefined {
  const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(user);
  return m ? `${m[1]}:${m[2]}` : undefined;
}
