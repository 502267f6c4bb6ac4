// Kubernetes manifests as the manifest tools (inject, lint, graph, webhook) see them: YAML
// sources kept as documents (comments, key order and source positions intact, so that inject
// rewrites only what it adds and lint can point at a line), and the pod templates inside them.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, parseConfig, type Config } from '../supervisor/config.js';
import {
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseAllDocuments,
  type Document,
  type Node,
  type YAMLMap,
  type YAMLSeq,
} from 'yaml';

/** One file (or stdin, path "-") and the documents in it. */
export interface Source {
  path: string;
  text: string;
  docs: Document.Parsed[];
  lines: LineCounter;
}

/** Where a pod spec sits in a document, for each kind that carries one. */
const POD_SPEC_PATHS: Readonly<Record<string, readonly string[]>> = {
  Pod: ['spec'],
  PodTemplate: ['template', 'spec'],
  Job: ['spec', 'template', 'spec'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
  Deployment: ['spec', 'template', 'spec'],
  StatefulSet: ['spec', 'template', 'spec'],
  DaemonSet: ['spec', 'template', 'spec'],
  ReplicaSet: ['spec', 'template', 'spec'],
  ReplicationController: ['spec', 'template', 'spec'],
};

/** A pod spec found in a source: the object that holds it, and the nodes the tools work on. */
export interface PodTemplate {
  source: Source;
  doc: Document.Parsed;
  /** The object's kind and metadata.name ("" when missing), e.g. to name it in messages. */
  kind: string;
  name: string;
  /** The node of the object (a document's root, or an item of a List). */
  object: YAMLMap;
  /** The pod's metadata (Pod: the object's; others: the template's), when present. */
  metadata: YAMLMap | undefined;
  spec: YAMLMap;
}

/** A container of a pod spec, with its literal environment. */
export interface Container {
  node: YAMLMap;
  name: string;
  init: boolean;
  /** Each env entry by name: `value` for a literal, undefined for valueFrom. Last one wins. */
  env: Map<string, EnvEntry>;
}

export interface EnvEntry {
  node: YAMLMap;
  value: string | undefined;
}

/**
 * Reads FILE, every *.yaml/*.yml under DIR (sorted, recursively) or "-" (stdin). `parse` may be
 * another reader giving the same Source (lint's faster one, which keeps no comments).
 */
export function readSources(
  paths: readonly string[],
  parse: (path: string, text: string) => Source = parseSource,
): Source[] {
  const sources: Source[] = [];
  for (const path of paths) {
    if (path === '-') {
      sources.push(parse('-', readFileSync(0, 'utf8')));
      continue;
    }
    for (const file of yamlFiles(path)) sources.push(parse(file, readFileSync(file, 'utf8')));
  }
  return sources;
}

function yamlFiles(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  const files: string[] = [];
  for (const entry of readdirSync(path, { withFileTypes: true }).sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  )) {
    const full = join(path, entry.name);
    if (entry.isDirectory()) files.push(...yamlFiles(full));
    else if (/\.ya?ml$/.test(entry.name)) files.push(full);
  }
  return files;
}

export function parseSource(path: string, text: string): Source {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines });
  // An empty stream comes back as a non-array; no documents then.
  return { path, text, docs: Array.isArray(docs) ? docs : [], lines };
}

/** Line and column (1-based) where a node starts in its source. */
export function positionOf(source: Source, node: Node | undefined): { line: number; col: number } {
  const offset = node?.range?.[0] ?? 0;
  return source.lines.linePos(offset);
}

/** Every pod spec in a source, in document order (List items included). */
export function podTemplates(source: Source): PodTemplate[] {
  const found: PodTemplate[] = [];
  for (const doc of source.docs) {
    if (isMap(doc.contents)) collect(source, doc, doc.contents, found);
  }
  return found;
}

function collect(
  source: Source,
  doc: Document.Parsed,
  object: YAMLMap,
  found: PodTemplate[],
): void {
  const kind = text(object.get('kind'));
  if (kind === 'List' || kind?.endsWith('List') === true) {
    const items = object.get('items');
    if (isSeq(items))
      for (const item of items.items) if (isMap(item)) collect(source, doc, item, found);
    return;
  }
  const path = kind === undefined ? undefined : POD_SPEC_PATHS[kind];
  if (path === undefined) return;
  const spec = object.getIn(path);
  if (!isMap(spec)) return;
  const metadataPath = [...path.slice(0, -1), 'metadata'];
  const metadata = object.getIn(metadataPath);
  const objectMeta = object.get('metadata');
  return void found.push({
    source,
    doc,
    kind: kind as string,
    name: (isMap(objectMeta) ? text(objectMeta.get('name')) : undefined) ?? '',
    object,
    metadata: isMap(metadata) ? metadata : undefined,
    spec,
  });
}

/** The pod's init containers, then its containers. */
export function containersOf(spec: YAMLMap): Container[] {
  const all: Container[] = [];
  for (const [key, init] of [
    ['initContainers', true],
    ['containers', false],
  ] as const) {
    const list = spec.get(key);
    if (!isSeq(list)) continue;
    for (const node of list.items) {
      if (!isMap(node)) continue;
      all.push({ node, name: text(node.get('name')) ?? '', init, env: envOf(node) });
    }
  }
  return all;
}

function envOf(container: YAMLMap): Map<string, EnvEntry> {
  const env = new Map<string, EnvEntry>();
  const list = container.get('env');
  if (!isSeq(list)) return env;
  for (const node of (list as YAMLSeq).items) {
    if (!isMap(node)) continue;
    const name = text(node.get('name'));
    if (name === undefined) continue;
    const value = node.get('value');
    env.set(name, { node, value: value === undefined ? undefined : scalarText(value) });
  }
  return env;
}

/** A scalar's string form ("10" for 10, "true" for true), as the apiserver would store it. */
function scalarText(value: unknown): string | undefined {
  if (isScalar(value)) value = value.value;
  if (value === null || value === undefined) return undefined;
  return typeof value === 'object' ? undefined : String(value);
}

/** A string value (get() on a parsed document returns scalars' values unless keepScalar). */
export function text(value: unknown): string | undefined {
  const s = scalarText(value);
  return typeof s === 'string' ? s : undefined;
}

/** Does this container ask for kubexit: any KUBEXIT_* variable, literal or from a source. */
export function asksForKubexit(container: Container): boolean {
  for (const name of container.env.keys()) if (name.startsWith('KUBEXIT_')) return true;
  return false;
}

/** Values set from elsewhere (valueFrom, envFrom) are unknown here; these stand in for them. */
const STAND_INS: Readonly<Record<string, string>> = {
  KUBEXIT_POD_NAME: 'pod',
  KUBEXIT_NAMESPACE: 'namespace',
};

/** What the runtime's own validation says of a container's KUBEXIT_* variables. */
export interface ContainerConfig {
  /** Every bad variable, in the runtime's order, each as the runtime would refuse it. */
  errors: ConfigError[];
  /** The configuration once the bad variables are left out (their defaults apply). */
  config: Config | undefined;
  /** Variables set from elsewhere (valueFrom): present, value unknown. */
  fromElsewhere: Set<string>;
}

/**
 * Runs the runtime's parseConfig on the container's literal KUBEXIT_* values, so that a tool
 * judges them exactly as kubexit will. parseConfig stops at the first bad variable; leaving it
 * out and parsing again finds the next, once per variable at most.
 */
export function configOf(container: Container): ContainerConfig {
  const env: Record<string, string | undefined> = {};
  const fromElsewhere = new Set<string>();
  for (const [name, entry] of container.env) {
    if (!name.startsWith('KUBEXIT_')) continue;
    if (entry.value !== undefined) env[name] = entry.value;
    else if (entry.node.has('valueFrom')) {
      fromElsewhere.add(name);
      env[name] = STAND_INS[name] ?? undefined;
    } else env[name] = '';
  }
  const errors: ConfigError[] = [];
  for (let round = 0; round <= Object.keys(env).length + 1; round++) {
    try {
      return { errors, config: parseConfig(env), fromElsewhere };
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      errors.push(err);
      // A missing required variable can't be left out further: nothing more to learn.
      if (env[err.variable] === undefined) break;
      delete env[err.variable];
    }
  }
  return { errors, config: undefined, fromElsewhere };
}
