// What lint reports, and the small helpers every rule shares: where a finding points in the
// YAML source, and "did you mean" for names that are close to a real one.
import { isMap, isScalar, isSeq, type Node, type YAMLMap } from 'yaml';
import { text, type Container, type Source } from '../manifest.js';

export type Severity = 'error' | 'warning';

export interface Finding {
  source: Source;
  /** Offset in the source's text: where the problem is. */
  at: number;
  severity: Severity;
  rule: string;
  message: string;
}

/** Collects findings; each rule module adds to it. */
export class Report {
  readonly findings: Finding[] = [];

  constructor(readonly source: Source) {}

  error(rule: string, at: Node | number | undefined, message: string): void {
    this.add('error', rule, at, message);
  }

  warning(rule: string, at: Node | number | undefined, message: string): void {
    this.add('warning', rule, at, message);
  }

  private add(severity: Severity, rule: string, at: Node | number | undefined, message: string) {
    const offset = typeof at === 'number' ? at : (at?.range?.[0] ?? 0);
    this.findings.push({ source: this.source, at: offset, severity, rule, message });
  }
}

/** The node of a map's key's value (a scalar node, not its value), or undefined. */
export function nodeAt(map: YAMLMap | undefined, key: string): Node | undefined {
  const node = map?.get(key, true) as unknown;
  return isScalar(node) || isMap(node) || isSeq(node) ? (node as Node) : undefined;
}

/** Where an item of a comma-separated scalar sits in the source: the item itself if found. */
export function itemAt(source: Source, node: Node | undefined, item: string): Node | number {
  const range = node?.range;
  if (range === undefined || range === null) return node as Node;
  const raw = source.text.slice(range[0], range[1]);
  const i = raw.search(new RegExp(`(?<![\\w.-])${escape(item)}(?![\\w.-])`));
  return i < 0 ? (node as Node) : range[0] + i;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The env entry's value node (or valueFrom, or the entry), for pointing at a variable. */
export function envValueAt(container: Container, name: string): Node | undefined {
  const entry = container.env.get(name);
  if (entry === undefined) return undefined;
  return nodeAt(entry.node, 'value') ?? nodeAt(entry.node, 'valueFrom') ?? entry.node;
}

/** The container's name node, or the container itself. */
export function containerAt(container: Container): Node {
  return nodeAt(container.node, 'name') ?? container.node;
}

/** A sequence of maps under a key (volumes, volumeMounts, …); [] when absent or another shape. */
export function mapsOf(map: YAMLMap | undefined, key: string): YAMLMap[] {
  const seq = map?.get(key, true) as unknown;
  return isSeq(seq) ? seq.items.filter((i): i is YAMLMap => isMap(i)) : [];
}

/** A sequence of strings (command, args); undefined when absent. */
export function stringsOf(map: YAMLMap | undefined, key: string): string[] | undefined {
  const seq = map?.get(key, true) as unknown;
  if (!isSeq(seq)) return undefined;
  return seq.items.map((i) => text(i) ?? '');
}

/** Levenshtein distance, cut off above `max` (names are short; this stays cheap). */
export function distance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const v = Math.min(
        (prev[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (prev[j - 1] as number) + cost,
      );
      row.push(v);
      best = Math.min(best, v);
    }
    if (best > max) return max + 1;
    prev = row;
  }
  return prev[b.length] as number;
}

/** ` (did you mean "x"?)` for the closest candidate within a small edit distance, else "". */
export function didYouMean(name: string, candidates: Iterable<string>): string {
  const max = name.length <= 4 ? 1 : 2;
  let best: string | undefined;
  let bestDistance = max + 1;
  for (const c of candidates) {
    const d = distance(name.toLowerCase(), c.toLowerCase(), max);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best === undefined ? '' : ` (did you mean "${best}"?)`;
}
