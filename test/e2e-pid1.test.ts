// KUBEXIT_KILL_GROUP (the child's whole process group) and kubexit's duties as PID 1 (reaping
// the orphans its child leaves), with real processes, real signals and a real PID namespace.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FIXTURES, kubexit, ROOT, tombstone, traceEvents, Watched } from './support/kubexit.js';
import { tempDir } from './support/temp.js';

const RECORDER = join(FIXTURES, 'recorder.mjs');
const NODE = process.execPath;
const executable = process.env.KUBEXIT_BIN !== undefined && process.env.KUBEXIT_BIN !== '';

/** Grandchildren a test started, killed when the file ends if a failed test left them. */
const grandchildren = new Set<number>();
after(() => {
  for (const pid of grandchildren) if (runs(pid)) process.kill(pid, 'SIGKILL');
});

/** Whether `pid` runs: it exists and is not a zombie waiting for its parent. */
function runs(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** A shell that starts the signal recorder in the background: a grandchild of kubexit. */
function shellWithGrandchild(exitOn: string, trap = ''): string[] {
  return ['sh', '-c', `${trap}"${NODE}" "${RECORDER}" --exit-on ${exitOn} & echo gc=$!; wait`];
}

async function grandchildOf(run: Watched): Promise<number> {
  const pid = Number((await run.stdout(/gc=(\d+)/))[1]);
  grandchildren.add(pid);
  await run.stdout(/ready/);
  return pid;
}

/** On today's code a test waits for what never comes: it fails on its own, not the file. */
const LIMIT = { timeout: 15_000 };

const DIED = 'Born: "2026-01-01T00:00:00Z"\nDied: "2026-01-01T00:00:01Z"\nExitCode: 0\n';

describe('KUBEXIT_KILL_GROUP', () => {
  it('the death signal reaches a grandchild behind sh -c', LIMIT, async () => {
    const graveyard = tempDir();
    const run = kubexit(shellWithGrandchild('SIGTERM'), {
      KUBEXIT_NAME: 'sidecar',
      KUBEXIT_GRAVEYARD: graveyard,
      KUBEXIT_DEATH_DEPS: 'main',
      KUBEXIT_KILL_GROUP: 'true',
    });
    const gc = await grandchildOf(run);
    writeFileSync(join(graveyard, 'main'), DIED);
    // Not kubexit's exit first: a grandchild left running holds its stdout open.
    await tombstone(graveyard, 'sidecar');
    assert.equal(runs(gc), false, 'the grandchild has ended when Died is written');
    const exit = await run.exited;
    assert.match(exit.stdout, /got SIGTERM/, 'the grandchild got the death signal');
    assert.equal(exit.code, 143, 'the shell itself ended by the TERM');
  });

  it('the KILL after the grace period reaches a grandchild behind sh -c', LIMIT, async () => {
    const graveyard = tempDir();
    // Both the shell and its grandchild ignore TERM: only the KILL ends them.
    const grandchild = `sh -c 'trap "" TERM; echo ready; exec sleep 1000'`;
    const run = kubexit(['sh', '-c', `trap "" TERM; ${grandchild} & echo gc=$!; wait`], {
      KUBEXIT_NAME: 'sidecar',
      KUBEXIT_GRAVEYARD: graveyard,
      KUBEXIT_DEATH_DEPS: 'main',
      KUBEXIT_KILL_GROUP: 'true',
      KUBEXIT_GRACE_PERIOD: '200ms',
    });
    const gc = await grandchildOf(run);
    writeFileSync(join(graveyard, 'main'), DIED);
    await tombstone(graveyard, 'sidecar');
    assert.equal(runs(gc), false, 'the grandchild has ended when Died is written');
    const exit = await run.exited;
    assert.equal(exit.code, 137);
  });

  it('forwarded signals reach a grandchild behind sh -c', LIMIT, async () => {
    const run = kubexit(shellWithGrandchild('SIGUSR1'), {
      KUBEXIT_NAME: 'app',
      KUBEXIT_GRAVEYARD: tempDir(),
      KUBEXIT_KILL_GROUP: 'true',
    });
    await grandchildOf(run);
    run.kill('SIGUSR1');
    await run.stdout(/got SIGUSR1/); // the grandchild got the forwarded signal
    const exit = await run.exited;
    assert.equal(exit.signal, null);
  });

  it(
    'TERMs what is left of the group after the child exits, before writing Died',
    LIMIT,
    async () => {
      const graveyard = tempDir();
      // The shell exits 5 on USR2 (which the recorder only records), leaving the recorder behind.
      const run = kubexit(shellWithGrandchild('SIGTERM', 'trap "exit 5" USR2; '), {
        KUBEXIT_NAME: 'app',
        KUBEXIT_GRAVEYARD: graveyard,
        KUBEXIT_KILL_GROUP: 'true',
        KUBEXIT_VERBOSE_LEVEL: '1',
      });
      const gc = await grandchildOf(run);
      run.kill('SIGUSR2');
      await tombstone(graveyard, 'app');
      assert.equal(runs(gc), false, 'the grandchild has ended when Died is written');
      const exit = await run.exited;
      assert.match(exit.stdout, /got SIGTERM/);
      assert.equal(exit.code, 5, "the child's own exit code");
      assert.match(
        readFileSync(join(graveyard, 'app'), 'utf8'),
        /ExitCode: 5\n(?:Ready: "[^"]+"\n)?$/,
      );
      const events = traceEvents(exit.logs.at(-1), 'supervisor');
      assert.ok(events.includes('Terminating what is left of the process group'), String(events));
    },
  );

  it(
    'KILLs what is left of the group after the grace period, before writing Died',
    LIMIT,
    async () => {
      const graveyard = tempDir();
      // A grandchild that ignores TERM (an ignored signal stays ignored across exec), and USR2,
      // on which the shell exits 4.
      const grandchild = `sh -c 'trap "" TERM USR2; echo ready; exec sleep 1000'`;
      const run = kubexit(['sh', '-c', `trap "exit 4" USR2; ${grandchild} & echo gc=$!; wait`], {
        KUBEXIT_NAME: 'app',
        KUBEXIT_GRAVEYARD: graveyard,
        KUBEXIT_KILL_GROUP: 'true',
        KUBEXIT_GRACE_PERIOD: '200ms',
        KUBEXIT_VERBOSE_LEVEL: '1',
      });
      const gc = await grandchildOf(run);
      run.kill('SIGUSR2');
      await tombstone(graveyard, 'app');
      assert.equal(runs(gc), false, 'the grandchild has ended when Died is written');
      const exit = await run.exited;
      assert.equal(exit.code, 4);
      const events = traceEvents(exit.logs.at(-1), 'supervisor');
      assert.ok(events.includes('Killing what is left of the process group'), String(events));
    },
  );

  it('leaves the grandchild alone when unset', LIMIT, async () => {
    const graveyard = tempDir();
    const run = kubexit(shellWithGrandchild('SIGTERM', 'trap "exit 5" USR2; '), {
      KUBEXIT_NAME: 'app',
      KUBEXIT_GRAVEYARD: graveyard,
    });
    const gc = await grandchildOf(run);
    run.kill('SIGUSR2');
    await tombstone(graveyard, 'app');
    assert.equal(runs(gc), true, "today's behaviour: the shell's background job outlives it");
    process.kill(gc, 'SIGKILL'); // it holds kubexit's stdout open
    const exit = await run.exited;
    assert.equal(exit.code, 5);
  });
});

describe('PID 1', () => {
  // The child leaves 100 orphans (each `true` backgrounded by a subshell that exits at once);
  // they are re-parented to kubexit, PID 1 of the namespace. Nothing announces a reap, so the
  // child looks at /proc until none of them runs and the zombies number what is expected (or
  // gives up after 150 looks), then prints what it saw and exits 7.
  const child = (expectedZombies: number): string[] => [
    'sh',
    '-c',
    `for i in $(seq 100); do (true &); done
    tries=0
    while :; do
      live=0; zombies=0
      for f in /proc/[0-9]*/stat; do
        read -r pid comm state ppid rest < "$f" 2>/dev/null || continue
        [ "$ppid" = 1 ] && [ "$pid" != $$ ] || continue
        if [ "$state" = Z ]; then zombies=$((zombies+1)); else live=$((live+1)); fi
      done
      [ $live = 0 ] && [ $zombies = ${expectedZombies} ] && break
      tries=$((tries+1)); [ $tries -ge 150 ] && break
      sleep 0.01
    done
    echo "orphans running=$live zombies=$zombies"
    exit 7`,
  ];

  function asPid1(command: string[]): Watched & { graveyard: string } {
    const graveyard = tempDir();
    const [file, pre] = executable
      ? [process.env.KUBEXIT_BIN as string, []]
      : [NODE, [join(ROOT, 'dist', 'kubexit.js')]];
    const proc = spawn('unshare', ['--pid', '--fork', '--mount-proc', file, ...pre, ...command], {
      env: { ...process.env, KUBEXIT_NAME: 'app', KUBEXIT_GRAVEYARD: graveyard },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return Object.assign(new Watched(proc), { graveyard });
  }

  const root = process.getuid?.() === 0 ? false : 'a new PID namespace needs root';

  it(
    'the executable reaps the orphans of its child, and keeps its exit code',
    {
      ...LIMIT,
      skip: root || (executable ? false : 'the node build cannot waitpid: see the next test'),
    },
    async () => {
      const run = asPid1(child(0));
      const exit = await run.exited;
      assert.match(exit.stdout, /orphans running=0 zombies=0\n/);
      assert.equal(exit.code, 7);
      assert.match(
        readFileSync(join(run.graveyard, 'app'), 'utf8'),
        /ExitCode: 7\n(?:Ready: "[^"]+"\n)?$/,
      );
    },
  );

  it(
    'the node build leaves the orphans of its child as zombies, and keeps its exit code',
    {
      ...LIMIT,
      skip: root || (executable ? 'the executable reaps them: see the test before' : false),
    },
    async () => {
      const run = asPid1(child(100));
      const exit = await run.exited;
      assert.match(exit.stdout, /orphans running=0 zombies=100\n/);
      assert.equal(exit.code, 7);
      assert.match(
        readFileSync(join(run.graveyard, 'app'), 'utf8'),
        /ExitCode: 7\n(?:Ready: "[^"]+"\n)?$/,
      );
    },
  );
});
