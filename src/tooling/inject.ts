// `kubexit inject [--rbac] [--image IMAGE] [--image-volume] FILE|DIR|-…`: Kubernetes YAML in,
// the same YAML out with kubexit wired into every pod template that asks for it. A document
// inject leaves alone is written byte for byte as it came; one it changes keeps its comments
// and key order. Errors go to stderr, one line each, and then nothing goes to stdout.
import { Document, isMap } from 'yaml';
import {
  podTemplates,
  positionOf,
  readSources,
  text,
  type PodTemplate,
  type Source,
} from './manifest.js';
import { ObjectIndex, rbacDocuments, type RbacNeed } from './inject-rbac.js';
import { wirePod, type Problem, type WireOptions } from './inject-wire.js';
import { documentText } from './yaml-text.js';

export { API_ANNOTATION, INJECT_ANNOTATION } from './inject-wire.js';

declare const KUBEXIT_VERSION: string | undefined;
const version = typeof KUBEXIT_VERSION === 'string' ? KUBEXIT_VERSION : 'dev';
export const DEFAULT_IMAGE = `kubexit:${version}`;

export const USAGE = `Usage: kubexit inject [--rbac] [--image IMAGE] [--image-volume] FILE|DIR|- …

Writes the Kubernetes YAML read from each FILE, the *.yaml/*.yml under DIR, or stdin (-) to
stdout, with kubexit wired into every pod template that asks for it: containers that have a
KUBEXIT_* variable, or all of them when the pod has the annotation kubexit.io/inject: "true".

  --rbac          also write the ServiceAccount, Role and RoleBinding that pods reading the
                  Kubernetes API need, and set their serviceAccountName
  --image IMAGE   the kubexit image (default ${DEFAULT_IMAGE})
  --image-volume  mount the image as a volume (Kubernetes >= 1.33) instead of an init copy

Exit code: 0 wired; 1 a pod could not be wired or an input not read (stderr says where, and
stdout gets nothing); 2 bad arguments.
`;

/** What injectPodObject can be told: the CLI's options. */
export interface InjectOptions {
  image?: string;
  rbac?: boolean;
  imageVolume?: boolean;
}

/**
 * The same wiring on a pod as JSON (the webhook's AdmissionReview object). With problems, the
 * pod comes back as it was: never half-wired.
 */
export function injectPodObject(
  pod: object,
  options: InjectOptions = {},
): { pod: object; problems: string[]; warnings: string[]; changed: boolean } {
  const doc = new Document(pod);
  const spec = doc.get('spec');
  const metadata = doc.get('metadata');
  if (!isMap(spec)) return { pod, problems: [], warnings: [], changed: false };
  const meta = isMap(metadata) ? metadata : undefined;
  const name = text(meta?.get('name')) ?? text(meta?.get('generateName'))?.replace(/-$/, '') ?? '';
  const wiring = wirePod({ doc, spec, metadata: meta, name }, wireOptions(options));
  const say = (p: Problem) =>
    p.container === undefined ? p.message : `container ${JSON.stringify(p.container)} ${p.message}`;
  const problems = wiring.problems.filter((p) => p.severity === 'error').map(say);
  const warnings = wiring.problems.filter((p) => p.severity === 'warning').map(say);
  if (problems.length > 0) return { pod, problems, warnings, changed: false };
  return { pod: doc.toJSON() as object, problems, warnings, changed: wiring.changed };
}

function wireOptions(options: InjectOptions): WireOptions {
  return {
    image: options.image ?? DEFAULT_IMAGE,
    imageExplicit: options.image !== undefined,
    imageVolume: options.imageVolume === true,
    rbac: options.rbac === true,
  };
}

/** One diagnostic line: file:line:col: severity: what, where. */
export interface Diagnostic {
  severity: 'error' | 'warning';
  line: string;
}

/** Wires every source; the output stream, and what went wrong or looks wrong. */
export function injectSources(
  sources: readonly Source[],
  options: InjectOptions = {},
): { output: string; diagnostics: Diagnostic[] } {
  const wire = wireOptions(options);
  const index = new ObjectIndex(sources);
  const diagnostics: Diagnostic[] = [];
  // Parts joined once at the end: asking a growing string for its last character would copy
  // it whole each time.
  const parts: string[] = [];
  let last = '';
  const append = (part: string, startsDocument: boolean): void => {
    if (part === '') return;
    if (parts.length > 0 && last !== '\n') parts.push('\n');
    if (parts.length > 0 && !startsDocument) parts.push('---\n');
    parts.push(part);
    last = part.slice(-1);
  };

  for (const source of sources) {
    const where = source.path === '-' ? '<stdin>' : source.path;
    const syntax = source.docs.flatMap((d) => d.errors);
    if (syntax.length > 0) {
      for (const err of syntax) {
        const { line, col } = source.lines.linePos(err.pos[0]);
        const first = err.message.split('\n', 1)[0] as string;
        diagnostics.push({ severity: 'error', line: `${where}:${line}:${col}: error: ${first}` });
      }
      continue;
    }
    if (source.docs.length === 0) {
      append(source.text, true);
      continue;
    }
    const templates = podTemplates(source);
    let start = 0;
    source.docs.forEach((doc, i) => {
      const end = i === source.docs.length - 1 ? source.text.length : doc.range[2];
      let changed = false;
      const needs: RbacNeed[] = [];
      for (const t of templates.filter((t) => t.doc === doc)) {
        const wiring = wirePod({ doc, spec: t.spec, metadata: t.metadata, name: t.name }, wire);
        changed ||= wiring.changed;
        for (const p of wiring.problems) diagnostics.push(diagnostic(where, t, p));
        if (wire.rbac && wiring.usesApi)
          needs.push({ serviceAccount: wiring.serviceAccount, namespace: namespaceOf(t) });
      }
      for (const need of needs)
        for (const rbac of rbacDocuments(need, index)) append(rbacText(rbac), false);
      const explicitStart = doc.directives.docStart === true;
      append(
        changed ? documentText(doc, source.text, start, end) : source.text.slice(start, end),
        explicitStart || parts.length === 0,
      );
      start = end;
    });
  }
  return { output: parts.join(''), diagnostics };
}

function rbacText(doc: Document): string {
  return doc.toString({ lineWidth: 0, flowCollectionPadding: false, indentSeq: true });
}

function namespaceOf(t: PodTemplate): string | undefined {
  const metadata = t.object.get('metadata');
  return isMap(metadata) ? text(metadata.get('namespace')) : undefined;
}

function diagnostic(where: string, t: PodTemplate, p: Problem): Diagnostic {
  const node = p.node?.range ? p.node : t.spec;
  const { line, col } = positionOf(t.source, node);
  const object = `${t.kind} ${t.name === '' ? '(unnamed)' : t.name}`;
  const what =
    p.container === undefined
      ? `${object}: ${p.message}`
      : `container ${JSON.stringify(p.container)} of ${object} ${p.message}`;
  return { severity: p.severity, line: `${where}:${line}:${col}: ${p.severity}: ${what}` };
}

/** The CLI: returns the exit code. */
export async function injectCommand(args: string[]): Promise<number> {
  const parsed = parseArgs(args);
  if (parsed === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (typeof parsed === 'string') {
    process.stderr.write(`kubexit inject: ${parsed}\n${USAGE}`);
    return 2;
  }
  let sources: Source[];
  try {
    sources = readSources(parsed.paths);
  } catch (err) {
    process.stderr.write(`kubexit inject: error: ${(err as Error).message}\n`);
    return 1;
  }
  const { output, diagnostics } = injectSources(sources, parsed.options);
  if (diagnostics.length > 0) process.stderr.write(diagnostics.map((d) => `${d.line}\n`).join(''));
  if (diagnostics.some((d) => d.severity === 'error')) return 1;
  // Written whole, and flushed before the process exits.
  await new Promise<void>((resolve, reject) =>
    process.stdout.write(output, (err) => (err ? reject(err) : resolve())),
  );
  return 0;
}

function parseArgs(
  args: readonly string[],
): { paths: string[]; options: InjectOptions } | 'help' | string {
  const options: InjectOptions = {};
  const paths: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--help' || arg === '-h') return 'help';
    else if (arg === '--rbac') options.rbac = true;
    else if (arg === '--image-volume') options.imageVolume = true;
    else if (arg === '--image' || arg.startsWith('--image=')) {
      const value = arg === '--image' ? args[++i] : arg.slice('--image='.length);
      if (value === undefined || value === '') return '--image needs an image reference';
      options.image = value;
    } else if (arg === '--') {
      paths.push(...args.slice(i + 1));
      break;
    } else if (arg.startsWith('-') && arg !== '-') return `unknown option ${arg}`;
    else paths.push(arg);
  }
  if (paths.length === 0) return 'no FILE, DIR or - (stdin) to read';
  return { paths, options };
}
