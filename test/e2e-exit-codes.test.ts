// Every row of the exit-code table, through a real kubexit process.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { kubexit } from './support/kubexit.js';
import { tempDir } from './support/temp.js';

const GO_DEATH = /^Born: "[^"]+"\nDied: "[^"]+"\nExitCode: (-?\d+)\n$/;
const GO_NEVER_BORN = /^Died: "[^"]+"\nExitCode: (-?\d+)\n$/;

async function run(args: string[], env: Record<string, string> = {}) {
  const graveyard = tempDir();
  const exit = await kubexit(args, { KUBEXIT_NAME: 'app', KUBEXIT_GRAVEYARD: graveyard, ...env })
    .exited;
  const path = join(graveyard, 'app');
  return { exit, tombstone: existsSync(path) ? readFileSync(path, 'utf8') : undefined };
}

describe('exit codes (kubexit exits with what its tombstone says)', () => {
  for (const code of [0, 1, 42, 255]) {
    it(`child exits ${code} → ${code}`, async () => {
      const { exit, tombstone } = await run(['sh', '-c', `exit ${code}`]);
      assert.equal(exit.code, code);
      assert.equal(tombstone?.match(GO_DEATH)?.[1], String(code));
    });
  }

  for (const [sig, code] of [
    ['TERM', 143],
    ['KILL', 137],
    ['INT', 130],
    ['SEGV', 139],
  ] as const) {
    it(`child killed by SIG${sig} → ${code}`, async () => {
      const { exit, tombstone } = await run(['sh', '-c', `kill -${sig} $$`]);
      assert.equal(exit.code, code);
      assert.equal(tombstone?.match(GO_DEATH)?.[1], String(code));
    });
  }

  it('command not found → 127, no Born', async () => {
    const { exit, tombstone } = await run(['kubexit-no-such-command']);
    assert.equal(exit.code, 127);
    assert.equal(tombstone?.match(GO_NEVER_BORN)?.[1], '127');
    assert.match(String(exit.logs.at(-1)?.error), /ENOENT/);
  });

  it('command not executable → 126', async () => {
    const file = join(tempDir(), 'script');
    writeFileSync(file, '#!/bin/sh\nexit 0\n');
    chmodSync(file, 0o644);
    const { exit, tombstone } = await run([file]);
    assert.equal(exit.code, 126);
    assert.equal(tombstone?.match(GO_NEVER_BORN)?.[1], '126');
  });

  it('a folder as command → 126', async () => {
    const { exit } = await run([tempDir()]);
    assert.equal(exit.code, 126);
  });

  it('no command → 2, and a tombstone for the dependents', async () => {
    const { exit, tombstone } = await run([]);
    assert.equal(exit.code, 2);
    assert.equal(exit.logs.at(-1)?.message, 'no arguments found');
    assert.equal(tombstone?.match(GO_NEVER_BORN)?.[1], '2');
  });

  it('bad configuration → 2', async () => {
    const { exit, tombstone } = await run(['true'], { KUBEXIT_GRACE_PERIOD: 'soon' });
    assert.equal(exit.code, 2);
    assert.equal(tombstone?.match(GO_NEVER_BORN)?.[1], '2');
  });

  it('kubexit cannot write its tombstone → 1, and the child is never started', async () => {
    const file = join(tempDir(), 'not-a-folder');
    writeFileSync(file, '');
    const marker = join(tempDir(), 'finished');
    const exit = await kubexit(['sh', '-c', `sleep 5; touch ${marker}`], {
      KUBEXIT_NAME: 'app',
      KUBEXIT_GRAVEYARD: file,
    }).exited;
    assert.equal(exit.code, 1);
    assert.equal(existsSync(marker), false);
    assert.match(String(exit.logs.at(-1)?.error), /child not started: tombstone not writable/);
  });
});
