// A graveyard that neighbouring containers abuse, by bug or by malice: whatever sits at a
// dependency's tombstone path, and the folder itself deleted or replaced, never hangs kubexit,
// grows it without bound, or costs it a real death. Real FIFOs, sockets, symlinks, sparse files,
// real inotify, and real kernel inotify limits (in a user namespace of the test's own).
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  closeSync,
  constants,
  existsSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import {
  FIXTURES,
  kubexit,
  ROOT,
  tombstone,
  traceEvents,
  Watched,
  type Exit,
  type Run,
} from './support/kubexit.js';
import { tempDir } from './support/temp.js';

const RECORDER = join(FIXTURES, 'recorder.mjs');
const BORN = 'Born: "2020-04-28T10:41:46.9926314Z"\n';
const DEAD =
  'Born: "2020-04-28T10:41:46.9926314Z"\nDied: "2020-04-28T10:41:47.0496314Z"\nExitCode: 0\n';
/** A test that fails (today's code hangs) instead of holding the whole run. */
const BOUNDED = { timeout: 20_000 };
const MiB = 1024 * 1024;

/** Runs of this file, so that one left frozen by a failed test is KILLed with its child. */
const runs: Watched[] = [];
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
  for (const run of runs.splice(0)) {
    if (!run.running) continue;
    const pid = run.proc.pid as number;
    let children: string[] = [];
    try {
      children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ');
    } catch {
      // already gone
    }
    for (const p of [pid, ...children.filter(Boolean).map(Number)]) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
});

function track<T extends Watched>(run: T): T {
  runs.push(run);
  return run;
}

/** A sidecar whose child reports signals and exits 0 on TERM; kubexit's traces as they happen. */
function sidecar(graveyard: string, deps: string): Run {
  return track(
    kubexit([process.execPath, RECORDER, '--exit-on', 'SIGTERM'], {
      KUBEXIT_NAME: 'sidecar',
      KUBEXIT_GRAVEYARD: graveyard,
      KUBEXIT_DEATH_DEPS: deps,
      KUBEXIT_INSTANT_LOGGING: 'true',
      KUBEXIT_VERBOSE_LEVEL: '1',
    }),
  );
}

/** The sidecar's child got the TERM of a death and exited 0 on it, and so did kubexit. */
async function stoppedByTheDeath(run: Watched): Promise<Exit> {
  const exit = await run.exited;
  assert.match(exit.stdout, /got SIGTERM/);
  assert.equal(exit.code, 0);
  return exit;
}

/** Another container's atomic write of its Died tombstone, over whatever was there. */
function writeDeath(path: string): void {
  const temp = `${path}.new`;
  writeFileSync(temp, DEAD);
  renameSync(temp, path);
}

function mkfifo(path: string): void {
  const made = spawnSync('mkfifo', [path]);
  assert.equal(made.status, 0, made.stderr?.toString());
}

/** Something that is not a tombstone, planted at `path`, and the log line it must earn. */
interface Hostile {
  what: string;
  plant(path: string): void;
  logged: RegExp;
  /** How the real tombstone replaces it (default: an atomic rename over it). */
  replace?(path: string): void;
}

const HOSTILE: Hostile[] = [
  {
    what: 'a FIFO nobody writes to',
    plant: mkfifo,
    logged: /a FIFO/,
  },
  {
    what: 'a FIFO held open by a writer, with a death written into it',
    plant(path) {
      mkfifo(path);
      // O_RDWR does not wait for a reader: this process is the writer that never closes.
      const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
      writeSync(fd, DEAD);
      cleanups.push(() => closeSync(fd));
    },
    logged: /a FIFO/,
  },
  {
    what: 'a symlink to /dev/zero',
    plant: (path) => symlinkSync('/dev/zero', path),
    logged: /a symbolic link \(to \/dev\/zero\)/,
  },
  {
    what: 'a symlink to /dev/urandom',
    plant: (path) => symlinkSync('/dev/urandom', path),
    logged: /a symbolic link/,
  },
  {
    what: 'a symlink to a 300 MB file',
    plant(path) {
      const big = join(tempDir(), 'big');
      writeFileSync(big, '');
      truncateSync(big, 300_000_000);
      symlinkSync(big, path);
    },
    logged: /a symbolic link/,
  },
  {
    what: 'a dangling symlink',
    plant: (path) => symlinkSync(join(tempDir(), 'nowhere'), path),
    logged: /a symbolic link/,
  },
  {
    what: 'a directory',
    plant: (path) => mkdirSync(path),
    logged: /a directory/,
    replace(path) {
      rmSync(path, { recursive: true });
      writeDeath(path);
    },
  },
  {
    what: 'a listening socket',
    plant(path) {
      const server = createServer().listen(path);
      cleanups.push(() => server.close());
    },
    logged: /a socket/,
  },
  {
    what: 'a 300 MB sparse file, then a death written in place',
    plant(path) {
      writeFileSync(path, BORN);
      truncateSync(path, 300_000_000);
    },
    logged: /larger than the 4096-byte cap/,
    replace(path) {
      // As a Go kubexit writes: truncate, then write, in the same file.
      const fd = openSync(path, 'w');
      writeSync(fd, DEAD);
      closeSync(fd);
    },
  },
  {
    what: 'a file that keeps growing',
    plant(path) {
      writeFileSync(path, BORN);
      // Valid YAML all along: only its size can make it wrong. Through a descriptor, so that
      // this file, not the real tombstone renamed over it, keeps growing: appends by path
      // pushed the death past the cap too before a slow kubexit read it, and it was never seen.
      const fd = openSync(path, 'a');
      const timer = setInterval(() => appendFileSync(fd, `# ${'x'.repeat(200)}\n`), 1);
      cleanups.push(() => {
        clearInterval(timer);
        closeSync(fd);
      });
    },
    logged: /larger than the 4096-byte cap/,
  },
];

describe('hostile files at a dependency tombstone path', () => {
  for (const hostile of HOSTILE) {
    it(`${hostile.what}: logged once, no news, the real death later seen`, BOUNDED, async () => {
      const graveyard = tempDir();
      const path = join(graveyard, 'main');
      const run = sidecar(graveyard, 'main');
      await run.stdout(/ready/);
      hostile.plant(path);
      await run.stderr(new RegExp(`Ignoring tombstone main: ${hostile.logged.source}`));
      // More events on the same thing: read again, not logged again.
      lutimesSync(path, new Date(), new Date());
      lutimesSync(path, new Date(), new Date());
      (hostile.replace ?? writeDeath)(path);
      const exit = await run.exited;
      assert.match(exit.stdout, /got SIGTERM/, 'the real death was acted on');
      assert.equal(exit.code, 0);
      const events = traceEvents(exit.logs.at(-1), 'death graveyard watcher');
      assert.equal(events.filter((e) => e.startsWith('Ignoring tombstone main')).length, 1);
      assert.ok(events.includes('New death: main'));
      assert.ok(!events.some((e) => e.startsWith('Handler error')), events.join('\n'));
    });
  }

  it('logs again when a hostile file comes back after something else', BOUNDED, async () => {
    const graveyard = tempDir();
    const path = join(graveyard, 'main');
    const run = sidecar(graveyard, 'main');
    await run.stdout(/ready/);
    symlinkSync('/dev/zero', path);
    await run.stderr(/Ignoring tombstone main: a symbolic link/);
    // Something else wrong in between (a garbage tombstone: its own line), then the link again.
    rmSync(path);
    writeFileSync(path, '- not a tombstone\n');
    await run.stderr(/Handler error: failed to read tombstone main/);
    rmSync(path);
    symlinkSync('/dev/zero', path);
    await run.stderr(/Ignoring tombstone main: a symbolic link[^]*Ignoring tombstone main/);
    writeDeath(path);
    assert.equal((await run.exited).code, 0);
  });

  it(
    'a FIFO at the dependency name from the start: SIGTERM still reaches the child, and its exit code is ours',
    BOUNDED,
    async () => {
      const graveyard = tempDir();
      mkfifo(join(graveyard, 'main'));
      const run = track(
        kubexit(
          [
            'sh',
            '-c',
            "trap 'kill $!; exit 7' TERM; sleep 60 </dev/null >/dev/null 2>&1 & echo ready; wait",
          ],
          {
            KUBEXIT_NAME: 'app',
            KUBEXIT_GRAVEYARD: graveyard,
            KUBEXIT_DEATH_DEPS: 'main',
            KUBEXIT_INSTANT_LOGGING: 'true',
          },
        ),
      );
      await run.stdout(/ready/);
      await run.stderr(/Ignoring tombstone main: a FIFO/);
      run.kill('SIGTERM');
      const exit = await run.exited;
      assert.equal(exit.code, 7);
      assert.match(
        readFileSync(join(graveyard, 'app'), 'utf8'),
        /\nExitCode: 7\n(?:Ready: "[^"]+"\n)?$/,
      );
    },
  );

  it(
    'a FIFO for one dependency does not stop the death of another from being acted on',
    BOUNDED,
    async () => {
      const graveyard = tempDir();
      const run = sidecar(graveyard, 'a,b');
      await run.stdout(/ready/);
      mkfifo(join(graveyard, 'a'));
      await run.stderr(/Ignoring tombstone a: a FIFO/);
      writeDeath(join(graveyard, 'b'));
      const exit = await stoppedByTheDeath(run);
      assert.ok(traceEvents(exit.logs.at(-1), 'death graveyard watcher').includes('New death: b'));
    },
  );

  it(
    'a 300 MB file and a symlink to /dev/zero are not read: memory stays bounded, signals still work',
    BOUNDED,
    async () => {
      const graveyard = tempDir();
      const run = sidecar(graveyard, 'big,zero');
      await run.stdout(/ready/);
      writeFileSync(join(graveyard, 'big'), '');
      truncateSync(join(graveyard, 'big'), 300_000_000);
      symlinkSync('/dev/zero', join(graveyard, 'zero'));
      await run.stderr(/Ignoring tombstone big: larger than the 4096-byte cap/);
      await run.stderr(/Ignoring tombstone zero: a symbolic link/);
      // The peak, not the current size: a big read that was already freed still shows.
      const status = readFileSync(`/proc/${run.pid}/status`, 'utf8');
      const peakKiB = Number(/^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1]);
      assert.ok(peakKiB * 1024 < 200 * MiB, `peak RSS ${peakKiB} KiB`);
      run.kill('SIGTERM');
      await stoppedByTheDeath(run);
    },
  );
});

describe('the graveyard folder deleted or replaced while watched', () => {
  it('rm -rf and mkdir again: a death written into the new folder is seen', BOUNDED, async () => {
    const graveyard = join(tempDir(), 'graveyard');
    const run = sidecar(graveyard, 'main');
    await run.stdout(/ready/);
    rmSync(graveyard, { recursive: true });
    mkdirSync(graveyard);
    writeFileSync(join(graveyard, 'main'), DEAD);
    const exit = await stoppedByTheDeath(run);
    const events = traceEvents(exit.logs.at(-1), 'death graveyard watcher');
    assert.ok(events.includes('New death: main'));
    assert.ok(
      events.some((e) => /folder .*(gone|replaced)/.test(e)),
      events.join('\n'),
    );
  });

  it(
    'renamed away and a new one made: a death written into the new folder is seen',
    BOUNDED,
    async () => {
      const base = tempDir();
      const graveyard = join(base, 'graveyard');
      const run = sidecar(graveyard, 'main');
      await run.stdout(/ready/);
      renameSync(graveyard, join(base, 'old'));
      mkdirSync(graveyard);
      writeFileSync(join(graveyard, 'main'), DEAD);
      await stoppedByTheDeath(run);
    },
  );

  it(
    'the folder and its parent deleted: kubexit waits in the nearest folder left, and sees a death once they are back',
    BOUNDED,
    async () => {
      const base = tempDir();
      const graveyard = join(base, 'shared', 'graveyard');
      const run = sidecar(graveyard, 'main');
      await run.stdout(/ready/);
      rmSync(join(base, 'shared'), { recursive: true });
      // The path ends where the JSON string does: `${base}\b` also matched a line for
      // base/shared, which kubexit may log on its way up (shared is deleted after graveyard).
      const waitingIn = (dir: string): string => `waiting for it in ${dir}"`;
      await run.stderr(new RegExp(waitingIn(base)));
      mkdirSync(join(base, 'shared'));
      await run.stderr(new RegExp(`${waitingIn(base)}[^]*${waitingIn(`${base}/shared`)}`));
      mkdirSync(graveyard);
      await run.stderr(/folder is back/);
      writeFileSync(join(graveyard, 'main'), DEAD);
      await stoppedByTheDeath(run);
    },
  );

  it(
    'a dependency that died while the folder was missing is seen when it comes back',
    BOUNDED,
    async () => {
      const base = tempDir();
      const graveyard = join(base, 'graveyard');
      const run = sidecar(graveyard, 'main');
      await run.stdout(/ready/);
      rmSync(graveyard, { recursive: true });
      await run.stderr(/waiting for it in/);
      // Made elsewhere, complete, then moved into place: no event inside the new folder at all.
      const next = join(base, 'next');
      mkdirSync(next);
      writeFileSync(join(next, 'main'), DEAD);
      renameSync(next, graveyard);
      assert.equal((await run.exited).code, 0);
    },
  );

  it(
    'deleted and re-created 100 times in a row: no inotify watch left behind, and a death still seen',
    BOUNDED,
    async () => {
      const graveyard = join(tempDir(), 'graveyard');
      const run = sidecar(graveyard, 'main,marker');
      await run.stdout(/ready/);
      for (let i = 0; i < 100; i++) {
        rmSync(graveyard, { recursive: true });
        mkdirSync(graveyard);
      }
      // Seen whichever way kubexit got here: an event in the folder, or the read of it whole.
      writeFileSync(join(graveyard, 'marker'), '- not a tombstone\n');
      await run.stderr(/Handler error: failed to read tombstone marker/);
      assert.ok(inotifyWatches(run.pid) <= 1, 'every replaced watch was closed');
      writeFileSync(join(graveyard, 'main'), DEAD);
      await stoppedByTheDeath(run);
    },
  );
});

/** The inotify watches a process holds, from the kernel's own account of its inotify fds. A
 * watch seen through two fds of one instance (Bun reads a dup of kubexit's) counts once. */
function inotifyWatches(pid: number): number {
  const watches = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    try {
      const info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
      for (const l of info.split('\n')) if (l.startsWith('inotify wd:')) watches.add(l);
    } catch {
      // closed meanwhile
    }
  }
  return watches.size;
}

/** kubexit in a user namespace of its own, whose inotify limit is set to 0: the kernel's real
 * EMFILE or ENOSPC, without touching the node-wide sysctl that other processes rely on. */
function underInotifyLimit(
  limit: 'instances' | 'watches',
  command: string[],
  env: Record<string, string>,
): Watched {
  const bin = process.env.KUBEXIT_BIN;
  const cmd = bin ? [bin] : [process.execPath, join(ROOT, 'dist', 'kubexit.js')];
  const script = `echo 0 > /proc/sys/user/max_inotify_${limit} && exec "$@"`;
  return track(
    new Watched(
      spawn(
        'unshare',
        ['--user', '--map-root-user', 'sh', '-c', script, 'sh', ...cmd, ...command],
        {
          env: { ...process.env, ...env },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      ),
    ),
  );
}

const userNamespaces =
  spawnSync('unshare', [
    '--user',
    '--map-root-user',
    'sh',
    '-c',
    'echo 1 > /proc/sys/user/max_inotify_instances',
  ]).status === 0
    ? false
    : 'cannot make a user namespace with its own inotify limits here (unshare --user)';

describe('inotify limits', () => {
  const cases = [
    { limit: 'instances', errno: 'EMFILE', sysctl: 'fs.inotify.max_user_instances' },
    { limit: 'watches', errno: 'ENOSPC', sysctl: 'fs.inotify.max_user_watches' },
  ] as const;
  for (const { limit, errno, sysctl } of cases) {
    it(
      `no inotify ${limit} left (${errno}): one error naming ${sysctl}, exit 1, the child never started, Died written`,
      { skip: userNamespaces, ...BOUNDED },
      async () => {
        const graveyard = tempDir();
        const marker = join(tempDir(), 'ran');
        const run = underInotifyLimit(limit, ['touch', marker], {
          KUBEXIT_NAME: 'app',
          KUBEXIT_GRAVEYARD: graveyard,
          KUBEXIT_DEATH_DEPS: 'main',
        });
        const exit = await run.exited;
        assert.equal(existsSync(marker), false, 'the child was never started');
        assert.equal(exit.code, 1);
        assert.equal(exit.logs.length, 2, exit.stderr); // `initialized`, then the one error
        const error = exit.logs.at(-1);
        assert.equal(error?.level, 'error');
        assert.match(String(error?.error), new RegExp(errno));
        assert.match(
          String(error?.error),
          new RegExp(`sysctl -w ${sysctl.replace(/\./g, '\\.')}=`),
        );
        assert.ok(
          !traceEvents(error, 'supervisor').some((e) => e.startsWith('Start:')),
          'the child was never started',
        );
        assert.match(
          readFileSync(join(graveyard, 'app'), 'utf8'),
          /^Died: "[^"]+"\nExitCode: 1\n$/,
        );
      },
    );
  }

  it(
    'a watch lost after the start (no inotify watch left when the folder is re-created): one error line, retried until it holds, the death then seen',
    { skip: userNamespaces, ...BOUNDED },
    async () => {
      const graveyard = tempDir();
      const gate = join(tempDir(), 'gate');
      execFileSync('mkfifo', [gate]);
      // The child, in kubexit's user namespace, takes every inotify watch away, then gives them
      // back when the test says so.
      const limit = '/proc/sys/user/max_inotify_watches';
      const child = [
        "trap 'kill $!; exit 0' TERM",
        `echo 0 > ${limit}`,
        'echo lowered',
        'read line < "$0"',
        `echo 100000 > ${limit}`,
        'sleep 60 </dev/null >/dev/null 2>&1 &',
        'echo raised',
        'wait',
      ].join('\n');
      const bin = process.env.KUBEXIT_BIN;
      const cmd = bin ? [bin] : [process.execPath, join(ROOT, 'dist', 'kubexit.js')];
      const run = track(
        new Watched(
          spawn('unshare', ['--user', '--map-root-user', ...cmd, 'sh', '-c', child, gate], {
            env: {
              ...process.env,
              KUBEXIT_NAME: 'app',
              KUBEXIT_GRAVEYARD: graveyard,
              KUBEXIT_DEATH_DEPS: 'main',
            },
            stdio: ['ignore', 'pipe', 'pipe'],
          }),
        ),
      );
      await run.stdout(/lowered/);
      // kubexit writes Born once its child runs: after that, nothing of its own is written there.
      await tombstone(graveyard, 'app', (t) => t.startsWith('Born'));
      rmSync(graveyard, { recursive: true });
      await run.stderr(/graveyard watch lost/);
      mkdirSync(graveyard);
      writeFileSync(gate, 'go\n');
      await run.stdout(/raised/);
      writeFileSync(join(graveyard, 'main'), 'Died: "2020-04-28T10:41:47Z"\nExitCode: 0\n');
      const exit = await run.exited;
      assert.equal(exit.code, 0, exit.stderr);
      const errors = exit.logs.filter((l) => l.level === 'error');
      assert.equal(errors.length, 1, exit.stderr);
      assert.match(String(errors[0]?.error), /ENOSPC/);
      assert.match(
        readFileSync(join(graveyard, 'app'), 'utf8'),
        /\nExitCode: 0\n(?:Ready: "[^"]+"\n)?$/,
      );
    },
  );
});
