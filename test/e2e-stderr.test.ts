// kubexit's stderr must never steer the supervision: a reader that stops reading (a full pipe)
// or goes away (EPIPE) changes nothing for the child, the tombstone or the exit code.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants, openSync, writeFileSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FIXTURES, ROOT, tombstone, Watched } from './support/kubexit.js';
import { tempDir } from './support/temp.js';

const RECORDER = join(FIXTURES, 'recorder.mjs');
const DEAD = 'Born: "2020-04-28T10:41:46.9926314Z"\nDied: "2020-04-28T10:41:47Z"\nExitCode: 0\n';
// A stuck stderr used to hang kubexit for good: a test that fails must fail, not hang.
const TIMEOUT = { timeout: 30_000 };

/** A real pipe (a FIFO) for kubexit's stderr, read by the test only when it wants to. */
class Pipe {
  readonly path: string;
  readonly readFd: number;
  /** The end kubexit gets as fd 2: blocking, as a container runtime hands it over. */
  readonly writeFd: number;

  constructor() {
    this.path = join(tempDir(), 'stderr');
    execFileSync('mkfifo', [this.path]);
    this.readFd = openSync(this.path, constants.O_RDONLY | constants.O_NONBLOCK);
    this.writeFd = openSync(this.path, constants.O_WRONLY);
  }

  /** Fills the pipe to the brim, as a log reader that stopped long ago would leave it. */
  fill(): void {
    const fd = openSync(this.path, constants.O_WRONLY | constants.O_NONBLOCK);
    const filler = Buffer.from('{"filler":"' + 'x'.repeat(4000) + '"}\n');
    try {
      for (;;) writeSync(fd, filler);
    } catch (err) {
      assert.equal((err as NodeJS.ErrnoException).code, 'EAGAIN');
    } finally {
      closeSync(fd);
    }
  }

  /** The reader goes away: every write to the pipe now fails with EPIPE. */
  closeReader(): void {
    closeSync(this.readFd);
  }

  /** From now on, reads everything that comes through, as a log reader that resumed. */
  resume(): Reader {
    return new Reader(new Socket({ fd: this.readFd, readable: true, writable: false }));
  }
}

/** What came through the pipe so far, and a wait for what should come. */
class Reader {
  private text = '';
  private readonly waiters: { pattern: RegExp; resolve: () => void }[] = [];

  constructor(socket: Socket) {
    socket.setEncoding('utf8').on('data', (d: string) => {
      this.text += d;
      for (const w of [...this.waiters]) {
        if (!w.pattern.test(this.text)) continue;
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve();
      }
    });
  }

  until(pattern: RegExp): Promise<void> {
    if (pattern.test(this.text)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ pattern, resolve }));
  }
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const proc of live) proc.kill('SIGKILL');
});

/** kubexit (node dist/kubexit.js, or KUBEXIT_BIN) with the given stderr and a piped stdout. */
function run(
  args: readonly string[],
  env: Record<string, string>,
  stderr: number | 'pipe',
): Watched & { pid: number; kill(sig: NodeJS.Signals): void } {
  const bin = process.env.KUBEXIT_BIN;
  const [file, pre] = bin ? [bin, []] : [process.execPath, [join(ROOT, 'dist', 'kubexit.js')]];
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('KUBEXIT_')),
  );
  const proc = spawn(file, [...pre, ...args], {
    env: { ...base, ...env },
    stdio: ['ignore', 'pipe', stderr],
  });
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  // kubexit has its own copy: without ours, a resumed reader sees the end once kubexit is gone.
  if (typeof stderr === 'number') closeSync(stderr);
  const watched = new Watched(proc);
  return Object.assign(watched, {
    pid: proc.pid as number,
    kill: (sig: NodeJS.Signals) => process.kill(proc.pid as number, sig),
  });
}

const chatty = (graveyard: string): Record<string, string> => ({
  KUBEXIT_NAME: 'app',
  KUBEXIT_GRAVEYARD: graveyard,
  KUBEXIT_INSTANT_LOGGING: 'true',
  KUBEXIT_VERBOSE_LEVEL: '1',
});

describe('a stderr nobody drains', () => {
  it(
    'does not hold back the TERM, the Died tombstone or the exit code after a death',
    TIMEOUT,
    async () => {
      const graveyard = tempDir();
      const pipe = new Pipe();
      pipe.fill();
      const kx = run(
        [process.execPath, RECORDER, '--exit-on', 'SIGTERM'],
        { ...chatty(graveyard), KUBEXIT_DEATH_DEPS: 'dep', KUBEXIT_GRACE_PERIOD: '10m' },
        pipe.writeFd,
      );
      await kx.stdout(/ready\n/);
      // A flapping dependency: a trace line per change, on top of a pipe that is already full.
      for (let i = 0; i < 500; i++) {
        writeFileSync(join(graveyard, 'dep'), `Born: "2020-04-28T10:41:46.${i}Z"\n`);
      }
      writeFileSync(join(graveyard, 'dep'), DEAD);
      await kx.stdout(/got SIGTERM\n/);
      const exit = await kx.exited;
      assert.equal(exit.code, 0, "the child's own code");
      assert.match(
        await tombstone(graveyard, 'app'),
        /Died: "[^"]+"\nExitCode: 0\n(?:Ready: "[^"]+"\n)?$/,
      );
    },
  );

  it('does not hold back the KILL at the end of the grace period', TIMEOUT, async () => {
    const graveyard = tempDir();
    const pipe = new Pipe();
    pipe.fill();
    const kx = run(
      ['sh', '-c', 'trap "" TERM; echo ready; exec sleep 600'],
      { ...chatty(graveyard), KUBEXIT_DEATH_DEPS: 'dep', KUBEXIT_GRACE_PERIOD: '100ms' },
      pipe.writeFd,
    );
    await kx.stdout(/ready\n/);
    writeFileSync(join(graveyard, 'dep'), DEAD);
    const exit = await kx.exited;
    assert.equal(exit.code, 137, 'killed after the grace period');
    assert.match(
      await tombstone(graveyard, 'app'),
      /Died: "[^"]+"\nExitCode: 137\n(?:Ready: "[^"]+"\n)?$/,
    );
  });

  it('does not hold back forwarded signals', TIMEOUT, async () => {
    const graveyard = tempDir();
    const pipe = new Pipe();
    pipe.fill();
    const kx = run(
      [process.execPath, RECORDER, '--exit-on', 'SIGTERM'],
      chatty(graveyard),
      pipe.writeFd,
    );
    await kx.stdout(/ready\n/);
    for (let i = 1; i <= 200; i++) {
      kx.kill('SIGUSR1');
      await kx.stdout(new RegExp(`ready\\n(got SIGUSR1\\n){${i}}`));
    }
    kx.kill('SIGTERM');
    const exit = await kx.exited;
    assert.equal(exit.code, 0);
    assert.match(
      await tombstone(graveyard, 'app'),
      /Died: "[^"]+"\nExitCode: 0\n(?:Ready: "[^"]+"\n)?$/,
    );
  });

  it('lets the held-back lines out, in order, once the reader resumes', TIMEOUT, async () => {
    const graveyard = tempDir();
    const pipe = new Pipe();
    pipe.fill();
    const kx = run(
      [process.execPath, RECORDER, '--exit-on', 'SIGTERM'],
      chatty(graveyard),
      pipe.writeFd,
    );
    await kx.stdout(/ready\n/);
    const reader = pipe.resume();
    await reader.until(/"message":"kubexit initialized"[^]*"event":"Start: /);
    await reader.until(/"event":"Creating tombstone: /);
    kx.kill('SIGTERM');
    assert.equal((await kx.exited).code, 0);
    await reader.until(/"message":"supervising proceed successfully"/);
  });

  it("leaves the child's stderr blocking", TIMEOUT, async () => {
    const pipe = new Pipe();
    const reader = pipe.resume();
    const kx = run(
      ['sh', '-c', 'exec grep -h "^flags" /proc/self/fdinfo/2'],
      chatty(tempDir()),
      pipe.writeFd,
    );
    const exit = await kx.exited;
    assert.equal(exit.code, 0);
    const flags = /flags:\s+(\d+)/.exec(exit.stdout)?.[1];
    assert.ok(flags !== undefined, exit.stdout);
    // octal; 04000 is O_NONBLOCK: kubexit's own non-blocking writes must not leak to the child
    assert.equal(Number.parseInt(flags, 8) & 0o4000, 0);
    await reader.until(/"event":"Start: /); // and kubexit did write to that same pipe
  });
});

describe('a stderr whose reader went away', () => {
  interface Closed {
    /** kubexit's stderr */
    stderr(): number | 'pipe';
    /** Once the child runs: the reader goes (if it hasn't yet), and kubexit writes a line. */
    leave(kx: ReturnType<typeof run>): Promise<void>;
  }
  const kinds: Record<string, Closed> = {
    'a pipe closed before the start': {
      stderr: () => {
        const pipe = new Pipe();
        pipe.closeReader();
        return pipe.writeFd;
      },
      leave: async () => {},
    },
    'a pipe whose reader leaves while the child runs': (() => {
      let pipe: Pipe | undefined;
      return {
        stderr: () => {
          pipe = new Pipe();
          return pipe.writeFd;
        },
        leave: async (kx) => {
          pipe?.closeReader();
          kx.kill('SIGUSR2'); // "Received signal: user defined signal 2": EPIPE
          await kx.stdout(/got SIGUSR2\n/);
        },
      };
    })(),
    // Node's 'pipe' is a socket pair: the other common kind of log stream (journald's, too).
    'a socket': {
      stderr: () => 'pipe',
      leave: async () => {},
    },
  };

  for (const [kind, closed] of Object.entries(kinds)) {
    const start = async (graveyard: string): Promise<ReturnType<typeof run>> => {
      const args = [process.execPath, RECORDER, '--exit-on', 'SIGUSR1'];
      const kx = run(args, chatty(graveyard), closed.stderr());
      kx.proc.stderr?.destroy();
      await kx.stdout(/ready\n/);
      await tombstone(graveyard, 'app', (t) => t.startsWith('Born'));
      await closed.leave(kx);
      return kx;
    };

    it(
      `kubexit's own SIGPIPE (${kind}) never reaches the child nor changes its exit code`,
      TIMEOUT,
      async () => {
        const graveyard = tempDir();
        const kx = await start(graveyard);
        // Signals are handled in the order they come: what kubexit's own writes raised before
        // this USR1 has been dealt with by the time the child gets it.
        kx.kill('SIGUSR1');
        const exit = await kx.exited;
        assert.doesNotMatch(exit.stdout, /got SIGPIPE/);
        assert.equal(exit.code, 0);
        assert.match(
          await tombstone(graveyard, 'app'),
          /Died: "[^"]+"\nExitCode: 0\n(?:Ready: "[^"]+"\n)?$/,
        );
      },
    );

    it(`a SIGPIPE sent to kubexit (${kind}) is still forwarded`, TIMEOUT, async () => {
      const kx = await start(tempDir());
      kx.kill('SIGPIPE');
      await kx.stdout(/got SIGPIPE\n/);
      kx.kill('SIGUSR1');
      const exit = await kx.exited;
      assert.equal(exit.stdout.match(/got SIGPIPE/g)?.length, 1, exit.stdout);
      assert.equal(exit.code, 0);
    });
  }
});
