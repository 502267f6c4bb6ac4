// The admission webhook's server: HTTPS (certificate and key from files, taken again whenever
// their folder changes), AdmissionReview v1 on POST /mutate answered with a JSONPatch, and GET
// /healthz. What is done to a pod is the `mutate` function it is given; the server only makes
// sure that no request, however malformed, large or slow, brings it down or holds it.
import { readFileSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { createSecureContext, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { watchDir, type DirWatch } from '../platform/watch.js';
import type { Log } from '../supervisor/log.js';
import { jsonPatch } from './webhook-patch.js';

/** The parts of an AdmissionReview v1 request the server and mutations look at. */
export interface AdmissionRequest {
  uid: string;
  kind?: { group?: string; version?: string; kind?: string };
  resource?: { group?: string; version?: string; resource?: string };
  subResource?: string;
  namespace?: string;
  name?: string;
  operation?: string;
  object?: unknown;
  dryRun?: boolean;
}

export interface Mutation {
  pod: object;
  /** Why the pod cannot be wired: non-empty means the pod is refused (see handleReview). */
  problems: string[];
  /** Said to the client (kubectl prints them) when the pod is admitted. */
  warnings?: string[];
}

export type Mutate = (pod: object, request: AdmissionRequest) => Mutation | Promise<Mutation>;

export interface WebhookOptions {
  certFile: string;
  keyFile: string;
  port: number;
  host: string;
  mutate: Mutate;
  log: Log;
  /** Longest request body; the apiserver's own limit on an object is about 3 MiB. */
  maxBodyBytes?: number;
  /** How long a request may take to arrive whole (headers and body), and a handshake. */
  requestTimeoutMs?: number;
  /** How long a kept-alive connection may stay idle. */
  idleTimeoutMs?: number;
}

export const MUTATE_PATH = '/mutate';
export const HEALTH_PATH = '/healthz';
const ADMISSION_V1 = 'admission.k8s.io/v1';
const DEFAULT_MAX_BODY = 4 << 20;
/** The apiserver gives a webhook at most 30 s; a request slower than that is no apiserver's. */
const DEFAULT_REQUEST_TIMEOUT = 10_000;
const DEFAULT_IDLE_TIMEOUT = 60_000;

interface Keys {
  cert: Buffer;
  key: Buffer;
}

/** Reads both files, and checks that they make a TLS context (a key that matches the cert). */
function readKeys(certFile: string, keyFile: string): Keys {
  const keys = { cert: readFileSync(certFile), key: readFileSync(keyFile) };
  createSecureContext(keys);
  return keys;
}

export class WebhookServer {
  private readonly watches: DirWatch[] = [];
  private reloadPending = false;
  private closed = false;
  /** Open connections, and how many requests each is answering. */
  private readonly sockets = new Map<TLSSocket, number>();

  private constructor(
    private readonly opts: WebhookOptions,
    private keys: Keys,
    private readonly tls: ReturnType<typeof createTlsServer>,
  ) {}

  /** Listens; rejects when the certificate or key can't be used, or the port can't be had. */
  static async start(opts: WebhookOptions): Promise<WebhookServer> {
    const keys = readKeys(opts.certFile, opts.keyFile);
    const requestTimeout = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT;
    // node:https has no setSecureContext under Bun; a TLS server that hands its sockets to an
    // HTTP server has it under both, so a new certificate is served without a restart.
    const app = createHttpServer();
    app.headersTimeout = requestTimeout;
    app.requestTimeout = requestTimeout;
    const tls = createTlsServer({ ...keys, handshakeTimeout: requestTimeout }, (socket) =>
      app.emit('connection', socket),
    );
    const server = new WebhookServer(opts, keys, tls);
    app.on('request', (req: IncomingMessage, res: ServerResponse) => server.serve(req, res));
    app.on('clientError', (_err, socket) => socket.destroy());
    tls.on('tlsClientError', () => {
      // A failed handshake (a scanner, a client without our CA) is the client's business.
    });
    tls.on('secureConnection', (socket: TLSSocket) => {
      socket.setTimeout(opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT, () => socket.destroy());
      server.sockets.set(socket, 0);
      socket.once('close', () => server.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      tls.once('error', reject);
      tls.listen(opts.port, opts.host, () => {
        tls.off('error', reject);
        resolve();
      });
    });
    tls.on('error', (err) => opts.log.errorLine('webhook server error', { error: err.message }));
    server.watchKeys();
    return server;
  }

  get port(): number {
    return (this.tls.address() as AddressInfo).port;
  }

  /**
   * Stops listening and watching. The apiserver keeps its connections open: idle ones are
   * closed now, the others once their answer is out.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.watches.splice(0)) w.close();
    const closed = new Promise<void>((resolve) => this.tls.close(() => resolve()));
    for (const [socket, busy] of this.sockets) if (busy === 0) socket.destroy();
    await closed;
  }

  // Kubernetes updates a secret volume by writing a new folder and renaming a `..data` symlink
  // over the old one: the files' own paths never change, so their folder is what is watched.
  private watchKeys(): void {
    const dirs = [...new Set([dirname(this.opts.certFile), dirname(this.opts.keyFile)])];
    for (const dir of dirs) this.watchFolder(dir);
  }

  private watchFolder(dir: string): void {
    try {
      const w = watchDir(dir, {
        event: () => this.scheduleReload(),
        error: (err) => {
          w.close();
          this.watches.splice(this.watches.indexOf(w), 1);
          this.opts.log.warning('certificate folder watch broke; watching again', {
            folder: dir,
            error: err.message,
          });
          if (!this.closed) this.watchFolder(dir);
          this.scheduleReload();
        },
      });
      this.watches.push(w);
    } catch (err) {
      this.opts.log.errorLine(
        'cannot watch the certificate folder: a new certificate needs a restart',
        {
          folder: dir,
          error: (err as Error).message,
        },
      );
    }
  }

  /** Several events come for one update: one reload once they are in. */
  private scheduleReload(): void {
    if (this.reloadPending || this.closed) return;
    this.reloadPending = true;
    setImmediate(() => {
      this.reloadPending = false;
      this.reload();
    });
  }

  private reload(): void {
    let keys: Keys;
    try {
      keys = readKeys(this.opts.certFile, this.opts.keyFile);
    } catch (err) {
      // Half-way through an update by hand (a new cert, the old key): the next event retries.
      this.opts.log.warning('certificate not reloaded: keeping the one served', {
        error: (err as Error).message,
      });
      return;
    }
    if (keys.cert.equals(this.keys.cert) && keys.key.equals(this.keys.key)) return;
    this.tls.setSecureContext(keys);
    this.keys = keys;
    this.opts.log.info('certificate reloaded', { cert: this.opts.certFile });
  }

  private serve(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket as TLSSocket;
    this.sockets.set(socket, (this.sockets.get(socket) ?? 0) + 1);
    res.once('close', () => {
      if (!this.sockets.has(socket)) return;
      const busy = (this.sockets.get(socket) ?? 1) - 1;
      this.sockets.set(socket, busy);
      if (this.closed && busy === 0) socket.destroy();
    });
    const path = (req.url ?? '').split('?')[0];
    if (path === HEALTH_PATH && (req.method === 'GET' || req.method === 'HEAD')) {
      return void reply(res, 200, 'ok\n', 'text/plain');
    }
    if (path !== MUTATE_PATH) return void reply(res, 404, 'not found\n', 'text/plain');
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      return void reply(res, 405, 'POST only\n', 'text/plain');
    }
    const max = this.opts.maxBodyBytes ?? DEFAULT_MAX_BODY;
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > max) return void reply(res, 413, `body over ${max} bytes\n`, 'text/plain', true);

    const timer = setTimeout(() => {
      reply(res, 408, 'request took too long\n', 'text/plain', true);
    }, this.opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT);
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        clearTimeout(timer);
        req.removeAllListeners('data');
        reply(res, 413, `body over ${max} bytes\n`, 'text/plain', true);
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => clearTimeout(timer));
    req.on('end', () => {
      clearTimeout(timer);
      if (size > max || res.headersSent) return;
      void this.review(Buffer.concat(chunks).toString('utf8')).then(
        ([status, body]) => reply(res, status, body, 'application/json'),
        (err: unknown) => {
          this.opts.log.errorLine('webhook request failed', { error: String(err) });
          reply(res, 500, 'internal error\n', 'text/plain');
        },
      );
    });
  }

  /** An AdmissionReview in, the status and body of the answer out. */
  private async review(text: string): Promise<[number, string]> {
    let review: unknown;
    try {
      review = JSON.parse(text);
    } catch (err) {
      return [400, JSON.stringify({ error: `not JSON: ${(err as Error).message}` })];
    }
    const request = admissionRequest(review);
    if (typeof request === 'string') return [400, JSON.stringify({ error: request })];
    const response = await handleReview(request, this.opts.mutate, this.opts.log);
    return [
      200,
      JSON.stringify({
        apiVersion: ADMISSION_V1,
        kind: 'AdmissionReview',
        response: { uid: request.uid, ...response },
      }),
    ];
  }
}

/** The request of an AdmissionReview v1, or what is wrong with it. */
function admissionRequest(review: unknown): AdmissionRequest | string {
  if (!isObject(review)) return 'expected an AdmissionReview object';
  if (review.apiVersion !== ADMISSION_V1 || review.kind !== 'AdmissionReview')
    return `expected apiVersion ${ADMISSION_V1}, kind AdmissionReview`;
  const request = review.request;
  if (!isObject(request) || typeof request.uid !== 'string' || request.uid === '')
    return 'expected request.uid';
  return request as unknown as AdmissionRequest;
}

export interface AdmissionResponse {
  allowed: boolean;
  patchType?: 'JSONPatch';
  /** The JSONPatch, base64. */
  patch?: string;
  status?: { code: number; reason?: string; message: string };
  warnings?: string[];
}

/**
 * What to answer. Only a Pod being created is mutated; anything else is let through as it is.
 * A pod the mutation cannot wire is refused: it asked for kubexit (KUBEXIT_* variables), and
 * unwired they do nothing, so a Job's sidecar would run forever. Better a refusal the user reads
 * (kubectl, or the controller's events) than a pod that hangs.
 */
export async function handleReview(
  request: AdmissionRequest,
  mutate: Mutate,
  log: Log,
): Promise<AdmissionResponse> {
  const pod = request.object;
  const isPodCreate =
    request.kind?.kind === 'Pod' &&
    (request.kind.group ?? '') === '' &&
    request.operation === 'CREATE' &&
    (request.subResource ?? '') === '';
  if (!isPodCreate || !isObject(pod)) return { allowed: true };
  const name = podName(pod, request);
  let result: Mutation;
  try {
    // The mutation gets a copy: the patch is the difference with the original.
    result = await mutate(structuredClone(pod), request);
  } catch (err) {
    log.errorLine('pod mutation failed', { pod: name, error: (err as Error).message });
    return {
      allowed: false,
      status: { code: 500, message: `kubexit webhook: wiring pod ${name} failed: ${String(err)}` },
    };
  }
  if (result.problems.length > 0) {
    log.info('pod refused', { pod: name, problems: result.problems });
    return {
      allowed: false,
      status: {
        code: 422,
        reason: 'Invalid',
        message: `kubexit webhook: pod ${name} asks for kubexit but cannot be wired: ${result.problems.join('; ')}`,
      },
    };
  }
  const ops = jsonPatch(pod, result.pod);
  log.info('pod admitted', { pod: name, patch_operations: ops.length, dry_run: request.dryRun });
  const warnings = result.warnings?.length ? { warnings: result.warnings } : {};
  if (ops.length === 0) return { allowed: true, ...warnings };
  return {
    allowed: true,
    patchType: 'JSONPatch',
    patch: Buffer.from(JSON.stringify(ops)).toString('base64'),
    ...warnings,
  };
}

/** namespace/name, or namespace/generateName* for a pod a controller names at creation. */
function podName(pod: Record<string, unknown>, request: AdmissionRequest): string {
  const meta = isObject(pod.metadata) ? pod.metadata : {};
  const name =
    typeof meta.name === 'string' && meta.name !== ''
      ? meta.name
      : `${typeof meta.generateName === 'string' ? meta.generateName : ''}*`;
  return `${request.namespace ?? ''}/${name}`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function reply(
  res: ServerResponse,
  status: number,
  body: string,
  type: string,
  close = false,
): void {
  if (res.headersSent) return;
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
    ...(close ? { Connection: 'close' } : {}),
  });
  // With Connection: close the HTTP server ends the connection once the answer is out; what
  // is left of a refused body is never read.
  res.end(body);
}
