// kubexit webhook: the admission webhook's server, on real HTTPS with openssl-made certificates.
// In-process with a fake mutation (the server's rules: patches, refusals, hostile requests), and
// through the CLI (under `node dist/kubexit.js` and under KUBEXIT_BIN): health, AdmissionReview,
// certificate rotation as the kubelet does it, SIGTERM, bad arguments.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect } from 'node:tls';
import { Log } from '../src/supervisor/log.js';
import { escapeKey, jsonPatch } from '../src/tooling/webhook-patch.js';
import { WebhookServer, type Mutate } from '../src/tooling/webhook-server.js';
import { fingerprint, makeCa, makeServingCert, SecretVolume, type Ca } from './support/certs.js';
import { logged } from './support/cluster.js';
import { kubexit, type Run } from './support/kubexit.js';
import { tempDir } from './support/temp.js';

interface Answer {
  status: number;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
  served: string;
}

/** One request on a fresh connection (so a rotated certificate shows), the CA checked. */
function call(
  port: number,
  ca: string,
  opts: { method?: string; path?: string; body?: string | Buffer } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: opts.method ?? 'POST',
        path: opts.path ?? '/mutate',
        ca,
        agent: false,
        headers: { 'Content-Type': 'application/json' },
      },
      (res) => {
        let text = '';
        const served = fingerprint(
          (res.socket as unknown as { getPeerX509Certificate(): { toString(): string } })
            .getPeerX509Certificate()
            .toString(),
        );
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, text, json, served });
        });
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

function review(object: unknown, extra: Record<string, unknown> = {}) {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'c0ffee',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      operation: 'CREATE',
      namespace: 'team',
      object,
      ...extra,
    },
  });
}

const POD = {
  metadata: { name: 'p', labels: { app: 'x' } },
  spec: { containers: [{ name: 'main', image: 'busybox', command: ['sleep', '1'] }] },
};

/** FAKE mutation for the server's own tests: labels the pod, refuses or throws on request. */
const fakeMutate: Mutate = (pod) => {
  const p = pod as typeof POD & { metadata: { labels: Record<string, string> } };
  if (p.metadata.labels.app === 'refuse') return { pod, problems: ['one', 'two'] };
  if (p.metadata.labels.app === 'throw') throw new Error('mutation bug');
  if (p.metadata.labels.app === 'keep') return { pod, problems: [] };
  p.metadata.labels['kubexit/wired'] = 'yes';
  return { pod, problems: [] };
};

function decodePatch(answer: Answer): unknown {
  return JSON.parse(Buffer.from(answer.json.response.patch as string, 'base64').toString('utf8'));
}

let ca: Ca;
let first: { cert: string; key: string };
before(() => {
  ca = makeCa(tempDir('kubexit-ca-'));
  first = makeServingCert(ca, 'first');
});

describe('webhook JSONPatch', () => {
  it('jsonPatch replaces, adds and removes whole fields two levels down', () => {
    const before = { metadata: { name: 'p', labels: { a: '1' }, x: 1 }, spec: { c: [1] } };
    const after = { metadata: { name: 'p', labels: { a: '1', b: '2' }, y: 2 }, spec: { c: [1] } };
    assert.deepEqual(jsonPatch(before, after), [
      { op: 'remove', path: '/metadata/x' },
      { op: 'replace', path: '/metadata/labels', value: { a: '1', b: '2' } },
      { op: 'add', path: '/metadata/y', value: 2 },
    ]);
  });

  it('jsonPatch is empty when only key order differs, and adds a missing /spec whole', () => {
    assert.deepEqual(
      jsonPatch({ spec: { a: { x: 1, y: 2 } } }, { spec: { a: { y: 2, x: 1 } } }),
      [],
    );
    assert.deepEqual(jsonPatch({}, { spec: { a: 1 } }), [
      { op: 'add', path: '/spec', value: { a: 1 } },
    ]);
  });

  it('jsonPatch escapes ~ and / in keys, and treats "constructor" as a key like any other', () => {
    assert.equal(escapeKey('a/b~c'), 'a~1b~0c');
    assert.deepEqual(jsonPatch({ m: {} }, { m: { 'kubexit.io/x~': 1, constructor: 2 } }), [
      { op: 'add', path: '/m/kubexit.io~1x~0', value: 1 },
      { op: 'add', path: '/m/constructor', value: 2 },
    ]);
  });
});

/** Log lines of an in-process server, and a wait for the next one that matches. */
class Lines {
  readonly all: string[] = [];
  private waiters: { pattern: RegExp; from: number; resolve: () => void }[] = [];
  sink = (line: string): void => {
    this.all.push(line);
    for (const w of [...this.waiters]) this.check(w);
  };
  /** Resolves when a line logged from now on matches. */
  next(pattern: RegExp): Promise<void> {
    return new Promise((resolve) => this.waiters.push({ pattern, from: this.all.length, resolve }));
  }
  private check(w: { pattern: RegExp; from: number; resolve: () => void }): void {
    if (this.all.slice(w.from).some((l) => w.pattern.test(l))) {
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.resolve();
    }
  }
}

/** A server on 127.0.0.1 with the first certificate in a fresh folder, logging into `lines`. */
async function startServer(
  lines: Lines,
  limits: { maxBodyBytes?: number; requestTimeoutMs?: number } = {},
): Promise<{ server: WebhookServer; port: number; dir: string }> {
  const dir = tempDir('kubexit-webhook-');
  writeFileSync(join(dir, 'tls.crt'), first.cert);
  writeFileSync(join(dir, 'tls.key'), first.key);
  const server = await WebhookServer.start({
    certFile: join(dir, 'tls.crt'),
    keyFile: join(dir, 'tls.key'),
    port: 0,
    host: '127.0.0.1',
    mutate: fakeMutate,
    log: new Log({ sink: lines.sink }),
    ...limits,
  });
  return { server, port: server.port, dir };
}

describe('webhook server (in-process, fake mutation)', () => {
  let server: WebhookServer;
  let port: number;
  const lines = new Lines();
  before(async () => {
    ({ server, port } = await startServer(lines, {
      maxBodyBytes: 64 * 1024,
      requestTimeoutMs: 300,
    }));
  });
  after(() => server?.close());

  it('webhook answers a pod creation with the JSONPatch of what the mutation changed', async () => {
    const a = await call(port, ca.pem, { body: review(POD) });
    assert.equal(a.status, 200);
    assert.equal(a.json.apiVersion, 'admission.k8s.io/v1');
    assert.equal(a.json.kind, 'AdmissionReview');
    assert.equal(a.json.response.uid, 'c0ffee');
    assert.equal(a.json.response.allowed, true);
    assert.equal(a.json.response.patchType, 'JSONPatch');
    assert.deepEqual(decodePatch(a), [
      { op: 'replace', path: '/metadata/labels', value: { app: 'x', 'kubexit/wired': 'yes' } },
    ]);
  });

  it('webhook allows without a patch when the mutation changes nothing, and lets non-pods and updates through', async () => {
    const keep = { ...POD, metadata: { name: 'p', labels: { app: 'keep' } } };
    for (const body of [
      review(keep),
      review(POD, { operation: 'UPDATE' }),
      review(POD, { kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }),
      review(POD, { subResource: 'status' }),
    ]) {
      const a = await call(port, ca.pem, { body });
      assert.equal(a.status, 200);
      assert.deepEqual(a.json.response, { uid: 'c0ffee', allowed: true });
    }
  });

  it('webhook refuses a pod the mutation cannot wire, naming the pod and every problem', async () => {
    const pod = { ...POD, metadata: { generateName: 'job-', labels: { app: 'refuse' } } };
    const a = await call(port, ca.pem, { body: review(pod) });
    assert.equal(a.status, 200);
    assert.deepEqual(a.json.response, {
      uid: 'c0ffee',
      allowed: false,
      status: {
        code: 422,
        reason: 'Invalid',
        message: 'kubexit webhook: pod team/job-* asks for kubexit but cannot be wired: one; two',
      },
    });
  });

  it('webhook refuses (500) when the mutation throws, and keeps serving', async () => {
    const pod = { ...POD, metadata: { name: 'boom', labels: { app: 'throw' } } };
    const a = await call(port, ca.pem, { body: review(pod) });
    assert.equal(a.json.response.allowed, false);
    assert.equal(a.json.response.status.code, 500);
    assert.match(a.json.response.status.message, /pod team\/boom failed: Error: mutation bug/);
    assert.equal((await call(port, ca.pem, { method: 'GET', path: '/healthz' })).text, 'ok\n');
  });

  it('webhook answers garbage with 400 and keeps serving', async () => {
    const bodies = [
      'not json',
      '[]',
      'null',
      '{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u"}}',
      '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":""}}',
      '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}',
    ];
    for (const body of bodies) {
      const a = await call(port, ca.pem, { body });
      assert.equal(a.status, 400, body);
      assert.equal(typeof a.json.error, 'string');
    }
    assert.equal((await call(port, ca.pem, { path: '/elsewhere' })).status, 404);
    assert.equal((await call(port, ca.pem, { method: 'GET' })).status, 405);
    assert.equal((await call(port, ca.pem, { body: review(POD) })).json.response.allowed, true);
  });

  it('webhook refuses a body over its cap with 413, announced or not', async () => {
    const big = Buffer.alloc(65 * 1024, 'x');
    assert.equal((await call(port, ca.pem, { body: big })).status, 413);
    // Chunked: no Content-Length, the cap applies as the body arrives.
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, method: 'POST', path: '/mutate', ca: ca.pem, agent: false },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      for (let i = 0; i < 65; i++) req.write(Buffer.alloc(1024, 'x'));
      req.end();
    });
    assert.equal(chunked, 413);
    assert.equal((await call(port, ca.pem, { body: review(POD) })).json.response.allowed, true);
  });

  it('webhook answers 408 and closes the connection when a body never finishes', async () => {
    const socket = connect({ host: '127.0.0.1', port, ca: ca.pem });
    await new Promise((resolve) => socket.once('secureConnect', resolve));
    socket.write('POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"apiVer');
    let text = '';
    socket.setEncoding('utf8').on('data', (d: string) => (text += d));
    await new Promise((resolve) => socket.once('close', resolve));
    assert.match(text, /^HTTP\/1\.1 408 /);
  });
});

describe('webhook certificate files rewritten in place (in-process)', () => {
  let server: WebhookServer;
  let port: number;
  let dir: string;
  const lines = new Lines();
  before(async () => {
    ({ server, port, dir } = await startServer(lines));
  });
  after(() => server?.close());

  it('webhook keeps serving its certificate when the new file is not one (garbage, or a key that does not match)', async () => {
    const refused = lines.next(/"message":"certificate not reloaded: keeping the one served"/);
    writeFileSync(join(dir, 'tls.crt'), '-----BEGIN CERTIFICATE-----\ngarbage\n');
    await refused;
    assert.equal(
      (await call(port, ca.pem, { path: '/healthz', method: 'GET' })).served,
      fingerprint(first.cert),
    );
    const other = makeServingCert(ca, 'mismatch');
    const mismatch = lines.next(/"message":"certificate not reloaded: keeping the one served"/);
    writeFileSync(join(dir, 'tls.crt'), other.cert); // the key is still the first one's
    await mismatch;
    assert.equal(
      (await call(port, ca.pem, { path: '/healthz', method: 'GET' })).served,
      fingerprint(first.cert),
    );
  });

  it('webhook serves the new certificate once both files are rewritten, cert then key', async () => {
    const next = makeServingCert(ca, 'in-place');
    const reloaded = lines.next(/"message":"certificate reloaded"/);
    writeFileSync(join(dir, 'tls.crt'), next.cert);
    writeFileSync(join(dir, 'tls.key'), next.key);
    await reloaded;
    assert.equal(
      (await call(port, ca.pem, { path: '/healthz', method: 'GET' })).served,
      fingerprint(next.cert),
    );
  });
});

describe('kubexit webhook through the CLI', () => {
  let volume: SecretVolume;
  let run: Run;
  let port: number;
  before(async () => {
    volume = new SecretVolume(tempDir('kubexit-secret-'));
    volume.write(first);
    run = kubexit(
      [
        'webhook',
        '--cert',
        volume.certFile,
        '--key',
        volume.keyFile,
        '--port',
        '0',
        '--addr',
        '127.0.0.1',
      ],
      {},
    );
    const m = await logged(run, /"message":"webhook listening","path":"\/mutate","port":(\d+)/);
    port = Number(m[1]);
  });
  after(() => {
    if (run?.running) run.kill('SIGTERM');
  });

  it('kubexit webhook serves /healthz and allows a pod that does not ask for kubexit, unpatched', async () => {
    const health = await call(port, ca.pem, { method: 'GET', path: '/healthz' });
    assert.equal(health.status, 200);
    assert.equal(health.text, 'ok\n');
    const a = await call(port, ca.pem, { body: review(POD) });
    assert.deepEqual(a.json.response, { uid: 'c0ffee', allowed: true });
    assert.equal(a.served, fingerprint(first.cert));
  });

  it('kubexit webhook serves the new certificate once the secret volume swaps ..data', async () => {
    const second = makeServingCert(ca, 'second');
    volume.write(second);
    await logged(run, /"message":"certificate reloaded"/);
    const a = await call(port, ca.pem, { method: 'GET', path: '/healthz' });
    assert.equal(a.served, fingerprint(second.cert));
    assert.notEqual(a.served, fingerprint(first.cert));
  });

  it('kubexit webhook keeps serving after garbage and a million-deep object, and exits 0 on SIGTERM', async () => {
    assert.equal((await call(port, ca.pem, { body: '{{{' })).status, 400);
    // A million levels of nesting, within the size cap: refused, not a crash.
    const deep = review({ metadata: 0, spec: {} }).replace(
      '"metadata":0',
      `"metadata":${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}`,
    );
    const a = await call(port, ca.pem, { body: deep });
    assert.equal(a.status, 200);
    assert.equal(a.json.response.allowed, false);
    assert.equal(a.json.response.status.code, 500);
    assert.equal((await call(port, ca.pem, { method: 'GET', path: '/healthz' })).status, 200);
    run.kill('SIGTERM');
    const exit = await run.exited;
    assert.equal(exit.code, 0, exit.stderr);
    assert.match(exit.stderr, /"message":"webhook stopping","signal":"SIGTERM"/);
  });

  it('kubexit webhook with bad arguments prints its usage and exits 2', async () => {
    for (const args of [
      [],
      ['--cert', 'c'],
      ['--cert', 'c', '--key', 'k', '--port', 'x'],
      ['--what'],
    ]) {
      const exit = await kubexit(['webhook', ...args], {}).exited;
      assert.equal(exit.code, 2, exit.stderr);
      assert.match(
        exit.stderr,
        /^kubexit webhook: .*\nUsage: kubexit webhook --cert FILE --key FILE/,
      );
    }
  });

  it('kubexit webhook with an unreadable certificate says so in one line and exits 1', async () => {
    const exit = await kubexit(['webhook', '--cert', '/no/such.crt', '--key', '/no/such.key'], {})
      .exited;
    assert.equal(exit.code, 1);
    assert.equal(exit.logs.length, 1);
    assert.equal(exit.logs[0]?.message, 'webhook cannot start');
    assert.match(String(exit.logs[0]?.error), /ENOENT.*\/no\/such\.crt/);
  });
});
