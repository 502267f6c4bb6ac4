// npm run bench: kubexit's speed and weight beside tini, measured in the same run.
//   death reaction: a dependency's Died tombstone lands (rename) → our child gets SIGTERM
//   signal forwarding: SIGTERM to the supervisor → the child gets it (tini's job too)
//   startup: exec of the supervisor → the child runs
//   memory: VmRSS of the supervisor while its child sleeps
// The child is bench/probe.c, built here, which reads CLOCK_MONOTONIC as process.hrtime does.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster, type Cluster } from '../test/support/cluster.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PROBE = join(ROOT, 'build', 'bench', 'probe');
const RUNS = {
  death: Number(process.env.BENCH_DEATH_RUNS ?? 200),
  forward: Number(process.env.BENCH_FORWARD_RUNS ?? 200),
  startup: Number(process.env.BENCH_STARTUP_RUNS ?? 50),
  birth: Number(process.env.BENCH_BIRTH_RUNS ?? 50),
  rss: Number(process.env.BENCH_RSS_RUNS ?? 10),
};

interface Supervisor {
  name: string;
  argv: string[];
  /** Only kubexit reads tombstones; tini is measured where it has a counterpart. */
  kubexit: boolean;
}

function supervisors(): Supervisor[] {
  const list: Supervisor[] = [
    {
      name: 'kubexit: node dist/kubexit.js',
      argv: [process.execPath, join(ROOT, 'dist', 'kubexit.js')],
      kubexit: true,
    },
  ];
  const exe = join(ROOT, 'dist', 'bin', 'kubexit-linux-x64');
  if (existsSync(exe))
    list.push({ name: 'kubexit: dist/bin/kubexit-linux-x64', argv: [exe], kubexit: true });
  const tini = spawnSync('sh', ['-c', 'command -v tini']).stdout.toString().trim();
  if (tini) list.push({ name: 'tini -s --', argv: [tini, '-s', '--'], kubexit: false });
  else console.error('tini not found (apt-get install tini): no baseline ratios');
  return list;
}

function graveyard(): string {
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  return mkdtempSync(join(base, 'kubexit-bench-'));
}

function baseEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KUBEXIT_')) env[k] = v;
  return { ...env, KUBEXIT_NAME: 'bench', KUBEXIT_GRAVEYARD: graveyard(), ...extra };
}

/** Starts argv; resolves with each stdout line as it comes. */
function start(argv: string[], env: NodeJS.ProcessEnv) {
  const [file, ...args] = argv;
  const proc = spawn(file as string, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  const errWaits: { re: RegExp; resolve: () => void }[] = [];
  proc.stderr.setEncoding('utf8').on('data', (d: string) => {
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
  proc.stdout.setEncoding('utf8').on('data', (d: string) => {
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
  const exited = new Promise<void>((resolve) => proc.once('close', () => resolve()));
  const line = (): Promise<string> =>
    new Promise((resolve) => {
      const l = lines.shift();
      if (l !== undefined) resolve(l);
      else waiting.push(resolve);
    });
  return { proc, line, exited, logged };
}

const ns = (line: string): bigint => BigInt(line.split(' ')[1] ?? '0');
const ms = (d: bigint): number => Number(d) / 1e6;

async function startup(s: Supervisor): Promise<number> {
  const t0 = process.hrtime.bigint();
  const run = start([...s.argv, PROBE, 'start'], baseEnv());
  const t1 = ns(await run.line());
  await run.exited;
  return ms(t1 - t0);
}

async function forward(s: Supervisor): Promise<number> {
  const run = start([...s.argv, PROBE, 'term'], baseEnv());
  await run.line(); // ready
  const t0 = process.hrtime.bigint();
  run.proc.kill('SIGTERM');
  const t1 = ns(await run.line());
  await run.exited;
  return ms(t1 - t0);
}

const DEAD =
  'Born: "2020-04-28T10:41:46.9926314Z"\nDied: "2020-04-28T10:41:47.0496314Z"\nExitCode: 0\n';

async function death(s: Supervisor): Promise<number> {
  const env = baseEnv({ KUBEXIT_DEATH_DEPS: 'main' });
  const dir = env.KUBEXIT_GRAVEYARD as string;
  const run = start([...s.argv, PROBE, 'term'], env);
  await run.line(); // ready: the watch was set up before the child started
  writeFileSync(join(dir, '.main.tmp'), DEAD);
  const t0 = process.hrtime.bigint();
  renameSync(join(dir, '.main.tmp'), join(dir, 'main'));
  const t1 = ns(await run.line());
  await run.exited;
  return ms(t1 - t0);
}

async function rss(
  s: Supervisor,
  env: Record<string, string> = {},
  field = 'VmRSS',
): Promise<number> {
  const run = start([...s.argv, PROBE, 'term'], baseEnv(env));
  await run.line(); // the child runs: the supervisor is done starting up
  const status = readFileSync(`/proc/${run.proc.pid}/status`, 'utf8');
  run.proc.kill('SIGTERM');
  await run.exited;
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) / 1024;
}

/** A pod whose container "dep" the kubelet (played here) marks ready; kubexit waits for it. */
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

/** The PATCH that makes the dependency ready is sent → the child runs. */
async function birth(s: Supervisor, pod: BirthPod): Promise<number> {
  await pod.k8s.setStatus(pod.ns, 'p', { app: { ready: false }, dep: { ready: false } });
  const env = baseEnv({ KUBEXIT_INSTANT_LOGGING: 'true' });
  const run = start([...s.argv, PROBE, 'start'], { ...env, ...pod.env });
  await run.logged(/watching from resourceVersion/);
  const t0 = process.hrtime.bigint();
  await pod.k8s.setStatus(pod.ns, 'p', { app: { ready: false }, dep: { ready: true } });
  const t1 = ns(await run.line());
  await run.exited;
  return ms(t1 - t0);
}

/** The same PATCH's own round trip: the floor under the birth reaction. */
async function patchRoundTrip(pod: BirthPod): Promise<number> {
  const t0 = process.hrtime.bigint();
  await pod.k8s.setStatus(pod.ns, 'p', { app: { ready: false }, dep: { ready: true } });
  return ms(process.hrtime.bigint() - t0);
}

/** Startup when the dependency is already ready: exec → child runs, one LIST in between. */
async function startupBirth(s: Supervisor, pod: BirthPod): Promise<number> {
  const t0 = process.hrtime.bigint();
  const run = start([...s.argv, PROBE, 'start'], { ...baseEnv(), ...pod.env });
  const t1 = ns(await run.line());
  await run.exited;
  return ms(t1 - t0);
}

async function sample(n: number, f: () => Promise<number>): Promise<number[]> {
  await f(); // warm the page cache
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await f());
  return out.sort((a, b) => a - b);
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '—');

async function main(): Promise<void> {
  mkdirSync(join(ROOT, 'build', 'bench'), { recursive: true });
  execFileSync('cc', ['-O2', '-o', PROBE, join(ROOT, 'bench', 'probe.c')]);
  const list = supervisors();
  const baseline = list.find((s) => !s.kubexit);
  console.log(`machine: ${execFileSync('nproc').toString().trim()} cores, node ${process.version}`);
  console.log(
    `runs: death ${RUNS.death}, forward ${RUNS.forward}, startup ${RUNS.startup}, rss ${RUNS.rss}\n`,
  );

  const rows: string[][] = [];
  const results = new Map<string, Record<string, number[]>>();
  const pod = RUNS.birth > 0 ? await birthPod() : 'BENCH_BIRTH_RUNS=0';
  if (typeof pod === 'string') console.error(`birth dependencies not measured: ${pod}`);
  for (const s of list) {
    const r: Record<string, number[]> = {};
    r.startup = await sample(RUNS.startup, () => startup(s));
    r.forward = await sample(RUNS.forward, () => forward(s));
    r.rss = await sample(RUNS.rss, () => rss(s));
    r.anon = await sample(RUNS.rss, () => rss(s, {}, 'RssAnon'));
    if (s.kubexit) {
      r.death = await sample(RUNS.death, () => death(s));
      r.rssDeath = await sample(RUNS.rss, () => rss(s, { KUBEXIT_DEATH_DEPS: 'main' }));
      if (typeof pod !== 'string') {
        r.birth = await sample(RUNS.birth, () => birth(s, pod));
        r.patch = await sample(RUNS.birth, () => patchRoundTrip(pod));
        await pod.k8s.setStatus(pod.ns, 'p', { app: { ready: false }, dep: { ready: true } });
        r.startupBirth = await sample(RUNS.startup, () => startupBirth(s, pod));
      }
    }
    results.set(s.name, r);
  }
  const base = baseline ? results.get(baseline.name) : undefined;
  const ratio = (v: number, key: string, own?: Record<string, number[]>): string => {
    const b = own?.[key] ?? base?.[key];
    return b ? `${(v / pct(b, 50)).toFixed(1)}×` : '—';
  };
  for (const s of list) {
    const r = results.get(s.name) ?? {};
    const line = (what: string, key: string, baseKey: string, unit: string): void => {
      const v = r[key];
      if (!v) return;
      rows.push([
        s.name,
        what,
        `${f2(pct(v, 50))} ${unit}`,
        `${f2(pct(v, 90))}`,
        `${f2(pct(v, 99))}`,
        s.kubexit ? ratio(pct(v, 50), baseKey, baseKey === 'patch' ? r : undefined) : '1×',
      ]);
    };
    line('death reaction (Died → child SIGTERM)', 'death', 'forward', 'ms');
    line('signal forwarding (TERM → child)', 'forward', 'forward', 'ms');
    line('birth reaction (PATCH ready sent → child runs)', 'birth', 'patch', 'ms');
    line('the PATCH round trip alone (floor)', 'patch', 'patch', 'ms');
    line('startup (exec → child runs)', 'startup', 'startup', 'ms');
    line('startup with a birth dep already ready', 'startupBirth', 'startup', 'ms');
    line('VmRSS, child running', 'rss', 'rss', 'MiB');
    line('RssAnon (private memory), child running', 'anon', 'anon', 'MiB');
    line('VmRSS, with a death dependency', 'rssDeath', 'rss', 'MiB');
  }
  console.log('| supervisor | measure | median | p90 | p99 | median vs tini (birth: vs PATCH) |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  console.log(
    '\nDeath reaction is compared with tini forwarding a TERM: the nearest thing tini does;',
  );
  console.log('birth reaction with the PATCH round trip measured in the same run.');
  if (typeof pod !== 'string') pod.k8s.close();
}

await main();
