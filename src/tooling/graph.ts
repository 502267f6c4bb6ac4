// `kubexit graph FILE|-`: each pod template's dependency graph, as Mermaid or DOT. Nodes are the
// pod's containers; a birth edge goes from a dependency to the container that waits for it,
// labelled with the condition; a death edge from a dependency to the container it stops,
// labelled with what happens then. What the edges say comes from the runtime's own parseConfig
// (configOf), so the graph shows what kubexit will do, defaults included.
import { YAMLMap } from 'yaml';
import type { BirthDep, Config, DeathCondition } from '../supervisor/config.js';
import { formatDuration } from '../supervisor/duration.js';
import {
  asksForKubexit,
  configOf,
  containersOf,
  podTemplates,
  positionOf,
  readSources,
  type Container,
  type ContainerConfig,
  type PodTemplate,
  type Source,
} from './manifest.js';

export type Format = 'mermaid' | 'dot';

export interface GraphNode {
  id: string;
  name: string;
  /** Wrapped by kubexit (asks for it with a KUBEXIT_* variable). */
  kubexit: boolean;
  init: boolean;
  /** Named by a dependency, but no container of the pod has that name. */
  missing: boolean;
}

export interface GraphEdge {
  kind: 'birth' | 'death';
  from: string;
  to: string;
  label: string;
}

export interface PodGraph {
  title: string;
  nodes: GraphNode[];
  edges: GraphEdge[];
}

/** A KUBEXIT_* value the runtime would refuse: left out of the graph, as parseConfig leaves it. */
export interface GraphWarning {
  path: string;
  line: number;
  col: number;
  message: string;
}

/**
 * The graph of one pod template. Init containers appear only when kubexit wraps them (a sidecar)
 * or a dependency names them: kubexit's own installer would only be noise.
 */
export function podGraph(
  template: PodTemplate,
  index: number,
  warnings: GraphWarning[] = [],
): PodGraph {
  const prefix = `p${index}`;
  const containers = containersOf(template.spec);
  const configs = new Map<Container, Config | undefined>();
  for (const c of containers) {
    if (!asksForKubexit(c)) continue;
    const judged = settingsOf(c);
    for (const err of judged.errors) {
      const at = positionOf(template.source, c.env.get(err.variable)?.node ?? c.node);
      warnings.push({
        path: template.source.path,
        ...at,
        message: `container ${c.name}: ${err.message}; left out of the graph (kubexit lint tells more)`,
      });
    }
    configs.set(c, judged.config);
  }

  const nodes: GraphNode[] = [];
  const nodeOf = new Map<Container | string, GraphNode>();
  const add = (key: Container | string, node: Omit<GraphNode, 'id'>): GraphNode => {
    const made = { id: `${prefix}c${nodes.length + 1}`, ...node };
    nodes.push(made);
    nodeOf.set(key, made);
    return made;
  };
  // Birth dependencies name containers (also their tombstones); death dependencies name
  // tombstones, which are the KUBEXIT_NAMEs.
  const byName = (name: string): Container | undefined => containers.find((c) => c.name === name);
  const byTombstone = (name: string): Container | undefined =>
    containers.find((c) => configs.get(c)?.name === name) ?? byName(name);
  const named = new Set<Container>();
  const missing: string[] = [];
  for (const config of configs.values()) {
    if (config === undefined) continue;
    const targets = [
      ...config.birthDeps.map((d) => [d, byName(d) ?? byTombstone(d)] as const),
      ...config.deathDeps.map((d) => [d, byTombstone(d)] as const),
    ];
    for (const [name, found] of targets) {
      if (found) named.add(found);
      else if (!missing.includes(name)) missing.push(name);
    }
  }
  for (const c of containers) {
    if (c.init && !configs.has(c) && !named.has(c)) continue;
    add(c, { name: c.name, kubexit: configs.has(c), init: c.init, missing: false });
  }
  for (const name of missing) add(name, { name, kubexit: false, init: false, missing: true });

  const edges: GraphEdge[] = [];
  for (const [c, config] of configs) {
    if (config === undefined) continue;
    const to = (nodeOf.get(c) as GraphNode).id;
    for (const dep of config.birthConditions) {
      const from = nodeOf.get(byName(dep.name) ?? byTombstone(dep.name) ?? dep.name) as GraphNode;
      edges.push({ kind: 'birth', from: from.id, to, label: birthLabel(dep, config) });
    }
    for (const dep of new Set(config.deathDeps)) {
      const from = nodeOf.get(byTombstone(dep) ?? dep) as GraphNode;
      const conditions = config.ending.deathConditions.get(dep);
      edges.push({ kind: 'death', from: from.id, to, label: deathLabel(conditions, config) });
    }
  }
  const title = `${template.kind} ${template.name || '(no name)'}`;
  return { title, nodes, edges };
}

/**
 * The container's configuration as kubexit would read it. KUBEXIT_NAME is the container's
 * name when it is missing or refused (inject sets it so), so that an unwired manifest, or one
 * with a bad name, still shows its dependencies.
 */
function settingsOf(c: Container): ContainerConfig {
  const judged = configOf(c);
  if (judged.config !== undefined) return judged;
  const env = new Map(c.env);
  env.set('KUBEXIT_NAME', { node: new YAMLMap(), value: c.name });
  const again = configOf({ ...c, env });
  const nameErrors = judged.errors.filter((e) => e.variable === 'KUBEXIT_NAME');
  // A missing name is no error here: inject adds it.
  const reported = nameErrors.filter((e) => e.value !== undefined);
  return { ...again, errors: [...reported, ...again.errors] };
}

function birthLabel(dep: BirthDep, config: Config): string {
  if (config.birthTimeoutAction === 'start')
    return `${dep.condition}, or start after ${formatDuration(config.birthTimeout)}`;
  return dep.condition;
}

function deathLabel(conditions: readonly DeathCondition[] | undefined, config: Config): string {
  const e = config.ending;
  const when =
    conditions === undefined || conditions.includes('completed')
      ? 'died'
      : [...new Set(conditions)].join(' or ');
  const delay = e.deathDelay > 0n ? `wait ${formatDuration(e.deathDelay)}, then ` : '';
  const action =
    e.deathHttp === undefined
      ? e.deathSignal
      : `POST ${withoutPassword(e.deathHttp)} (else ${e.deathSignal})`;
  const hold = e.shutdownAfterDeps
    ? `; holds its own SIGTERM until then, up to ${formatDuration(e.shutdownHold)}`
    : '';
  return `${when}: ${delay}${action}, KILL after ${formatDuration(config.gracePeriod)}${hold}`;
}

/** A graph may end up in a README: a URL's password stays out of it. */
function withoutPassword(url: string): string {
  const u = new URL(url);
  if (u.password === '') return url;
  u.password = '***';
  return u.href;
}

// Mermaid: one flowchart, one subgraph per pod template. Labels are quoted, with the characters
// that would end a quote or start markup written as Mermaid's entity codes.
const MERMAID_ENTITIES: Readonly<Record<string, string>> = {
  '"': '#quot;',
  '#': '#35;',
  '<': '#lt;',
  '>': '#gt;',
  '&': '#amp;',
};

function mermaidText(s: string): string {
  return `"${s.replace(/["#<>&]/g, (ch) => MERMAID_ENTITIES[ch] as string).replace(/[\r\n]+/g, ' ')}"`;
}

function nodeLabel(n: GraphNode): string {
  if (n.missing) return `${n.name} (not in this pod)`;
  return n.init ? `${n.name} (init)` : n.name;
}

export function renderMermaid(graphs: readonly PodGraph[]): string {
  const lines = [
    'flowchart LR',
    '  %% rounded: wrapped by kubexit; solid arrow: starts after (birth); dotted: stops it (death)',
  ];
  graphs.forEach((g, i) => {
    lines.push(`  subgraph p${i + 1}[${mermaidText(g.title)}]`);
    for (const n of g.nodes) {
      const label = mermaidText(nodeLabel(n));
      const shape = n.missing ? `{{${label}}}` : n.kubexit ? `([${label}])` : `[${label}]`;
      lines.push(`    ${n.id}${shape}`);
    }
    for (const e of g.edges) {
      const arrow = e.kind === 'birth' ? '-->' : '-.->';
      lines.push(`    ${e.from} ${arrow}|${mermaidText(e.label)}| ${e.to}`);
    }
    lines.push('  end');
  });
  return `${lines.join('\n')}\n`;
}

function dotText(s: string): string {
  return `"${s.replace(/[\\"]/g, (ch) => `\\${ch}`).replace(/[\r\n]+/g, ' ')}"`;
}

export function renderDot(graphs: readonly PodGraph[]): string {
  const lines = [
    'digraph kubexit {',
    '  // rounded: wrapped by kubexit; solid arrow: starts after (birth); dashed: stops it (death)',
    '  rankdir=LR;',
    '  node [shape=box];',
  ];
  graphs.forEach((g, i) => {
    lines.push(`  subgraph cluster_p${i + 1} {`, `    label=${dotText(g.title)};`);
    for (const n of g.nodes) {
      const style = n.missing ? ', style=dashed' : n.kubexit ? ', style=rounded' : '';
      lines.push(`    ${n.id} [label=${dotText(nodeLabel(n))}${style}];`);
    }
    for (const e of g.edges) {
      const style = e.kind === 'death' ? ', style=dashed' : '';
      lines.push(`    ${e.from} -> ${e.to} [label=${dotText(e.label)}${style}];`);
    }
    lines.push('  }');
  });
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

/** Every pod template's graph, in source order, and the warnings met on the way. */
export function graphsOf(templates: readonly PodTemplate[]): {
  graphs: PodGraph[];
  warnings: GraphWarning[];
} {
  const warnings: GraphWarning[] = [];
  const graphs = templates.map((t, i) => podGraph(t, i + 1, warnings));
  return { graphs, warnings };
}

export const USAGE = `Usage: kubexit graph [--format mermaid|dot] FILE|DIR|-
  Prints the dependency graph of every pod template in the Kubernetes YAML: containers, birth
  edges (starts after: ready, started, completed or succeeded) and death edges (what a death does:
  signal or HTTP call, delay, grace period before the KILL). Mermaid by default.
`;

/** `kubexit graph …`: 0 graphs printed, 1 nothing to graph or unreadable input, 2 bad usage. */
export async function graphCommand(args: string[]): Promise<number> {
  let format: Format = 'mermaid';
  const paths: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const inline = /^--format=(.*)$/.exec(arg);
    if (arg === '--format' || inline) {
      const value = inline ? inline[1] : args[++i];
      if (value !== 'mermaid' && value !== 'dot') return usage(`unknown format ${String(value)}`);
      format = value;
    } else if (arg === '--help' || arg === '-h') {
      process.stdout.write(USAGE);
      return 0;
    } else if (arg.startsWith('-') && arg !== '-') {
      return usage(`unknown option ${arg}`);
    } else paths.push(arg);
  }
  if (paths.length !== 1) return usage(paths.length ? 'one FILE only' : 'no FILE');

  let sources: Source[];
  try {
    sources = readSources(paths);
  } catch (err) {
    process.stderr.write(`kubexit graph: ${(err as Error).message}\n`);
    return 1;
  }
  const broken = sources.flatMap((s) =>
    s.docs.flatMap((d) => d.errors.map((e) => `${s.path}: ${e.message}`)),
  );
  const templates = sources.flatMap(podTemplates);
  if (broken.length > 0) {
    process.stderr.write(broken.map((b) => `kubexit graph: ${b}\n`).join(''));
    return 1;
  }
  if (templates.length === 0) {
    process.stderr.write(`kubexit graph: no pod template in ${paths[0]}\n`);
    return 1;
  }
  const { graphs, warnings } = graphsOf(templates);
  for (const w of warnings)
    process.stderr.write(`${w.path}:${w.line}:${w.col}: warning: ${w.message}\n`);
  process.stdout.write(format === 'dot' ? renderDot(graphs) : renderMermaid(graphs));
  return 0;
}

function usage(problem: string): number {
  process.stderr.write(`kubexit graph: ${problem}\n${USAGE}`);
  return 2;
}
