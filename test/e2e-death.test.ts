// Death dependencies between real kubexit processes sharing a real graveyard.
import assert from 'node:assert/strict';
import { existsSync, openSync, readFileSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FIXTURES, kubexit, tombstone, traceEvents, waitingForBirth } from './support/kubexit.js';
import { tempDir } from './support/temp.js';

const RECORDER = join(FIXTURES, 'recorder.mjs');
const GO_DEATH = /^Born: "[^"]+"\nDied: "[^"]+"\nExitCode: (-?\d+)\n(?:Ready: "[^"]+"\n)?$/;
const DEAD =
  'Born: "2020-04-28T10:41:46.9926314Z"\nDied: "2020-04-28T10:41:47.0496314Z"\nExitCode: 0\n';

/** A sidecar whose child reports signals and exits 0 on TERM. */
function sidecar(graveyard: string, deps: string, env: Record<string, string> = {}) {
  return kubexit([process.execPath, RECORDER, '--exit-on', 'SIGTERM'], {
    KUBEXIT_NAME: 'sidecar',
    KUBEXIT_GRAVEYARD: graveyard,
    KUBEXIT_DEATH_DEPS: deps,
    KUBEXIT_VERBOSE_LEVEL: '1',
    ...env,
  });
}

describe('death dependencies', () => {
  it("TERMs the dependent's child when the dependency dies", async () => {
    const graveyard = tempDir();
    const server = sidecar(graveyard, 'client');
    await server.stdout(/ready/);
    const client = await kubexit(['sh', '-c', 'exit 3'], {
      KUBEXIT_NAME: 'client',
      KUBEXIT_GRAVEYARD: graveyard,
    }).exited;
    assert.equal(client.code, 3);
    const exit = await server.exited;
    assert.match(exit.stdout, /got SIGTERM/);
    assert.equal(exit.code, 0, "the server's child exited 0 on TERM");
    assert.equal(readFileSync(join(graveyard, 'client'), 'utf8').match(GO_DEATH)?.[1], '3');
    assert.equal(readFileSync(join(graveyard, 'sidecar'), 'utf8').match(GO_DEATH)?.[1], '0');
    const events = traceEvents(exit.logs.at(-1), 'death graveyard watcher');
    assert.ok(events.includes('New death: client'));
    assert.ok(events.includes(`Tombstone Watch(${graveyard}): done`));
    assert.ok(traceEvents(exit.logs.at(-1), 'supervisor').includes('Terminating child process'));
  });

  it('KILLs a child that ignores TERM after the grace period', async () => {
    const graveyard = tempDir();
    const run = kubexit(['sh', '-c', "trap '' TERM; echo ready; exec sleep 60"], {
      KUBEXIT_NAME: 'stubborn',
      KUBEXIT_GRAVEYARD: graveyard,
      KUBEXIT_DEATH_DEPS: 'main',
      KUBEXIT_GRACE_PERIOD: '200ms',
      KUBEXIT_VERBOSE_LEVEL: '1',
    });
    await run.stdout(/ready/);
    writeFileSync(join(graveyard, 'main'), DEAD);
    const exit = await run.exited;
    assert.equal(exit.code, 137);
    const events = traceEvents(exit.logs.at(-1), 'supervisor');
    assert.deepEqual(
      events.filter((e) => /Terminating|Timeout elapsed|Killing/.test(e)),
      ['Terminating child process', 'Timeout elapsed: 200ms', 'Killing child process'],
    );
    assert.equal(exit.logs.at(-1)?.signal, 'SIGKILL');
  });

  it('a dependency dead before we start: the child is never started, exit 143', async () => {
    const graveyard = tempDir();
    writeFileSync(join(graveyard, 'main'), DEAD);
    const marker = join(tempDir(), 'ran');
    const exit = await kubexit(['touch', marker], {
      KUBEXIT_NAME: 'sidecar',
      KUBEXIT_GRAVEYARD: graveyard,
      KUBEXIT_DEATH_DEPS: 'main',
    }).exited;
    assert.equal(exit.code, 143);
    assert.equal(existsSync(marker), false);
    assert.match(
      readFileSync(join(graveyard, 'sidecar'), 'utf8'),
      /^Died: "[^"]+"\nExitCode: 143\n$/,
    );
    const last = exit.logs.at(-1);
    assert.equal(last?.message, 'child not started');
    assert.equal(last?.reason, 'death dependency main died');
  });

  it('creates a missing graveyard and still sees the death', async () => {
    const graveyard = join(tempDir(), 'made', 'here');
    const run = sidecar(graveyard, 'main');
    await run.stdout(/ready/);
    writeFileSync(join(graveyard, 'main'), DEAD);
    assert.equal((await run.exited).code, 0);
  });

  it("reads a Go kubexit's non-atomic writes (truncate, then write)", async () => {
    const graveyard = tempDir();
    const run = sidecar(graveyard, 'main');
    await run.stdout(/ready/);
    const path = join(graveyard, 'main');
    writeFileSync(path, 'Born: "2020-04-28T10:41:46.9926314Z"\n');
    const fd = openSync(path, 'w'); // truncates: a reader may see it empty, i.e. alive
    writeSync(fd, DEAD);
    closeSync(fd);
    assert.equal((await run.exited).code, 0);
  });

  it('logs a garbage tombstone and carries on until a real death', async () => {
    const graveyard = tempDir();
    const run = sidecar(graveyard, 'main', { KUBEXIT_INSTANT_LOGGING: 'true' });
    await run.stdout(/ready/);
    writeFileSync(join(graveyard, 'main'), '- not\n- a tombstone\n');
    await run.stderr(/Handler error: failed to read tombstone main: not a YAML mapping/);
    writeFileSync(join(graveyard, 'main'), 'Died: [\n');
    await run.stderr(/Handler error: failed to read tombstone main: not YAML/);
    writeFileSync(join(graveyard, 'other'), 'garbage of no interest');
    await run.stderr(/Ignore tombstone other/);
    writeFileSync(join(graveyard, 'main'), DEAD);
    const exit = await run.exited;
    assert.equal(exit.code, 0);
    const events = traceEvents(exit.logs.at(-1), 'death graveyard watcher');
    assert.ok(events.some((e) => e.startsWith('Handler error: failed to read tombstone main')));
    assert.ok(events.includes('Ignore tombstone other'));
  });

  it("a hidden file nobody depends on (an atomic writer's temporary file) gets no trace line; a hidden dependency is still read", async () => {
    const graveyard = tempDir();
    const run = sidecar(graveyard, '.main', { KUBEXIT_INSTANT_LOGGING: 'true' });
    await run.stdout(/ready/);
    writeFileSync(join(graveyard, '.other.tmp'), DEAD);
    writeFileSync(join(graveyard, 'other'), DEAD);
    // inotify keeps order: once `other` is traced, the hidden file's events were handled.
    await run.stderr(/Ignore tombstone other/);
    writeFileSync(join(graveyard, '.main'), DEAD);
    const exit = await run.exited;
    assert.equal(exit.code, 0);
    const events = traceEvents(exit.logs.at(-1), 'death graveyard watcher');
    assert.ok(events.includes('Ignore tombstone other'));
    assert.ok(!events.some((e) => e.includes('.other.tmp')), events.join('\n'));
    assert.ok(events.includes('New death: .main'));
  });

  it('100 tombstones, 50 dependencies: the one that dies is the one acted on', async () => {
    const graveyard = tempDir();
    const deps = Array.from({ length: 50 }, (_, i) => `dep-${i}`);
    for (const d of deps) writeFileSync(join(graveyard, d), 'Born: "2020-04-28T10:41:46Z"\n');
    for (let i = 0; i < 50; i++) writeFileSync(join(graveyard, `other-${i}`), DEAD);
    const run = sidecar(graveyard, deps.join(','));
    await run.stdout(/ready/);
    for (const d of deps) writeFileSync(join(graveyard, d), 'Born: "2020-04-28T10:41:47Z"\n');
    writeFileSync(join(graveyard, 'dep-37'), DEAD);
    const exit = await run.exited;
    assert.equal(exit.code, 0);
    const events = traceEvents(exit.logs.at(-1), 'death graveyard watcher');
    assert.deepEqual(
      events.filter((e) => e.startsWith('New death')),
      ['New death: dep-37'],
    );
  });

  it('the tombstone says Born while the child runs, and our own writes are ignored', async () => {
    const graveyard = tempDir();
    const run = sidecar(graveyard, 'main');
    await run.stdout(/ready/);
    assert.match(
      await tombstone(graveyard, 'sidecar', (t) => t.startsWith('Born')),
      /^Born: "[^"]+"\n(?:Ready: "[^"]+"\n)?$/,
    );
    writeFileSync(join(graveyard, 'main'), DEAD);
    const exit = await run.exited;
    assert.ok(
      traceEvents(exit.logs.at(-1), 'death graveyard watcher').includes('Ignore tombstone sidecar'),
    );
  });

  it("a restarted dependency's old Died is gone as soon as its kubexit starts, before its child (B25)", async () => {
    const graveyard = tempDir();
    // The previous run of container "main" died; the container restarts and waits for a birth
    // dependency.
    writeFileSync(join(graveyard, 'main'), DEAD);
    const main = kubexit(['true'], {
      KUBEXIT_NAME: 'main',
      KUBEXIT_GRAVEYARD: graveyard,
      ...waitingForBirth(tempDir()),
    });
    await main.stderr(/Watching pod pod updates/);
    // No Born, no Died: alive; its birth deps are there for cycle checks.
    assert.equal(readFileSync(join(graveyard, 'main'), 'utf8'), 'BirthDeps: "proxy"\n');
    // A dependent that starts now sees a living "main", not the old death.
    const dependent = sidecar(graveyard, 'main', { KUBEXIT_INSTANT_LOGGING: 'true' });
    await dependent.stdout(/ready/);
    await dependent.stderr(/Reading tombstone: main/);
    assert.equal(dependent.running, true);
    main.kill('SIGTERM');
    assert.equal((await main.exited).code, 143);
    // Its new death, and only that, stops the dependent.
    const exit = await dependent.exited;
    assert.match(exit.stdout, /got SIGTERM/);
    assert.equal(exit.code, 0);
  });
});
