// The benchmark's harness: the supervisors' common ground (paths, settings, processes and their
// lines, graveyards), and cleaning up whatever happens (exit, Ctrl-C, a failure).
import { spawn, type StdioOptions } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const OUT = join(ROOT, 'build', 'bench');
export const PROBE = join(OUT, 'probe');
export const REFERENCE = join(OUT, 'reference');
export const WRITER = join(OUT, 'writer');
export const EXE = join(ROOT, 'dist', 'bin', `kubexit-linux-${process.arch}`);

const num = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);
export const RUNS = {
  startup: num('BENCH_STARTUP_RUNS', 50),
  forward: num('BENCH_FORWARD_RUNS', 200),
  death: num('BENCH_DEATH_RUNS', 200),
  fanout: num('BENCH_FANOUT_RUNS', 3),
  birth: num('BENCH_BIRTH_RUNS', 50),
  rss: num('BENCH_RSS_RUNS', 10),
  cgroup: num('BENCH_CGROUP_RUNS', 5),
  killed: num('BENCH_KILLED_RUNS', 20),
  readiness: num('BENCH_READINESS_RUNS', 15),
  http: num('BENCH_HTTP_RUNS', 30),
  group: num('BENCH_GROUP_RUNS', 30),
  lint: num('BENCH_LINT_RUNS', 5),
};
export const FANOUT = num('BENCH_FANOUT', 300);

export type Kind = 'kubexit' | 'reference' | 'tini' | 'child';
export interface Supervisor {
  id: string;
  label: string;
  argv: string[];
  kind: Kind;
  /** Read whole before a memory run, so that these pages are cached and charged elsewhere. */
  files: string[];
}

export type Figures = Record<string, number | number[]>;

const live = new Set<ReturnType<typeof spawn>>();
const graveyards = new Set<string>();
/** More to undo at exit (memory cgroups), registered by their owners. */
export const cleaners: (() => void)[] = [];

/** Kills what this run started and removes its folders and cgroups: on exit, Ctrl-C, failure. */
function cleanUp(): void {
  for (const p of live) if (p.pid) descendants(p.pid).forEach((pid) => kill(pid));
  for (const p of live) p.kill('SIGKILL');
  for (const clean of cleaners) clean();
  for (const dir of graveyards) rmSync(dir, { recursive: true, force: true });
}
process.on('exit', cleanUp);

/** The children of pid, theirs, and so on (a killed supervisor would leave its child behind). */
export function descendants(pid: number): number[] {
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

export function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
  process.on(sig, () => process.exit(130));

export function graveyard(): string {
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'kubexit-bench-'));
  graveyards.add(dir);
  return dir;
}

export function baseEnv(
  extra: Record<string, string | undefined> = {},
  dir = graveyard(),
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KUBEXIT_')) env[k] = v;
  return { ...env, KUBEXIT_NAME: 'bench', KUBEXIT_GRAVEYARD: dir, ...extra };
}

/** Starts argv; `line()` resolves with each stdout line in turn. */
export function start(
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
      void exited.then(() => {
        const last = err.trim().split('\n').at(-1) ?? '';
        reject(new Error(`${basename(argv[0] ?? '')} ended early (${proc.exitCode}): ${last}`));
      });
    });
  return { proc, line, exited, logged };
}

/** Resolves once the file's text matches re: checked at once, then on each change of its folder. */
export function fileMatches(path: string, re: RegExp): Promise<void> {
  const matches = (): boolean => {
    try {
      return re.test(readFileSync(path, 'utf8'));
    } catch {
      return false;
    }
  };
  return new Promise((resolve) => {
    const watcher = watch(dirname(path), () => {
      if (matches()) done();
    });
    const done = (): void => {
      watcher.close();
      resolve();
    };
    if (matches()) done();
  });
}

export const ns = (line: string): bigint => BigInt(line.split(' ')[1] ?? '0');
export const ms = (d: bigint): number => Number(d) / 1e6;

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
export async function settle(pids: number[], cgroup?: string): Promise<boolean> {
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

export function status(pid: number): Record<string, number> {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number =>
    Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(text)?.[1] ?? NaN) / 1024;
  return { 'mem.vmrss': kb('VmRSS'), 'mem.anon': kb('RssAnon') };
}
