// What the webhook does to a pod. ─── FOR THE LEAD TO CONNECT ───
// The real mutation is `injectPodObject` from ./inject.ts (issue 11 §1), written on another
// branch. Once it is merged, this whole file becomes:
//
//   export { injectPodObject } from './inject.js';
//
// Until then, PLACEHOLDER_FAKE below stands in for it, so that the webhook's server, its
// manifest and its tests against the kube-apiserver can be built and run: it only sets
// KUBEXIT_NAME (as inject does) and refuses a container that asks for kubexit without a command
// (as inject does). It wires nothing else.

export interface InjectOptions {
  /** The kubexit image of the init container (default: kubexit:<this version>). */
  image?: string;
}

export interface Injected {
  pod: object;
  /** Why the pod can't be wired, one sentence each; none when it was wired or didn't ask. */
  problems: string[];
}

export type InjectPodObject = (pod: object, options: InjectOptions) => Injected;

interface Env {
  name?: unknown;
}
interface ContainerObject {
  name?: unknown;
  command?: unknown;
  env?: unknown;
}

const PLACEHOLDER_FAKE: InjectPodObject = (pod) => {
  const problems: string[] = [];
  const spec = (pod as { spec?: { containers?: unknown; initContainers?: unknown } }).spec;
  for (const list of [spec?.initContainers, spec?.containers]) {
    if (!Array.isArray(list)) continue;
    for (const c of list as ContainerObject[]) {
      if (!Array.isArray(c.env)) continue;
      const env = c.env as Env[];
      if (!env.some((e) => typeof e.name === 'string' && e.name.startsWith('KUBEXIT_'))) continue;
      if (!Array.isArray(c.command)) {
        problems.push(`container ${String(c.name)} has no command: kubexit must be given it`);
        continue;
      }
      if (!env.some((e) => e.name === 'KUBEXIT_NAME'))
        env.push({ name: 'KUBEXIT_NAME', value: c.name } as Env);
    }
  }
  return { pod, problems };
};

export const injectPodObject: InjectPodObject = PLACEHOLDER_FAKE;
