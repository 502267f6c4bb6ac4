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
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { startCluster, type Cluster } from '../test/support/cluster.js';
import {
  baseEnv,
  EXE,
  FANOUT,
  type Figures,
  graveyard,
  ms,
  ns,
  OUT,
  PROBE,
  REFERENCE,
  ROOT,
  RUNS,
  settle,
  start,
  status,
  type Supervisor,
  WRITER,
} from './harness.js';
import { cgroupSkip, charged } from './memory-cgroup.js';
import {
  f2,
  interleaved,
  loadStart,
  pct,
  printLines,
  results,
  revision,
  saveJson,
  summary,
} from './report.js';

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

/** bench/writer.c, kept running: publishes a tombstone and answers with its t0. */
let writer: ReturnType<typeof start> | undefined;
async function write(op: 'born' | 'inplace' | 'rename', path: string): Promise<bigint> {
  writer ??= start([WRITER], process.env, ['pipe', 'pipe', 'inherit']);
  writer.proc.stdin?.write(`${op} ${path}\n`);
  const answer = await writer.line();
  if (!answer.startsWith('t ')) throw new Error(`writer: ${op} ${path} failed`);
  return ns(answer);
}

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
          ` (mapped_file ${net('cg.mapped', s.id)}) + kmem ${net('cg.kmem', s.id)}` +
          ` = ${net('cg.exact', s.id)};` +
          ` working set ${net('cg.workingset', s.id)}; its VmRSS ${own('cg.vmrss', s.id)},` +
          ` RssAnon ${own('cg.anon', s.id)} MiB`,
      );
    console.log(
      `  charge = memory.usage_in_bytes (what the kubelet reads) of a fresh memory cgroup holding` +
        ` the supervisor and its sleeping child, once settled: anon (rss) + page cache first` +
        ` touched from there (cache) + kernel memory (kmem), minus the child's alone` +
        ` (${own('cg.charged', 'child')} MiB); the executables were read whole from outside` +
        ` first. The kernel charges up to 64 pages per CPU ahead: ±0.25 MiB per CPU of noise,` +
        ` absent from rss + cache + kmem` +
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
    // tini and the C reference ignore the birth dependency: their plain startup, in these rounds.
    await interleaved(list, RUNS.startup, (s) => startupBirth(s, pod));
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
