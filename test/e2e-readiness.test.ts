// Readiness without the Kubernetes API: real kubexits sharing a real graveyard, their ready
// probes against real servers and commands, and birth dependencies met (or not) by what the
// tombstones say. No API server, no service account, no pod name anywhere here.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { freePort } from './support/cluster.js';
import { kubexit, tombstone, traceEvents, type Exit, type Run } from './support/kubexit.js';
import { tempDir } from './support/temp.js';

const TRACE = 'birth dependencies watcher';
const READY = /\nReady: "[^"]+"\n/;

/** Resolves when kubexit logs `pattern`; rejects if it exits first, with its log. */
function logged(run: Run, pattern: RegExp): Promise<RegExpMatchArray> {
  return Promise.race([
    run.stderr(pattern),
    run.exited.then((exit) => {
      throw new Error(`exited (${exit.code}) before logging ${pattern}:\n${exit.stderr}`);
    }),
  ]);
}

/** A kubexit whose child touches `marker` (in a folder of its own) and exits 0. */
function dependent(graveyard: string, deps: string, env: Record<string, string> = {}) {
  const marker = join(tempDir(), 'child-ran');
  const run = kubexit(['touch', marker], {
    KUBEXIT_NAME: 'client',
    KUBEXIT_GRAVEYARD: graveyard,
    KUBEXIT_BIRTH_DEPS: deps,
    KUBEXIT_INSTANT_LOGGING: 'true',
    KUBEXIT_VERBOSE_LEVEL: '1',
    ...env,
  });
  return { run, marker };
}

/** A kubexit named `name` running `command` until TERMed, with the given environment. */
function service(graveyard: string, name: string, command: string[], env: Record<string, string>) {
  return kubexit(command, {
    KUBEXIT_NAME: name,
    KUBEXIT_GRAVEYARD: graveyard,
    KUBEXIT_INSTANT_LOGGING: 'true',
    ...env,
  });
}

/**
 * A node server on `port` that starts listening only when it gets SIGUSR1 (kubexit passes it
 * on), then prints "listening". `kind` http answers `status`; `hang-first` never answers its
 * first request.
 */
function server(port: number, kind: 'tcp' | 'http' | 'hang-first', status = 200): string[] {
  const handler =
    kind === 'tcp'
      ? `require('net').createServer((s) => s.end())`
      : kind === 'http'
        ? `require('http').createServer((q, r) => { r.writeHead(${status}, { Location: '/' }); r.end(); })`
        : `(() => { let n = 0; return require('http').createServer((q, r) => { if (n++ > 0) r.end('ok'); }); })()`;
  const script = `
    const server = ${handler};
    process.on('SIGUSR1', () => server.listen(${port}, '127.0.0.1', () => console.log('listening')));
    process.on('SIGTERM', () => process.exit(0));
    console.log('waiting');
    setInterval(() => {}, 1000);
  `;
  return [process.execPath, '-e', script];
}

/** A child that runs until TERMed, then exits `code`; it prints "armed" once it can. */
function untilTerm(code: number): string[] {
  const script = `process.on('SIGTERM', () => process.exit(${code})); console.log('armed'); setInterval(() => {}, 1000);`;
  return [process.execPath, '-e', script];
}

async function assertStarted(exit: Exit, marker: string): Promise<void> {
  assert.equal(exit.code, 0, exit.stderr);
  assert.ok(existsSync(marker), 'the child ran');
}

async function assertNotStarted(exit: Exit, marker: string, graveyard: string, name = 'client') {
  assert.equal(exit.code, 1, exit.stderr);
  assert.equal(existsSync(marker), false, 'the child never ran');
  assert.match(readFileSync(join(graveyard, name), 'utf8'), /^Died: "[^"]+"\nExitCode: 1\n$/);
  return String(exit.logs.at(-1)?.error);
}

describe('ready probes', () => {
  it('tcp: a server that listens late is Ready only once it listens; the dependent starts then', async () => {
    const graveyard = tempDir();
    const port = await freePort();
    const srv = service(graveyard, 'server', server(port, 'tcp'), {
      KUBEXIT_READY_PROBE: `tcp://127.0.0.1:${port}`,
    });
    await logged(srv, /Ready probe tcp:\/\/127\.0\.0\.1:\d+: not yet: ECONNREFUSED/);
    await srv.stdout(/waiting/);
    assert.match(readFileSync(join(graveyard, 'server'), 'utf8'), /^Born: "[^"]+"\n$/);
    const { run, marker } = dependent(graveyard, 'server');
    await logged(run, /server: started, not ready/);
    assert.equal(existsSync(marker), false, 'started is not ready');
    srv.kill('SIGUSR1');
    await assertStarted(await run.exited, marker);
    assert.match(
      readFileSync(join(graveyard, 'server'), 'utf8'),
      /^Born: "[^"]+"\nReady: "[^"]+"\n$/,
    );
    srv.kill('SIGTERM');
    const exit = await srv.exited;
    assert.equal(exit.code, 0);
    assert.match(readFileSync(join(graveyard, 'server'), 'utf8'), READY, 'Ready stays after Died');
  });

  it('http: 503 is not ready, 200 is; the probe stops once it passes', async () => {
    const graveyard = tempDir();
    const port = await freePort();
    // One server that answers 503: never Ready, and its child runs on; one that answers 200.
    const bad = service(graveyard, 'bad', server(port, 'http', 503), {
      KUBEXIT_READY_PROBE: `http://127.0.0.1:${port}/healthz`,
    });
    await bad.stdout(/waiting/);
    bad.kill('SIGUSR1');
    await logged(bad, /Ready probe http:\/\/127\.0\.0\.1:\d+\/healthz: not yet: HTTP status 503/);
    assert.doesNotMatch(readFileSync(join(graveyard, 'bad'), 'utf8'), READY);
    bad.kill('SIGTERM');
    const badExit = await bad.exited;
    assert.equal(badExit.code, 0, 'a failing probe never changes the child’s fate');
    assert.doesNotMatch(readFileSync(join(graveyard, 'bad'), 'utf8'), READY);

    const port2 = await freePort();
    const good = service(graveyard, 'good', server(port2, 'http', 200), {
      KUBEXIT_READY_PROBE: `http://127.0.0.1:${port2}/healthz`,
    });
    await good.stdout(/waiting/);
    good.kill('SIGUSR1');
    await tombstone(graveyard, 'good', (t) => READY.test(t));
    good.kill('SIGTERM');
    assert.equal((await good.exited).code, 0);
  });

  it('https: a self-signed certificate is not checked (as the kubelet), and a 3xx passes', async () => {
    const dir = tempDir();
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-subj',
        '/CN=nobody',
        '-days',
        '1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    const port = await freePort();
    const script = `
      const fs = require('fs');
      const server = require('https').createServer(
        { key: fs.readFileSync(${JSON.stringify(join(dir, 'key.pem'))}), cert: fs.readFileSync(${JSON.stringify(join(dir, 'cert.pem'))}) },
        (q, r) => { r.writeHead(302, { Location: '/elsewhere' }); r.end(); });
      server.listen(${port}, '127.0.0.1', () => console.log('listening'));
      process.on('SIGTERM', () => process.exit(0));
    `;
    const graveyard = tempDir();
    const srv = service(graveyard, 'tls', [process.execPath, '-e', script], {
      KUBEXIT_READY_PROBE: `https://127.0.0.1:${port}/ready`,
    });
    await tombstone(graveyard, 'tls', (t) => READY.test(t));
    srv.kill('SIGTERM');
    assert.equal((await srv.exited).code, 0);
  });

  it('an attempt that hangs past its timeout is abandoned; the next one passes', async () => {
    const graveyard = tempDir();
    const port = await freePort();
    const srv = service(graveyard, 'slow', server(port, 'hang-first'), {
      KUBEXIT_READY_PROBE: `http://127.0.0.1:${port}/`,
      KUBEXIT_READY_PROBE_TIMEOUT: '300ms',
    });
    await srv.stdout(/waiting/);
    srv.kill('SIGUSR1');
    await logged(srv, /not yet: no answer within 300 ms/);
    await tombstone(graveyard, 'slow', (t) => READY.test(t));
    srv.kill('SIGTERM');
    assert.equal((await srv.exited).code, 0);
  });

  it('exec: a command that fails, then passes once its file exists (no shell)', async () => {
    const graveyard = tempDir();
    const flag = join(tempDir(), 'ready flag');
    const srv = service(graveyard, 'worker', ['sleep', '60'], {
      // A path with a space, quoted: split as a shell would, run without one.
      KUBEXIT_READY_PROBE: `exec:test -f '${flag}'`,
    });
    await logged(srv, /Ready probe exec:test -f .+: not yet: exit code 1/);
    assert.doesNotMatch(readFileSync(join(graveyard, 'worker'), 'utf8'), READY);
    writeFileSync(flag, '');
    await tombstone(graveyard, 'worker', (t) => READY.test(t));
    srv.kill('SIGTERM');
    assert.equal((await srv.exited).code, 143);
  });

  it('exec: a probe that hangs past its timeout is killed, and tried again', async () => {
    const graveyard = tempDir();
    const flag = join(tempDir(), 'go');
    const srv = service(graveyard, 'worker', ['sleep', '60'], {
      KUBEXIT_READY_PROBE: `exec:sh -c 'test -f ${flag} || exec sleep 60'`,
      KUBEXIT_READY_PROBE_TIMEOUT: '200ms',
    });
    await logged(srv, /not yet: no answer within 200 ms/);
    writeFileSync(flag, '');
    await tombstone(graveyard, 'worker', (t) => READY.test(t));
    srv.kill('SIGTERM');
    assert.equal((await srv.exited).code, 143);
  });

  it('the initial delay holds the first attempt', async () => {
    const graveyard = tempDir();
    const srv = service(graveyard, 'late', ['sleep', '60'], {
      KUBEXIT_READY_PROBE: 'exec:true',
      KUBEXIT_READY_PROBE_INITIAL_DELAY: '1h',
    });
    await logged(srv, /Ready probe exec:true: starting/);
    srv.kill('SIGTERM');
    const exit = await srv.exited;
    assert.equal(exit.code, 143);
    assert.doesNotMatch(exit.stderr, /passed/);
    assert.doesNotMatch(readFileSync(join(graveyard, 'late'), 'utf8'), READY);
  });
});

describe('birth dependencies from tombstones (no Kubernetes API)', () => {
  it('a dependency without a probe is ready once its child runs: the dependent starts', async () => {
    const graveyard = tempDir();
    const proxy = service(graveyard, 'proxy', ['sleep', '60'], {});
    await tombstone(graveyard, 'proxy', (t) => t.startsWith('Born'));
    assert.match(
      readFileSync(join(graveyard, 'proxy'), 'utf8'),
      /^Born: "([^"]+)"\nReady: "\1"\n$/,
    );
    const { run, marker } = dependent(graveyard, 'proxy');
    const exit = await run.exited;
    await assertStarted(exit, marker);
    const events = traceEvents(exit.logs.at(-1), TRACE);
    assert.ok(events.includes('All birth deps ready: proxy'), events.join('\n'));
    assert.ok(!exit.stderr.includes('Pod Watch'), 'no API asked');
    proxy.kill('SIGTERM');
    await proxy.exited;
  });

  it('waits for a dependency that is not there yet, and starts once it is ready', async () => {
    const graveyard = tempDir();
    const { run, marker } = dependent(graveyard, 'proxy');
    await logged(run, /proxy: no tombstone/);
    const proxy = service(graveyard, 'proxy', ['sleep', '60'], {});
    await assertStarted(await run.exited, marker);
    proxy.kill('SIGTERM');
    await proxy.exited;
  });

  it('a dependency that dies before it was ever ready fails the wait at once, with its exit code', async () => {
    const graveyard = tempDir();
    const srv = service(graveyard, 'server', untilTerm(3), { KUBEXIT_READY_PROBE: 'exec:false' });
    await logged(srv, /not yet: exit code 1/);
    const { run, marker } = dependent(graveyard, 'server', { KUBEXIT_BIRTH_TIMEOUT: '1h' });
    await logged(run, /server: started, not ready/);
    await srv.stdout(/armed/);
    srv.kill('SIGTERM'); // its child exits 3
    const srvExit = await srv.exited;
    assert.equal(srvExit.code, 3, 'the probe never changed the child’s fate');
    const error = await assertNotStarted(await run.exited, marker, graveyard);
    assert.equal(error, 'birth dependency server ended before it was ready (exit code 3)');
  });

  it("a Go kubexit's tombstone (Born, no Ready) is started, not ready", async () => {
    const graveyard = tempDir();
    writeFileSync(join(graveyard, 'legacy'), 'Born: "2026-01-01T00:00:00Z"\n');
    const started = dependent(graveyard, 'legacy:started');
    await assertStarted(await started.run.exited, started.marker);
    const ready = dependent(graveyard, 'legacy', { KUBEXIT_BIRTH_TIMEOUT: '300ms' });
    const error = await assertNotStarted(await ready.run.exited, ready.marker, graveyard);
    assert.match(
      error,
      /^timed out waiting for birth deps to be ready: 300ms; not ready: legacy \(started, not ready: .*Go kubexit/,
    );
  });

  it('SIGTERM during the wait: exit 143, the child never starts', async () => {
    const graveyard = tempDir();
    const { run, marker } = dependent(graveyard, 'proxy');
    await logged(run, /proxy: no tombstone/);
    run.kill('SIGTERM');
    const exit = await run.exited;
    assert.equal(exit.code, 143, exit.stderr);
    assert.equal(existsSync(marker), false);
    assert.match(
      readFileSync(join(graveyard, 'client'), 'utf8'),
      /^Died: "[^"]+"\nExitCode: 143\n$/,
    );
  });

  it('a death dependency dying during the wait: exit 143, the child never starts', async () => {
    const graveyard = tempDir();
    const { run, marker } = dependent(graveyard, 'proxy', { KUBEXIT_DEATH_DEPS: 'main' });
    await logged(run, /proxy: no tombstone/);
    writeFileSync(join(graveyard, 'main'), 'Died: "2026-01-01T00:00:00Z"\nExitCode: 0\n');
    const exit = await run.exited;
    assert.equal(exit.code, 143, exit.stderr);
    assert.equal(existsSync(marker), false);
    assert.equal(exit.logs.at(-1)?.reason, 'death dependency main died');
  });
});

describe('dependency conditions', () => {
  it('started: met once the child runs, even while its probe fails', async () => {
    const graveyard = tempDir();
    const db = service(graveyard, 'db', ['sleep', '60'], { KUBEXIT_READY_PROBE: 'exec:false' });
    const { run, marker } = dependent(graveyard, 'db:started');
    await assertStarted(await run.exited, marker);
    assert.doesNotMatch(readFileSync(join(graveyard, 'db'), 'utf8'), READY);
    db.kill('SIGTERM');
    await db.exited;
  });

  it('completed: met when the dependency ends, whatever its code', async () => {
    const graveyard = tempDir();
    const job = service(graveyard, 'job', untilTerm(5), {});
    await tombstone(graveyard, 'job', (t) => t.startsWith('Born'));
    const { run, marker } = dependent(graveyard, 'job:completed');
    await logged(run, /job: running/);
    assert.equal(existsSync(marker), false);
    await job.stdout(/armed/);
    job.kill('SIGTERM');
    assert.equal((await job.exited).code, 5);
    await assertStarted(await run.exited, marker);
  });

  it('succeeded: a dependency that exits 4 fails the wait at once, naming it and its code', async () => {
    const graveyard = tempDir();
    const { run, marker } = dependent(graveyard, 'migrate:succeeded', {
      KUBEXIT_BIRTH_TIMEOUT: '1h',
    });
    await logged(run, /migrate: no tombstone/);
    const migrate = await service(graveyard, 'migrate', ['sh', '-c', 'exit 4'], {}).exited;
    assert.equal(migrate.code, 4);
    const error = await assertNotStarted(await run.exited, marker, graveyard);
    assert.equal(
      error,
      'birth dependency migrate ended with exit code 4: migrate:succeeded needs exit code 0',
    );
  });

  it('the chain migrate → app → sidecar runs in order, started in reverse', async () => {
    const graveyard = tempDir();
    const order = join(tempDir(), 'order');
    writeFileSync(order, '');
    const sidecar = service(
      graveyard,
      'sidecar',
      ['sh', '-c', `echo sidecar >> ${order}; exec sleep 60`],
      {
        KUBEXIT_BIRTH_DEPS: 'app',
      },
    );
    await logged(sidecar, /app: no tombstone/);
    const app = service(graveyard, 'app', ['sh', '-c', `echo app >> ${order}; exec sleep 60`], {
      KUBEXIT_BIRTH_DEPS: 'migrate:succeeded',
      // Ready once it has written its line: the sidecar's line can only come after.
      KUBEXIT_READY_PROBE: `exec:grep -q app ${order}`,
    });
    await logged(app, /migrate: no tombstone/);
    const migrate = await service(
      graveyard,
      'migrate',
      ['sh', '-c', `echo migrate >> ${order}`],
      {},
    ).exited;
    assert.equal(migrate.code, 0);
    // The sidecar's line: awaited by inotify on its folder.
    await tombstone(join(order, '..'), 'order', (t) => t.includes('sidecar'));
    assert.equal(readFileSync(order, 'utf8'), 'migrate\napp\nsidecar\n');
    app.kill('SIGTERM');
    sidecar.kill('SIGTERM');
    assert.equal((await app.exited).code, 143);
    assert.equal((await sidecar.exited).code, 143);
  });

  /** The errors of kubexits that all fail; at least one names the cycle, in some rotation. */
  async function assertCycle(
    graveyard: string,
    runs: Record<string, { run: Run; marker: string }>,
    cycles: string[],
  ): Promise<void> {
    const errors: string[] = [];
    for (const [name, { run, marker }] of Object.entries(runs)) {
      errors.push(await assertNotStarted(await run.exited, marker, graveyard, name));
    }
    const reports = errors.filter((e) => e.startsWith('birth dependency cycle: '));
    assert.ok(reports.length > 0, errors.join('\n'));
    for (const e of reports) {
      const cycle = /^birth dependency cycle: (.*): each waits for the next, none can start$/.exec(
        e,
      );
      assert.ok(cycle && cycles.includes(cycle[1] as string), e);
    }
    // The others saw a member end before it was ready.
    for (const e of errors.filter((x) => !reports.includes(x))) {
      assert.match(e, /^birth dependency \w+ ended before it (was ready|started) \(exit code 1\)$/);
    }
  }

  it('a cycle a → b → a is reported at once, with the cycle, not waited out', async () => {
    const graveyard = tempDir();
    const a = dependent(graveyard, 'b', { KUBEXIT_NAME: 'a', KUBEXIT_BIRTH_TIMEOUT: '1h' });
    await logged(a.run, /b: no tombstone/);
    const b = dependent(graveyard, 'a', { KUBEXIT_NAME: 'b', KUBEXIT_BIRTH_TIMEOUT: '1h' });
    await assertCycle(graveyard, { a, b }, ['a → b → a', 'b → a → b']);
  });

  it('a cycle of three, a → b → c:started → a, is reported, whoever closes it', async () => {
    const graveyard = tempDir();
    const env = { KUBEXIT_BIRTH_TIMEOUT: '1h' };
    const a = dependent(graveyard, 'b', { ...env, KUBEXIT_NAME: 'a' });
    await logged(a.run, /b: no tombstone/);
    const b = dependent(graveyard, 'c:started', { ...env, KUBEXIT_NAME: 'b' });
    await logged(b.run, /c: no tombstone/);
    const c = dependent(graveyard, 'a', { ...env, KUBEXIT_NAME: 'c' });
    await assertCycle(graveyard, { a, b, c }, ['a → b → c → a', 'b → c → a → b', 'c → a → b → c']);
  });

  it('timeout action start: starts anyway after the timeout, and says so', async () => {
    const graveyard = tempDir();
    const { run, marker } = dependent(graveyard, 'cache', {
      KUBEXIT_BIRTH_TIMEOUT: '300ms',
      KUBEXIT_BIRTH_TIMEOUT_ACTION: 'start',
    });
    const exit = await run.exited;
    await assertStarted(exit, marker);
    const line = exit.logs.find((l) => /starting anyway/.test(String(l.message)));
    assert.equal(
      line?.error,
      'timed out waiting for birth deps to be ready: 300ms; not ready: cache (no tombstone)',
    );
    assert.ok(
      traceEvents(exit.logs.at(-1), TRACE).includes('Birth timeout: starting anyway without cache'),
    );
  });

  it('timeout action fail (the default): exit 1, naming what is not ready and why', async () => {
    const graveyard = tempDir();
    const { run, marker } = dependent(graveyard, 'cache', { KUBEXIT_BIRTH_TIMEOUT: '300ms' });
    const error = await assertNotStarted(await run.exited, marker, graveyard);
    assert.equal(
      error,
      'timed out waiting for birth deps to be ready: 300ms; not ready: cache (no tombstone)',
    );
  });
});
