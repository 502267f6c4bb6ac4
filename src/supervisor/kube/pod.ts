// The readiness rule for birth dependencies, on plain pod objects as the API serves them. Pure:
// no I/O, so it is tested on its own.

/** The few pod fields the rule reads; everything else the API sends is ignored. */
export interface Pod {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; uid?: string };
  spec?: {
    restartPolicy?: string;
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
  state?: {
    running?: unknown;
    terminated?: { exitCode?: number };
  };
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

export type PodCondition = 'started' | 'ready' | 'completed' | 'succeeded';

export interface Conditions extends Readiness {
  /** Dependencies whose condition is met, in the order given. */
  met: string[];
  /** A `succeeded` dependency that exited with another code, in a pod that won't restart it. */
  failed: { name: string; exitCode: number } | undefined;
}

/**
 * Each dependency's condition, judged from the pod's status: `ready` as checkReadiness does,
 * `started` when the kubelet says so (or the container runs or ran), `completed` when it has
 * terminated, `succeeded` when it terminated with 0. A non-zero end is final only in a pod
 * with restartPolicy Never: elsewhere the kubelet starts the container again.
 */
export function checkConditions(
  pod: Pod,
  deps: readonly { name: string; condition: PodCondition }[],
): Conditions {
  const readiness = checkReadiness(
    pod,
    deps.filter((d) => d.condition === 'ready').map((d) => d.name),
  );
  const known = new Set([
    ...(pod.spec?.containers ?? []).map((c) => c.name),
    ...(pod.spec?.initContainers ?? []).map((c) => c.name),
  ]);
  const statuses = new Map([
    ...byName(pod.status?.initContainerStatuses),
    ...byName(pod.status?.containerStatuses),
  ]);
  const final = pod.spec?.restartPolicy === 'Never';
  const met: string[] = [];
  const waiting: string[] = [];
  const unknown: string[] = [];
  let failed: Conditions['failed'];
  for (const { name, condition } of deps) {
    if (!known.has(name)) {
      unknown.push(name);
      continue;
    }
    const status = statuses.get(name);
    const terminated = status?.state?.terminated;
    let ok: boolean;
    switch (condition) {
      case 'ready':
        ok = !readiness.waiting.includes(name);
        break;
      case 'started':
        ok = status?.started === true || !!status?.state?.running || !!terminated;
        break;
      case 'completed':
        ok = !!terminated;
        break;
      case 'succeeded':
        ok = terminated?.exitCode === 0;
        if (!ok && terminated && final) failed ??= { name, exitCode: terminated.exitCode ?? -1 };
        break;
    }
    (ok ? met : waiting).push(name);
  }
  return { ready: waiting.length === 0 && unknown.length === 0, met, waiting, unknown, failed };
}
