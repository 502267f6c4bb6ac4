// One pod template as lint sees it, and the rules about the pod's own kubexit containers: their
// values, names, dependencies, graveyard, birth cycles, readiness and shutdown budget.
import { posix } from 'node:path';
import { isScalar, type Node, type YAMLMap } from 'yaml';
import { usesApi, type Config } from '../../supervisor/config.js';
import { formatDuration } from '../../supervisor/duration.js';
import {
  asksForKubexit,
  configOf,
  containersOf,
  text,
  type Container,
  type ContainerConfig,
  type PodTemplate,
} from '../manifest.js';
import {
  containerAt,
  didYouMean,
  envValueAt,
  itemAt,
  mapsOf,
  nodeAt,
  type Report,
} from './findings.js';

/** A container that asks for kubexit, with what the runtime's validation makes of it. */
export interface Kubexit {
  container: Container;
  judged: ContainerConfig;
  /** The configuration, when KUBEXIT_NAME is there to make one. */
  config: Config | undefined;
}

export interface Pod {
  template: PodTemplate;
  report: Report;
  containers: Container[];
  byName: Map<string, Container>;
  kubexits: Kubexit[];
  /** Tombstone name (KUBEXIT_NAME) → its container; the first one when names clash. */
  tombstones: Map<string, Kubexit>;
  volumes: Map<string, YAMLMap>;
}

export function podOf(template: PodTemplate, report: Report): Pod {
  const containers = containersOf(template.spec);
  const kubexits = containers.filter(asksForKubexit).map((container) => {
    const judged = configOf(container);
    return { container, judged, config: judged.config };
  });
  const tombstones = new Map<string, Kubexit>();
  for (const k of kubexits)
    if (k.config && !tombstones.has(k.config.name)) tombstones.set(k.config.name, k);
  const volumes = new Map<string, YAMLMap>();
  for (const v of mapsOf(template.spec, 'volumes')) {
    const name = text(v.get('name'));
    if (name !== undefined) volumes.set(name, v);
  }
  return {
    template,
    report,
    containers,
    byName: new Map(containers.map((c) => [c.name, c])),
    kubexits,
    tombstones,
    volumes,
  };
}

/** Every variable kubexit reads; anything else named KUBEXIT_* is most likely a typo. */
export const KNOWN_VARIABLES: readonly string[] = [
  'KUBEXIT_NAME',
  'KUBEXIT_GRAVEYARD',
  'KUBEXIT_DEATH_DEPS',
  'KUBEXIT_GRACE_PERIOD',
  'KUBEXIT_DEATH_SIGNAL',
  'KUBEXIT_DEATH_HTTP',
  'KUBEXIT_DEATH_HTTP_TIMEOUT',
  'KUBEXIT_DEATH_DELAY',
  'KUBEXIT_IGNORE_CODE_ON_DEATH_DEPS',
  'KUBEXIT_EXIT_CODE_MAP',
  'KUBEXIT_SHUTDOWN_AFTER_DEPS',
  'KUBEXIT_SHUTDOWN_HOLD',
  'KUBEXIT_KILL_GROUP',
  'KUBEXIT_BIRTH_DEPS',
  'KUBEXIT_BIRTH_TIMEOUT',
  'KUBEXIT_BIRTH_TIMEOUT_ACTION',
  'KUBEXIT_READY_PROBE',
  'KUBEXIT_READY_PROBE_PERIOD',
  'KUBEXIT_READY_PROBE_TIMEOUT',
  'KUBEXIT_READY_PROBE_INITIAL_DELAY',
  'KUBEXIT_POD_NAME',
  'KUBEXIT_NAMESPACE',
  'KUBEXIT_SERVICE_ACCOUNT_DIR',
  'KUBEXIT_VERBOSE_LEVEL',
  'KUBEXIT_INSTANT_LOGGING',
];
const KNOWN = new Set(KNOWN_VARIABLES);

/** Each value as the runtime would judge it, and variable names it doesn't know. */
export function checkValues(pod: Pod): void {
  for (const { container, judged } of pod.kubexits) {
    for (const err of judged.errors) {
      const at =
        envValueAt(container, err.variable) ??
        nodeAt(container.node, 'env') ??
        containerAt(container);
      pod.report.error('config', at, err.message);
    }
    for (const [name, entry] of container.env) {
      if (!name.startsWith('KUBEXIT_') || KNOWN.has(name)) continue;
      pod.report.warning(
        'unknown-variable',
        nodeAt(entry.node, 'name') ?? entry.node,
        `${name} is not a kubexit variable${didYouMean(name, KNOWN)}: kubexit ignores it`,
      );
    }
  }
}

/** One tombstone per name: two containers with one KUBEXIT_NAME overwrite each other's. */
export function checkNames(pod: Pod): void {
  for (const k of pod.kubexits) {
    if (!k.config) continue;
    const first = pod.tombstones.get(k.config.name);
    if (first === undefined || first === k) continue;
    pod.report.error(
      'duplicate-name',
      envValueAt(k.container, 'KUBEXIT_NAME'),
      `KUBEXIT_NAME "${k.config.name}" is also container ${first.container.name}'s: both would write one tombstone`,
    );
  }
}

/** Birth and death dependencies name containers and tombstones that this pod has. */
export function checkDependencies(pod: Pod): void {
  const names = new Set([...pod.byName.keys(), ...pod.tombstones.keys()]);
  const { source } = pod.template;
  for (const { container, config } of pod.kubexits) {
    if (!config) continue;
    const api = usesApi(config);
    const birthAt = envValueAt(container, 'KUBEXIT_BIRTH_DEPS');
    for (const { name } of config.birthConditions) {
      if (pod.tombstones.has(name) || unnamed(pod, name)) continue;
      const at = itemAt(source, birthAt, name);
      const target = pod.byName.get(name);
      if (target === undefined) {
        pod.report.error(
          'unknown-dependency',
          at,
          `birth dependency "${name}" is not a container of this pod${didYouMean(name, names)}`,
        );
      } else if (!api) {
        pod.report.error(
          'no-tombstone',
          at,
          `birth dependency "${name}": ${noTombstone(pod, target)}, and without KUBEXIT_POD_NAME and KUBEXIT_NAMESPACE (the API) only tombstones are read: it is never ready`,
        );
      }
    }
    const deathAt = envValueAt(container, 'KUBEXIT_DEATH_DEPS');
    for (const name of config.deathDeps) {
      if (pod.tombstones.has(name) || unnamed(pod, name)) continue;
      const at = itemAt(source, deathAt, name);
      const target = pod.byName.get(name);
      if (target === undefined) {
        pod.report.error(
          'unknown-dependency',
          at,
          `death dependency "${name}" is neither a container nor a tombstone (KUBEXIT_NAME) of this pod${didYouMean(name, names)}`,
        );
      } else {
        pod.report.error(
          'no-tombstone',
          at,
          `death dependency "${name}": ${noTombstone(pod, target)}: its death is never seen`,
        );
      }
    }
  }
}

/** A kubexit container whose KUBEXIT_NAME is missing: its own config finding says so. */
function unnamed(pod: Pod, name: string): boolean {
  return pod.kubexits.some((k) => k.container.name === name && k.config === undefined);
}

function noTombstone(pod: Pod, target: Container): string {
  const own = pod.kubexits.find((k) => k.container === target)?.config?.name;
  return own === undefined
    ? `container ${target.name} doesn't run kubexit (no KUBEXIT_* variables), so it writes no tombstone`
    : `container ${target.name}'s tombstone is named "${own}" (its KUBEXIT_NAME)`;
}

/** Where a path lands: the mount that holds it and the path inside the volume. */
export interface Landing {
  mount: YAMLMap;
  volume: string;
  /** The path inside the volume (subPath included), "" for its root. */
  inside: string;
}

/** The volume mount of a container that holds `path` (the deepest one), if any. */
export function landing(container: Container, path: string): Landing | undefined {
  const target = posix.normalize(path);
  let best: { mount: YAMLMap; mountPath: string } | undefined;
  for (const mount of mapsOf(container.node, 'volumeMounts')) {
    const raw = text(mount.get('mountPath'));
    if (raw === undefined) continue;
    const mountPath = posix.normalize(raw).replace(/(.)\/+$/, '$1');
    const under =
      target === mountPath || target.startsWith(mountPath === '/' ? '/' : `${mountPath}/`);
    if (under && (best === undefined || mountPath.length > best.mountPath.length))
      best = { mount, mountPath };
  }
  if (best === undefined) return undefined;
  const inside = posix.join(
    text(best.mount.get('subPath')) ?? '',
    posix.relative(best.mountPath, target),
  );
  return {
    mount: best.mount,
    volume: text(best.mount.get('name')) ?? '',
    inside: inside === '.' ? '' : inside,
  };
}

/** Every kubexit container mounts one pod volume (the same folder of it) at its graveyard. */
export function checkGraveyard(pod: Pod): void {
  // A lone kubexit with no dependencies (an exit-code policy, say) shares nothing.
  const lone = pod.kubexits[0];
  if (
    pod.kubexits.length === 1 &&
    lone?.config?.birthDeps.length === 0 &&
    lone.config.deathDeps.length === 0
  )
    return;
  let shared: { landing: Landing; container: string; key: string } | undefined;
  for (const { container, config } of pod.kubexits) {
    if (!config) continue;
    const at = envValueAt(container, 'KUBEXIT_GRAVEYARD') ?? containerAt(container);
    const where = landing(container, config.graveyard);
    if (where === undefined || where.volume === '') {
      pod.report.error(
        'graveyard',
        at,
        `no volume is mounted at ${config.graveyard} (KUBEXIT_GRAVEYARD) in container ${container.name}: the other containers never see its tombstone`,
      );
      continue;
    }
    if (!pod.volumes.has(where.volume)) {
      pod.report.error(
        'graveyard',
        nodeAt(where.mount, 'name') ?? where.mount,
        `volume "${where.volume}" (mounted for the graveyard) is not among the pod's volumes${didYouMean(where.volume, pod.volumes.keys())}`,
      );
      continue;
    }
    const key = `${where.volume}/${where.inside}`;
    if (shared === undefined) shared = { landing: where, container: container.name, key };
    else if (shared.key !== key) {
      pod.report.error(
        'graveyard',
        nodeAt(where.mount, 'name') ?? where.mount,
        `container ${container.name}'s graveyard (${config.graveyard}) is ${describe(where)}, but container ${shared.container}'s is ${describe(shared.landing)}: they don't see each other's tombstones`,
      );
    }
  }
}

function describe(l: Landing): string {
  return l.inside === '' ? `volume "${l.volume}"` : `"${l.inside}" in volume "${l.volume}"`;
}

/** Kubexits waiting for each other in a loop never start: the runtime fails them at once. */
export function checkCycles(pod: Pod): void {
  const waitsFor = new Map<string, string[]>();
  for (const [name, k] of pod.tombstones)
    waitsFor.set(
      name,
      (k.config?.birthDeps ?? []).filter((d) => pod.tombstones.has(d)),
    );
  const reported = new Set<string>();
  const state = new Map<string, 'open' | 'done'>();
  const visit = (name: string, path: string[]): void => {
    state.set(name, 'open');
    for (const next of waitsFor.get(name) ?? []) {
      if (state.get(next) === 'open') {
        const loop = [...path.slice(path.indexOf(next)), next];
        const key = [...loop.slice(0, -1)].sort().join(',');
        if (reported.has(key)) continue;
        reported.add(key);
        const first = pod.tombstones.get(loop[0] as string) as Kubexit;
        const at = itemAt(
          pod.template.source,
          envValueAt(first.container, 'KUBEXIT_BIRTH_DEPS'),
          loop[1] as string,
        );
        pod.report.error(
          'birth-cycle',
          at,
          `birth dependency cycle: ${loop.join(' → ')}: each waits for the next, none can start`,
        );
      } else if (!state.has(next)) visit(next, [...path, next]);
    }
    state.set(name, 'done');
  };
  for (const name of pod.tombstones.keys()) if (!state.has(name)) visit(name, [name]);
}

/** A birth dependency on readiness means something only if the dependency has a probe. */
export function checkReadiness(pod: Pod): void {
  const { source } = pod.template;
  for (const { container, config } of pod.kubexits) {
    if (!config) continue;
    const api = usesApi(config);
    const birthAt = envValueAt(container, 'KUBEXIT_BIRTH_DEPS');
    for (const { name, condition } of config.birthConditions) {
      if (condition !== 'ready') continue;
      const target = pod.tombstones.get(name)?.container ?? pod.byName.get(name);
      if (target === undefined) continue;
      const kubeProbe = target.node.has('readinessProbe');
      const ownProbe = target.env.has('KUBEXIT_READY_PROBE');
      const at = itemAt(source, birthAt, name);
      if (!kubeProbe && !ownProbe) {
        pod.report.warning(
          'birth-readiness',
          at,
          `birth dependency "${name}": container ${target.name} has neither a readinessProbe nor KUBEXIT_READY_PROBE, so it is ready as soon as it runs (say "${name}:started" if that is meant)`,
        );
      } else if (!api && !ownProbe && pod.tombstones.has(name)) {
        pod.report.warning(
          'birth-readiness',
          at,
          `birth dependency "${name}": without KUBEXIT_POD_NAME and KUBEXIT_NAMESPACE the API is not read, so container ${target.name}'s readinessProbe is not seen and its tombstone says ready as soon as it runs; give it KUBEXIT_READY_PROBE`,
        );
      }
    }
  }
}

const DEFAULT_TERMINATION_GRACE = 30;

/** With an ordered shutdown, the hold, delay, HTTP call and grace period fit the pod's budget. */
export function checkShutdownBudget(pod: Pod): void {
  const graceNode = nodeAt(pod.template.spec, 'terminationGracePeriodSeconds');
  const value = isScalar(graceNode) ? Number(graceNode.value) : DEFAULT_TERMINATION_GRACE;
  if (!Number.isFinite(value)) return;
  const budget = BigInt(Math.max(0, Math.floor(value))) * 1_000_000_000n;
  const said = graceNode === undefined ? `${value} (the default)` : String(value);
  for (const { container, config } of pod.kubexits) {
    if (!config || !config.ending.shutdownAfterDeps || config.deathDeps.length === 0) continue;
    const e = config.ending;
    const parts: [string, bigint][] = [
      ['KUBEXIT_SHUTDOWN_HOLD', e.shutdownHold],
      ['KUBEXIT_DEATH_DELAY', e.deathDelay],
    ];
    if (e.deathHttp !== undefined) parts.push(['KUBEXIT_DEATH_HTTP_TIMEOUT', e.deathHttpTimeout]);
    parts.push(['KUBEXIT_GRACE_PERIOD', config.gracePeriod]);
    const total = parts.reduce((sum, [, ns]) => sum + ns, 0n);
    if (total <= budget) continue;
    const sum = parts.map(([n, ns]) => `${n} ${formatDuration(ns)}`).join(' + ');
    const needed = (total + 999_999_999n) / 1_000_000_000n;
    const at: Node | undefined =
      envValueAt(container, 'KUBEXIT_SHUTDOWN_HOLD') ??
      envValueAt(container, 'KUBEXIT_SHUTDOWN_AFTER_DEPS');
    pod.report.error(
      'shutdown-budget',
      at,
      `container ${container.name}'s ordered shutdown takes up to ${sum} = ${formatDuration(total)}, more than terminationGracePeriodSeconds ${said}: the kubelet KILLs it first; raise terminationGracePeriodSeconds to ${needed} or shorten these`,
    );
  }
}
