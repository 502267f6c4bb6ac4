// The two API calls kubexit makes, on node:https: a list, read whole, and a watch, read line by
// line as the events arrive (one JSON object per line), handed over the moment a line is
// complete.
import type { ClientRequest, IncomingMessage } from 'node:http';
import { request } from 'node:https';
import type { Credentials } from './client.js';

export type Verb = 'list' | 'watch';

/** A failed call: `code` is the HTTP status, or undefined when there was no answer at all. */
export class ApiError extends Error {
  constructor(
    readonly verb: Verb,
    message: string,
    readonly code?: number,
    /** The API's Status `message`, when it sent one. */
    readonly detail?: string,
  ) {
    super(message);
  }
}

/** Longest silence before an answer (headers, or the next piece of a body). */
const RESPONSE_TIMEOUT_MS = 10_000;
/**
 * Largest list answer, and largest watch event (one line), read. Both carry one pod (the list
 * asks for it by name), and the API server stores at most ~1.5 MiB per object (etcd's request
 * limit), so 16 MiB is ample; it bounds what a broken or hostile server can make kubexit hold.
 */
export const MAX_BODY = 16 << 20;

/** A watch event longer than MAX_BODY: the watch is dropped, and the pod listed again. */
export class EventTooLarge extends ApiError {}

export interface Call {
  creds: Credentials;
  verb: Verb;
  /** What the call is about, for messages: `pods in namespace "x"`. */
  what: string;
  path: string;
  halt: AbortSignal;
}

/** Sends the request; resolves with the response once its headers are in, whatever the status. */
export async function open(call: Call): Promise<{ req: ClientRequest; res: IncomingMessage }> {
  const fail = (err: unknown): ApiError =>
    err instanceof ApiError ? err : new ApiError(call.verb, `${describe(call)}: ${message(err)}`);
  let opts;
  try {
    opts = await call.creds.requestOptions();
  } catch (err) {
    throw fail(err);
  }
  return new Promise((resolve, reject) => {
    let req: ClientRequest;
    try {
      req = request(`${call.creds.server}${call.path}`, {
        ...opts,
        method: 'GET',
        headers: { ...opts.headers, Accept: 'application/json' },
        signal: call.halt,
      });
    } catch (err) {
      reject(fail(err));
      return;
    }
    req.setTimeout(RESPONSE_TIMEOUT_MS, () => {
      req.destroy(new Error(`no answer in ${RESPONSE_TIMEOUT_MS / 1000}s`));
    });
    req.once('socket', (socket) => socket.setKeepAlive(true, 15_000));
    req.on('error', (err) => reject(fail(err)));
    // The timeout stays armed while a body is read (it is an idle timeout); a watch, which may
    // rightly be silent for minutes, disarms it once it is established.
    req.once('response', (res) => resolve({ req, res }));
    req.end();
  });
}

/** The whole body as JSON; non-2xx statuses become an ApiError with the API's own message. */
export async function readJson(call: Call, res: IncomingMessage): Promise<unknown> {
  const text = await readBody(call, res);
  const status = res.statusCode ?? 0;
  if (status < 200 || status > 299) throw statusError(call, status, text);
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(call.verb, `${describe(call)}: the answer is not JSON`, status);
  }
}

/** The error for a non-2xx response, its body read. */
export async function failure(call: Call, res: IncomingMessage): Promise<ApiError> {
  const text = await readBody(call, res).catch(() => '');
  return statusError(call, res.statusCode ?? 0, text);
}

function readBody(call: Call, res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        res.destroy(new Error(`answer larger than ${MAX_BODY} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    const lost = (err?: Error): void => {
      const why = err ? message(err) : 'connection closed';
      reject(new ApiError(call.verb, `${describe(call)}: ${why}`));
    };
    res.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', lost);
    res.once('close', () => {
      if (!res.complete) lost();
    });
  });
}

/** An API Status object, as sent in error bodies and in watch ERROR events. */
export interface Status {
  kind?: string;
  code?: number;
  reason?: string;
  message?: string;
}

function statusError(call: Call, code: number, body: string): ApiError {
  let status: Status = {};
  try {
    status = JSON.parse(body) as Status;
  } catch {
    // not a Status: an HTML error page from a proxy, say
  }
  const reason = status.reason ?? '';
  const detail = status.message ?? body.trim().slice(0, 300);
  const head = `${code}${reason ? ` ${reason}` : ''}`;
  return new ApiError(
    call.verb,
    `${describe(call)}: ${head}${detail ? `: ${detail}` : ''}`,
    code,
    detail,
  );
}

/** `Expired: too old resource version: 5 (9)` */
export function statusText(s: Status): string {
  return [s.code, s.reason, s.message].filter((x) => x !== undefined && x !== '').join(': ');
}

export function describe(call: Pick<Call, 'verb' | 'what'>): string {
  return `${call.verb} ${call.what}`;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
