// npm run bench: kubexit side by side with a C reference (bench/reference.c: the same death
// contract at the physical limit) and tini, in the same run. Rounds are interleaved between the
// supervisors (A B C A B C …) so that the machine's noise falls on each alike, and every figure is
// printed with its ratio to the baselines that have a counterpart. A markdown summary follows;
// build/bench/results.json keeps the samples so that later runs can be compared.
//   startup: exec of the supervisor → the child runs
//   signal forwarding: SIGTERM to the supervisor → the child gets it
//   death reaction: the dependency's Died tombstone is published → the child gets SIGTERM, with
//     every kind of writer: an atomic rename (TypeScript kubexit), a rewrite in place with O_TRUNC
//     (Go kubexit), and one rename seen by BENCH_FANOUT (300) dependents at once
//   birth reaction (a real apiserver): the PATCH that makes the dependency ready → the child runs
//   memory: VmRSS and RssAnon, and what a memory cgroup holding the supervisor is charged
// The child is bench/probe.c, which prints CLOCK_MONOTONIC as process.hrtime reads it; tombstones
// are written by bench/writer.c, which prints the time just before it publishes.
import { execFileSync, spawn, spawnSync, type StdioOptions } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { loadavg, release, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCluster, type Cluster } from '../test/support/cluster.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OUT = join(ROOT, 'build', 'bench');
const PROBE = join(OUT, 'probe');
const REFERENCE = join(OUT, 'reference');
const WRITER = join(OUT, 'writer');
const EXE = join(ROOT, 'dist', 'bin', `kubexit-linux-${process.arch}`);
const CGROUP_ROOT = '/sys/fs/cgroup/memory';

const num = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);
const RUNS = {
  startup: num('BENCH_STARTUP_RUNS', 50),
  forward: num('BENCH_FORWARD_RUNS', 200),
  death: num('BENCH_DEATH_RUNS', 200),
  fanout: num('BENCH_FANOUT_RUNS', 3),
  birth: num('BENCH_BIRTH_RUNS', 50),
  rss: num('BENCH_RSS_RUNS', 10),
  cgroup: num('BENCH_CGROUP_RUNS', 5),
};
const FANOUT = num('BENCH_FANOUT', 300);

// ---------------------------------------------------------------------------------------------
// The supervisors, and what is left to clean up whatever happens

type Kind = 'kubexit' | 'reference' | 'tini' | 'child';
interface Supervisor {
  id: string;
  label: string;
  argv: string[];
  kind: Kind;
  /** Read whole before a memory run, so that these pages are cached and charged elsewhere. */
  files: string[];
}

function supervisors(): Supervisor[] {
  const dist = join(ROOT, 'dist');
  const chunks = existsSync(join(dist, 'chunks'))
    ? readdirSync(join(dist, 'chunks')).map((f) => join(dist, 'chunks', f))
    : [];
  const list: Supervisor[] = [
    {
      id: 'node',
      label: 'node dist/kubexit.js',
      argv: [process.execPath, join(dist, 'kubexit.js')],
      kind: 'kubexit',
      files: [process.execPath, join(dist, 'kubexit.js'), ...chunks],
    },
  ];
  if (existsSync(EXE))
    list.push({
      id: 'exe',
      label: basename(EXE),
      argv: [EXE],
      kind: 'kubexit',
      files: [EXE],
    });
  else console.error(`${EXE} not built (npm run package -- linux-x64): not measured`);
  list.push({ id: 'C', label: 'C reference', argv: [REFERENCE], kind: 'reference', files: [] });
  const tini = spawnSync('sh', ['-c', 'command -v tini']).stdout.toString().trim();
  if (tini)
    list.push({ id: 'tini', label: 'tini', argv: [tini, '-s', '--'], kind: 'tini', files: [tini] });
  else console.error('tini not found (apt-get install tini): no tini ratios');
  for (const s of list) s.files.push(PROBE, REFERENCE, '/bin/sh');
  return list;
}

const live = new Set<ReturnType<typeof spawn>>();
const graveyards = new Set<string>();
const cgroups = new Set<string>();

/** Kills what this run started and removes its folders and cgroups: on exit, Ctrl-C, failure. */
function cleanUp(): void {
  for (const p of live) if (p.pid) descendants(p.pid).forEach((pid) => kill(pid));
  for (const p of live) p.kill('SIGKILL');
  for (const dir of cgroups) {
    for (let i = 0; i < 100 && existsSync(dir); i++) {
      for (const pid of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n'))
        if (pid) kill(Number(pid));
      try {
        rmdirSync(dir);
      } catch {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10); // the kills land
      }
    }
  }
  for (const dir of graveyards) rmSync(dir, { recursive: true, force: true });
}
process.on('exit', cleanUp);

/** The children of pid, theirs, and so on (a killed supervisor would leave its child behind). */
function descendants(pid: number): number[] {
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const children = tasks.flatMap((t) => {
    try {
      return readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').split(' ').filter(Boolean);
    } catch {
      return [];
    }
  });
  return children.map(Number).flatMap((c) => [c, ...descendants(c)]);
}

function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
  process.on(sig, () => process.exit(130));

function graveyard(): string {
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'kubexit-bench-'));
  graveyards.add(dir);
  return dir;
}

function baseEnv(
  extra: Record<string, string | undefined> = {},
  dir = graveyard(),
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KUBEXIT_')) env[k] = v;
  return { ...env, KUBEXIT_NAME: 'bench', KUBEXIT_GRAVEYARD: dir, ...extra };
}

// ---------------------------------------------------------------------------------------------
// Processes and their lines

/** Starts argv; `line()` resolves with each stdout line in turn. */
function start(
  argv: string[],
  env: NodeJS.ProcessEnv,
  stdio: StdioOptions = ['ignore', 'pipe', 'pipe'],
  uid?: number,
) {
  const [file, ...args] = argv;
  const ids = uid === undefined ? {} : { uid, gid: uid };
  const proc = spawn(file as string, args, { env, stdio, ...ids });
  live.add(proc);
  let err = '';
  const errWaits: { re: RegExp; resolve: () => void }[] = [];
  proc.stderr?.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    for (const w of [...errWaits]) {
      if (w.re.test(err)) {
        errWaits.splice(errWaits.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  const logged = (re: RegExp): Promise<void> =>
    new Promise((resolve) => (re.test(err) ? resolve() : errWaits.push({ re, resolve })));
  let buf = '';
  const waiting: ((line: string) => void)[] = [];
  const lines: string[] = [];
  proc.stdout?.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const w = waiting.shift();
      if (w) w(line);
      else lines.push(line);
    }
  });
  const exited = new Promise<void>((resolve) =>
    proc.once('close', () => {
      live.delete(proc);
      resolve();
    }),
  );
  const line = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const l = lines.shift();
      if (l !== undefined) return resolve(l);
      waiting.push(resolve);
      void exited.then(() => reject(new Error(`${argv.join(' ')} ended early: ${err.trim()}`)));
    });
  return { proc, line, exited, logged };
}

const ns = (line: string): bigint => BigInt(line.split(' ')[1] ?? '0');
const ms = (d: bigint): number => Number(d) / 1e6;

/** bench/writer.c, kept running: publishes a tombstone and answers with its t0. */
let writer: ReturnType<typeof start> | undefined;
async function write(op: 'born' | 'inplace' | 'rename', path: string): Promise<bigint> {
  writer ??= start([WRITER], process.env, ['pipe', 'pipe', 'inherit']);
  writer.proc.stdin?.write(`${op} ${path}\n`);
  const answer = await writer.line();
  if (!answer.startsWith('t ')) throw new Error(`writer: ${op} ${path} failed`);
  return ns(answer);
}

/** CPU time of the process (all threads), in clock ticks. */
function cpuTicks(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return `${f[11]}+${f[12]}`;
  } catch {
    return 'gone';
  }
}

/** Waits until the processes (and the cgroup's charge) stop moving: 3 quiet polls 100 ms apart. */
async function settle(pids: number[], cgroup?: string): Promise<boolean> {
  let last = '';
  for (let i = 0, quiet = 0; i < 60; i++) {
    await sleep(100);
    const now =
      pids.map(cpuTicks).join() +
      (cgroup ? readFileSync(join(cgroup, 'memory.usage_in_bytes'), 'utf8') : '');
    quiet = now === last ? quiet + 1 : 0;
    last = now;
    if (quiet >= 3) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// The measures: each round returns its figures by measure key

type Figures = Record<string, number | number[]>;

async function startup(s: Supervisor): Promise<Figures> {
  const t0 = process.hrtime.bigint();
  const run = start([...s.argv, PROBE, 'start'], baseEnv());
  const t1 = ns(await run.line());
  await run.exited;
  return { startup: ms(t1 - t0) };
}

async function forward(s: Supervisor): Promise<Figures> {
  const run = start([...s.argv, PROBE, 'term'], baseEnv());
  await run.line(); // ready
  const t0 = process.hrtime.bigint();
  run.proc.kill('SIGTERM');
  const t1 = ns(await run.line());
  await run.exited;
  return { forward: ms(t1 - t0) };
}

/** The dependency holds a Born tombstone (as it would), then dies by the writer's kind. */
async function death(s: Supervisor, how: 'rename' | 'inplace'): Promise<number> {
  const env = baseEnv({ KUBEXIT_DEATH_DEPS: 'main' });
  const dep = join(env.KUBEXIT_GRAVEYARD as string, 'main');
  await write('born', dep);
  const run = start([...s.argv, PROBE, 'term'], env);
  await run.line(); // ready: the watch was set up before the child started
  const t0 = await write(how, dep);
  const t1 = ns(await run.line());
  await run.exited;
  return ms(t1 - t0);
}

async function deaths(s: Supervisor): Promise<Figures> {
  return { 'death.rename': await death(s, 'rename'), 'death.inplace': await death(s, 'inplace') };
}

/**
 * FANOUT supervisors in one graveyard, all depending on one name; one rename kills them all.
 * As root they run under a few spare user ids, PER_UID each: fs.inotify.max_user_instances
 * (128 by default) counts per user, and each of them holds one instance.
 */
const PER_UID = 100;
const FANOUT_UID = 61000;

async function fanout(s: Supervisor): Promise<Figures> {
  const dir = graveyard();
  chmodSync(dir, 0o777);
  const dep = join(dir, 'main');
  await write('born', dep);
  const root = process.getuid?.() === 0;
  const runs: ReturnType<typeof start>[] = [];
  try {
    for (let i = 0; i < FANOUT; i += 10) {
      const batch = [];
      for (let j = i; j < Math.min(FANOUT, i + 10); j++) {
        const env = baseEnv({ KUBEXIT_NAME: `dependent-${j}`, KUBEXIT_DEATH_DEPS: 'main' }, dir);
        const uid = root ? FANOUT_UID + Math.floor(j / PER_UID) : undefined;
        const argv = [...s.argv, PROBE, 'term'];
        batch.push(start(argv, env, ['ignore', 'pipe', 'ignore'], uid));
      }
      runs.push(...batch);
      await Promise.all(batch.map((r) => r.line())); // ready
    }
    await settle(runs.map((r) => r.proc.pid as number));
    const t0 = await write('rename', dep);
    const t1 = await Promise.all(runs.map((r) => r.line()));
    return { 'death.fanout': t1.map((l) => ms(ns(l) - t0)) };
  } finally {
    for (const r of runs) r.proc.kill('SIGTERM');
    await Promise.all(runs.map((r) => r.exited));
    rmSync(dir, { recursive: true, force: true });
  }
}

function status(pid: number): Record<string, number> {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number =>
    Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(text)?.[1] ?? NaN) / 1024;
  return { 'mem.vmrss': kb('VmRSS'), 'mem.anon': kb('RssAnon') };
}

/** VmRSS and RssAnon of the supervisor with a death dependency, once its child runs and it idles. */
async function rss(s: Supervisor): Promise<Figures> {
  const run = start([...s.argv, PROBE, 'term'], baseEnv({ KUBEXIT_DEATH_DEPS: 'main' }));
  await run.line();
  await settle([run.proc.pid as number]);
  const figures = status(run.proc.pid as number);
  run.proc.kill('SIGTERM');
  await run.exited;
  return figures;
}

function cgroupSkip(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  if (!existsSync(join(CGROUP_ROOT, 'memory.stat')))
    return `no cgroup v1 memory controller at ${CGROUP_ROOT}`;
  return undefined;
}

/** Reads each file whole from here (outside the cgroup): its pages are cached, charged to us. */
function cache(files: string[]): void {
  const buf = Buffer.alloc(1 << 20);
  for (const file of files) {
    const fd = openSync(file, 'r');
    while (readSync(fd, buf, 0, buf.length, null) > 0);
    closeSync(fd);
  }
}

let cgroupSeq = 0;
const MiB = 1024 * 1024;

/**
 * A fresh memory cgroup holding only the supervisor and its sleeping child (or the child alone:
 * kind 'child'), read once they are settled.
 */
async function charged(s: Supervisor): Promise<Figures> {
  cache(s.files);
  const dir = join(CGROUP_ROOT, `kubexit-bench-${process.pid}-${++cgroupSeq}`);
  mkdirSync(dir);
  cgroups.add(dir);
  const enter = 'echo $$ > "$0/cgroup.procs" && exec "$@"';
  const env = baseEnv({ KUBEXIT_DEATH_DEPS: 'main' });
  const run = start(['/bin/sh', '-c', enter, dir, ...s.argv, PROBE, 'term'], env);
  await run.line(); // the child runs
  const settled = await settle([run.proc.pid as number], dir);
  const stat = Object.fromEntries(
    readFileSync(join(dir, 'memory.stat'), 'utf8')
      .split('\n')
      .map((l) => l.split(' '))
      .map(([k, v]) => [k, Number(v) / MiB]),
  ) as Record<string, number>;
  const bytes = (file: string): number => Number(readFileSync(join(dir, file), 'utf8')) / MiB;
  const figures: Figures = {
    'cg.charged': bytes('memory.usage_in_bytes'),
    'cg.rss': stat.rss ?? NaN,
    'cg.cache': stat.cache ?? NaN,
    'cg.mapped': stat.mapped_file ?? NaN,
    'cg.kmem': bytes('memory.kmem.usage_in_bytes'),
    'cg.workingset': bytes('memory.usage_in_bytes') - (stat.total_inactive_file ?? 0),
  };
  const own = status(run.proc.pid as number);
  figures['cg.vmrss'] = own['mem.vmrss'] as number;
  figures['cg.anon'] = own['mem.anon'] as number;
  if (!settled) console.error(`  ${s.id}: still busy after 6 s; read anyway`);
  run.proc.kill('SIGTERM');
  await run.exited;
  for (let i = 0; existsSync(dir); i++) {
    try {
      rmdirSync(dir);
      cgroups.delete(dir);
    } catch (err) {
      if (i > 50) throw err;
      await sleep(10);
    }
  }
  return figures;
}

// birth dependencies: a pod whose container "dep" the kubelet (played here) marks ready
interface BirthPod {
  k8s: Cluster;
  ns: string;
  env: Record<string, string | undefined>;
}

async function birthPod(): Promise<BirthPod | string> {
  const started = await startCluster();
  if (started.skip !== false) return started.skip;
  const k8s = started.cluster;
  const ns = await k8s.namespace('bench');
  await k8s.createPod(ns, 'p', ['app', 'dep']);
  await k8s.createServiceAccount(ns, 'app');
  await k8s.grantPodReader(ns, 'app');
  const saDir = k8s.serviceAccountDir(ns, await k8s.token(ns, 'app'));
  const env = {
    ...k8s.inPodEnv(saDir),
    KUBEXIT_BIRTH_DEPS: 'dep',
    KUBEXIT_POD_NAME: 'p',
    KUBEXIT_NAMESPACE: ns,
  };
  return { k8s, ns, env };
}

const setDep = (pod: BirthPod, ready: boolean): Promise<unknown> =>
  pod.k8s.setStatus(pod.ns, 'p', { app: { ready: false }, dep: { ready } });

/** The PATCH that makes the dependency ready is sent → the child runs; then that PATCH alone. */
async function birth(s: Supervisor, pod: BirthPod): Promise<Figures> {
  await setDep(pod, false);
  const env = { ...baseEnv({ KUBEXIT_INSTANT_LOGGING: 'true' }), ...pod.env };
  const run = start([...s.argv, PROBE, 'start'], env);
  await run.logged(/watching from resourceVersion/);
  const t0 = process.hrtime.bigint();
  await setDep(pod, true);
  const t1 = ns(await run.line());
  await run.exited;
  const p0 = process.hrtime.bigint();
  await setDep(pod, true); // the same PATCH's own round trip: the floor under the reaction
  return { birth: ms(t1 - t0), patch: ms(process.hrtime.bigint() - p0) };
}

/** Startup when the dependency is already ready: exec → child runs, one LIST in between. */
async function startupBirth(s: Supervisor, pod: BirthPod): Promise<Figures> {
  const t0 = process.hrtime.bigint();
  const run = start([...s.argv, PROBE, 'start'], { ...baseEnv(), ...pod.env });
  const t1 = ns(await run.line());
  await run.exited;
  return { startupBirth: ms(t1 - t0) };
}

// ---------------------------------------------------------------------------------------------
// Rounds, statistics, output

/** measure key → supervisor id → samples */
const results = new Map<string, Map<string, number[]>>();

async function interleaved(
  who: Supervisor[],
  runs: number,
  round: (s: Supervisor) => Promise<Figures>,
  warm = true,
): Promise<void> {
  if (runs <= 0 || who.length === 0) return;
  // A first round warms the page cache and the harness's JIT: not kept.
  for (let i = warm ? -1 : 0; i < runs; i++) {
    for (const s of who) {
      let figures: Figures;
      try {
        figures = await round(s);
      } catch (err) {
        console.log(`  ${s.id}: ${(err as Error).message.split('\n')[0]}: no more rounds of it`);
        who = who.filter((x) => x !== s);
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

function pct(samples: number[], p: number): number {
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
  /** The baselines that do the same thing (birth: the PATCH round trip). */
  vs: string[];
  /** The measure the baselines' figures come from, when not this one. */
  baseKey?: string;
}

const MEASURES: Measure[] = [
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
  { key: 'birth', title: 'birth reaction: PATCH → child runs', unit: 'ms', vs: ['PATCH'] },
  {
    key: 'startupBirth',
    title: 'startup, birth dep already ready',
    unit: 'ms',
    vs: ['tini', 'C'],
    baseKey: 'startup',
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

const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '—');
const times = (x: number): string => (x >= 10 ? x.toFixed(0) : x.toFixed(1)) + '×';

function ratios(m: Measure, id: string, p = 50): { vs: string; ratio: number }[] {
  const own = figure(m, id, p);
  return m.vs
    .filter((vs) => vs !== id)
    .map((vs) => ({ vs, ratio: own / figure(measure(m.baseKey ?? m.key), vs, p) }))
    .filter((r) => Number.isFinite(r.ratio) && r.ratio > 0);
}

const ratioText = (m: Measure, id: string, p = 50): string =>
  ratios(m, id, p)
    .map((r) => `${times(r.ratio)} ${r.vs}`)
    .join(', ');

function printLines(keys: string[], list: Supervisor[]): void {
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

function summary(list: Supervisor[]): string {
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
    if (m.key === 'birth') title += ` (PATCH alone ${f2(figure(m, 'PATCH'))} ms)`;
    if (m.cgroup)
      title += ` (net of the child's ${f2(pct(results.get(m.key)?.get('child') ?? [], 50))} MiB)`;
    rows.push(`| ${title} | ${list.map((s) => cell(m, s, 50)).join(' | ')} |`);
    if (m.tail) rows.push(`| ${m.title}, p99 | ${list.map((s) => cell(m, s, 99)).join(' | ')} |`);
  }
  return rows.join('\n');
}

const loadStart = loadavg();

/** What was measured: the commit, and whether the tree differed from it. */
function revision(): string {
  const git = (...args: string[]): string =>
    spawnSync('git', args, { cwd: ROOT }).stdout?.toString().trim() ?? '';
  return `${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', 'src') ? '+dirty src' : ''}`;
}

function saveJson(list: Supervisor[], file: string, table: string): void {
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

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  for (const [out, src] of [
    [PROBE, 'probe.c'],
    [REFERENCE, 'reference.c'],
    [WRITER, 'writer.c'],
  ] as const)
    execFileSync('cc', ['-O2', '-o', out, join(ROOT, 'bench', src)]);
  const list = supervisors();
  const kubexits = list.filter((s) => s.kind === 'kubexit');
  const dependents = list.filter((s) => s.kind === 'kubexit' || s.kind === 'reference');
  console.log(
    `machine: ${execFileSync('nproc').toString().trim()} cores, load ${loadStart.join(' ')},` +
      ` node ${process.version}, ${revision()}; ` +
      `rounds interleaved (${list.map((s) => s.id).join(' ')} …)`,
  );
  console.log(
    `runs: ${Object.entries(RUNS)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}; fanout ${FANOUT}\n`,
  );

  await interleaved(list, RUNS.startup, startup);
  await interleaved(list, RUNS.forward, forward);
  printLines(['startup', 'forward'], list);
  await interleaved(dependents, RUNS.death, deaths);
  printLines(['death.rename', 'death.inplace'], list);
  const instances = Number(readFileSync('/proc/sys/fs/inotify/max_user_instances', 'utf8'));
  if (process.getuid?.() !== 0 && FANOUT > instances / 2)
    console.log(
      `${FANOUT} dependents: not measured (not root: they would share this user's` +
        ` ${instances} inotify instances; try BENCH_FANOUT=${Math.floor(instances / 2)})`,
    );
  else await interleaved(dependents, RUNS.fanout, fanout, false);
  printLines(['death.fanout'], list);
  await interleaved(list, RUNS.rss, rss);
  printLines(['mem.vmrss', 'mem.anon'], list);

  const skip = RUNS.cgroup > 0 ? cgroupSkip() : 'BENCH_CGROUP_RUNS=0';
  if (skip) console.log(`memory cgroup: not measured (${skip})`);
  else {
    const child: Supervisor = {
      id: 'child',
      label: 'the child alone',
      argv: [],
      kind: 'child',
      files: [PROBE, '/bin/sh'],
    };
    await interleaved([...list, child], RUNS.cgroup, charged);
    printLines(['cg.charged'], list);
    const net = (key: string, id: string): string =>
      f2(pct(results.get(key)?.get(id) ?? [], 50) - pct(results.get(key)?.get('child') ?? [], 50));
    const own = (key: string, id: string): string => f2(pct(results.get(key)?.get(id) ?? [], 50));
    for (const s of list)
      console.log(
        `  ${s.id.padEnd(5)} charge: rss ${net('cg.rss', s.id)} + cache ${net('cg.cache', s.id)}` +
          ` (mapped_file ${net('cg.mapped', s.id)}) + kmem ${net('cg.kmem', s.id)};` +
          ` working set ${net('cg.workingset', s.id)}; its VmRSS ${own('cg.vmrss', s.id)},` +
          ` RssAnon ${own('cg.anon', s.id)} MiB`,
      );
    console.log(
      `  charge = memory.usage_in_bytes (what the kubelet reads) of a fresh memory cgroup holding` +
        ` the supervisor and its sleeping child, once settled: anon (rss) + page cache first` +
        ` touched from there (cache) + kernel memory (kmem), minus the child's alone` +
        ` (${own('cg.charged', 'child')} MiB); the executables were read whole from outside` +
        ` first. The kernel charges up to 64 pages per CPU ahead: ±0.25 MiB per CPU of noise` +
        ` (medians of ${RUNS.cgroup} runs). Working set = charge − inactive_file.`,
    );
  }

  const pod = RUNS.birth > 0 && kubexits.length ? await birthPod() : 'BENCH_BIRTH_RUNS=0';
  if (typeof pod === 'string') console.log(`birth dependencies: not measured (${pod})`);
  else {
    await interleaved(kubexits, RUNS.birth, (s) => birth(s, pod));
    const patch = results.get('patch');
    patch?.set('all', [...patch.values()].flat());
    await setDep(pod, true);
    await interleaved(kubexits, RUNS.startup, (s) => startupBirth(s, pod));
    printLines(['birth', 'startupBirth'], list);
    pod.k8s.close();
  }

  const table = summary(list);
  console.log(`\n${table}\n`);
  const json = join(OUT, 'results.json');
  saveJson(list, json, table);
  console.log(`samples: ${json}`);
  writer?.proc.stdin?.end();
}

await main();
