// The readiness rule for birth dependencies, on plain pod objects as the API serves them. Pure:
// no I/O, so it is tested on its own.

/** The few pod fields the rule reads; everything else the API sends is ignored. */
export interface Pod {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; uid?: string };
  spec?: {
    containers?: ContainerSpec[];
    initContainers?: ContainerSpec[];
  };
  status?: {
    containerStatuses?: ContainerStatus[];
    initContainerStatuses?: ContainerStatus[];
  };
}

export interface ContainerSpec {
  name: string;
  /** "Always" on an init container makes it a native sidecar (Kubernetes 1.28+). */
  restartPolicy?: string;
  readinessProbe?: unknown;
}

export interface ContainerStatus {
  name: string;
  ready?: boolean;
  started?: boolean;
}

export interface Readiness {
  /** Every dependency is ready. */
  ready: boolean;
  /** Dependencies that are containers of the pod but not ready yet, in the order given. */
  waiting: string[];
  /** Dependencies that name no container of the pod: waiting for them is hopeless. */
  unknown: string[];
}

/**
 * A regular container is ready when its status says `ready: true`. An init container is
 * looked up in the init statuses: ready there (the kubelet sets that for a native sidecar
 * whose readiness probe passes, and for a classic init container that completed), or, for a
 * native sidecar without a readiness probe, `started: true`.
 */
export function checkReadiness(pod: Pod, deps: readonly string[]): Readiness {
  const containers = new Set((pod.spec?.containers ?? []).map((c) => c.name));
  const inits = new Map((pod.spec?.initContainers ?? []).map((c) => [c.name, c]));
  const statuses = byName(pod.status?.containerStatuses);
  const initStatuses = byName(pod.status?.initContainerStatuses);
  const waiting: string[] = [];
  const unknown: string[] = [];
  for (const dep of deps) {
    if (containers.has(dep)) {
      if (statuses.get(dep)?.ready !== true) waiting.push(dep);
      continue;
    }
    const init = inits.get(dep);
    if (init === undefined) {
      unknown.push(dep);
      continue;
    }
    const status = initStatuses.get(dep);
    const sidecarWithoutProbe =
      init.restartPolicy === 'Always' &&
      (init.readinessProbe === undefined || init.readinessProbe === null);
    const ok = status?.ready === true || (sidecarWithoutProbe && status?.started === true);
    if (!ok) waiting.push(dep);
  }
  return { ready: waiting.length === 0 && unknown.length === 0, waiting, unknown };
}

/** The pod's container names for error messages: regular ones, then init ones marked so. */
export function containerNames(pod: Pod): string[] {
  const regular = (pod.spec?.containers ?? []).map((c) => c.name);
  const init = (pod.spec?.initContainers ?? []).map(
    (c) => `${c.name} (${c.restartPolicy === 'Always' ? 'sidecar' : 'init'} container)`,
  );
  return [...regular, ...init];
}

function byName(list: ContainerStatus[] | undefined): Map<string, ContainerStatus> {
  return new Map((list ?? []).map((s) => [s.name, s]));
}
