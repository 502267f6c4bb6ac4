// Crash-safe deaths: a kubexit that is SIGKILLed never writes Died, yet its dependents see its
// death, through the liveness socket it holds in the graveyard (`.<name>.alive`). Real kubexit
// processes, real SIGKILLs, real Unix sockets in a real folder.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import {
  FIXTURES,
  kubexit,
  tombstone,
  waitingForBirth,
  Watched,
  type Run,
} from './support/kubexit.js';
import { tempDir } from './support/temp.js';

const RECORDER = join(FIXTURES, 'recorder.mjs');
const BORN = 'Born: "2020-04-28T10:41:46.9926314Z"\n';
const DEAD =
  'Born: "2020-04-28T10:41:46.9926314Z"\nDied: "2020-04-28T10:41:47.0496314Z"\nExitCode: 0\n';
const GO_DEATH = /^Born: "[^"]+"\nDied: "[^"]+"\nExitCode: (-?\d+)\n(?:Ready: "[^"]+"\n)?$/;
/** Today's code waits forever for these deaths: fail instead of holding the whole run. */
const BOUNDED = { timeout: 30_000 };
const CONNECTED = (name: string): RegExp => new RegExp(`Liveness of ${name}: connected`);
const UNRECORDED = 'death dependency died without a record';

/** Processes of this file (and their children), KILLed after each test. */
const leftovers: number[] = [];
const runs: Watched[] = [];
afterEach(() => {
  for (const run of runs.splice(0)) if (run.running) leftovers.push(...family(run.proc.pid!));
  for (const pid of leftovers.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
});

/** A process and its children (every thread's), as /proc tells them. */
function family(pid: number): number[] {
  const pids = [pid];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const children = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8');
      for (const c of children.split(' ').filter(Boolean)) pids.push(...family(Number(c)));
    }
  } catch {
    // gone meanwhile
  }
  return pids;
}

/**
 * kill -9 of a kubexit, then of its child, as when a container's PID 1 is OOM-killed (the kernel
 * then kills the rest of its PID namespace).
 */
function killHard(run: Run): void {
  const pids = family(run.pid);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

function track<T extends Watched>(run: T): T {
  runs.push(run);
  return run;
}

/** A kubexit whose child runs until it is stopped (its tombstone then says Born). */
function dependency(graveyard: string, name = 'main', env: Record<string, string> = {}): Run {
  return track(
    kubexit(['sleep', '600'], { KUBEXIT_NAME: name, KUBEXIT_GRAVEYARD: graveyard, ...env }),
  );
}

/** A dependent whose child reports signals and exits 0 on TERM; it logs each trace event. */
function dependent(graveyard: string, deps = 'main', name = 'sidecar'): Run {
  return track(
    kubexit([process.execPath, RECORDER, '--exit-on', 'SIGTERM'], {
      KUBEXIT_NAME: name,
      KUBEXIT_GRAVEYARD: graveyard,
      KUBEXIT_DEATH_DEPS: deps,
      KUBEXIT_INSTANT_LOGGING: 'true',
    }),
  );
}

/** A kubexit whose child reports signals; SIGUSR1 (passed on) makes it exit 0. */
function stoppable(graveyard: string, name: string): Run {
  return track(
    kubexit([process.execPath, RECORDER, '--exit-on', 'SIGUSR1'], {
      KUBEXIT_NAME: name,
      KUBEXIT_GRAVEYARD: graveyard,
    }),
  );
}

const born = (graveyard: string, name = 'main'): Promise<string> =>
  tombstone(graveyard, name, (t) => t.startsWith('Born:'));

function warnings(logs: Record<string, unknown>[], message: string): Record<string, unknown>[] {
  return logs.filter((l) => l.level === 'warning' && l.message === message);
}

/** A socket someone else listens on, at `path`: `garbage` writes without end to each client. */
function foreignListener(path: string, mode: 'garbage' | 'silent'): Watched {
  const script = `
    const net = require('node:net');
    const junk = Buffer.alloc(65536, 'x');
    const server = net.createServer((c) => {
      c.on('error', () => {});
      if (${JSON.stringify(mode)} !== 'garbage') return;
      const pump = () => { while (c.write(junk)); };
      c.on('drain', pump);
      pump();
    });
    server.listen(${JSON.stringify(path)}, () => console.log('listening'));`;
  return track(
    new Watched(spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] })),
  );
}

/**
 * Connects to the socket at `path` until the kernel refuses one with EAGAIN (its owner, stopped,
 * accepts none): its backlog is then full. The connections made, pending in that backlog.
 */
async function fillBacklog(path: string): Promise<Socket[]> {
  const pending: Socket[] = [];
  for (;;) {
    const client = createConnection(path);
    const outcome = await new Promise<string>((resolve) => {
      client.once('connect', () => resolve('connected'));
      client.once('error', (err: NodeJS.ErrnoException) => resolve(String(err.code)));
    });
    if (outcome !== 'connected') {
      assert.equal(outcome, 'EAGAIN', `after ${pending.length} pending connections`);
      return pending;
    }
    pending.push(client);
  }
}

describe('crash-safe deaths: a SIGKILLed dependency', () => {
  it(
    "SIGKILL while its child runs: the dependent's child gets TERM, a warning says it died without a record",
    BOUNDED,
    async () => {
      const graveyard = tempDir();
      const main = dependency(graveyard);
      await born(graveyard);
      const side = dependent(graveyard);
      await side.stdout(/ready/);
      await side.stderr(CONNECTED('main'));
      killHard(main);

      const exit = await side.exited;
      assert.match(exit.stdout, /got SIGTERM/);
      assert.equal(exit.code, 0, "the dependent's child exited 0 on TERM");
      const [warning] = warnings(exit.logs, UNRECORDED);
      assert.equal(warning?.dependency, 'main', exit.stderr);
      assert.match(String(warning?.how), /connection closed/);
      assert.match(
        readFileSync(join(graveyard, 'main'), 'utf8'),
        /^Born: "[^"]+"\n(?:Ready: "[^"]+"\n)?$/,
        'no Died',
      );
      assert.equal(readFileSync(join(graveyard, 'sidecar'), 'utf8').match(GO_DEATH)?.[1], '0');
    },
  );

  it(
    'SIGKILL before its Born (in its birth wait): the dependent sees the death',
    BOUNDED,
    async () => {
      const graveyard = tempDir();
      const sa = tempDir();
      const main = track(
        kubexit(['sleep', '600'], {
          KUBEXIT_NAME: 'main',
          KUBEXIT_GRAVEYARD: graveyard,
          ...waitingForBirth(sa),
        }),
      );
      await main.stderr(/Watching pod pod updates/);
      assert.equal(
        readFileSync(join(graveyard, 'main'), 'utf8'),
        'BirthDeps: "proxy"\n',
        'not born',
      );
      const side = dependent(graveyard);
      await side.stdout(/ready/);
      await side.stderr(CONNECTED('main'));
      killHard(main);

      const exit = await side.exited;
      assert.match(exit.stdout, /got SIGTERM/);
      assert.equal(warnings(exit.logs, UNRECORDED)[0]?.dependency, 'main', exit.stderr);
    },
  );

  it(
    'SIGKILL before the dependent starts: a Born tombstone whose socket refuses is a death, the child never starts (143)',
    BOUNDED,
    async () => {
      const graveyard = tempDir();
      const main = dependency(graveyard);
      await born(graveyard);
      killHard(main);
      await main.exited;

      const marker = join(tempDir(), 'ran');
      const exit = await track(
        kubexit(['touch', marker], {
          KUBEXIT_NAME: 'sidecar',
          KUBEXIT_GRAVEYARD: graveyard,
          KUBEXIT_DEATH_DEPS: 'main',
        }),
      ).exited;
      assert.equal(exit.code, 143, exit.stderr);
      assert.equal(existsSync(marker), false);
      const [warning] = warnings(exit.logs, UNRECORDED);
      assert.equal(warning?.dependency, 'main', exit.stderr);
      assert.match(String(warning?.how), /refuses/);
      assert.equal(exit.logs.at(-1)?.reason, 'death dependency main died');
    },
  );

  it('100 dependents of one SIGKILLed kubexit all react', { timeout: 240_000 }, async () => {
    const graveyard = tempDir();
    const main = dependency(graveyard);
    await born(graveyard);
    const sides = Array.from({ length: 100 }, (_, i) =>
      track(
        kubexit(['sleep', '600'], {
          KUBEXIT_NAME: `side-${i}`,
          KUBEXIT_GRAVEYARD: graveyard,
          KUBEXIT_DEATH_DEPS: 'main',
          KUBEXIT_INSTANT_LOGGING: 'true',
        }),
      ),
    );
    await Promise.all(sides.map((s) => s.stderr(CONNECTED('main'))));
    await Promise.all(sides.map((_, i) => born(graveyard, `side-${i}`)));
    killHard(main);

    const exits = await Promise.all(sides.map((s) => s.exited));
    for (const [i, exit] of exits.entries()) {
      assert.equal(exit.code, 143, `side-${i}: its child got TERM\n${exit.stderr}`);
      assert.equal(warnings(exit.logs, UNRECORDED).length, 1, `side-${i}`);
    }
  });
});

describe('crash-safe deaths: restarts in the same graveyard', () => {
  it(
    "a restarted dependency replaces its earlier run's socket, is not taken for dead, and its own SIGKILL is seen",
    BOUNDED,
    async () => {
      const graveyard = tempDir();
      const first = dependency(graveyard);
      const firstBorn = await born(graveyard);
      killHard(first);
      await first.exited;
      const stale = lstatSync(join(graveyard, '.main.alive'));
      assert.ok(stale.isSocket(), "the first run's socket is left behind");

      // The container restarts: the same name, the same graveyard.
      const second = dependency(graveyard);
      await tombstone(graveyard, 'main', (t) => t.startsWith('Born:') && t !== firstBorn);
      const fresh = lstatSync(join(graveyard, '.main.alive'));
      assert.ok(fresh.isSocket());
      // tmpfs may give the new socket the old one's inode number; not its change time.
      assert.ok(fresh.ino !== stale.ino || fresh.ctimeMs !== stale.ctimeMs, 'a new socket');

      const side = dependent(graveyard);
      await side.stdout(/ready/);
      await side.stderr(CONNECTED('main'));
      assert.equal(side.running, true, 'the new run is alive');
      killHard(second);
      const exit = await side.exited;
      assert.match(exit.stdout, /got SIGTERM/);
      assert.equal(warnings(exit.logs, UNRECORDED).length, 1);
    },
  );

  it(
    'across a restart: a dependent that looks before it sees a death, one that looks after follows the new run',
    BOUNDED,
    async () => {
      const graveyard = tempDir();
      const first = dependency(graveyard);
      const firstBorn = await born(graveyard);
      killHard(first);
      await first.exited;
      const early = await track(
        kubexit(['true'], {
          KUBEXIT_NAME: 'early',
          KUBEXIT_GRAVEYARD: graveyard,
          KUBEXIT_DEATH_DEPS: 'main',
        }),
      ).exited;
      assert.equal(early.code, 143, 'between the kill and the restart: dead');

      const second = stoppable(graveyard, 'main');
      await second.stdout(/ready/);
      await tombstone(graveyard, 'main', (t) => t.startsWith('Born:') && t !== firstBorn);
      const late = dependent(graveyard, 'main', 'late');
      await late.stdout(/ready/);
      await late.stderr(CONNECTED('main'));
      second.kill('SIGUSR1'); // its child exits 0: a normal death, with Died
      assert.equal((await second.exited).code, 0);
      const exit = await late.exited;
      assert.match(exit.stdout, /got SIGTERM/);
      assert.deepEqual(warnings(exit.logs, UNRECORDED), [], 'the new run died with a record');
    },
  );

  it(
    'a normal death stays a normal one: no warning, and the socket file is removed',
    BOUNDED,
    async () => {
      const graveyard = tempDir();
      const side = dependent(graveyard);
      await side.stdout(/ready/);
      const main = stoppable(graveyard, 'main');
      await main.stdout(/ready/);
      await born(graveyard);
      await side.stderr(CONNECTED('main'));
      main.kill('SIGUSR1'); // passed on: the child exits 0

      assert.equal((await main.exited).code, 0);
      const exit = await side.exited;
      assert.match(exit.stdout, /got SIGTERM/);
      assert.deepEqual(warnings(exit.logs, UNRECORDED), [], exit.stderr);
      assert.deepEqual(readdirSync(graveyard).sort(), ['main', 'sidecar'], 'no socket left');
    },
  );
});

describe('crash-safe deaths: where the graveyard cannot hold the signal', () => {
  it(
    'a socket path too long: one warning line, and deaths are seen from the tombstone as today',
    BOUNDED,
    async () => {
      const graveyard = tempDir();
      const name = 'm'.repeat(120);
      const main = stoppable(graveyard, name);
      // Node starts its inspector on a SIGUSR1 that comes before the recorder's handler.
      await main.stdout(/ready/);
      await born(graveyard, name);
      const side = dependent(graveyard, name);
      await side.stdout(/ready/);
      await side.stderr(/no liveness socket/);
      main.kill('SIGUSR1');

      const mainExit = await main.exited;
      assert.equal(mainExit.code, 0);
      const lines = warnings(
        mainExit.logs,
        'liveness socket not set up: dependents see this container end from its tombstone only',
      );
      assert.equal(lines.length, 1, mainExit.stderr);
      assert.equal(lines[0]?.socket, join(graveyard, `.${name}.alive`));
      assert.match(String(lines[0]?.error), /longer than a Unix socket address/);
      const exit = await side.exited;
      assert.match(exit.stdout, /got SIGTERM/);
      assert.deepEqual(warnings(exit.logs, UNRECORDED), []);
    },
  );

  it(
    'a graveyard path longer than a socket address: bound through /proc/self/fd, a SIGKILL is seen',
    BOUNDED,
    async () => {
      const graveyard = join(tempDir(), 'a-folder-name-of-forty-characters-long-', 'x'.repeat(60));
      mkdirSync(graveyard, { recursive: true });
      assert.ok(Buffer.byteLength(join(graveyard, '.main.alive')) > 108);
      const main = dependency(graveyard);
      await born(graveyard);
      assert.ok(lstatSync(join(graveyard, '.main.alive')).isSocket());
      const side = dependent(graveyard);
      await side.stdout(/ready/);
      await side.stderr(CONNECTED('main'));
      killHard(main);
      const exit = await side.exited;
      assert.match(exit.stdout, /got SIGTERM/);
      assert.equal(warnings(exit.logs, UNRECORDED).length, 1, exit.stderr);
    },
  );

  it(
    "a Go kubexit (a tombstone, no socket) keeps today's behaviour: alive until its tombstone says Died",
    BOUNDED,
    async () => {
      const graveyard = tempDir();
      writeFileSync(join(graveyard, 'main'), BORN);
      const side = dependent(graveyard);
      await side.stdout(/ready/);
      await side.stderr(/Liveness of main: no liveness socket/);
      assert.equal(side.running, true);
      writeFileSync(join(graveyard, 'main'), DEAD);
      const exit = await side.exited;
      assert.match(exit.stdout, /got SIGTERM/);
      assert.deepEqual(warnings(exit.logs, UNRECORDED), []);
    },
  );
});

describe('crash-safe deaths: a dependency that lives but does not accept', () => {
  for (const [where, folder] of [
    ['', () => tempDir()],
    [
      ' (bound through /proc/self/fd)',
      () => {
        const dir = join(tempDir(), 'a-folder-name-of-forty-characters-long-', 'x'.repeat(60));
        mkdirSync(dir, { recursive: true });
        return dir;
      },
    ],
  ] as const) {
    it(
      `its socket's backlog full (its kubexit stopped)${where}: not taken for dead, the child starts, its later Died is acted on`,
      BOUNDED,
      async (t) => {
        const graveyard = folder();
        const main = stoppable(graveyard, 'main');
        await main.stdout(/ready/);
        await born(graveyard);
        const dirFd = openSync(graveyard, 'r'); // the test's own way to a path too long
        let pending: Socket[] = [];
        try {
          main.kill('SIGSTOP'); // kubexit alone: its child runs on
          pending = await fillBacklog(`/proc/self/fd/${dirFd}/.main.alive`);
          t.diagnostic(`${pending.length} connections fill its backlog`);

          const side = dependent(graveyard);
          const line = await Promise.race([
            side.stderr(/Liveness of main: [^"]*/),
            side.exited.then((e) => assert.fail(`the dependent ended (${e.code}):\n${e.stderr}`)),
          ]);
          assert.match(line[0], /backlog is full/);
          await side.stdout(/ready/);
          assert.equal(side.running, true, 'its child runs');

          main.kill('SIGCONT');
          main.kill('SIGUSR1'); // passed on: the child exits 0, Died is written
          assert.equal((await main.exited).code, 0);
          const exit = await side.exited;
          assert.match(exit.stdout, /got SIGTERM/);
          assert.equal(exit.code, 0, exit.stderr);
          assert.deepEqual(warnings(exit.logs, UNRECORDED), [], exit.stderr);
        } finally {
          for (const client of pending) client.destroy();
          closeSync(dirFd);
          if (main.running) main.kill('SIGCONT'); // a failed test: afterEach's KILL ends it
        }
      },
    );
  }
});

describe('crash-safe deaths: hostile things at a socket path', () => {
  for (const [what, plant] of [
    ['a regular file', (p: string) => writeFileSync(p, 'x')],
    ['a directory', (p: string) => mkdirSync(p)],
    ['a FIFO', (p: string) => execFileSync('mkfifo', [p])],
  ] as const) {
    it(
      `${what} at a dependency's socket path: no death, the tombstone decides`,
      BOUNDED,
      async () => {
        const graveyard = tempDir();
        writeFileSync(join(graveyard, 'main'), BORN);
        plant(join(graveyard, '.main.alive'));
        const side = dependent(graveyard);
        await side.stdout(/ready/);
        await side.stderr(new RegExp(`Liveness of main: ${what} at .*, not a socket`));
        assert.equal(side.running, true);
        writeFileSync(join(graveyard, 'main'), DEAD);
        const exit = await side.exited;
        assert.match(exit.stdout, /got SIGTERM/);
        assert.deepEqual(warnings(exit.logs, UNRECORDED), []);
      },
    );

    it(
      `${what} at our own socket path: one warning, left alone, the child's code`,
      BOUNDED,
      async () => {
        const graveyard = tempDir();
        const path = join(graveyard, '.main.alive');
        plant(path);
        const exit = await track(
          kubexit(['sh', '-c', 'exit 6'], { KUBEXIT_NAME: 'main', KUBEXIT_GRAVEYARD: graveyard }),
        ).exited;
        assert.equal(exit.code, 6, exit.stderr);
        const lines = exit.logs.filter((l) => l.level === 'warning');
        assert.equal(lines.length, 1, exit.stderr);
        assert.match(String(lines[0]?.error), new RegExp(`${what} is there`));
        assert.ok(!lstatSync(path).isSocket(), 'not replaced');
      },
    );
  }

  it(
    'a socket that sends garbage without end: dropped, no death, the tombstone decides',
    BOUNDED,
    async () => {
      const graveyard = tempDir();
      writeFileSync(join(graveyard, 'main'), BORN);
      const talker = foreignListener(join(graveyard, '.main.alive'), 'garbage');
      await talker.stdout(/listening/);
      const side = dependent(graveyard);
      await side.stdout(/ready/);
      await side.stderr(/Liveness of main: its socket sends data/);
      assert.equal(side.running, true);
      writeFileSync(join(graveyard, 'main'), DEAD);
      const exit = await side.exited;
      assert.match(exit.stdout, /got SIGTERM/);
      assert.deepEqual(warnings(exit.logs, UNRECORDED), []);
    },
  );

  it(
    'a socket that never accepts (its owner stopped): connected in its backlog, no death while it lives',
    BOUNDED,
    async () => {
      const graveyard = tempDir();
      writeFileSync(join(graveyard, 'main'), BORN);
      const mute = foreignListener(join(graveyard, '.main.alive'), 'silent');
      await mute.stdout(/listening/);
      process.kill(mute.proc.pid!, 'SIGSTOP');
      const side = dependent(graveyard);
      await side.stdout(/ready/);
      await side.stderr(CONNECTED('main'));
      assert.equal(side.running, true);
      writeFileSync(join(graveyard, 'main'), DEAD);
      const exit = await side.exited;
      assert.match(exit.stdout, /got SIGTERM/);
      assert.deepEqual(warnings(exit.logs, UNRECORDED), []);
    },
  );

  it(
    "clients of our own socket change nothing: over the cap they are dropped, data drops them, the child's code stands",
    BOUNDED,
    async () => {
      const graveyard = tempDir();
      const main = track(
        kubexit(['sh', '-c', 'trap "exit 9" USR1; echo ready; while :; do sleep 1; done'], {
          KUBEXIT_NAME: 'main',
          KUBEXIT_GRAVEYARD: graveyard,
        }),
      );
      // Born says the shell was started, not that its trap is set: a USR1 before it kills it.
      await main.stdout(/ready/);
      await born(graveyard);
      const path = join(graveyard, '.main.alive');
      assert.ok(lstatSync(path).isSocket());
      const before = readdirSync(`/proc/${main.pid}/fd`).length;
      const CAP = 256;
      let told = '';
      const clients = Array.from({ length: CAP + 44 }, () => {
        const c = createConnection(path);
        c.on('error', () => {});
        c.on('data', (d: Buffer) => (told += d.toString())); // one turned away is told so
        return { socket: c, closed: new Promise<void>((resolve) => c.on('close', resolve)) };
      });
      const open = new Set(clients);
      let dropped = 0;
      await new Promise<void>((resolve) => {
        for (const client of clients)
          void client.closed.then(() => {
            open.delete(client);
            if (++dropped === 44) resolve();
          });
      });
      assert.equal(told, 'full\n'.repeat(44), 'those over the cap are told, then closed');
      // The 256 it holds: each is dropped once it speaks.
      for (const { socket } of open) socket.write('hello');
      await Promise.all([...open].map((c) => c.closed));
      const after = readdirSync(`/proc/${main.pid}/fd`).length;
      assert.ok(after <= before, `${after} descriptors after, ${before} before`);
      main.kill('SIGUSR1');
      const exit = await main.exited;
      assert.equal(exit.code, 9, exit.stderr);
      assert.equal(readFileSync(join(graveyard, 'main'), 'utf8').match(GO_DEATH)?.[1], '9');
    },
  );
});
