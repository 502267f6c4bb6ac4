// The local demo: five kubexit-wrapped processes share one graveyard, as containers of a pod
// would, with no Kubernetes and no API access.
//
//   migrate   a short job that exits 0
//   server    an HTTP server; its kubexit probes tcp://127.0.0.1:$PORT and writes Ready
//   client    KUBEXIT_BIRTH_DEPS=migrate:succeeded,server: starts once both are met, makes
//             three requests, exits 0
//             (the server has KUBEXIT_DEATH_DEPS=client: stopped when the client ends, exit 0)
//   batch     a long step whose container is "OOM-killed": the demo SIGKILLs its kubexit and
//             its child together, so no Died is ever written
//   uploader  a sidecar with KUBEXIT_DEATH_DEPS=batch: sees batch's death through its liveness
//             socket and stops
//
// It prints every process's output, a timeline (from the tombstones and what the demo saw), the
// tombstones and the exit codes, and exits 1 if anything is not as expected. Every wait is
// bounded: the whole run is given 20 s.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const kubexit = process.env.KUBEXIT_BIN
  ? [process.env.KUBEXIT_BIN]
  : [process.execPath, join(here, '..', '..', 'dist', 'kubexit.js')];
const graveyard = mkdtempSync(join(process.env.TMPDIR ?? tmpdir(), 'kubexit-demo.'));
const port = await freePort();
const t0 = Date.now();
const events = []; // { at: ms since epoch, who, what }
const failures = [];
const procs = new Map();
// The output lines that make the timeline, beside the tombstones.
const NOTABLE = /listening on|done, exiting|SIGTERM received|: running$|died without a record/;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port: p } = s.address();
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });
}

/** Starts `kubexit node <script> [args]` as `name`, in a process group of its own. */
function start(name, script, env, args = []) {
  const child = spawn(
    ...[kubexit[0]],
    [...kubexit.slice(1), process.execPath, join(here, script), ...args],
    {
      env: {
        ...process.env,
        PORT: String(port),
        KUBEXIT_GRAVEYARD: graveyard,
        KUBEXIT_NAME: name,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own group, as a container: the demo can kill kubexit and its child together
    },
  );
  const p = { name, child, lines: [], exit: undefined, waiters: [] };
  const deps = [
    env.KUBEXIT_BIRTH_DEPS && `birth deps ${env.KUBEXIT_BIRTH_DEPS}`,
    env.KUBEXIT_DEATH_DEPS && `death deps ${env.KUBEXIT_DEATH_DEPS}`,
  ];
  events.push({
    at: Date.now(),
    who: name,
    what: `kubexit started${deps.some(Boolean) ? ` (${deps.filter(Boolean).join(', ')})` : ''}`,
  });
  p.exited = new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      p.exit = signal ?? code;
      events.push({
        at: Date.now(),
        who: name,
        what: `kubexit process ended: ${signal ?? `exit ${code}`}`,
      });
      resolve(p.exit);
    }),
  );
  const onLine = (line, fromKubexit) => {
    if (line === '') return;
    let text = line;
    if (fromKubexit) {
      // kubexit's JSON log lines, shortened to their level and message.
      try {
        const j = JSON.parse(line);
        text = `kubexit ${j.level}: ${j.message}${j.dependency ? ` (${j.dependency})` : ''}${j.error ? `: ${j.error}` : ''}`;
      } catch {
        // not JSON: the child's own stderr
      }
    }
    p.lines.push(text);
    if (NOTABLE.test(text)) events.push({ at: Date.now(), who: name, what: `says: ${text}` });
    console.log(`[${name.padEnd(8)}] ${text}`);
    for (const w of [...p.waiters]) if (w.re.test(text)) w.resolve();
  };
  for (const [stream, fromKubexit] of [
    [child.stdout, false],
    [child.stderr, true],
  ]) {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (d) => {
      buf += d;
      const parts = buf.split('\n');
      buf = parts.pop();
      for (const l of parts) onLine(l, fromKubexit);
    });
  }
  procs.set(name, p);
  return p;
}

/** Resolves when `p` prints a line matching `re`; rejects after `ms`. */
function waitLine(p, re, ms) {
  if (p.lines.some((l) => re.test(l))) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${p.name}: no line matching ${re} within ${ms} ms`)),
      ms,
    );
    p.waiters.push({ re, resolve: () => (clearTimeout(timer), resolve()) });
  });
}

function killAll() {
  for (const p of procs.values()) {
    if (p.exit === undefined) {
      try {
        process.kill(-p.child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

// KUBEXIT_DEMO_DEADLINE_MS: for the test that shows the demo never hangs.
const deadlineMs = Number(process.env.KUBEXIT_DEMO_DEADLINE_MS) || 20_000;
const deadline = setTimeout(() => {
  console.log(`\n== the demo did not finish within ${deadlineMs} ms: stopping everything`);
  killAll();
  rmSync(graveyard, { recursive: true, force: true });
  process.exit(1);
}, deadlineMs);

console.log(`== graveyard: ${graveyard}`);
console.log(`== kubexit: ${kubexit.join(' ')}`);
console.log();

const quiet = { KUBEXIT_VERBOSE_LEVEL: '0' };
// The dependents first, to show them waiting.
const client = start('client', 'client.mjs', {
  ...quiet,
  KUBEXIT_BIRTH_DEPS: 'migrate:succeeded,server',
  KUBEXIT_BIRTH_TIMEOUT: '10s',
});
start('server', 'server.mjs', {
  ...quiet,
  KUBEXIT_READY_PROBE: `tcp://127.0.0.1:${port}`,
  KUBEXIT_DEATH_DEPS: 'client',
  KUBEXIT_IGNORE_CODE_ON_DEATH_DEPS: 'true',
  KUBEXIT_GRACE_PERIOD: '5s',
});
start('migrate', 'migrate.mjs', quiet);
const uploader = start(
  'uploader',
  'sidecar.mjs',
  {
    ...quiet,
    KUBEXIT_DEATH_DEPS: 'batch',
    KUBEXIT_IGNORE_CODE_ON_DEATH_DEPS: 'true',
    KUBEXIT_GRACE_PERIOD: '5s',
  },
  ['uploader'],
);
const batch = start('batch', 'sidecar.mjs', quiet, ['batch']);

try {
  // Once the client is done, batch's container is "OOM-killed" (and the uploader is following it).
  await Promise.all([
    client.exited,
    waitLine(batch, /^batch: running$/, 10_000),
    waitLine(uploader, /^uploader: running$/, 10_000),
  ]);
  events.push({
    at: Date.now(),
    who: 'batch',
    what: 'the demo SIGKILLs kubexit and its child (an OOM kill)',
  });
  console.log('[demo    ] SIGKILL to batch: its kubexit and its child');
  process.kill(-batch.child.pid, 'SIGKILL');
  await Promise.all([...procs.values()].map((p) => p.exited));
} catch (err) {
  failures.push(String(err.message ?? err));
  killAll();
  await Promise.all([...procs.values()].map((p) => p.exited));
}
clearTimeout(deadline);

// The tombstones, and the timeline built from them and from what the demo saw.
const tombstones = {};
const ORDER = ['migrate', 'server', 'client', 'batch', 'uploader'];
for (const name of ORDER) {
  let text = '';
  try {
    text = readFileSync(join(graveyard, name), 'utf8');
  } catch (err) {
    text = `(unreadable: ${err.code})`;
  }
  const fields = {};
  for (const m of text.matchAll(/^(\w+): "?(.*?)"?$/gm)) fields[m[1]] = m[2];
  tombstones[name] = { text, fields };
  for (const key of ['Born', 'Ready', 'Died']) {
    if (fields[key])
      events.push({
        at: Date.parse(fields[key].replace(/(\.\d{3})\d*/, '$1')),
        who: name,
        what: `tombstone: ${key}`,
      });
  }
}
console.log('\n== timeline (ms since the demo started)');
for (const e of events.sort((a, b) => a.at - b.at)) {
  console.log(`${String(e.at - t0).padStart(6)}  ${e.who.padEnd(8)}  ${e.what}`);
}

for (const [name, t] of Object.entries(tombstones)) {
  console.log();
  console.log(`== tombstone ${name}`);
  process.stdout.write(t.text.endsWith('\n') ? t.text : `${t.text}\n`);
}
console.log(`\n== exit codes: ${ORDER.map((n) => `${n} ${procs.get(n).exit}`).join(', ')}`);

// What must have happened.
const f = (name) => tombstones[name].fields;
const time = (name, key) => Date.parse(f(name)[key] ?? 'x');
function expect(ok, what) {
  if (!ok) failures.push(what);
}
for (const name of ['migrate', 'server', 'client', 'uploader']) {
  expect(procs.get(name).exit === 0, `${name} exits 0 (got ${procs.get(name).exit})`);
  expect(f(name).ExitCode === '0', `${name}'s tombstone says ExitCode: 0`);
}
expect(batch.exit === 'SIGKILL', `batch's kubexit is ended by SIGKILL (got ${batch.exit})`);
expect(f('batch').Born && !f('batch').Died, "batch's tombstone has Born and no Died");
expect(
  time('migrate', 'Died') <= time('client', 'Born'),
  'the client starts after migrate succeeded',
);
expect(
  time('server', 'Ready') <= time('client', 'Born'),
  'the client starts after the server is Ready',
);
expect(time('client', 'Died') <= time('server', 'Died'), 'the server ends after the client');
expect(
  f('server').Reason === 'death dependency client',
  "the server's Reason is the client's death",
);
expect(
  client.lines.filter((l) => /^client: request \d: hello/.test(l)).length === 3,
  'the client gets 3 answers',
);
expect(
  uploader.lines.some((l) => /death dependency died without a record \(batch\)/.test(l)),
  'the uploader logs that batch died without a record',
);
expect(f('uploader').Reason === 'death dependency batch', "the uploader's Reason is batch's death");

rmSync(graveyard, { recursive: true, force: true });
if (failures.length > 0) {
  console.log('\n== NOT as expected:');
  for (const x of failures) console.log(`- ${x}`);
  process.exit(1);
}
console.log('\n== all as expected');
