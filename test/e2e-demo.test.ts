// `npm run demo` (examples/local-demo) as a user runs it, against the build under test
// (KUBEXIT_BIN, or node dist/kubexit.js): the pipeline succeeds and says so, and never hangs.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from './support/kubexit.js';
import { tempDir } from './support/temp.js';

const RUN = join(ROOT, 'examples', 'local-demo', 'run.sh');

function demo(env: Record<string, string>): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      'bash',
      [RUN],
      { env: { ...process.env, ...env }, timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? Number(err.code ?? 1) : 0, out: stdout + stderr }),
    );
  });
}

describe('local demo', () => {
  it('the demo pipeline runs in order, the SIGKILLed kubexit is seen dead, and it says all as expected', async () => {
    const tmp = tempDir();
    const { code, out } = await demo({ TMPDIR: tmp });
    assert.equal(code, 0, out);
    assert.match(out, /^== all as expected$/m);
    assert.match(out, /^== exit codes: migrate 0, server 0, client 0, batch SIGKILL, uploader 0$/m);
    assert.match(
      out,
      /uploader +says: kubexit warning: death dependency died without a record \(batch\)/,
    );
    assert.equal(out.match(/^\[client {2}\] client: request \d: hello from pid \d+$/gm)?.length, 3);
    assert.match(out, /== tombstone server\nBorn: ".+"\nDied: ".+"\nExitCode: 0\nReady: ".+"\n/);
    assert.match(out, /== tombstone batch\nBorn: ".+"\nReady: ".+"\n\n/);
    // The timeline lists events in time order, relative to the start.
    const times = [...out.matchAll(/^ *(\d+) {2}\w+ +(?:tombstone|says|kubexit|the demo)/gm)].map(
      (m) => Number(m[1]),
    );
    assert.ok(times.length > 20, out);
    assert.deepEqual(
      times,
      [...times].sort((a, b) => a - b),
    );
    assert.deepEqual(readdirSync(tmp), [], 'the graveyard is removed');
  });

  it('the demo stops everything and fails at its deadline when kubexit does nothing (no hang)', async () => {
    const tmp = tempDir();
    // /usr/bin/env in kubexit's place runs each command bare: no tombstones, no death, nothing
    // ever stops the server.
    const { code, out } = await demo({
      TMPDIR: tmp,
      KUBEXIT_BIN: '/usr/bin/env',
      KUBEXIT_DEMO_DEADLINE_MS: '3000',
    });
    assert.equal(code, 1, out);
    assert.match(out, /^== the demo did not finish within 3000 ms: stopping everything$/m);
    assert.deepEqual(readdirSync(tmp), [], 'the graveyard is removed');
  });
});
