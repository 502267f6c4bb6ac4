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

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PROBE = join(ROOT, 'build', 'bench', 'probe');
const RUNS = {
  death: Number(process.env.BENCH_DEATH_RUNS ?? 200),
  forward: Number(process.env.BENCH_FORWARD_RUNS ?? 200),
  startup: Number(process.env.BENCH_STARTUP_RUNS ?? 50),
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
  const proc = spawn(file as string, args, { env, stdio: ['ignore', 'pipe', 'ignore'] });
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
  return { proc, line, exited };
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

async function rss(s: Supervisor, env: Record<string, string> = {}): Promise<number> {
  const run = start([...s.argv, PROBE, 'term'], baseEnv(env));
  await run.line(); // the child runs: the supervisor is done starting up
  const status = readFileSync(`/proc/${run.proc.pid}/status`, 'utf8');
  run.proc.kill('SIGTERM');
  await run.exited;
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
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
  for (const s of list) {
    const r: Record<string, number[]> = {};
    r.startup = await sample(RUNS.startup, () => startup(s));
    r.forward = await sample(RUNS.forward, () => forward(s));
    r.rss = await sample(RUNS.rss, () => rss(s));
    if (s.kubexit) {
      r.death = await sample(RUNS.death, () => death(s));
      r.rssDeath = await sample(RUNS.rss, () => rss(s, { KUBEXIT_DEATH_DEPS: 'main' }));
    }
    results.set(s.name, r);
  }
  const base = baseline ? results.get(baseline.name) : undefined;
  const ratio = (v: number, key: string): string => {
    const b = base?.[key];
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
        s.kubexit ? ratio(pct(v, 50), baseKey) : '1×',
      ]);
    };
    line('death reaction (Died → child SIGTERM)', 'death', 'forward', 'ms');
    line('signal forwarding (TERM → child)', 'forward', 'forward', 'ms');
    line('startup (exec → child runs)', 'startup', 'startup', 'ms');
    line('VmRSS, child running', 'rss', 'rss', 'MiB');
    line('VmRSS, with a death dependency', 'rssDeath', 'rss', 'MiB');
  }
  console.log('| supervisor | measure | median | p90 | p99 | median vs tini |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  console.log(
    '\nDeath reaction is compared with tini forwarding a TERM: the nearest thing tini does.',
  );
}

await main();
