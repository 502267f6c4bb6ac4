// The benchmark's results: rounds interleaved between the supervisors, medians and tails, the
// ratios to the baselines, the lines, the markdown summary and results.json.
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { loadavg, release } from 'node:os';
import { FANOUT, type Figures, ROOT, RUNS, type Supervisor } from './harness.js';

/** measure key → supervisor id → samples */
export const results = new Map<string, Map<string, number[]>>();

export async function interleaved(
  who: Supervisor[],
  runs: number,
  round: (s: Supervisor) => Promise<Figures>,
  warm = true,
): Promise<void> {
  if (runs <= 0 || who.length === 0) return;
  // A first round warms the page cache and the harness's JIT: not kept. A round that fails
  // (another process may take this user's last inotify instance) is said and left out; a
  // supervisor that fails three is dropped from the measure.
  const failures = new Map<string, number>();
  for (let i = warm ? -1 : 0; i < runs; i++) {
    for (const s of who) {
      let figures: Figures;
      try {
        figures = await round(s);
      } catch (err) {
        const n = (failures.get(s.id) ?? 0) + 1;
        failures.set(s.id, n);
        const end = n >= 3 ? ': no more rounds of it' : '';
        console.log(`  ${s.id}: a round failed: ${(err as Error).message.split('\n')[0]}${end}`);
        if (n >= 3) who = who.filter((x) => x !== s);
        continue;
      }
      if (i < 0) continue;
      for (const [key, v] of Object.entries(figures)) {
        const bySup = results.get(key) ?? new Map<string, number[]>();
        results.set(key, bySup);
        bySup.set(s.id, [...(bySup.get(s.id) ?? []), ...(Array.isArray(v) ? v : [v])]);
      }
    }
  }
}

export function pct(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

interface Measure {
  key: string;
  title: string;
  unit: 'ms' | 'MiB';
  /** Print the p99 too (its ratios against the baselines' p99). */
  tail?: boolean;
  /** A memory cgroup figure: the child's own charge, measured alone, is subtracted. */
  cgroup?: boolean;
  /** Said in the summary table only, after the title. */
  note?: string;
  /** The baselines that do the same thing (birth: the PATCH round trip). */
  vs: string[];
}

export const MEASURES: Measure[] = [
  { key: 'startup', title: 'startup: exec → child runs', unit: 'ms', vs: ['tini', 'C'] },
  { key: 'forward', title: 'signal forwarding: TERM → child', unit: 'ms', vs: ['tini', 'C'] },
  {
    key: 'death.rename',
    title: 'death reaction, atomic rename',
    unit: 'ms',
    tail: true,
    vs: ['C'],
  },
  {
    key: 'death.inplace',
    title: 'death reaction, O_TRUNC + write (Go)',
    unit: 'ms',
    tail: true,
    vs: ['C'],
  },
  {
    key: 'death.fanout',
    title: `death reaction, ${FANOUT} dependents`,
    unit: 'ms',
    tail: true,
    vs: ['C'],
  },
  {
    key: 'death.group',
    title: 'death reaction, rename, process group',
    note: 'KUBEXIT_KILL_GROUP=true',
    unit: 'ms',
    tail: true,
    vs: [],
  },
  {
    key: 'death.single',
    title: 'death reaction, rename, no group',
    note: 'the same rounds, interleaved',
    unit: 'ms',
    tail: true,
    vs: [],
  },
  {
    key: 'death.killed',
    title: 'SIGKILLed dependency → child gets TERM',
    note: 'the dependent follows its liveness socket; goal p99 ≤ 5 ms',
    unit: 'ms',
    tail: true,
    vs: [],
  },
  {
    key: 'death.killedClose',
    title: "SIGKILL → the bench's own link closes",
    note:
      'the same kills, as a connection of the bench to that socket sees them: the kernel' +
      ' tearing the killed process down, then the bench waking',
    unit: 'ms',
    tail: true,
    vs: [],
  },
  {
    key: 'death.http',
    title: 'death → DEATH_HTTP POST arrives',
    note: 'Died by rename → a node:http server in the bench gets the POST',
    unit: 'ms',
    tail: true,
    vs: [],
  },
  {
    key: 'ready.listen',
    title: 'server listens → client child runs',
    note:
      'tombstones only; KUBEXIT_READY_PROBE=tcp://…, default settings; the server listens' +
      ' 0–200 ms after it starts; goal p99 ≤ 150 ms',
    unit: 'ms',
    tail: true,
    vs: [],
  },
  {
    key: 'ready.tombstone',
    title: 'Ready lands → client child runs',
    note:
      "Ready timed by the bench's own inotify watch on the graveyard, which wakes a little" +
      ' after it lands: a lower bound; goal p99 ≤ 5 ms',
    unit: 'ms',
    tail: true,
    vs: [],
  },
  { key: 'birth', title: 'birth reaction: PATCH → child runs', unit: 'ms', vs: ['PATCH'] },
  {
    key: 'startupBirth',
    title: 'startup, birth dep already ready',
    unit: 'ms',
    vs: ['tini', 'C'],
  },
  { key: 'mem.vmrss', title: 'VmRSS', unit: 'MiB', vs: ['tini', 'C'] },
  { key: 'mem.anon', title: 'RssAnon (private)', unit: 'MiB', vs: ['tini', 'C'] },
  {
    key: 'cg.charged',
    title: 'memory charged to its cgroup',
    unit: 'MiB',
    cgroup: true,
    vs: ['tini', 'C'],
  },
];
const measure = (key: string): Measure => MEASURES.find((m) => m.key === key) as Measure;

/** The figure (median or p99) of one supervisor, net of the child alone for cgroup figures. */
function figure(m: Measure, id: string, p = 50): number {
  const ref = m.key === 'birth' && id === 'PATCH' ? results.get('patch') : results.get(m.key);
  const samples = ref?.get(id === 'PATCH' ? 'all' : id);
  if (!samples?.length) return NaN;
  const child = m.cgroup ? pct(results.get(m.key)?.get('child') ?? [], 50) : 0;
  return pct(samples, p) - child;
}

export const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '—');
const times = (x: number): string => (x >= 10 ? x.toFixed(0) : x.toFixed(1)) + '×';

function ratios(m: Measure, id: string, p = 50): { vs: string; ratio: number }[] {
  const own = figure(m, id, p);
  return m.vs
    .filter((vs) => vs !== id)
    .map((vs) => ({ vs, ratio: own / figure(m, vs, p) }))
    .filter((r) => Number.isFinite(r.ratio) && r.ratio > 0);
}

const ratioText = (m: Measure, id: string, p = 50): string =>
  ratios(m, id, p)
    .map((r) => `${times(r.ratio)} ${r.vs}`)
    .join(', ');

export function printLines(keys: string[], list: Supervisor[]): void {
  for (const key of keys) {
    const m = measure(key);
    for (const s of list) {
      if (!results.get(key)?.get(s.id)) continue;
      let line = `${m.title.padEnd(38)} ${s.id.padEnd(5)} ${f2(figure(m, s.id)).padStart(7)} ${m.unit}`;
      if (m.tail) line += `  p99 ${f2(figure(m, s.id, 99)).padStart(6)}`;
      const r = ratioText(m, s.id);
      if (r) line += `  = ${r}`;
      if (m.tail && ratioText(m, s.id, 99)) line += ` (p99 ${ratioText(m, s.id, 99)})`;
      console.log(line);
    }
  }
}

export function summary(list: Supervisor[]): string {
  const rows = [
    `| measure (median unless said) | ${list.map((s) => s.label).join(' | ')} |`,
    `|---|${list.map(() => '---|').join('')}`,
  ];
  const cell = (m: Measure, s: Supervisor, p: number): string => {
    const v = figure(m, s.id, p);
    if (!Number.isFinite(v)) return '—';
    const r = ratioText(m, s.id, p);
    return `${f2(v)} ${m.unit}${r ? ` (${r})` : ''}`;
  };
  for (const m of MEASURES) {
    if (!results.get(m.key)) continue;
    let title = m.title;
    if (m.note) title += ` (${m.note})`;
    if (m.key === 'birth') title += ` (PATCH alone ${f2(figure(m, 'PATCH'))} ms)`;
    if (m.cgroup)
      title += ` (net of the child's ${f2(pct(results.get(m.key)?.get('child') ?? [], 50))} MiB)`;
    rows.push(`| ${title} | ${list.map((s) => cell(m, s, 50)).join(' | ')} |`);
    if (m.tail) rows.push(`| ${m.title}, p99 | ${list.map((s) => cell(m, s, 99)).join(' | ')} |`);
    if (m.key === 'death.single') rows.push(groupCost(list));
  }
  if (MEASURES.some((m) => m.vs.length === 0 && results.get(m.key)))
    rows.push(
      `\nNo baseline has a counterpart of the SIGKILL, group, HTTP or readiness rows: tini and the` +
        ` C reference neither follow a liveness socket, nor signal a group, nor call HTTP, nor probe.`,
    );
  return rows.join('\n');
}

/** The extra time of KUBEXIT_KILL_GROUP=true: group minus single, medians and p99s. */
function groupCost(list: Supervisor[]): string {
  const cells = list.map((s) => {
    const g = results.get('death.group')?.get(s.id);
    const one = results.get('death.single')?.get(s.id);
    if (!g?.length || !one?.length) return '—';
    return `${f2(pct(g, 50) - pct(one, 50))} ms (p99 ${f2(pct(g, 99) - pct(one, 99))} ms)`;
  });
  return `| process group's extra: group − no group | ${cells.join(' | ')} |`;
}

export const loadStart = loadavg();

/** What was measured: the commit, and whether the tree differed from it. */
export function revision(): string {
  const git = (...args: string[]): string =>
    spawnSync('git', args, { cwd: ROOT }).stdout?.toString().trim() ?? '';
  return `${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', 'src') ? '+dirty src' : ''}`;
}

export function saveJson(list: Supervisor[], file: string, table: string): void {
  const measures: Record<string, unknown> = {};
  for (const [key, bySup] of results) {
    const m = MEASURES.find((x) => x.key === key);
    const entry: Record<string, unknown> = {};
    for (const [id, samples] of bySup) {
      entry[id] = {
        n: samples.length,
        median: pct(samples, 50),
        p90: pct(samples, 90),
        p99: pct(samples, 99),
        ...(m && list.some((s) => s.id === id)
          ? {
              net: figure(m, id),
              ratios: Object.fromEntries(ratios(m, id).map((r) => [r.vs, r.ratio])),
            }
          : {}),
        samples: samples.map((x) => Math.round(x * 1e4) / 1e4),
      };
    }
    measures[key] = { title: m?.title ?? key, unit: m?.unit ?? 'ms', bySupervisor: entry };
  }
  const doc = {
    date: new Date().toISOString(),
    machine: {
      cores: Number(execFileSync('nproc').toString().trim()),
      kernel: release(),
      node: process.version,
      loadavg: { start: loadStart, end: loadavg() },
    },
    revision: revision(),
    runs: RUNS,
    fanout: FANOUT,
    supervisors: Object.fromEntries(list.map((s) => [s.id, s.label])),
    summary: table,
    measures,
  };
  writeFileSync(file, JSON.stringify(doc, null, 1) + '\n');
}
