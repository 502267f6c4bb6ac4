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
//   SIGKILLed dependency: its kubexit is SIGKILLed → a connected dependent's child gets SIGTERM
//   tombstone readiness: the server listens → the client's child runs (default probe settings),
//     and the server's Ready lands → the client's child runs
//   death HTTP: the Died tombstone is published → the KUBEXIT_DEATH_HTTP POST arrives
//   process group: the death reaction with KUBEXIT_KILL_GROUP=true and without
//   birth reaction (a real apiserver): the PATCH that makes the dependency ready → the child runs
//   memory: VmRSS and RssAnon, and what a memory cgroup holding the supervisor is charged
//   lint: `kubexit lint` of a generated 1,000-document file, the whole command's wall time
// The child is bench/probe.c, which prints CLOCK_MONOTONIC as process.hrtime reads it; tombstones
// are written by bench/writer.c, which prints the time just before it publishes.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  readdirSync,
  readFileSync,
  rmSync,
  watch,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect, createServer as createTcpServer, type AddressInfo } from 'node:net';
import { basename, join } from 'node:path';
import { startCluster, type Cluster } from '../test/support/cluster.js';
import {
  baseEnv,
  descendants,
  EXE,
  FANOUT,
  type Figures,
  fileMatches,
  graveyard,
  kill,
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
} from './harness.js';
import { buildHelpers, death, deaths, startup, stopWriter, write } from './measures.js';
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
  const tini = whichOrInstalled('tini');
  if (tini)
    list.push({ id: 'tini', label: 'tini', argv: [tini, '-s', '--'], kind: 'tini', files: [tini] });
  else console.error('tini not found and not installable (apt-get install tini): no tini ratios');
  for (const s of list) s.files.push(PROBE, REFERENCE, '/bin/sh');
  return list;
}

/**
 * A baseline's path: from PATH, or installed from Debian's packages when absent (as root with
 * apt-get; the package list refreshed once), so that a fresh machine measures it too.
 */
function whichOrInstalled(command: string): string {
  const which = (): string =>
    spawnSync('sh', ['-c', `command -v ${command}`])
      .stdout.toString()
      .trim();
  const found = which();
  if (found !== '' || process.getuid?.() !== 0) return found;
  const apt = (args: string[]): boolean =>
    spawnSync('apt-get', args, { stdio: 'ignore', timeout: 300_000 }).status === 0;
  const install = ['-q', '-y', '--no-install-recommends', 'install', command];
  console.error(`${command} not found: apt-get install ${command}`);
  if (!apt(install) && apt(['-q', 'update'])) apt(install);
  return which();
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

/** The rename death reaction with the child in its own process group, and without. */
let groupFirst = false;
async function groups(s: Supervisor): Promise<Figures> {
  const group = (): Promise<number> => death(s, 'rename', { KUBEXIT_KILL_GROUP: 'true' });
  const single = (): Promise<number> => death(s, 'rename');
  groupFirst = !groupFirst; // alternate which goes first, so that neither always runs warmer
  if (groupFirst) {
    const g = await group();
    return { 'death.group': g, 'death.single': await single() };
  }
  const one = await single();
  return { 'death.group': await group(), 'death.single': one };
}

/**
 * A dependency's kubexit is SIGKILLed (it writes no Died): a dependent connected to its liveness
 * socket sees the connection close → its child gets SIGTERM.
 */
async function killed(s: Supervisor): Promise<Figures> {
  const dir = graveyard();
  const depEnv = baseEnv({ KUBEXIT_NAME: 'main' }, dir);
  const dep = start([...s.argv, PROBE, 'term'], depEnv);
  await dep.line(); // its child runs
  await fileMatches(join(dir, 'main'), /^Born:/m);
  const env = baseEnv({ KUBEXIT_DEATH_DEPS: 'main', KUBEXIT_INSTANT_LOGGING: 'true' }, dir);
  const run = start([...s.argv, PROBE, 'term'], env);
  await run.line(); // ready
  await run.logged(/Liveness of main: connected/);
  // The bench follows the socket too: when its own connection closes is the kernel's part.
  const own = connect(join(dir, '.main.alive'));
  await new Promise((resolve, reject) => own.once('connect', resolve).once('error', reject));
  const closed = new Promise<bigint>((resolve) =>
    own.once('close', () => resolve(process.hrtime.bigint())),
  );
  own.on('error', () => undefined); // a reset is a close too
  const orphans = descendants(dep.proc.pid as number); // its child, left behind by the KILL
  const t0 = process.hrtime.bigint();
  dep.proc.kill('SIGKILL');
  const t1 = ns(await run.line());
  const tc = await closed;
  orphans.forEach(kill);
  await Promise.all([run.exited, dep.exited]);
  return { 'death.killed': ms(t1 - t0), 'death.killedClose': ms(tc - t0) };
}

/** A free loopback port, as the kernel hands one out (closed again: a small race; a round lost to it is said and left out). */
async function freePort(): Promise<number> {
  const srv = createTcpServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

// The server's child: listens after 0–200 ms (a server starting up) and prints when it listens.
const TCP_SERVER = `
const net = require('node:net');
setTimeout(() => {
  const srv = net.createServer((c) => c.end());
  srv.listen(Number(process.argv[1]), '127.0.0.1', () =>
    console.log('listening ' + process.hrtime.bigint()));
}, Math.random() * 200);
`;

/**
 * Readiness from tombstones alone: a server kubexit probes its child's port; a client kubexit
 * (no pod name: tombstones only) waits for it. Ready is timed by this harness's own inotify
 * watch on the graveyard (the moment the bench sees the tombstone holding Ready, a little after
 * it lands): the second figure is thus a lower bound, by about one wakeup.
 */
async function readiness(s: Supervisor): Promise<Figures> {
  const dir = graveyard();
  const port = await freePort();
  let ready: bigint | undefined;
  const watcher = watch(dir, (_event, name) => {
    const t = process.hrtime.bigint();
    if (ready !== undefined || name !== 'server') return;
    try {
      if (/^Ready:/m.test(readFileSync(join(dir, 'server'), 'utf8'))) ready = t;
    } catch {
      // replaced meanwhile: the next event reads it
    }
  });
  const client = start(
    [...s.argv, PROBE, 'start'],
    baseEnv({ KUBEXIT_NAME: 'client', KUBEXIT_BIRTH_DEPS: 'server' }, dir),
  );
  const server = start(
    [...s.argv, process.execPath, '-e', TCP_SERVER, String(port)],
    baseEnv({ KUBEXIT_NAME: 'server', KUBEXIT_READY_PROBE: `tcp://127.0.0.1:${port}` }, dir),
  );
  try {
    const listening = ns(await server.line());
    const runs = ns(await client.line());
    await client.exited;
    if (ready === undefined) throw new Error('the bench did not see Ready land');
    return { 'ready.listen': ms(runs - listening), 'ready.tombstone': ms(runs - ready) };
  } finally {
    watcher.close();
    server.proc.kill('SIGTERM');
    client.proc.kill('SIGTERM');
    await Promise.all([server.exited, client.exited]);
  }
}

/** The dependency's Died is published → the POST of KUBEXIT_DEATH_HTTP reaches this server. */
interface QuitServer {
  server: Server;
  url: string;
  next: () => Promise<bigint>;
}

async function quitServer(): Promise<QuitServer> {
  let waiting: ((t: bigint) => void) | undefined;
  const server = createServer((req, res) => {
    const t = process.hrtime.bigint();
    if (req.method === 'POST') waiting?.(t);
    waiting = undefined;
    req.resume();
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const next = (): Promise<bigint> => new Promise((resolve) => (waiting = resolve));
  return { server, url: `http://127.0.0.1:${port}/quitquitquit`, next };
}

async function deathHttp(s: Supervisor, quit: QuitServer): Promise<Figures> {
  const env = baseEnv({
    KUBEXIT_DEATH_DEPS: 'main',
    KUBEXIT_DEATH_HTTP: quit.url,
    // the call replaces the signal: the KILL after this grace period ends the round
    KUBEXIT_GRACE_PERIOD: '50ms',
  });
  const dep = join(env.KUBEXIT_GRAVEYARD as string, 'main');
  await write('born', dep);
  const run = start([...s.argv, PROBE, 'term'], env);
  await run.line(); // ready
  const posted = quit.next();
  const t0 = await write('rename', dep);
  const t1 = await posted;
  await run.exited;
  return { 'death.http': ms(t1 - t0) };
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

/**
 * 250 copies of examples/client-server-job (its Job, ServiceAccount, Role and RoleBinding), each
 * renamed: 1,000 documents, as kustomize would print 250 such apps.
 */
function lintInput(): string {
  const dir = join(ROOT, 'examples', 'client-server-job');
  const app = ['job.yaml', 'service-account.yaml', 'role.yaml', 'role-binding.yaml']
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('---\n');
  const apps = Array.from({ length: 250 }, (_, i) =>
    app
      .replaceAll('client-server-job', `client-server-job-${i}`)
      .replaceAll('kubexit-pod-reader', `kubexit-pod-reader-${i}`),
  );
  const file = join(OUT, 'lint-1000.yaml');
  writeFileSync(file, apps.join('---\n'));
  return file;
}

/** The whole `kubexit lint FILE`: start, read, check, print nothing (the input is clean), exit. */
function lintRound(s: Supervisor, file: string): Promise<Figures> {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('KUBEXIT_')),
  );
  const [program, ...pre] = s.argv as [string, ...string[]];
  const t0 = process.hrtime.bigint();
  const run = spawnSync(program, [...pre, 'lint', file], { env, encoding: 'utf8' });
  const t = ms(process.hrtime.bigint() - t0);
  if (run.status !== 0 || run.stdout !== '')
    throw new Error(`lint exited ${run.status}: ${(run.stdout + run.stderr).slice(0, 300)}`);
  return Promise.resolve({ lint: t });
}

async function lintSpeed(kubexits: Supervisor[]): Promise<void> {
  if (RUNS.lint <= 0) return;
  const file = lintInput();
  await interleaved(kubexits, RUNS.lint, (s) => lintRound(s, file));
  const kb = Math.round(readFileSync(file).length / 1024);
  for (const s of kubexits) {
    const samples = results.get('lint')?.get(s.id) ?? [];
    if (samples.length === 0) continue;
    console.log(
      `${`lint, 1,000 documents (${kb} KB)`.padEnd(38)} ${s.id.padEnd(5)} ${f2(pct(samples, 50)).padStart(7)} ms` +
        `  (min ${f2(Math.min(...samples))}, max ${f2(Math.max(...samples))}; ${samples.length} runs)`,
    );
  }
}

async function main(): Promise<void> {
  buildHelpers();
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
  await lintSpeed(kubexits);
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
  await interleaved(kubexits, RUNS.group, groups);
  printLines(['death.group', 'death.single'], list);
  for (const s of kubexits) {
    const of = (key: string, p: number): number => pct(results.get(key)?.get(s.id) ?? [], p);
    if (!results.get('death.group')?.get(s.id)) continue;
    console.log(
      `  ${s.id.padEnd(5)} process group costs: median ${f2(of('death.group', 50) - of('death.single', 50))} ms,` +
        ` p99 ${f2(of('death.group', 99) - of('death.single', 99))} ms`,
    );
  }
  await interleaved(kubexits, RUNS.killed, killed);
  printLines(['death.killed', 'death.killedClose'], list);
  if (RUNS.http > 0) {
    const quit = await quitServer();
    await interleaved(kubexits, RUNS.http, (s) => deathHttp(s, quit));
    quit.server.close();
    printLines(['death.http'], list);
  }
  await interleaved(kubexits, RUNS.readiness, readiness);
  printLines(['ready.listen', 'ready.tombstone'], list);
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
  stopWriter();
}

await main();
