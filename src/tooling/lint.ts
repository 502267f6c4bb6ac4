// `kubexit lint FILE|DIR|- …`: checks the kubexit wiring of every pod template in Kubernetes
// YAML before it runs. Each rule module adds findings; this file reads the input, runs them and
// prints `file:line:col: severity: message [rule]` (or --json). Exit 1 on errors, 2 on usage
// errors, unreadable files and YAML syntax errors.
import { podTemplates, readSources, type Source } from './manifest.js';
import { checkApi, Rbac } from './lint/api.js';
import { parseSourceFast } from './lint/fast-yaml.js';
import { Report, type Finding } from './lint/findings.js';
import {
  checkCycles,
  checkDependencies,
  checkGraveyard,
  checkNames,
  checkReadiness,
  checkShutdownBudget,
  checkValues,
  podOf,
} from './lint/pod.js';
import { checkExecutable } from './lint/wiring.js';

export const LINT_USAGE = `Usage: kubexit lint [--json] FILE|DIR|- …
  Checks the kubexit wiring of every pod template in Kubernetes YAML (a file, every *.yaml and
  *.yml under a folder, or "-" for stdin). Prints file:line:col: error|warning: message [rule];
  --json prints a JSON array of {file, line, col, severity, rule, message}.
  Exit code: 0 no errors (warnings allowed), 1 errors, 2 bad usage, an unreadable file or
  invalid YAML.
`;

export interface Located {
  file: string;
  line: number;
  col: number;
  severity: Finding['severity'];
  rule: string;
  message: string;
}

export interface LintResult {
  findings: Located[];
  /** The input itself is broken (YAML syntax): exit 2. */
  broken: boolean;
}

/** Lints parsed sources together (a pod's RBAC may be in another file of the input). */
export function lintSources(sources: readonly Source[]): LintResult {
  const reports = new Map<Source, Report>(sources.map((s) => [s, new Report(s)]));
  const reportFor = (s: Source): Report => reports.get(s) as Report;
  let broken = false;
  const rbac = new Rbac();
  for (const source of sources) rbac.add(source);
  for (const source of sources) {
    const report = reportFor(source);
    const errors = source.docs.flatMap((d) => d.errors);
    if (errors.length > 0) {
      broken = true;
      for (const e of errors)
        report.error(
          'yaml-syntax',
          e.pos[0],
          e.message.replace(/ at line \d+, column \d+:[\s\S]*$/, ''),
        );
      continue;
    }
    for (const template of podTemplates(source)) {
      const pod = podOf(template, report);
      if (pod.kubexits.length === 0) continue;
      checkValues(pod);
      checkNames(pod);
      checkDependencies(pod);
      checkGraveyard(pod);
      checkCycles(pod);
      checkReadiness(pod);
      checkShutdownBudget(pod);
      checkExecutable(pod);
      checkApi(pod, rbac, reportFor);
    }
  }
  const findings: Located[] = [];
  for (const source of sources) {
    const located = reportFor(source).findings.map((f) => ({ f, ...source.lines.linePos(f.at) }));
    located.sort((a, b) => a.f.at - b.f.at);
    for (const { f, line, col } of located) {
      const file = source.path === '-' ? '<stdin>' : source.path;
      findings.push({ file, line, col, severity: f.severity, rule: f.rule, message: f.message });
    }
  }
  return { findings, broken };
}

export function lintText(path: string, text: string): LintResult {
  return lintSources([parseSourceFast(path, text)]);
}

export function format(f: Located): string {
  return `${f.file}:${f.line}:${f.col}: ${f.severity}: ${f.message} [${f.rule}]`;
}

export async function lintCommand(args: string[]): Promise<number> {
  let json = false;
  const paths: string[] = [];
  for (const arg of args) {
    if (arg === '--json') json = true;
    else if (arg === '--help' || arg === '-h') {
      process.stdout.write(LINT_USAGE);
      return 0;
    } else if (arg.startsWith('-') && arg !== '-') return usage(`unknown option ${arg}`);
    else paths.push(arg);
  }
  if (paths.length === 0) return usage('no FILE, DIR or - given');
  const sources: Source[] = [];
  let unreadable = false;
  for (const path of paths) {
    try {
      sources.push(...readSources([path], parseSourceFast));
    } catch (err) {
      unreadable = true;
      process.stderr.write(`kubexit lint: cannot read ${path}: ${(err as Error).message}\n`);
    }
  }
  const { findings, broken } = lintSources(sources);
  process.stdout.write(
    json
      ? `${JSON.stringify(findings, null, 2)}\n`
      : findings.map((f) => `${format(f)}\n`).join(''),
  );
  if (unreadable || broken) return 2;
  return findings.some((f) => f.severity === 'error') ? 1 : 0;
}

function usage(problem: string): number {
  process.stderr.write(`kubexit lint: ${problem}\n${LINT_USAGE}`);
  return 2;
}
