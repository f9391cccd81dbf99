/**
 * `seqr-vend gateway`'s HTTP(S) endpoint: the public address SEQR calls back, relaying each call
 * to the machine it names over the broker ({@link MachineRelay}).
 *
 * - `POST <base>/createPurchase` (or `<base>/<path token>/createPurchase`): SEQR's UPS call when a
 *   payer scanned a machine's static code. Always answered HTTP 200 with
 *   `{"invoiceReferenceId":"..."}` or `{"errorCode":"..."}`, as SEQR expects: the machine's own
 *   answer when it comes within the deadline, `DEVICE_UNAVAILABLE` when it does not (or the
 *   broker is down), `SYSTEM_ERROR` for a malformed call.
 * - `POST <base>/notify/<machineId>`: the notificationUrl of that machine's invoices (form fields
 *   `invoiceReference`, `clientInvoiceId`). Relayed so the machine polls at once; answered 200
 *   whatever came of it (SEQR never retries, and the machine's polling is the safety net).
 * - `GET /healthz`: 200 while the broker link is up, 503 otherwise (for a load balancer).
 *
 * Stateless: nothing is kept between requests, so any number of replicas serve behind one
 * address. Every input is bounded (header size, body size, time to send them, requests at once)
 * and validated; every request is logged once with its request id (`X-Request-Id` when the caller
 * sent a sane one), never with a phone number or the path token.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import { errorCodeOf } from '../errors.js';
import {
  MACHINE_ID,
  SEQR_NOTIFY,
  UPS_PURCHASE,
  purchaseAnswerOf,
  readCreatePurchase,
  readNotification,
  seqrNotifyAnswer,
  type CreatePurchaseAnswer,
} from './protocol.js';
import type { MachineRelay } from './relay.js';

export interface GatewayServerOptions {
  /** Interface and port to listen on; port 0 picks a free one (read it back from `url`). */
  readonly host: string;
  readonly port: number;
  /** PEM certificate chain and key: HTTPS. Absent: plain HTTP behind a TLS-terminating proxy. */
  readonly tls?: { readonly cert: Buffer | string; readonly key: Buffer | string };
  /** Path prefix of both callbacks, e.g. `/seqr`. */
  readonly basePath: string;
  /** A secret path level before `createPurchase` (only SEQR knows the URL); none if absent. */
  readonly pathToken?: string;
  readonly relay: MachineRelay;
  readonly log: Logger;
  /** How long a machine may take to answer createPurchase. */
  readonly purchaseDeadlineMs: number;
  /** How long a machine may take to acknowledge a notification. */
  readonly notifyDeadlineMs: number;
  /** Requests relayed at once; more are answered at once (DEVICE_UNAVAILABLE / 200). */
  readonly maxInFlight: number;
}

export interface GatewayServer {
  /** `http(s)://host:port`, the address it listens on. */
  readonly url: string;
  /** Stops taking connections, waits for the requests in flight (bounded by their deadlines). */
  close(): Promise<void>;
}

/** Largest request body read; a createPurchase or a notification is a few hundred bytes. */
export const MAX_BODY_BYTES = 8 * 1024;
const JSON_TYPE = 'application/json;charset=UTF-8';

type Route =
  | { kind: 'createPurchase' }
  | { kind: 'notify'; machineId: string }
  | { kind: 'health' }
  | { kind: 'none'; status: 404 | 405 };

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function route(
  method: string,
  pathname: string,
  basePath: string,
  pathToken: string | undefined,
): Route {
  if (pathname === '/healthz')
    return method === 'GET' || method === 'HEAD'
      ? { kind: 'health' }
      : { kind: 'none', status: 405 };
  if (!pathname.startsWith(`${basePath}/`)) return { kind: 'none', status: 404 };
  const levels = pathname.slice(basePath.length + 1).split('/');
  let found: Route | undefined;
  if (levels.length === 2 && levels[0] === 'notify' && MACHINE_ID.test(levels[1] ?? ''))
    found = { kind: 'notify', machineId: levels[1] ?? '' };
  else if (
    pathToken === undefined
      ? levels.length === 1 && levels[0] === 'createPurchase'
      : levels.length === 2 &&
        levels[1] === 'createPurchase' &&
        sameSecret(levels[0] ?? '', pathToken)
  )
    found = { kind: 'createPurchase' };
  if (!found) return { kind: 'none', status: 404 };
  return method === 'POST' ? found : { kind: 'none', status: 405 };
}

function requestIdOf(req: http.IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && /^[A-Za-z0-9._-]{8,64}$/.test(given)
    ? given
    : randomBytes(8).toString('hex');
}

/** Reads the body up to MAX_BODY_BYTES; undefined (and the connection closed) when larger. */
function readBody(req: http.IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > MAX_BODY_BYTES) {
      resolve(undefined);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        resolve(undefined);
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
  });
}

/** Starts listening; resolves once it does. */
export async function startGatewayServer(options: GatewayServerOptions): Promise<GatewayServer> {
  const { relay, log, basePath, pathToken } = options;
  let inFlight = 0;
  const idle = new Set<() => void>();
  const sockets = new Set<Socket>();

  const send = (
    res: http.ServerResponse,
    requestId: string,
    status: number,
    body: unknown,
    close = false,
  ): void => {
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, {
      'content-type': JSON_TYPE,
      'content-length': Buffer.byteLength(text),
      'x-request-id': requestId,
      'cache-control': 'no-store',
      ...(close ? { connection: 'close' } : {}),
    });
    res.end(text);
  };

  const createPurchase = async (
    requestId: string,
    body: string,
    fields: Record<string, unknown>,
  ): Promise<CreatePurchaseAnswer> => {
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      log.warn(
        { ...fields, code: 'E_GATEWAY_REQUEST_INVALID', problem: 'the body is not JSON' },
        'createPurchase refused',
      );
      return { errorCode: 'SYSTEM_ERROR' };
    }
    const purchase = readCreatePurchase(json);
    if ('problem' in purchase) {
      log.warn(
        { ...fields, code: 'E_GATEWAY_REQUEST_INVALID', problem: purchase.problem },
        'createPurchase refused',
      );
      return { errorCode: purchase.errorCode };
    }
    Object.assign(fields, {
      machine: purchase.token,
      amount: purchase.amount,
      currency: purchase.currency,
    });
    try {
      const reply = await relay.request({
        machineId: purchase.token,
        name: UPS_PURCHASE,
        body: { v: 1, requestId, amount: purchase.amount, currency: purchase.currency },
        deadlineMs: options.purchaseDeadlineMs,
        requestId,
      });
      if (reply.status === 'error')
        Object.assign(fields, { machineCode: reply.code, machineError: reply.error });
      return purchaseAnswerOf(reply);
    } catch (err) {
      Object.assign(fields, {
        code: errorCodeOf(err) ?? 'E_UNEXPECTED',
        reason: (err as Error).message,
      });
      return { errorCode: 'DEVICE_UNAVAILABLE' };
    }
  };

  const notify = async (
    requestId: string,
    machineId: string,
    body: string,
    query: URLSearchParams,
    fields: Record<string, unknown>,
  ): Promise<void> => {
    // The form body as documented; the fields in the query string if a sender put them there.
    const form = body.trim() === '' ? query : new URLSearchParams(body);
    const notification = readNotification(form);
    if ('problem' in notification) {
      Object.assign(fields, {
        outcome: 'refused',
        code: 'E_GATEWAY_REQUEST_INVALID',
        problem: notification.problem,
      });
      return;
    }
    fields['invoiceReference'] = notification.invoiceReference;
    try {
      const reply = await relay.request({
        machineId,
        name: SEQR_NOTIFY,
        body: { v: 1, requestId, ...notification },
        deadlineMs: options.notifyDeadlineMs,
        requestId,
      });
      if (reply.status === 'error')
        Object.assign(fields, {
          outcome: 'error',
          machineCode: reply.code,
          machineError: reply.error,
        });
      else {
        const answer = seqrNotifyAnswer.safeParse(reply.data);
        fields['outcome'] = answer.success
          ? answer.data.known
            ? 'polled'
            : 'unknown invoice'
          : 'malformed answer';
      }
    } catch (err) {
      Object.assign(fields, {
        outcome: 'not relayed',
        code: errorCodeOf(err) ?? 'E_UNEXPECTED',
        reason: (err as Error).message,
      });
    }
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const started = performance.now();
    const requestId = requestIdOf(req);
    const method = req.method ?? 'GET';
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://gateway.invalid');
    } catch {
      send(res, requestId, 400, { error: 'bad request target' }, true);
      return;
    }
    const target = route(method, url.pathname, basePath, pathToken);
    // The path token is never logged: the route kind stands for the path.
    const fields: Record<string, unknown> = { reqId: requestId, route: target.kind };
    const elapsed = (): number => Math.round((performance.now() - started) * 10) / 10;
    if (target.kind === 'health') {
      const status = relay.status();
      send(res, requestId, status.connected ? 200 : 503, {
        status: status.connected ? 'ok' : 'broker unavailable',
        waiting: status.waiting,
        inFlight,
      });
      return;
    }
    if (target.kind === 'none') {
      log.warn(
        {
          ...fields,
          method: method.slice(0, 16),
          status: target.status,
          code: 'E_GATEWAY_REQUEST_INVALID',
        },
        'gateway request refused',
      );
      req.resume();
      send(res, requestId, target.status, {
        error: target.status === 404 ? 'not found' : 'method not allowed',
      });
      return;
    }
    const body = await readBody(req);
    if (body === undefined) {
      log.warn(
        { ...fields, status: 413, code: 'E_GATEWAY_REQUEST_INVALID' },
        `gateway request refused: body larger than ${MAX_BODY_BYTES} bytes`,
      );
      send(res, requestId, 413, { error: 'body too large' }, true);
      return;
    }
    if (inFlight >= options.maxInFlight) {
      log.warn(
        { ...fields, code: 'E_GATEWAY_BROKER', inFlight },
        'gateway busy: request not relayed',
      );
      if (target.kind === 'createPurchase')
        send(res, requestId, 200, { errorCode: 'DEVICE_UNAVAILABLE' });
      else send(res, requestId, 200, undefined);
      return;
    }
    inFlight += 1;
    try {
      if (target.kind === 'createPurchase') {
        const answer = await createPurchase(requestId, body, fields);
        send(res, requestId, 200, answer);
        const level =
          'errorCode' in answer && answer.errorCode === 'DEVICE_UNAVAILABLE' ? 'warn' : 'info';
        log[level]({ ...fields, answer, ms: elapsed() }, 'createPurchase answered');
      } else {
        fields['machine'] = target.machineId;
        await notify(requestId, target.machineId, body, url.searchParams, fields);
        send(res, requestId, 200, undefined);
        const level = fields['outcome'] === 'polled' ? 'info' : 'warn';
        log[level]({ ...fields, ms: elapsed() }, 'notification relayed');
      }
    } finally {
      inFlight -= 1;
      if (inFlight === 0) for (const wake of [...idle]) wake();
    }
  };

  const listener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err, code: 'E_UNEXPECTED' }, 'gateway request failed');
      if (!res.headersSent) send(res, 'none', 500, { error: 'internal error' }, true);
      else res.destroy();
    });
  };
  const serverOptions: http.ServerOptions = {
    maxHeaderSize: 8 * 1024,
    requestTimeout: 15_000,
    headersTimeout: 10_000,
    keepAliveTimeout: 5_000,
  };
  const server = options.tls
    ? https.createServer(
        { ...serverOptions, cert: options.tls.cert, key: options.tls.key, minVersion: 'TLSv1.2' },
        listener,
      )
    : http.createServer(serverOptions, listener);
  server.maxHeadersCount = 64;
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('clientError', (err, socket) => {
    log.debug({ err: err.message }, 'gateway client error');
    socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  const url = `${options.tls ? 'https' : 'http'}://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${port}`;

  let closing: Promise<void> | undefined;
  return {
    url,
    close: () => {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => {
          server.close(() => {
            resolve();
          });
        });
        server.closeIdleConnections();
        if (inFlight > 0)
          await new Promise<void>((resolve) => {
            idle.add(resolve);
          });
        for (const socket of sockets) socket.destroy();
        await closed;
      })();
      return closing;
    },
  };
}
