// Birth dependencies against what a real kube-apiserver cannot be made to do: a fake API server
// (TLS on 127.0.0.1, a free port, a certificate made here with openssl) that accepts and never
// answers, stalls a body, stalls a watch, or sends a line that never ends; and service-account
// or kubeconfig files that are FIFOs, devices or too big. kubexit itself is the real process.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { kubexit, traceEvents, type Exit, type Run } from './support/kubexit.js';
import { tempDir } from './support/temp.js';

const TRACE = 'birth dependencies watcher';
const MiB = 1 << 20;
/** What kubexit buffers at most for one watch event (src/supervisor/kube/http.ts). */
const EVENT_CAP = 16 * MiB;
/** A fake server never sends more than this on one connection, whatever kubexit does. */
const MAX_SENT = 64 * MiB;
/** A test that kubexit would hang fails (its run SIGKILLed) instead of hanging the suite. */
const HANG_GUARD_MS = 45_000;

/** A self-signed certificate for 127.0.0.1, which is also the CA kubexit is given. */
function makeCertificate(dir: string): { key: Buffer; cert: Buffer } {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=fake-apiserver',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
}

/** Pod "p" of namespace "ns": containers app and db, db ready or not; `extra` pads it. */
function pod(ready: boolean, resourceVersion: string, extra = ''): object {
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: {
      name: 'p',
      namespace: 'ns',
      resourceVersion,
      ...(extra ? { annotations: { padding: extra } } : {}),
    },
    spec: { containers: [{ name: 'app' }, { name: 'db' }] },
    status: {
      containerStatuses: [
        { name: 'app', ready: false },
        { name: 'db', ready },
      ],
    },
  };
}

function podList(ready: boolean, resourceVersion: string): string {
  return JSON.stringify({
    kind: 'PodList',
    apiVersion: 'v1',
    metadata: { resourceVersion },
    items: [pod(ready, resourceVersion)],
  });
}

type Handler = (req: IncomingMessage, res: ServerResponse, n: number) => void;

/**
 * A fake API server: not Kubernetes, just enough HTTPS to play one fault. Each request goes to
 * the handler with its number (1 for the first); `close()` drops every connection.
 */
class FakeApiServer {
  readonly requests: string[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;
  private handler: Handler = (_req, res) => res.writeHead(404).end();
  private arrived: ((path: string) => void)[] = [];

  constructor(tls: { key: Buffer; cert: Buffer }) {
    this.server = createHttpsServer({ ...tls, requestTimeout: 0 }, (req, res) => {
      this.requests.push(req.url ?? '');
      const waiters = this.arrived;
      this.arrived = [];
      for (const w of waiters) w(req.url ?? '');
      this.handler(req, res, this.requests.length);
    });
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as AddressInfo).port;
  }

  serve(handler: Handler): void {
    this.requests.length = 0;
    this.handler = handler;
  }

  /** Resolves when the next request arrives, with its path. */
  nextRequest(): Promise<string> {
    return new Promise((resolve) => this.arrived.push(resolve));
  }

  dropConnections(): void {
    for (const s of this.sockets) s.destroy();
  }

  close(): void {
    this.dropConnections();
    this.server.close();
  }
}

/** JSON answer in one piece. */
function answer(res: ServerResponse, body: string): void {
  res.writeHead(200, { 'Content-Type': 'application/json' }).end(body);
}

function isWatch(req: IncomingMessage): boolean {
  return /[?&]watch=(1|true)\b/.test(req.url ?? '');
}

/**
 * Writes `line` then, if `endless`, more of it and never a newline: as fast as the socket
 * drains, up to MAX_SENT bytes, and stops when the connection closes.
 */
function sendLongLine(res: ServerResponse, onBytes?: (sent: number) => void): void {
  const block = Buffer.alloc(64 << 10, 'x');
  let sent = 0;
  const pump = (): void => {
    while (sent < MAX_SENT && !res.destroyed) {
      sent += block.length;
      onBytes?.(sent);
      if (!res.write(block)) {
        res.once('drain', pump);
        return;
      }
    }
  };
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.write('{"type":"MODIFIED","object":{"padding":"');
  pump();
}

let tls: { key: Buffer; cert: Buffer };
let fake: FakeApiServer;
let port: number;

before(async () => {
  tls = makeCertificate(tempDir('kubexit-fake-pki-'));
  fake = new FakeApiServer(tls);
  port = await fake.listen();
});
after(() => fake?.close());

/** A service-account folder: a token, the fake's certificate as CA, the namespace. */
function serviceAccountDir(): string {
  const dir = tempDir('kubexit-sa-');
  writeFileSync(join(dir, 'token'), 'fake-token');
  writeFileSync(join(dir, 'ca.crt'), tls.cert);
  writeFileSync(join(dir, 'namespace'), 'ns');
  return dir;
}

function mkfifo(path: string): void {
  execFileSync('mkfifo', [path]);
}

interface Start {
  saDir?: string;
  apiPort?: number;
  timeout?: string;
  env?: Record<string, string | undefined>;
}

/** kubexit in container "app" of pod ns/p, waiting for db; its child touches a marker. */
function start({ saDir = serviceAccountDir(), apiPort, timeout = '30s', env = {} }: Start = {}) {
  const graveyard = tempDir();
  const marker = join(tempDir(), 'child-ran');
  const run = kubexit(['sh', '-c', `touch ${marker}`], {
    KUBEXIT_NAME: 'app',
    KUBEXIT_GRAVEYARD: graveyard,
    KUBEXIT_BIRTH_DEPS: 'db',
    KUBEXIT_BIRTH_TIMEOUT: timeout,
    KUBEXIT_POD_NAME: 'p',
    KUBEXIT_NAMESPACE: 'ns',
    KUBEXIT_INSTANT_LOGGING: 'true',
    KUBEXIT_VERBOSE_LEVEL: '1',
    KUBERNETES_SERVICE_HOST: '127.0.0.1',
    KUBERNETES_SERVICE_PORT: String(apiPort ?? port),
    KUBEXIT_SERVICE_ACCOUNT_DIR: saDir,
    KUBECONFIG: undefined,
    ...env,
  });
  // Today's bugs hang kubexit with its event loop blocked: SIGKILL it so the test fails.
  const guard = setTimeout(() => run.proc.kill('SIGKILL'), HANG_GUARD_MS);
  void run.exited.then(() => clearTimeout(guard));
  return { run, graveyard, marker };
}

async function assertEnded(
  run: Run,
  graveyard: string,
  marker: string,
  code: number,
): Promise<Exit> {
  const exit = await run.exited;
  assert.equal(exit.code, code, `exit ${exit.code ?? exit.signal}\n${exit.stderr}`);
  assert.equal(existsSync(marker), false, 'the child never ran');
  // No Born: the child never started.
  assert.match(
    readFileSync(join(graveyard, 'app'), 'utf8'),
    new RegExp(`^Died: "[^"]+"\\nExitCode: ${code}\\n$`),
  );
  return exit;
}

function assertStarted(exit: Exit, marker: string): string[] {
  assert.equal(exit.code, 0, exit.stderr);
  assert.ok(existsSync(marker), 'the child ran');
  const events = traceEvents(exit.logs.at(-1), TRACE);
  assert.ok(events.includes('All birth deps ready: db'), events.join('\n'));
  return events;
}

/** How each fault is played, and a promise that resolves once kubexit is in its grip. */
interface Fault {
  name: string;
  /** Arms the fault; resolves once kubexit is stuck in it. Returns the port to use. */
  arm(): Promise<{ apiPort: number; stuck: Promise<unknown>; disarm?: () => void }>;
}

const FAULTS: Fault[] = [
  {
    name: 'accepts TCP but never answers',
    async arm() {
      // Not even TLS: the connection is accepted and then nothing, ever.
      const held = new Set<Socket>();
      let accepted: () => void = () => undefined;
      const stuck = new Promise<void>((resolve) => (accepted = resolve));
      const silent = createTcpServer((s) => {
        held.add(s);
        accepted();
      });
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      return {
        apiPort: (silent.address() as AddressInfo).port,
        stuck,
        disarm: () => {
          for (const s of held) s.destroy();
          silent.close();
        },
      };
    },
  },
  {
    name: 'answers the LIST headers, then stalls its body',
    async arm() {
      let stalled: () => void = () => undefined;
      const stuck = new Promise<void>((resolve) => (stalled = resolve));
      fake.serve((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.write('{"kind":"PodList","items":[', () => stalled());
      });
      return { apiPort: port, stuck };
    },
  },
  {
    name: 'stalls the WATCH forever',
    async arm() {
      let stalled: () => void = () => undefined;
      const stuck = new Promise<void>((resolve) => (stalled = resolve));
      fake.serve((req, res) => {
        if (!isWatch(req)) return answer(res, podList(false, '1'));
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.flushHeaders();
        stalled();
      });
      return { apiPort: port, stuck };
    },
  },
  {
    name: 'sends an endless line on the WATCH',
    async arm() {
      let deep: () => void = () => undefined;
      const stuck = new Promise<void>((resolve) => (deep = resolve));
      fake.serve((req, res) => {
        if (!isWatch(req)) return answer(res, podList(false, '1'));
        sendLongLine(res, (sent) => {
          if (sent >= 4 * MiB) deep();
        });
      });
      return { apiPort: port, stuck };
    },
  },
];

describe('birth dependencies: a fake stalled API server never hangs kubexit', () => {
  for (const fault of FAULTS) {
    it(`fake stalled API server that ${fault.name}: KUBEXIT_BIRTH_TIMEOUT ends the wait (exit 1, no child, Died 1)`, async () => {
      const { apiPort, disarm } = await fault.arm();
      try {
        const { run, graveyard, marker } = start({ apiPort, timeout: '2s' });
        const exit = await assertEnded(run, graveyard, marker, 1);
        assert.match(
          String(exit.logs.at(-1)?.error),
          /^timed out waiting for birth deps to be ready: 2s/,
        );
      } finally {
        disarm?.();
        fake.dropConnections();
      }
    });

    it(`fake stalled API server that ${fault.name}: SIGTERM ends kubexit at once (exit 143, no child, Died 143)`, async () => {
      const { apiPort, stuck, disarm } = await fault.arm();
      try {
        const { run, graveyard, marker } = start({ apiPort, timeout: '10m' });
        await stuck;
        run.kill('SIGTERM');
        const exit = await assertEnded(run, graveyard, marker, 143);
        assert.equal(exit.logs.at(-1)?.reason, 'received SIGTERM');
        assert.equal(traceEvents(exit.logs.at(-1), TRACE).at(-1), 'Pod Watch(p): done');
      } finally {
        disarm?.();
        fake.dropConnections();
      }
    });
  }
});

describe('birth dependencies: the watch stream is bounded', () => {
  it('fake API server: a watch line that never ends is dropped at the cap and kubexit lists again', async () => {
    const watches: number[] = [];
    fake.serve((req, res, n) => {
      if (!isWatch(req)) return answer(res, podList(watches.length > 0, String(n)));
      watches.push(n);
      sendLongLine(res);
    });
    try {
      const { run, marker } = start();
      const exit = await run.exited;
      const events = assertStarted(exit, marker);
      const dropped = events.filter((e) => /larger than 16 MiB/.test(e));
      assert.equal(dropped.length, 1, events.join('\n'));
      assert.match(
        dropped[0] as string,
        /^Pod Watch\(p\): recoverable error: watch pods in namespace "ns": an event larger than 16 MiB; listing again$/,
      );
      assert.deepEqual(
        fake.requests.map((r) => (r.includes('watch=1') ? 'watch' : 'list')),
        ['list', 'watch', 'list'],
      );
    } finally {
      fake.dropConnections();
    }
  });

  it('fake API server: a 12 MiB event with multi-byte characters, sent in odd-sized pieces, is read whole', async () => {
    // A pod near the cap (the API server itself stores at most ~1.5 MiB per object).
    const padding = 'é'.repeat(6 * MiB); // 12 MiB of UTF-8
    const event = Buffer.from(
      `${JSON.stringify({ type: 'MODIFIED', object: pod(true, '2', padding) })}\n`,
    );
    assert.ok(event.length > 12 * MiB && event.length < EVENT_CAP);
    fake.serve((req, res) => {
      if (!isWatch(req)) return answer(res, podList(false, '1'));
      res.writeHead(200, { 'Content-Type': 'application/json' });
      // 65,537-byte pieces: most split a two-byte character in half.
      let off = 0;
      const pump = (): void => {
        while (off < event.length && !res.destroyed) {
          const piece = event.subarray(off, off + 65_537);
          off += piece.length;
          if (!res.write(piece)) {
            res.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
    try {
      const { run, marker } = start();
      const events = assertStarted(await run.exited, marker);
      assert.ok(events.includes('All birth deps ready: db'));
    } finally {
      fake.dropConnections();
    }
  });
});

describe('birth dependencies: malformed watch events', () => {
  it('fake API server: events that are not pods (null, containers not a list, another pod) are survived', async () => {
    // First watch: an event with no object (ignored), then one whose containers are not a
    // list (the watch ends, and is retried). Second: another pod's event (ignored), then ours.
    const streams = [
      [
        { type: 'MODIFIED', object: null },
        { type: 'MODIFIED', object: { metadata: { name: 'p' }, spec: { containers: 5 } } },
      ],
      [
        { type: 'MODIFIED', object: { ...pod(true, '3'), metadata: { name: 'other' } } },
        { type: 'MODIFIED', object: pod(true, '4') },
      ],
    ];
    let watches = 0;
    fake.serve((req, res) => {
      if (!isWatch(req)) return answer(res, podList(false, '1'));
      const events = streams[watches++] ?? [];
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write(events.map((e) => `${JSON.stringify(e)}\n`).join(''));
    });
    try {
      const { run, marker } = start();
      const events = assertStarted(await run.exited, marker);
      assert.ok(events.includes('Pod Watch(p): ignoring a MODIFIED event for pod undefined'));
      assert.equal(
        events.filter((e) => e.includes(': a malformed event: TypeError')).length,
        1,
        events.join('\n'),
      );
      assert.ok(events.includes('Pod Watch(p): ignoring a MODIFIED event for pod other'));
      assert.equal(watches, 2);
    } finally {
      fake.dropConnections();
    }
  });
});

describe('birth dependencies: service-account files are read without blocking, within a bound', () => {
  for (const file of ['token', 'ca.crt'] as const) {
    const what = file === 'token' ? 'the service-account token' : 'the cluster CA';
    it(`a FIFO as ${file}: exit 1 at once, naming the path and what it is`, async () => {
      const saDir = serviceAccountDir();
      unlinkSync(join(saDir, file));
      mkfifo(join(saDir, file));
      const { run, graveyard, marker } = start({ saDir });
      const exit = await assertEnded(run, graveyard, marker, 1);
      assert.equal(
        exit.logs.at(-1)?.error,
        `cannot read ${what}: ${join(saDir, file)} is a FIFO, expected a regular file`,
      );
    });
  }

  it('a directory as ca.crt: exit 1 at once, naming the path and what it is', async () => {
    const saDir = serviceAccountDir();
    unlinkSync(join(saDir, 'ca.crt'));
    execFileSync('mkdir', [join(saDir, 'ca.crt')]);
    const { run, graveyard, marker } = start({ saDir });
    const exit = await assertEnded(run, graveyard, marker, 1);
    assert.equal(
      exit.logs.at(-1)?.error,
      `cannot read the cluster CA: ${join(saDir, 'ca.crt')} is a directory, expected a regular file`,
    );
  });

  it('a token larger than 64 KiB: exit 1 at once, naming the path and the limit', async () => {
    const saDir = serviceAccountDir();
    writeFileSync(join(saDir, 'token'), 'x'.repeat(64 * 1024 + 1));
    const { run, graveyard, marker } = start({ saDir });
    const exit = await assertEnded(run, graveyard, marker, 1);
    assert.equal(
      exit.logs.at(-1)?.error,
      `cannot read the service-account token: ${join(saDir, 'token')} is larger than 64 KiB`,
    );
  });

  it('a token that becomes a FIFO mid-wait: retried until the birth timeout, which names it', async () => {
    fake.serve((_req, res) => {
      res.writeHead(401, { 'Content-Type': 'application/json' });
      res.end('{"kind":"Status","code":401,"reason":"Unauthorized","message":"Unauthorized"}');
    });
    const saDir = serviceAccountDir();
    try {
      const { run, graveyard, marker } = start({ saDir, timeout: '4s' });
      await run.stderr(/401 Unauthorized/);
      // Swapped in by a rename, as the kubelet swaps a rotated token: no moment without one.
      mkfifo(join(saDir, 'fifo'));
      renameSync(join(saDir, 'fifo'), join(saDir, 'token'));
      const exit = await assertEnded(run, graveyard, marker, 1);
      assert.equal(
        exit.logs.at(-1)?.error,
        'timed out waiting for birth deps to be ready: 4s; last API error: ' +
          `list pods in namespace "ns": ${join(saDir, 'token')} is a FIFO, expected a regular file`,
      );
    } finally {
      fake.dropConnections();
    }
  });
});

describe('birth dependencies: kubeconfig files are read without blocking, within a bound', () => {
  const outside = (kubeconfig: string) => ({
    saDir: '/nonexistent',
    env: { KUBERNETES_SERVICE_HOST: undefined, KUBECONFIG: kubeconfig },
  });

  it('KUBECONFIG naming a FIFO: exit 1 at once, naming the path and what it is', async () => {
    const fifo = join(tempDir(), 'config');
    mkfifo(fifo);
    const { run, graveyard, marker } = start(outside(fifo));
    const exit = await assertEnded(run, graveyard, marker, 1);
    assert.equal(
      exit.logs.at(-1)?.error,
      `cannot read the kubeconfig: ${fifo} is a FIFO, expected a regular file`,
    );
  });

  it('KUBECONFIG=/dev/zero: exit 1 at once, naming the path and what it is', async () => {
    const { run, graveyard, marker } = start(outside('/dev/zero'));
    const exit = await assertEnded(run, graveyard, marker, 1);
    assert.equal(
      exit.logs.at(-1)?.error,
      'cannot read the kubeconfig: /dev/zero is a character device, expected a regular file',
    );
  });

  it('a kubeconfig larger than 1 MiB: exit 1 at once, naming the path and the limit', async () => {
    const big = join(tempDir(), 'config');
    writeFileSync(big, `# ${'x'.repeat(MiB)}\n`);
    const { run, graveyard, marker } = start(outside(big));
    const exit = await assertEnded(run, graveyard, marker, 1);
    assert.equal(
      exit.logs.at(-1)?.error,
      `cannot read the kubeconfig: ${big} is larger than 1 MiB`,
    );
  });

  /** A kubeconfig for the fake server; CA and token by relative paths, as kubectl allows. */
  function kubeconfigFor(dir: string): string {
    writeFileSync(join(dir, 'ca.pem'), tls.cert);
    writeFileSync(join(dir, 'token'), 'fake-token');
    const file = join(dir, 'config');
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        `- name: fake`,
        `  cluster: { server: "https://127.0.0.1:${port}", certificate-authority: ca.pem }`,
        'users:',
        '- name: u',
        '  user: { token-file: token }',
        'contexts:',
        '- name: c',
        '  context: { cluster: fake, user: u }',
        'current-context: c',
        '',
      ].join('\n'),
    );
    return file;
  }

  it('a kubeconfig with a relative certificate-authority and token-file works', async () => {
    let authorization: string | undefined;
    fake.serve((req, res) => {
      authorization = req.headers.authorization;
      answer(res, podList(true, '1'));
    });
    try {
      const { run, marker } = start(outside(kubeconfigFor(tempDir())));
      assertStarted(await run.exited, marker);
      assert.equal(authorization, 'Bearer fake-token');
    } finally {
      fake.dropConnections();
    }
  });

  for (const file of ['ca.pem', 'token']) {
    it(`a kubeconfig whose ${file} is a FIFO: exit 1 at once, naming the path and what it is`, async () => {
      const dir = tempDir();
      const config = kubeconfigFor(dir);
      unlinkSync(join(dir, file));
      mkfifo(join(dir, file));
      const { run, graveyard, marker } = start(outside(config));
      const exit = await assertEnded(run, graveyard, marker, 1);
      assert.match(
        String(exit.logs.at(-1)?.error),
        new RegExp(
          `^cannot read the kubeconfig: ${config}: .*${join(dir, file)} is a FIFO, expected a regular file$`,
        ),
      );
    });
  }
});
