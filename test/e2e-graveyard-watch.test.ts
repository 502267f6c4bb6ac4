// The graveyard watch itself, in the runtime of each build: Node for `node dist/kubexit.js`, and
// the executable's own Bun (BUN_BE_BUN=1 runs a script in it) for KUBEXIT_BIN. Bun's fs.watch
// dropped an event that came within about a millisecond of another of the same file: the write
// of a Go kubexit's truncate-then-write, when the truncate's event had just been handled.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { FIXTURES, kubexit, traceEvents, Watched } from './support/kubexit.js';
import { tempDir } from './support/temp.js';

const PROBE = join(FIXTURES, 'rewrite-probe.mjs');
const RECORDER = join(FIXTURES, 'recorder.mjs');
const BORN = 'Born: "2020-04-28T10:41:46.9926314Z"\n';
const DIED = `${BORN}Died: "2020-04-28T10:41:47.0496314Z"\nExitCode: 0\n`;
/** A lost event leaves the probe waiting for ever: the test fails at this bound instead. */
const BOUNDED = { timeout: 30_000 };

/** The probe, run by the runtime of the build under test. */
function probe(args: string[]): Watched {
  const bin = process.env.KUBEXIT_BIN;
  const [file, env] = bin
    ? [bin, { ...process.env, BUN_BE_BUN: '1' }]
    : [process.execPath, process.env];
  const run = new Watched(
    spawn(file, [PROBE, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] }),
  );
  process.once('exit', () => run.proc.kill('SIGKILL')); // one left waiting by a failed test
  return run;
}

describe('graveyard watch', () => {
  it(
    "every write of a Go kubexit's truncate-then-write is an event, even one made while the truncate's event is handled (200 rewrites)",
    BOUNDED,
    async () => {
      const run = probe([tempDir(), '200']);
      await run.stdout(/^done$/m);
      const exit = await run.exited;
      assert.equal(exit.code, 0, exit.stderr);
      assert.equal(exit.stdout.match(/^seen \d+$/gm)?.length, 200);
    },
  );

  it(
    "kubexit watches with inotify itself (no fallback to Bun's fs.watch and its 50 ms re-reads), and sees a Go kubexit's in-place death",
    BOUNDED,
    async () => {
      const graveyard = tempDir();
      const run = kubexit([process.execPath, RECORDER, '--exit-on', 'SIGTERM'], {
        KUBEXIT_NAME: 'sidecar',
        KUBEXIT_GRAVEYARD: graveyard,
        KUBEXIT_DEATH_DEPS: 'main',
        KUBEXIT_VERBOSE_LEVEL: '1',
      });
      await run.stdout(/ready/);
      const path = join(graveyard, 'main');
      writeFileSync(path, BORN);
      const fd = openSync(path, 'w');
      writeSync(fd, DIED);
      closeSync(fd);
      const exit = await run.exited;
      assert.equal(exit.code, 0, exit.stderr);
      const events = traceEvents(exit.logs.at(-1), 'death graveyard watcher');
      assert.ok(events.includes('New death: main'), events.join('\n'));
      assert.ok(!events.some((e) => /fs\.watch/.test(e)), events.join('\n'));
    },
  );
});
