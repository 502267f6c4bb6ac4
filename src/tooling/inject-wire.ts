// The wiring of one pod template, on `yaml` nodes: what `kubexit inject` adds to a pod whose
// containers ask for kubexit, and the upgrade of Go-era wiring. The CLI (YAML documents) and
// the webhook (JSON pods, through injectPodObject) both run this, so they wire alike.
import {
  isMap,
  isScalar,
  isSeq,
  Scalar,
  YAMLSeq,
  type Document,
  type Node,
  type Pair,
  type YAMLMap,
} from 'yaml';
import { DEFAULT_GRAVEYARD } from '../supervisor/config.js';
import { MOUNT_PATH } from './install.js';
import { BIN, callsKubexit, goCopyDestination, installerKind, words } from './inject-calls.js';
import { asksForKubexit, configOf, containersOf, text, type Container } from './manifest.js';

/** On the pod (template) metadata: "true" wires every container, "false" none. */
export const INJECT_ANNOTATION = 'kubexit.io/inject';
/** On the pod (template) metadata: "true"/"false" decides whether birth deps read the API. */
export const API_ANNOTATION = 'kubexit.io/api';
export { BIN };
export const INSTALLER = 'kubexit';
export const KUBEXIT_VOLUME = 'kubexit';
export const GRAVEYARD_VOLUME = 'graveyard';

export interface WireOptions {
  /** The kubexit image (init container, or image volume). */
  image: string;
  /** --image was given: an existing init container or image volume gets it too. */
  imageExplicit: boolean;
  /** A pod with no kubexit volume yet gets the image as a volume instead of an init copy. */
  imageVolume: boolean;
  /** Set serviceAccountName on pods whose kubexits read the API. */
  rbac: boolean;
}

export interface Problem {
  severity: 'error' | 'warning';
  /** Where to point (its source position), when it has one. */
  node: Node | undefined;
  container: string | undefined;
  message: string;
}

/** The pod spec's nodes: a template's, or a pod's. */
export interface PodNodes {
  doc: Document;
  spec: YAMLMap;
  metadata: YAMLMap | undefined;
  /** The object's name: the service account's name when --rbac must make one up. */
  name: string;
}

export interface PodWiring {
  changed: boolean;
  problems: Problem[];
  /** Some kubexit of the pod reads the pod's status from the Kubernetes API. */
  usesApi: boolean;
  /** The pod's service account when usesApi ("default" when it names none). */
  serviceAccount: string;
}

/** Wires kubexit into the pod's containers that ask for it; `pod` is changed in place. */
export function wirePod(pod: PodNodes, options: WireOptions): PodWiring {
  return new PodWirer(pod, options).wire();
}

class PodWirer {
  private changed = false;
  private readonly problems: Problem[] = [];
  private readonly doc: Document;
  private readonly spec: YAMLMap;

  constructor(
    private readonly pod: PodNodes,
    private readonly options: WireOptions,
  ) {
    this.doc = pod.doc;
    this.spec = pod.spec;
  }

  wire(): PodWiring {
    const inject = this.annotation(INJECT_ANNOTATION);
    const api = this.annotation(API_ANNOTATION);
    const account = () => text(this.spec.get('serviceAccountName')) ?? 'default';
    const none = (): PodWiring => ({
      changed: this.changed,
      problems: this.problems,
      usesApi: false,
      serviceAccount: account(),
    });
    if (inject === 'false' || inject === null || api === null) return none();

    const all = containersOf(this.spec);
    const installer = all.find((c) => installerKind(c) !== undefined);
    const wanted = all.filter(
      (c) =>
        installerKind(c) === undefined &&
        (asksForKubexit(c) || (inject === 'true' && (!c.init || isSidecar(c)))),
    );
    if (wanted.length === 0 && (installer === undefined || installerKind(installer) !== 'go'))
      return none();

    const kubexitVolume = this.volume(KUBEXIT_VOLUME);
    const imageVolume =
      kubexitVolume !== undefined
        ? kubexitVolume.has('image')
        : this.options.imageVolume && installer === undefined;
    let graveyard = false;
    let callsBin = false;
    for (const c of wanted) {
      const done = this.wireContainer(c, imageVolume);
      callsBin ||= done.callsBin;
      graveyard ||= done.graveyardMounted;
    }
    // Read again: the env now holds what was added.
    const nodes = new Set(wanted.map((c) => c.node));
    const wired = containersOf(this.spec).filter((c) => nodes.has(c.node));
    const usesApi = this.wireApi(wired, api);

    this.addVolumes(graveyard, callsBin, imageVolume);
    if (installer !== undefined) this.upgradeInstaller(installer, wired);
    else if (callsBin && !imageVolume) this.addInstaller();
    if (usesApi) this.wireServiceAccount();
    return { changed: this.changed, problems: this.problems, usesApi, serviceAccount: account() };
  }

  /** An annotation's value: undefined when absent, null when it is neither "true" nor "false". */
  private annotation(key: string): 'true' | 'false' | undefined | null {
    const annotations = this.pod.metadata?.get('annotations');
    if (!isMap(annotations)) return undefined;
    const node = annotations.get(key, true);
    if (node === undefined) return undefined;
    const value = text(node);
    if (value === 'true' || value === 'false') return value;
    this.error(
      node,
      undefined,
      `annotation ${key}: expected "true" or "false", got ${show(value)}`,
    );
    return null;
  }

  private wireContainer(c: Container, imageVolume: boolean) {
    const command = c.node.get('command');
    let calls: 'ours' | 'other' | undefined;
    if (!isSeq(command) || command.items.length === 0) {
      this.error(
        c.node,
        c.name,
        'has no command: kubexit must start its process, and the image entrypoint is not known ' +
          "here; add command: [<the image's entrypoint>, …] (args stay as they are)",
      );
    } else {
      calls = callsKubexit(words(command), words(c.node.get('args')));
      if (calls === undefined) {
        command.items.unshift(likeFirst(command, BIN));
        this.changed = true;
        calls = 'ours';
      } else if (calls === 'other') {
        this.warning(
          command,
          c.name,
          `calls a kubexit of its own image (${show(words(command)[0])}): left as it is; to run ` +
            `this kubexit, call ${BIN}`,
        );
      }
    }

    const env = this.seqOf(c.node, 'env', ['name', 'image', 'command', 'args', 'workingDir']);
    if (!c.env.has('KUBEXIT_NAME')) {
      env.items.unshift(this.doc.createNode({ name: 'KUBEXIT_NAME', value: c.name }));
      this.changed = true;
    }
    const graveyardEntry = c.env.get('KUBEXIT_GRAVEYARD');
    if (graveyardEntry === undefined) {
      const at = env.items.findIndex((e) => isMap(e) && text(e.get('name')) === 'KUBEXIT_NAME');
      env.items.splice(
        at + 1,
        0,
        this.doc.createNode({ name: 'KUBEXIT_GRAVEYARD', value: DEFAULT_GRAVEYARD }),
      );
      this.changed = true;
    }
    const graveyard = graveyardEntry === undefined ? DEFAULT_GRAVEYARD : graveyardEntry.value;

    const mounts = mountsOf(c.node);
    const added: object[] = [];
    let graveyardMounted = mounts.some((m) => m.name === GRAVEYARD_VOLUME);
    if (graveyard === undefined) {
      if (!mounts.some((m) => m.name === GRAVEYARD_VOLUME))
        this.error(
          graveyardEntry?.node,
          c.name,
          'has KUBEXIT_GRAVEYARD from elsewhere (valueFrom), so inject cannot tell where to ' +
            `mount the graveyard: give it a literal value, or mount the ${GRAVEYARD_VOLUME} ` +
            'volume there',
        );
    } else if (!mounts.some((m) => m.path === graveyard)) {
      added.push({ name: GRAVEYARD_VOLUME, mountPath: graveyard });
      graveyardMounted = true;
    }
    const callsBin = calls === 'ours';
    if (callsBin && !mounts.some((m) => m.path === MOUNT_PATH)) {
      added.push(
        imageVolume
          ? { name: KUBEXIT_VOLUME, mountPath: MOUNT_PATH, subPath: KUBEXIT_VOLUME }
          : { name: KUBEXIT_VOLUME, mountPath: MOUNT_PATH },
      );
    }
    if (added.length > 0) {
      const seq = this.seqOf(c.node, 'volumeMounts', []);
      seq.items.unshift(...added.map((m) => this.doc.createNode(m)));
      this.changed = true;
    }
    return { callsBin, graveyardMounted };
  }

  /**
   * The downward-API pod name and namespace, for the kubexits whose birth dependencies need
   * the pod status. Returns whether any kubexit of the pod then reads the API.
   */
  private wireApi(wired: Container[], api: 'true' | 'false' | undefined): boolean {
    const names = new Map(wired.map((c) => [c.env.get('KUBEXIT_NAME')?.value ?? c.name, c]));
    const noToken = text(this.spec.get('automountServiceAccountToken')) === 'false';
    let usesApi = false;
    for (const c of wired) {
      if (!c.env.has('KUBEXIT_BIRTH_DEPS')) continue;
      const deps = configOf(c).config?.birthConditions ?? [];
      const pod = c.env.has('KUBEXIT_POD_NAME');
      const namespace = c.env.has('KUBEXIT_NAMESPACE');
      let want: boolean;
      if (pod || namespace)
        want = true; // half a pair is a slip: complete it
      else if (api !== undefined) want = api === 'true';
      else if (noToken) want = false;
      else
        want = deps.some(({ name, condition }) => {
          const dep = names.get(name);
          // No tombstone: only the pod status can tell.
          if (dep === undefined) return true;
          // Its tombstone's Ready would only say it runs; the kubelet's probe knows better.
          return (
            condition === 'ready' &&
            dep.node.has('readinessProbe') &&
            !dep.env.has('KUBEXIT_READY_PROBE')
          );
        });
      if (!want) continue;
      usesApi = true;
      if (pod && namespace) continue;
      const env = c.node.get('env') as YAMLSeq;
      let at = -1;
      env.items.forEach((e, i) => {
        if (isMap(e) && text(e.get('name'))?.startsWith('KUBEXIT_')) at = i;
      });
      const fields = [
        ['KUBEXIT_POD_NAME', 'metadata.name', pod],
        ['KUBEXIT_NAMESPACE', 'metadata.namespace', namespace],
      ] as const;
      for (const [name, fieldPath, present] of fields) {
        if (present) continue;
        at += 1;
        env.items.splice(
          at,
          0,
          this.doc.createNode({ name, valueFrom: { fieldRef: { fieldPath } } }),
        );
      }
      this.changed = true;
      if (noToken)
        this.warning(
          this.spec.get('automountServiceAccountToken', true) as Node,
          c.name,
          'reads the pod status from the API, but automountServiceAccountToken is false: set ' +
            `${API_ANNOTATION}: "false" to use tombstones only, or mount the token`,
        );
    }
    return usesApi;
  }

  private addVolumes(graveyard: boolean, kubexit: boolean, imageVolume: boolean): void {
    const add: object[] = [];
    if (graveyard && this.volume(GRAVEYARD_VOLUME) === undefined)
      add.push({ name: GRAVEYARD_VOLUME, emptyDir: { medium: 'Memory' } });
    const existing = this.volume(KUBEXIT_VOLUME);
    if (kubexit && existing === undefined) {
      add.push(
        imageVolume
          ? {
              name: KUBEXIT_VOLUME,
              image: { reference: this.options.image, pullPolicy: 'IfNotPresent' },
            }
          : { name: KUBEXIT_VOLUME, emptyDir: {} },
      );
    } else if (existing !== undefined && this.options.imageExplicit) {
      const image = existing.get('image');
      if (isMap(image) && text(image.get('reference')) !== this.options.image) {
        image.set('reference', this.options.image);
        this.changed = true;
      }
    }
    if (add.length === 0) return;
    const volumes = this.seqOf(this.spec, 'volumes', [], ['initContainers', 'containers']);
    volumes.items.unshift(...add.map((v) => this.doc.createNode(v)));
    this.changed = true;
  }

  private addInstaller(): void {
    if (containersOf(this.spec).some((c) => c.name === INSTALLER)) {
      this.error(
        undefined,
        undefined,
        `a container is already named ${INSTALLER}: rename it, so that kubexit's init container ` +
          'can have that name',
      );
      return;
    }
    const init = this.seqOf(this.spec, 'initContainers', [], ['containers']);
    const node = this.doc.createNode({
      name: INSTALLER,
      image: this.options.image,
      args: null,
      volumeMounts: [{ name: KUBEXIT_VOLUME, mountPath: MOUNT_PATH }],
    }) as YAMLMap;
    node.set('args', installArgs());
    init.items.unshift(node);
    this.changed = true;
  }

  /** Ours stays (a new image if --image says so); a Go-era `cp` becomes ours. */
  private upgradeInstaller(installer: Container, wired: Container[]): void {
    const node = installer.node;
    if (installerKind(installer) === 'go') {
      const dest = goCopyDestination(installer);
      if (dest !== MOUNT_PATH) {
        this.error(
          node,
          installer.name,
          `copies kubexit to ${show(dest)}; this kubexit runs from ${MOUNT_PATH} only (its ` +
            `loader and libraries are there): mount the ${KUBEXIT_VOLUME} volume at ${MOUNT_PATH}`,
        );
        return;
      }
      const at = node.items.findIndex((p) => keyOf(p) === 'command');
      const args = node.items.findIndex((p) => keyOf(p) === 'args');
      if (args >= 0) {
        (node.items[args] as Pair).value = installArgs();
        if (at >= 0) node.items.splice(at, 1);
      } else {
        (node.items[at] as Pair).key = new Scalar('args');
        (node.items[at] as Pair).value = installArgs();
      }
      node.set('image', this.options.image);
      this.changed = true;
    } else if (this.options.imageExplicit && text(node.get('image')) !== this.options.image) {
      node.set('image', this.options.image);
      this.changed = true;
    }
    if (!mountsOf(node).some((m) => m.path === MOUNT_PATH)) {
      this.seqOf(node, 'volumeMounts', []).items.unshift(
        this.doc.createNode({ name: KUBEXIT_VOLUME, mountPath: MOUNT_PATH }),
      );
      this.changed = true;
    }
    // It must come before any wired init container: they run the executable it installs.
    const init = this.spec.get('initContainers') as YAMLSeq;
    const own = init.items.indexOf(node);
    const firstWired = init.items.findIndex((n) => wired.some((c) => c.node === n));
    if (firstWired >= 0 && own > firstWired) {
      init.items.splice(own, 1);
      init.items.unshift(node);
      this.changed = true;
    }
  }

  private wireServiceAccount(): void {
    if (!this.options.rbac) return;
    if (this.spec.has('serviceAccountName')) return;
    // Deprecated, but the apiserver still copies it over.
    const legacy = text(this.spec.get('serviceAccount'));
    const name = legacy ?? (this.pod.name || INSTALLER);
    this.spec.items.unshift(this.doc.createPair('serviceAccountName', name) as Pair<unknown>);
    this.changed = true;
  }

  private volume(name: string): YAMLMap | undefined {
    const volumes = this.spec.get('volumes');
    if (!isSeq(volumes)) return undefined;
    return volumes.items.find((v): v is YAMLMap => isMap(v) && text(v.get('name')) === name);
  }

  /** The sequence at `key`, created (after the last of `after`, or before `before`) if absent. */
  private seqOf(
    map: YAMLMap,
    key: string,
    after: readonly string[],
    before: readonly string[] = [],
  ): YAMLSeq {
    const existing = map.get(key);
    if (isSeq(existing)) return existing;
    const seq = new YAMLSeq();
    const pair = this.doc.createPair(key, seq) as Pair<unknown>;
    if (existing !== undefined) {
      (map.items.find((p) => keyOf(p) === key) as Pair).value = seq;
      return seq;
    }
    let at = -1;
    map.items.forEach((p, i) => {
      if (after.includes(keyOf(p) ?? '')) at = i;
    });
    if (at < 0) {
      const next = map.items.findIndex((p) => before.includes(keyOf(p) ?? ''));
      at = next < 0 ? map.items.length - 1 : next - 1;
    }
    map.items.splice(at + 1, 0, pair);
    this.changed = true;
    return seq;
  }

  private error(node: Node | undefined, container: string | undefined, message: string): void {
    this.problems.push({ severity: 'error', node, container, message });
  }

  private warning(node: Node | undefined, container: string | undefined, message: string): void {
    this.problems.push({ severity: 'warning', node, container, message });
  }
}

/** `args: ['install', '/kubexit']`, written as the examples write it. */
function installArgs(): YAMLSeq {
  const seq = new YAMLSeq();
  seq.flow = true;
  for (const word of ['install', MOUNT_PATH]) {
    const s = new Scalar(word);
    s.type = Scalar.QUOTE_SINGLE;
    seq.items.push(s);
  }
  return seq;
}

/** A new first item, quoted as the sequence's first item is (flow lists of quoted words). */
function likeFirst(seq: YAMLSeq, value: string): Scalar {
  const s = new Scalar(value);
  const first = seq.items[0];
  if (isScalar(first) && (first.type === Scalar.QUOTE_SINGLE || first.type === Scalar.QUOTE_DOUBLE))
    s.type = first.type;
  return s;
}

function keyOf(pair: Pair): string | undefined {
  return text(pair.key);
}

function show(value: string | undefined): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}

function isSidecar(c: Container): boolean {
  return c.init && text(c.node.get('restartPolicy')) === 'Always';
}

function mountsOf(container: YAMLMap): { name: string; path: string }[] {
  const mounts = container.get('volumeMounts');
  if (!isSeq(mounts)) return [];
  return mounts.items.filter(isMap).map((m) => ({
    name: text(m.get('name')) ?? '',
    path: (text(m.get('mountPath')) ?? '').replace(/(.)\/+$/, '$1'),
  }));
}
