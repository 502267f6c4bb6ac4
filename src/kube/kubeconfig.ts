// Credentials from a kubeconfig file (KUBECONFIG, else ~/.kube/config), for kubexit outside a
// pod. @kubernetes/client-node reads the file and applies whatever authentication it names
// (client certificates, tokens, token files, exec plugins, OIDC) and proxy settings; kubexit
// does the HTTP itself. Only config.js is imported: the package index also loads the API
// clients, watch, exec, port-forward… which kubexit has no use for.
import type { Agent } from 'node:http';
import type { RequestOptions } from 'node:https';
import { KubeConfig } from '@kubernetes/client-node/dist/config.js';
import type { Credentials } from './client.js';

export function fromKubeconfig(): Credentials {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const cluster = kc.getCurrentCluster();
  if (!cluster) {
    throw new Error(`kubeconfig: no cluster for the current context "${kc.getCurrentContext()}"`);
  }
  const user = kc.getCurrentUser();
  // client-node makes a new agent for each call; the previous request is over by then.
  let agent: Agent | undefined;
  return {
    server: cluster.server.replace(/\/+$/, ''),
    async requestOptions() {
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
