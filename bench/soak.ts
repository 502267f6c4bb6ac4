// npm run soak: a long-lived kubexit sidecar (KUBEXIT_DEATH_DEPS=dep) under a steady stream of
// graveyard traffic, sampled for growth in file descriptors, memory and (node build) live
// handles and timers.
//   phase 1: N supervised lifecycles back to back in its graveyard (other names: ignored)
//   phase 2: its dependency's tombstone flapping every 10 ms (--every-ms) for M minutes, never
//            Died, in every shape a writer leaves: atomic rename, Go's truncate-then-write, {},
//            empty, garbage
//   end:     dep's Died lands → the sidecar's child gets TERM, the sidecar exits 0
// Samples are taken at quiet moments: after a sentinel tombstone's "Ignore" line, which inotify
// delivers after every earlier event.
//
//   node build/bench/soak.js [--lifecycles 1000] [--minutes 10] [--every-ms 10]
//   (KUBEXIT_BIN: the executable instead of the node build; --every-ms 0: as fast as it goes)
import { spawn, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
  ftruncateSync,
  writeSync,
  watch,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface Sample {
  label: string;
  /** Tombstone rewrites of the dependency so far (phase 2 only). */
  flaps?: number;
  fds: number;
  vmRssKiB: number;
  rssAnonKiB: number;
  /** libuv handles and requests by kind (node build only). */
  resources?: Record<string, number>;
}

export interface SoakResult {
  build: string;
  samples: Sample[];
  lifecycles: number;
  flaps: number;
  /** The sidecar's exit code after dep's Died (its child exits 0 on TERM). */
  exitCode: number | null;
  childGotTerm: boolean;
}

export interface SoakOptions {
  lifecycles: number;
  flapMs: number;
  flapEveryMs?: number;
  samplesPerPhase?: number;
  /** Progress lines go here (stderr in the CLI, nowhere in tests). */
  progress?: (line: string) => void;
}

function build(): { name: string; argv: string[]; node: boolean } {
  const bin = process.env.KUBEXIT_BIN;
  return bin
    ? { name: bin, argv: [bin], node: false }
    : {
        name: 'node dist/kubexit.js',
        argv: [process.execPath, join(ROOT, 'dist', 'kubexit.js')],
        node: true,
      };
}

/** kubexit's stderr, read line by line without keeping it: only waiters for a line. */
class Lines {
  private rest = '';
  private readonly waiters = new Map<string, () => void>();
  constructor(proc: ChildProcess) {
    proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      const text = this.rest + chunk;
      const lines = text.split('\n');
      this.rest = lines.pop() ?? '';
      for (const line of lines) {
        for (const [needle, resolve] of this.waiters) {
          if (line.includes(needle)) {
            this.waiters.delete(needle);
            resolve();
          }
        }
      }
    });
  }
  /** Register before causing the line. */
  next(needle: string): Promise<void> {
    return new Promise((resolve) => this.waiters.set(needle, resolve));
  }
}

function status(pid: number): { vmRssKiB: number; rssAnonKiB: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string): number =>
    Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text)?.[1]);
  return { vmRssKiB: kib('VmRSS'), rssAnonKiB: kib('RssAnon') };
}

function probeWrites(dir: string, n: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const watcher = watch(dir, (_event, file) => {
      if (file === 'probe.json' && ++seen === n) {
        watcher.close();
        resolve();
      }
    });
  });
}

function exited(proc: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
}

export async function soak(opts: SoakOptions): Promise<SoakResult> {
  const { argv, name, node } = build();
  const base = mkdtempSync(join('/dev/shm', 'kubexit-soak-'));
  const graveyard = join(base, 'graveyard');
  const probeOut = join(base, 'probe.json');
  const say = opts.progress ?? ((): void => {});
  const perPhase = opts.samplesPerPhase ?? 5;
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('KUBEXIT_') && k !== 'NODE_OPTIONS'),
  );
  const sidecarEnv: NodeJS.ProcessEnv = {
    ...env,
    KUBEXIT_NAME: 'sidecar',
    KUBEXIT_GRAVEYARD: graveyard,
    KUBEXIT_DEATH_DEPS: 'dep',
    KUBEXIT_GRACE_PERIOD: '5s',
    KUBEXIT_INSTANT_LOGGING: 'true',
    KUBEXIT_VERBOSE_LEVEL: '1',
  };
  if (node) {
    sidecarEnv.NODE_OPTIONS = `--import=${join(ROOT, 'build', 'bench', 'soak-probe.js')}`;
    sidecarEnv.SOAK_PROBE_OUT = probeOut;
  }
  // The child: not node (so the probe stays in kubexit), reports the TERM it gets.
  // The sleep starts before "ready", so that $! names it whenever the TERM comes.
  const child = `trap 'echo got-term; kill $!; exit 0' TERM; sleep 1000000 </dev/null >/dev/null 2>&1 & echo ready; wait`;
  const [file, ...pre] = argv as [string, ...string[]];
  const sidecar = spawn(file, [...pre, 'sh', '-c', child], {
    env: sidecarEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines = new Lines(sidecar);
  let stdout = '';
  const ready = new Promise<void>((resolve) =>
    sidecar.stdout?.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (stdout.includes('ready')) resolve();
    }),
  );
  const sidecarExit = exited(sidecar);
  await ready;
  const pid = sidecar.pid as number;

  let sentinels = 0;
  const samples: Sample[] = [];
  const sample = async (label: string, flapsSoFar?: number): Promise<void> => {
    // Quiet point: every earlier graveyard event has been handled once this line is out.
    const sentinel = `sentinel-${sentinels++}`;
    const seen = lines.next(`Ignore tombstone ${sentinel}`);
    writeFileSync(join(graveyard, sentinel), '{}\n');
    await seen;
    rmSync(join(graveyard, sentinel));
    let resources: Record<string, number> | undefined;
    if (node) {
      // The probe rewrites its file every 100 ms: the second rewrite after the quiet point
      // was counted after it.
      await probeWrites(base, 2);
      resources = JSON.parse(readFileSync(probeOut, 'utf8')) as Record<string, number>;
    }
    const s: Sample = {
      label,
      flaps: flapsSoFar,
      fds: readdirSync(`/proc/${pid}/fd`).length,
      ...status(pid),
      resources,
    };
    samples.push(s);
    say(`${label}: ${s.fds} fds, VmRSS ${s.vmRssKiB} KiB, RssAnon ${s.rssAnonKiB} KiB`);
  };

  await sample('start');

  // Phase 1: lifecycles of other kubexits in the same graveyard, exit codes checked.
  const every = Math.max(1, Math.floor(opts.lifecycles / perPhase));
  for (let i = 1; i <= opts.lifecycles; i++) {
    const want = i % 2;
    const run = spawn(file, [...pre, 'sh', '-c', `exit ${want}`], {
      env: { ...env, KUBEXIT_NAME: `job-${i % 10}`, KUBEXIT_GRAVEYARD: graveyard },
      stdio: 'ignore',
    });
    const code = await exited(run);
    if (code !== want) throw new Error(`lifecycle ${i}: exit ${code}, want ${want}`);
    const tomb = readFileSync(join(graveyard, `job-${i % 10}`), 'utf8');
    if (!tomb.includes(`\nExitCode: ${want}\n`))
      throw new Error(`lifecycle ${i}: tombstone ${tomb}`);
    if (i % every === 0) await sample(`${i} lifecycles`);
  }

  // Phase 2: the dependency flaps, alive in every shape, never Died.
  const depPath = join(graveyard, 'dep');
  const born = (): string => `Born: "${new Date().toISOString()}"\n`;
  const shapes: (() => void)[] = [
    () => {
      writeFileSync(`${depPath}.next`, born());
      renameSync(`${depPath}.next`, depPath);
    },
    () => {
      // Go kubexit's write: truncate, then write, in place.
      const fd = openSync(depPath, 'w');
      writeSync(fd, born());
      closeSync(fd);
    },
    () => writeFileSync(depPath, '{}\n'),
    () => writeFileSync(depPath, ''),
    () => writeFileSync(depPath, 'Born: [not, a, time\n'),
    () => {
      const fd = openSync(depPath, 'r+');
      ftruncateSync(fd, 0);
      closeSync(fd);
    },
  ];
  let flaps = 0;
  const flapEvery = opts.flapEveryMs ?? 10;
  const start = Date.now();
  const sampleEvery = opts.flapMs / perPhase;
  let nextSample = sampleEvery;
  while (Date.now() - start < opts.flapMs) {
    (shapes[flaps % shapes.length] as () => void)();
    flaps++;
    await new Promise((r) => setTimeout(r, flapEvery));
    if (Date.now() - start >= nextSample) {
      nextSample += sampleEvery;
      await sample(`${flaps} flaps`, flaps);
    }
  }
  await sample(`${flaps} flaps, end`, flaps);

  // The end: dep dies; the sidecar must still act on it.
  writeFileSync(`${depPath}.next`, `${born()}Died: "${new Date().toISOString()}"\nExitCode: 0\n`);
  renameSync(`${depPath}.next`, depPath);
  const exitCode = await sidecarExit;
  rmSync(base, { recursive: true, force: true });
  return {
    build: name,
    samples,
    lifecycles: opts.lifecycles,
    flaps,
    exitCode,
    childGotTerm: stdout.includes('got-term'),
  };
}

/**
 * Growth over the run. fds and live handles: first sample to last, where any difference is a
 * leak. Memory: a runtime's heap and compiled code grow under steady traffic to a plateau (its
 * height follows the traffic's rate; reached within a minute or two) and single samples swing by
 * a few MiB with the collector, so a leak is a rising trend in the flapping's second half: the
 * least-squares line through its samples, over the rewrites it spans. First → last is reported
 * beside it.
 */
export function growth(r: SoakResult): {
  fds: number;
  rssAnonKiB: number;
  settledRssAnonKiB: number;
  resources: string[];
} {
  const first = r.samples[0] as Sample;
  const last = r.samples.at(-1) as Sample;
  const flapping = r.samples.filter((s) => s.flaps !== undefined);
  const settled = flapping.slice(Math.floor(flapping.length / 2));
  const resources: string[] = [];
  for (const kind of new Set([
    ...Object.keys(first.resources ?? {}),
    ...Object.keys(last.resources ?? {}),
  ])) {
    const a = first.resources?.[kind] ?? 0;
    const b = last.resources?.[kind] ?? 0;
    if (a !== b) resources.push(`${kind} ${a} → ${b}`);
  }
  return {
    fds: last.fds - first.fds,
    rssAnonKiB: last.rssAnonKiB - first.rssAnonKiB,
    settledRssAnonKiB: trend(settled.map((s) => [s.flaps as number, s.rssAnonKiB])),
    resources,
  };
}

/** The rise of the least-squares line through the points, from the first x to the last. */
function trend(points: [number, number][]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of points) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
  }
  const span = (points.at(-1) as [number, number])[0] - (points[0] as [number, number])[0];
  return sxx === 0 ? 0 : (sxy / sxx) * span;
}

/** The rise in the flapping's second half that counts as a leak (see growth). */
const SETTLED_GROWTH_LIMIT_KIB = 2 * 1024;

async function cli(): Promise<void> {
  const arg = (flag: string, fallback: number): number => {
    const i = process.argv.indexOf(flag);
    return i >= 0 ? Number(process.argv[i + 1]) : fallback;
  };
  const lifecycles = arg('--lifecycles', 1000);
  const minutes = arg('--minutes', 10);
  const r = await soak({
    lifecycles,
    flapMs: minutes * 60_000,
    flapEveryMs: arg('--every-ms', 10),
    samplesPerPhase: 10,
    progress: (l) => process.stderr.write(`  ${l}\n`),
  });
  console.log(`\nsoak of ${r.build}: ${r.lifecycles} lifecycles, ${r.flaps} flaps`);
  console.log('| sample | fds | VmRSS MiB | RssAnon MiB | handles and requests |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const s of r.samples) {
    const res = s.resources
      ? Object.entries(s.resources)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')
      : '—';
    console.log(
      `| ${s.label} | ${s.fds} | ${(s.vmRssKiB / 1024).toFixed(1)} | ${(s.rssAnonKiB / 1024).toFixed(1)} | ${res} |`,
    );
  }
  const g = growth(r);
  const mib = (kib: number): string => (kib / 1024).toFixed(1);
  console.log(
    `growth first → last: fds ${g.fds}, handles ${g.resources.join('; ') || 'none'}, RssAnon ${mib(g.rssAnonKiB)} MiB (trend over the second half of the flapping: ${mib(g.settledRssAnonKiB)} MiB)`,
  );
  console.log(`after Died: child got TERM ${r.childGotTerm}, sidecar exit ${r.exitCode}`);
  const ok =
    g.fds === 0 &&
    g.resources.length === 0 &&
    g.settledRssAnonKiB < SETTLED_GROWTH_LIMIT_KIB &&
    r.childGotTerm &&
    r.exitCode === 0;
  console.log(ok ? 'soak: no growth' : 'soak: FAILED');
  if (!ok) process.exitCode = 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await cli();
