// Credentials from a kubeconfig file (KUBECONFIG, else ~/.kube/config), for kubexit outside a
// pod. @kubernetes/client-node applies whatever authentication it names (client certificates,
// tokens, exec plugins, OIDC) and proxy settings; kubexit does the HTTP itself. Only its
// config.js is imported: the package index also loads the API clients, watch, exec,
// port-forward… which kubexit has no use for.
//
// The files are read here, not by client-node: it uses readFileSync, which blocks for good on a
// FIFO and reads /dev/zero until memory runs out. Each KUBECONFIG file, and every file one
// names (certificate-authority, client-certificate, client-key, token-file), goes through
// readRegularFile, and what they hold is handed to client-node inline.
import type { Agent } from 'node:http';
import type { RequestOptions } from 'node:https';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node/dist/config.js';
import { newClusters, newContexts, newUsers } from '@kubernetes/client-node/dist/config_types.js';
import { load as loadYaml } from 'js-yaml';
import type { Credentials } from './client.js';
import { MAX_KUBECONFIG_BYTES, MAX_PEM_BYTES, MAX_TOKEN_BYTES, readRegularFile } from './file.js';

/** `paths` is KUBECONFIG as given (a list, like PATH) or the default file. */
export function fromKubeconfig(paths: string): Credentials {
  const kc = new KubeConfig();
  try {
    const files = paths.split(delimiter).filter((f) => f !== '');
    if (files.length === 0) throw new Error(`KUBECONFIG=${JSON.stringify(paths)} names no file`);
    // As client-node's loadFromDefault: the first file, then each next one merged in (a
    // duplicate name is an error; a later current-context wins).
    files.forEach((file, i) => {
      const part = i === 0 ? kc : new KubeConfig();
      part.loadFromOptions(readKubeconfig(file));
      if (part !== kc) kc.mergeConfig(part);
    });
  } catch (err) {
    throw new Error(`cannot read the kubeconfig: ${(err as Error).message}`);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) {
    throw new Error(`kubeconfig: no cluster for the current context "${kc.getCurrentContext()}"`);
  }
  const user = kc.getCurrentUser();
  // An auth-provider token file is read by client-node itself (once a minute): checked first.
  const providerTokenFile = (user?.authProvider as { config?: { tokenFile?: unknown } } | undefined)
    ?.config?.tokenFile;
  // client-node makes a new agent for each call; the previous request is over by then.
  let agent: Agent | undefined;
  return {
    server: cluster.server.replace(/\/+$/, ''),
    async requestOptions() {
      if (typeof providerTokenFile === 'string') {
        readRegularFile(providerTokenFile, MAX_TOKEN_BYTES);
      }
      const opts: RequestOptions = {};
      await kc.applyToHTTPSOptions(opts);
      agent?.destroy();
      agent = typeof opts.agent === 'object' ? opts.agent : undefined;
      return opts;
    },
    identity() {
      return {
        source: `kubeconfig context "${kc.getCurrentContext()}", user "${user?.name ?? ''}"`,
      };
    },
    close() {
      agent?.destroy();
    },
  };
}

type Entry = Record<string, unknown>;

/** One kubeconfig file, with the files it names read in and inlined. */
function readKubeconfig(file: string): Parameters<KubeConfig['loadFromOptions']>[0] {
  const text = readRegularFile(file, MAX_KUBECONFIG_BYTES).toString('utf8');
  let doc: unknown;
  try {
    doc = loadYaml(text);
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
  const obj = (doc !== null && typeof doc === 'object' ? doc : {}) as Entry;
  // Relative paths are relative to the kubeconfig's folder, as kubectl has it.
  const root = dirname(file);
  const inline = (
    entry: unknown,
    fileKey: string,
    dataKey: string,
    max: number,
    what: string,
    encode: (b: Buffer) => string,
  ): void => {
    if (entry === null || typeof entry !== 'object') return;
    const fields = entry as Entry;
    const path = fields[fileKey];
    if (typeof path !== 'string' || path === '') return;
    const abs = isAbsolute(path) ? path : join(root, path);
    try {
      fields[dataKey] = encode(readRegularFile(abs, max));
    } catch (err) {
      throw new Error(`${file}: ${what} ${fileKey}: ${(err as Error).message}`);
    }
    delete fields[fileKey];
  };
  const base64 = (b: Buffer): string => b.toString('base64');
  for (const c of asList(obj.clusters)) {
    const what = `cluster "${String(c.name)}"`;
    inline(
      c.cluster,
      'certificate-authority',
      'certificate-authority-data',
      MAX_PEM_BYTES,
      what,
      base64,
    );
  }
  for (const u of asList(obj.users)) {
    const what = `user "${String(u.name)}"`;
    inline(u.user, 'client-certificate', 'client-certificate-data', MAX_PEM_BYTES, what, base64);
    inline(u.user, 'client-key', 'client-key-data', MAX_PEM_BYTES, what, base64);
    // client-node takes `token` before `token-file`, and reads the file only once too.
    const fields = u.user as Entry | undefined;
    if (fields && typeof fields === 'object' && !fields.token) {
      inline(fields, 'token-file', 'token', MAX_TOKEN_BYTES, what, (b) => b.toString('utf8'));
    }
  }
  return {
    clusters: newClusters(obj.clusters),
    contexts: newContexts(obj.contexts),
    users: newUsers(obj.users),
    currentContext: obj['current-context'] as string,
  };
}

function asList(value: unknown): Entry[] {
  return Array.isArray(value)
    ? value.filter((e): e is Entry => e !== null && typeof e === 'object')
    : [];
}
