// How a child's end by a signal is told, through a real kubexit process, whichever build runs.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { kubexit } from './support/kubexit.js';
import { tempDir } from './support/temp.js';

async function run(script: string) {
  const graveyard = tempDir();
  const exit = await kubexit(['sh', '-c', script], {
    KUBEXIT_NAME: 'app',
    KUBEXIT_GRAVEYARD: graveyard,
    KUBEXIT_VERBOSE_LEVEL: '1',
  }).exited;
  return { exit, tombstone: readFileSync(join(graveyard, 'app'), 'utf8') };
}

describe('a child ended by a signal', () => {
  it('ended by SIGUSR2: 128+12, in the exit code, the tombstone and the last line', async () => {
    const { exit, tombstone } = await run('kill -USR2 $$');
    assert.equal(exit.code, 140, exit.stderr);
    assert.match(tombstone, /\nExitCode: 140\n(?:Ready: "[^"]+"\n)?$/);
    assert.equal(exit.logs.at(-1)?.signal, 'SIGUSR2');
  });

  // Node's child_process reports such an end as exit code 0 and no signal: nothing to tell.
  const node = process.env.KUBEXIT_BIN ? false : 'Node reports a real-time signal as exit 0';
  it('ended by a real-time signal (37): 128+37, named SIGRTMIN+3', { skip: node }, async () => {
    const { exit, tombstone } = await run('kill -37 $$');
    assert.equal(exit.code, 165, exit.stderr);
    assert.match(tombstone, /\nExitCode: 165\n(?:Ready: "[^"]+"\n)?$/);
    assert.equal(exit.logs.at(-1)?.signal, 'SIGRTMIN+3');
  });
});
