// How it ends (issue 10 §1–3): the exit-code policy and the tombstone's ending keys, death
// actions (signals, an HTTP quit call and its fallbacks), the delay, death conditions and the
// shutdown hold, through a real kubexit, real child processes, real signals and real servers.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { kubexit, traceEvents, type Run } from './support/kubexit.js';
import { tempDir } from './support/temp.js';

const T = '2020-04-28T10:41:46.9926314Z';
const died = (code: number): string => `Born: "${T}"\nDied: "${T}"\nExitCode: ${code}\n`;
const TIME = String.raw`"[^"]+"`;

/**
 * A child that says which signal it got: USR1 is a probe (it carries on), any other of these
 * ends it with exit 0. It prints `ready <pid>` once its handlers are set.
 */
const SIGNALS = ['SIGTERM', 'SIGQUIT', 'SIGINT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'];
const CHILD = `
for (const s of ${JSON.stringify(SIGNALS)}) process.on(s, () => {
  console.log('got ' + s);
  if (s !== 'SIGUSR1') process.exit(0);
});
console.log('ready ' + process.pid);
setInterval(() => {}, 1 << 30);
`;

function sidecar(graveyard: string, env: Record<string, string> = {}): Run {
  return kubexit([process.execPath, '-e', CHILD], {
    KUBEXIT_NAME: 'sidecar',
    KUBEXIT_GRAVEYARD: graveyard,
    KUBEXIT_DEATH_DEPS: 'main',
    KUBEXIT_INSTANT_LOGGING: 'true',
    KUBEXIT_VERBOSE_LEVEL: '1',
    ...env,
  });
}

/** The child's pid, once it is ready. */
async function ready(run: Run): Promise<number> {
  return Number((await run.stdout(/ready (\d+)/))[1]);
}

/** Proves the child still runs and has not been signalled: USR1 goes through kubexit and back. */
async function stillRunning(run: Run, n: number): Promise<void> {
  run.kill('SIGUSR1');
  await run.stdout(new RegExp(`(got SIGUSR1\n[^]*){${n}}`));
}

interface Call {
  method: string | undefined;
  url: string | undefined;
}

/** A real HTTP server on loopback that records each call; `answer` decides what it does. */
async function server(answer: (req: IncomingMessage, res: ServerResponse) => void) {
  const calls: Call[] = [];
  const srv = createServer((req, res) => {
    calls.push({ method: req.method, url: req.url });
    answer(req, res);
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  after(() => {
    srv.closeAllConnections();
    srv.close();
  });
  return { url: `http://127.0.0.1:${port}/quitquitquit`, calls };
}

/** A loopback port where nothing listens (it was bound a moment ago, then closed). */
async function deadPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

describe('exit-code policy and the ending keys', () => {
  it('upstream #16: a sidecar TERMed on main\'s death exits 0 with KUBEXIT_IGNORE_CODE_ON_DEATH_DEPS; the tombstone says ExitCode 0, ChildSignal SIGTERM, Reason "death dependency main"', async () => {
    const graveyard = tempDir();
    const run = kubexit(['sh', '-c', 'echo ready; exec sleep 60'], {
      KUBEXIT_NAME: 'sidecar',
      KUBEXIT_GRAVEYARD: graveyard,
      KUBEXIT_DEATH_DEPS: 'main',
      KUBEXIT_IGNORE_CODE_ON_DEATH_DEPS: 'true',
    });
    await run.stdout(/ready/);
    writeFileSync(join(graveyard, 'main'), died(0));
    const exit = await run.exited;
    assert.equal(exit.code, 0);
    assert.match(
      readFileSync(join(graveyard, 'sidecar'), 'utf8'),
      new RegExp(
        `^Born: ${TIME}\nDied: ${TIME}\nExitCode: 0\n(?:Ready: "[^"]+"\n)?ChildSignal: SIGTERM\nReason: "death dependency main"\n$`,
      ),
    );
  });

  it('KUBEXIT_IGNORE_CODE_ON_DEATH_DEPS: a child KILLed after the grace period exits 0 too (ChildSignal SIGKILL)', async () => {
    const graveyard = tempDir();
    const run = kubexit(['sh', '-c', "trap '' TERM; echo ready; exec sleep 60"], {
      KUBEXIT_NAME: 'sidecar',
      KUBEXIT_GRAVEYARD: graveyard,
      KUBEXIT_DEATH_DEPS: 'main',
      KUBEXIT_GRACE_PERIOD: '100ms',
      KUBEXIT_IGNORE_CODE_ON_DEATH_DEPS: 'true',
    });
    await run.stdout(/ready/);
    writeFileSync(join(graveyard, 'main'), died(0));
    assert.equal((await run.exited).code, 0);
    assert.match(
      readFileSync(join(graveyard, 'sidecar'), 'utf8'),
      /\nExitCode: 0\n(?:Ready: "[^"]+"\n)?ChildSignal: SIGKILL\nReason: "death dependency main"\n$/,
    );
  });

  it('KUBEXIT_IGNORE_CODE_ON_DEATH_DEPS: a death before the start exits 0, Reason "not started: death dependency main"', async () => {
    const graveyard = tempDir();
    writeFileSync(join(graveyard, 'main'), died(0));
    const exit = await kubexit(['true'], {
      KUBEXIT_NAME: 'sidecar',
      KUBEXIT_GRAVEYARD: graveyard,
      KUBEXIT_DEATH_DEPS: 'main',
      KUBEXIT_IGNORE_CODE_ON_DEATH_DEPS: 'true',
    }).exited;
    assert.equal(exit.code, 0);
    assert.match(
      readFileSync(join(graveyard, 'sidecar'), 'utf8'),
      new RegExp(`^Died: ${TIME}\nExitCode: 0\nReason: "not started: death dependency main"\n$`),
    );
  });

  it('KUBEXIT_IGNORE_CODE_ON_DEATH_DEPS leaves a child that ends on its own with its code', async () => {
    const graveyard = tempDir();
    const exit = await kubexit(['sh', '-c', 'exit 3'], {
      KUBEXIT_NAME: 'app',
      KUBEXIT_GRAVEYARD: graveyard,
      KUBEXIT_DEATH_DEPS: 'main',
      KUBEXIT_IGNORE_CODE_ON_DEATH_DEPS: 'true',
    }).exited;
    assert.equal(exit.code, 3);
    assert.match(
      readFileSync(join(graveyard, 'app'), 'utf8'),
      /\nExitCode: 3\n(?:Ready: "[^"]+"\n)?ChildExitCode: 3\nReason: "exited"\n$/,
    );
  });

  it("KUBEXIT_EXIT_CODE_MAP=3:0,143:1 remaps the child's code; the tombstone keeps ChildExitCode 3", async () => {
    const graveyard = tempDir();
    const exit = await kubexit(['sh', '-c', 'exit 3'], {
      KUBEXIT_NAME: 'app',
      KUBEXIT_GRAVEYARD: graveyard,
      KUBEXIT_EXIT_CODE_MAP: '3:0,143:1',
      KUBEXIT_VERBOSE_LEVEL: '1',
    }).exited;
    assert.equal(exit.code, 0);
    assert.equal(exit.logs.at(-1)?.exit_code, 0);
    assert.match(
      readFileSync(join(graveyard, 'app'), 'utf8'),
      new RegExp(
        `^Born: ${TIME}\nDied: ${TIME}\nExitCode: 0\n(?:Ready: "[^"]+"\n)?ChildExitCode: 3\nReason: "exited"\n$`,
      ),
    );
  });

  it('KUBEXIT_EXIT_CODE_MAP=143:0: a sidecar TERMed on a death exits 0; a forwarded TERM says Reason "signal SIGTERM"', async () => {
    const graveyard = tempDir();
    const run = kubexit(['sh', '-c', 'echo ready; exec sleep 60'], {
      KUBEXIT_NAME: 'sidecar',
      KUBEXIT_GRAVEYARD: graveyard,
      KUBEXIT_EXIT_CODE_MAP: '143:0',
    });
    await run.stdout(/ready/);
    run.kill('SIGTERM');
    assert.equal((await run.exited).code, 0);
    assert.match(
      readFileSync(join(graveyard, 'sidecar'), 'utf8'),
      /\nExitCode: 0\n(?:Ready: "[^"]+"\n)?ChildSignal: SIGTERM\nReason: "signal SIGTERM"\n$/,
    );
  });

  it('an exit-code map can make a dependency see a failure: main:failed counts a remapped code', async () => {
    const graveyard = tempDir();
    const run = sidecar(graveyard, { KUBEXIT_DEATH_DEPS: 'main:failed' });
    await ready(run);
    const main = await kubexit(['true'], {
      KUBEXIT_NAME: 'main',
      KUBEXIT_GRAVEYARD: graveyard,
      KUBEXIT_EXIT_CODE_MAP: '0:9',
    }).exited;
    assert.equal(main.code, 9);
    await run.stdout(/got SIGTERM/);
    assert.equal((await run.exited).code, 0);
  });
});

describe('bad values', () => {
  it('KUBEXIT_DEATH_SIGNAL=SIGSTOP: exit 2, one JSON error line naming it, and the tombstone says Died', async () => {
    const graveyard = tempDir();
    const exit = await kubexit(['true'], {
      KUBEXIT_NAME: 'sidecar',
      KUBEXIT_GRAVEYARD: graveyard,
      KUBEXIT_DEATH_SIGNAL: 'SIGSTOP',
    }).exited;
    assert.equal(exit.code, 2);
    assert.equal(exit.logs.length, 1);
    const [line] = exit.logs;
    assert.equal(line?.variable, 'KUBEXIT_DEATH_SIGNAL');
    assert.equal(line?.value, 'SIGSTOP');
    assert.match(String(line?.expected), /a signal name such as SIGTERM/);
    assert.match(
      readFileSync(join(graveyard, 'sidecar'), 'utf8'),
      /^Died: "[^"]+"\nExitCode: 2\n$/,
    );
  });
});

describe('death actions', () => {
  for (const sig of ['SIGQUIT', 'SIGINT', 'SIGHUP', 'SIGUSR2']) {
    it(`KUBEXIT_DEATH_SIGNAL=${sig}: a death sends ${sig}, not SIGTERM`, async () => {
      const graveyard = tempDir();
      const run = sidecar(graveyard, { KUBEXIT_DEATH_SIGNAL: sig });
      await ready(run);
      writeFileSync(join(graveyard, 'main'), died(0));
      const exit = await run.exited;
      assert.equal(exit.code, 0);
      assert.match(exit.stdout, new RegExp(`got ${sig}\n`));
      assert.doesNotMatch(exit.stdout, /got SIGTERM/);
      assert.ok(
        traceEvents(exit.logs.at(-1), 'supervisor').includes(`Terminating child process: ${sig}`),
      );
    });
  }

  it('KUBEXIT_DEATH_SIGNAL=KILL: a death KILLs the child at once (137)', async () => {
    const graveyard = tempDir();
    const run = sidecar(graveyard, { KUBEXIT_DEATH_SIGNAL: 'KILL' });
    await ready(run);
    writeFileSync(join(graveyard, 'main'), died(0));
    const exit = await run.exited;
    assert.equal(exit.code, 137);
    assert.doesNotMatch(exit.stdout, /got /);
  });

  it('KUBEXIT_DEATH_HTTP: a death POSTs to the URL (a real server records it) and sends no signal', async () => {
    const graveyard = tempDir();
    let childPid = 0;
    const srv = await server((_req, res) => {
      res.end('OK\n');
      process.kill(childPid, 'SIGUSR2'); // what the app's quit endpoint does: it ends itself
    });
    const run = sidecar(graveyard, { KUBEXIT_DEATH_HTTP: srv.url });
    childPid = await ready(run);
    writeFileSync(join(graveyard, 'main'), died(0));
    const exit = await run.exited;
    assert.deepEqual(srv.calls, [{ method: 'POST', url: '/quitquitquit' }]);
    assert.equal(exit.code, 0);
    assert.match(exit.stdout, /got SIGUSR2\n/);
    assert.doesNotMatch(exit.stdout, /got SIGTERM/);
    const events = traceEvents(exit.logs.at(-1), 'supervisor');
    assert.ok(events.includes(`Death action: POST ${srv.url}`), events.join('\n'));
    assert.ok(events.includes('Death action: answered 200'), events.join('\n'));
  });

  it('KUBEXIT_DEATH_HTTP to a server that is down: one error line, then the death signal', async () => {
    const graveyard = tempDir();
    const url = `http://127.0.0.1:${await deadPort()}/quitquitquit`;
    const run = sidecar(graveyard, { KUBEXIT_DEATH_HTTP: url });
    await ready(run);
    writeFileSync(join(graveyard, 'main'), died(0));
    const exit = await run.exited;
    assert.equal(exit.code, 0);
    assert.match(exit.stdout, /got SIGTERM\n/);
    const line = exit.logs.find(
      (l) => l.message === 'death HTTP call failed: sending the death signal instead',
    );
    assert.equal(line?.url, url);
    assert.equal(line?.signal, 'SIGTERM');
    assert.match(String(line?.error), /ECONNREFUSED|refused|Unable to connect/i);
  });

  it('KUBEXIT_DEATH_HTTP to a server that never answers: after KUBEXIT_DEATH_HTTP_TIMEOUT, the death signal', async () => {
    const graveyard = tempDir();
    const srv = await server(() => {}); // accepts, reads, never answers
    const run = sidecar(graveyard, {
      KUBEXIT_DEATH_HTTP: srv.url,
      KUBEXIT_DEATH_HTTP_TIMEOUT: '200ms',
      KUBEXIT_DEATH_SIGNAL: 'SIGQUIT',
    });
    await ready(run);
    writeFileSync(join(graveyard, 'main'), died(0));
    const exit = await run.exited;
    assert.equal(srv.calls.length, 1);
    assert.match(exit.stdout, /got SIGQUIT\n/);
    const line = exit.logs.find(
      (l) => l.message === 'death HTTP call failed: sending the death signal instead',
    );
    assert.equal(line?.error, 'no answer within 200ms');
    assert.equal(line?.signal, 'SIGQUIT');
  });

  it('KUBEXIT_DEATH_HTTP answered 503: the death signal', async () => {
    const graveyard = tempDir();
    const srv = await server((_req, res) => {
      res.statusCode = 503;
      res.end();
    });
    const run = sidecar(graveyard, { KUBEXIT_DEATH_HTTP: srv.url });
    await ready(run);
    writeFileSync(join(graveyard, 'main'), died(0));
    const exit = await run.exited;
    assert.equal(srv.calls.length, 1);
    assert.match(exit.stdout, /got SIGTERM\n/);
    const line = exit.logs.find(
      (l) => l.message === 'death HTTP call failed: sending the death signal instead',
    );
    assert.equal(line?.error, 'HTTP status 503');
  });

  it('KUBEXIT_DEATH_HTTP answered but the child stays: the grace period and the KILL still follow', async () => {
    const graveyard = tempDir();
    const srv = await server((_req, res) => res.end());
    const run = sidecar(graveyard, { KUBEXIT_DEATH_HTTP: srv.url, KUBEXIT_GRACE_PERIOD: '100ms' });
    await ready(run);
    writeFileSync(join(graveyard, 'main'), died(0));
    const exit = await run.exited;
    assert.equal(exit.code, 137);
    assert.doesNotMatch(exit.stdout, /got /);
    const events = traceEvents(exit.logs.at(-1), 'supervisor');
    assert.deepEqual(
      events.filter((e) => /Death action|Timeout elapsed|Killing/.test(e)),
      [
        `Death action: POST ${srv.url}`,
        'Death action: answered 200',
        'Timeout elapsed: 100ms',
        'Killing child process',
      ],
    );
  });
});

describe('the death delay', () => {
  it('KUBEXIT_DEATH_DELAY=300ms: the death signal comes after the delay', async () => {
    const graveyard = tempDir();
    const run = sidecar(graveyard, { KUBEXIT_DEATH_DELAY: '300ms' });
    await ready(run);
    writeFileSync(join(graveyard, 'main'), died(0));
    await run.stderr(/Death action in 300ms/);
    const exit = await run.exited;
    assert.equal(exit.code, 0);
    assert.match(exit.stdout, /got SIGTERM\n/);
    const events = traceEvents(exit.logs.at(-1), 'supervisor');
    assert.deepEqual(
      events.filter((e) => /Death action|Terminating/.test(e)),
      ['Death action in 300ms', 'Terminating child process'],
    );
  });

  it('KUBEXIT_DEATH_DELAY: during the delay the child still runs, and a SIGTERM from outside is forwarded as usual', async () => {
    const graveyard = tempDir();
    const run = sidecar(graveyard, {
      KUBEXIT_DEATH_DELAY: '1h',
      KUBEXIT_IGNORE_CODE_ON_DEATH_DEPS: 'true',
    });
    await ready(run);
    writeFileSync(join(graveyard, 'main'), died(0));
    await run.stderr(/Death action in 1h0m0s/);
    await stillRunning(run, 1);
    run.kill('SIGTERM');
    const exit = await run.exited;
    assert.equal(exit.code, 0);
    assert.match(exit.stdout, /got SIGTERM\n/);
    assert.ok(!traceEvents(exit.logs.at(-1), 'supervisor').includes('Terminating child process'));
    // The child ended on the TERM from outside, not on the death: that is what the tombstone says.
    assert.match(
      readFileSync(join(graveyard, 'sidecar'), 'utf8'),
      /\nChildExitCode: 0\nReason: "signal SIGTERM"\n$/,
    );
  });
});

describe('death conditions', () => {
  it('main:failed acts on a death with a non-zero ExitCode', async () => {
    const graveyard = tempDir();
    const run = sidecar(graveyard, { KUBEXIT_DEATH_DEPS: 'main:failed' });
    await ready(run);
    writeFileSync(join(graveyard, 'main'), died(1));
    const exit = await run.exited;
    assert.match(exit.stdout, /got SIGTERM\n/);
    assert.equal(exit.code, 0);
  });

  it('main:failed: a success is not counted, the child runs on; another dependency, or main dying again after a restart, still counts', async () => {
    const graveyard = tempDir();
    const run = sidecar(graveyard, { KUBEXIT_DEATH_DEPS: 'main:failed,logger:succeeded' });
    await ready(run);
    writeFileSync(join(graveyard, 'main'), died(0));
    await run.stderr(/Death not counted: main \(ExitCode 0\)/);
    await run.stderr(/"message":"death not counted: the child keeps running"/);
    writeFileSync(join(graveyard, 'logger'), died(4));
    await run.stderr(/Death not counted: logger \(ExitCode 4\)/);
    await stillRunning(run, 1);
    // main restarted (the same graveyard): Born again, then a failure.
    writeFileSync(join(graveyard, 'main'), `Born: "${T}"\n`);
    await stillRunning(run, 2);
    writeFileSync(join(graveyard, 'main'), died(2));
    const exit = await run.exited;
    assert.match(exit.stdout, /got SIGTERM\n/);
    const events = traceEvents(exit.logs.at(-1), 'death graveyard watcher');
    assert.ok(events.includes('New death: main'));
    assert.deepEqual(
      exit.logs
        .filter((l) => l.message === 'death not counted: the child keeps running')
        .map((l) => [l.dependency, l.exit_code, l.conditions]),
      [
        ['main', 0, ['failed']],
        ['logger', 4, ['succeeded']],
      ],
    );
  });

  it('logger:succeeded acts on a death with ExitCode 0', async () => {
    const graveyard = tempDir();
    const run = sidecar(graveyard, { KUBEXIT_DEATH_DEPS: 'main:failed,logger:succeeded' });
    await ready(run);
    writeFileSync(join(graveyard, 'logger'), died(0));
    const exit = await run.exited;
    assert.match(exit.stdout, /got SIGTERM\n/);
  });
});

describe('the shutdown hold (KUBEXIT_SHUTDOWN_AFTER_DEPS)', () => {
  it("a SIGTERM is held while main runs, and the death action follows main's death; IGNORE_CODE gives 0", async () => {
    const graveyard = tempDir();
    const run = sidecar(graveyard, {
      KUBEXIT_SHUTDOWN_AFTER_DEPS: 'true',
      KUBEXIT_SHUTDOWN_HOLD: '1h',
      KUBEXIT_DEATH_SIGNAL: 'SIGQUIT',
      KUBEXIT_IGNORE_CODE_ON_DEATH_DEPS: 'true',
    });
    await ready(run);
    run.kill('SIGTERM');
    await run.stderr(/Holding SIGTERM until a death dependency dies, at most 1h0m0s/);
    await stillRunning(run, 1); // and not TERMed: the child would have said so first
    writeFileSync(join(graveyard, 'main'), died(0));
    const exit = await run.exited;
    assert.equal(exit.code, 0);
    assert.doesNotMatch(exit.stdout, /got SIGTERM/);
    assert.match(exit.stdout, /got SIGUSR1\ngot SIGQUIT\n/);
    assert.ok(
      traceEvents(exit.logs.at(-1), 'supervisor').includes('Shutdown hold released: main died'),
    );
    assert.match(
      readFileSync(join(graveyard, 'sidecar'), 'utf8'),
      /\nReason: "death dependency main"\n$/,
    );
  });

  it('a hold that hits KUBEXIT_SHUTDOWN_HOLD: the death action then, and the TERM is the reason', async () => {
    const graveyard = tempDir();
    const run = sidecar(graveyard, {
      KUBEXIT_SHUTDOWN_AFTER_DEPS: 'true',
      KUBEXIT_SHUTDOWN_HOLD: '200ms',
      KUBEXIT_DEATH_SIGNAL: 'SIGQUIT',
      KUBEXIT_IGNORE_CODE_ON_DEATH_DEPS: 'true', // not a death: no effect, but the ending keys
    });
    await ready(run);
    run.kill('SIGTERM');
    const exit = await run.exited;
    assert.equal(exit.code, 0);
    assert.match(exit.stdout, /got SIGQUIT\n/);
    assert.doesNotMatch(exit.stdout, /got SIGTERM/);
    const events = traceEvents(exit.logs.at(-1), 'supervisor');
    assert.deepEqual(
      events.filter((e) => /Hold|hold|Terminating/.test(e)),
      [
        'Holding SIGTERM until a death dependency dies, at most 200ms',
        'Shutdown hold elapsed: 200ms',
        'Terminating child process: SIGQUIT',
      ],
    );
    assert.match(
      readFileSync(join(graveyard, 'sidecar'), 'utf8'),
      /\nChildExitCode: 0\nReason: "signal SIGTERM"\n$/,
    );
  });

  it('the default hold is the grace period', async () => {
    const graveyard = tempDir();
    const run = sidecar(graveyard, {
      KUBEXIT_SHUTDOWN_AFTER_DEPS: 'true',
      KUBEXIT_GRACE_PERIOD: '150ms',
    });
    await ready(run);
    run.kill('SIGTERM');
    await run.stderr(/Holding SIGTERM until a death dependency dies, at most 150ms/);
    await run.stderr(/Shutdown hold elapsed: 150ms/);
    const exit = await run.exited;
    assert.match(exit.stdout, /got SIGTERM\n/);
  });

  it('a second SIGTERM ends the hold at once', async () => {
    const graveyard = tempDir();
    const run = sidecar(graveyard, {
      KUBEXIT_SHUTDOWN_AFTER_DEPS: 'true',
      KUBEXIT_SHUTDOWN_HOLD: '1h',
    });
    await ready(run);
    run.kill('SIGTERM');
    await run.stderr(/Holding SIGTERM/);
    run.kill('SIGTERM');
    const exit = await run.exited;
    assert.match(exit.stdout, /got SIGTERM\n/);
    assert.ok(
      traceEvents(exit.logs.at(-1), 'supervisor').includes(
        'Received a second SIGTERM: the hold ends',
      ),
    );
  });

  it('signals other than TERM are forwarded during a hold', async () => {
    const graveyard = tempDir();
    const run = sidecar(graveyard, {
      KUBEXIT_SHUTDOWN_AFTER_DEPS: 'true',
      KUBEXIT_SHUTDOWN_HOLD: '1h',
    });
    await ready(run);
    run.kill('SIGTERM');
    await run.stderr(/Holding SIGTERM/);
    run.kill('SIGINT');
    const exit = await run.exited;
    assert.match(exit.stdout, /got SIGINT\n/);
    assert.doesNotMatch(exit.stdout, /got SIGTERM/);
  });

  it('during a hold any death of a dependency ends it, even one its condition would not count', async () => {
    const graveyard = tempDir();
    const run = sidecar(graveyard, {
      KUBEXIT_DEATH_DEPS: 'main:failed',
      KUBEXIT_SHUTDOWN_AFTER_DEPS: 'true',
      KUBEXIT_SHUTDOWN_HOLD: '1h',
    });
    await ready(run);
    run.kill('SIGTERM');
    await run.stderr(/Holding SIGTERM/);
    writeFileSync(join(graveyard, 'main'), died(0));
    const exit = await run.exited;
    assert.match(exit.stdout, /got SIGTERM\n/);
    assert.ok(
      traceEvents(exit.logs.at(-1), 'supervisor').includes('Shutdown hold released: main died'),
    );
  });

  it('a dependency already dead (a death not counted) means no hold: the TERM is forwarded', async () => {
    const graveyard = tempDir();
    const run = sidecar(graveyard, {
      KUBEXIT_DEATH_DEPS: 'main:failed',
      KUBEXIT_SHUTDOWN_AFTER_DEPS: 'true',
      KUBEXIT_SHUTDOWN_HOLD: '1h',
    });
    await ready(run);
    writeFileSync(join(graveyard, 'main'), died(0));
    await run.stderr(/Death not counted: main/);
    run.kill('SIGTERM');
    const exit = await run.exited;
    assert.match(exit.stdout, /got SIGTERM\n/);
    assert.doesNotMatch(exit.stderr, /Holding SIGTERM/);
  });

  it('without death dependencies KUBEXIT_SHUTDOWN_AFTER_DEPS changes nothing: the TERM is forwarded', async () => {
    const graveyard = tempDir();
    const run = sidecar(graveyard, {
      KUBEXIT_DEATH_DEPS: '',
      KUBEXIT_SHUTDOWN_AFTER_DEPS: 'true',
    });
    await ready(run);
    run.kill('SIGTERM');
    const exit = await run.exited;
    assert.match(exit.stdout, /got SIGTERM\n/);
    assert.doesNotMatch(exit.stderr, /Holding SIGTERM/);
  });
});
