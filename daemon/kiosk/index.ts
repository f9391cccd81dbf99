// The virtual kiosk: a web page (loopback only, unless kiosk.allowRemote and then with a token)
// that mirrors the customer display pixel for pixel, offers the machine's buttons, acts as the
// customer's SEQR app through the simulator, and shows the relays, the drop sensor, the printed
// receipts and the journal as they happen. Demo mode only.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ButtonId } from '../ports/buttons.js';
import type { Clock } from '../ports/clock.js';
import type { Display, Screen } from '../ports/display.js';
import { VendError } from '../errors.js';
import type { FakeButtons } from '../../hardware/buttons/fake-buttons.js';
import type { FakeDispenser, RelayEdge } from '../../hardware/dispenser/fake-dispenser.js';
import { PngDisplay } from '../../hardware/display/png-display.js';
import type { FakePrinter } from '../../hardware/printer/fake-printer.js';
import { SimulatorControlError } from '../../simulator/state.js';
import type { SeqrSimulator } from '../../simulator/types.js';
import { checkAccess, queryToken, tokenCookie } from './access.js';
import { kioskPage } from './page.js';
import { receiptText } from './receipt-text.js';

export { receiptText } from './receipt-text.js';

export interface KioskOptions {
  /**
   * Interface to bind: a loopback address, or (with `token`) a network address or `0.0.0.0`.
   * The config loader refuses a non-loopback host without `kiosk.allowRemote`.
   */
  readonly host: string;
  /** Required on every request when set (see ./access.ts); served beyond loopback only with it. */
  readonly token?: string;
  /** TCP port; 0 = ephemeral (read it back from `Kiosk.url`). */
  readonly port: number;
  readonly locale: 'en' | 'sv';
  /**
   * The picture as the customer sees it: width and height after the panel's rotation (a 800 x 480
   * panel turned 90 degrees is 480 x 800 here), which the renderer draws. `rotation` is shown only.
   */
  readonly display: { width: number; height: number; rotation: 0 | 90 | 180 | 270 };
  /** The product buttons, `price` already formatted for people. */
  readonly products: readonly { slot: number; name: string; price: string }[];
  readonly buttons: FakeButtons;
  readonly dispenser: FakeDispenser;
  readonly printer: FakePrinter;
  /** The simulator's control surface; absent when SEQR is external (the app panel is disabled). */
  readonly simulator?: SeqrSimulator['control'];
  /** UPS mode: the machine's static code, which the app panel can scan. */
  readonly upsCode?: string;
  /** Every journal line (pino JSON) as it is written. */
  readonly logLines: { subscribe(listener: (line: string) => void): () => void };
  readonly clock: Clock;
}

export interface Kiosk {
  /** `http://HOST:PORT/`. */
  readonly url: string;
  /**
   * The page's display: renders each screen with the framebuffer's renderer into the exact RGBA
   * the framebuffer would get, encodes it as PNG and pushes it to the page when the picture
   * changed. The runtime draws on it alone in demo mode, or through a tee beside the configured
   * sink (the page mirrors the framebuffer); the runtime owns it (closes it on stop). A screen is
   * drawn only while someone looks (an open event stream) or when asked for (`/frame.png`,
   * `/api/state`): a kiosk nobody watches costs no rendering or PNG encoding.
   */
  readonly display: Display;
  /**
   * Ends every event stream, stops listening and drops the subscriptions. Resolves once the server
   * is closed; idempotent. The display stays usable (frames go nowhere).
   */
  close(): Promise<void>;
}

/** What `POST /api/drop` scripts: whether the next dispense's drop sensor sees the product. */
export type DropScript = 'delivered' | 'notDelivered';

/** A customer action in the SEQR app panel (`POST /api/customer`). */
export type CustomerAction = 'pay' | 'cancelInApp' | 'fail' | 'payLate' | 'scanUps';

const BODY_LIMIT = 4096;
const LOG_KEEP = 300;
const RECEIPT_KEEP = 20;
/** A stream that falls this far behind (bytes queued) is dropped; EventSource reconnects. */
const STREAM_BACKLOG_LIMIT = 8 * 1024 * 1024;
const QR_PREFIX = 'HTTP://SEQR.SE/R';
const ACTIONS: readonly CustomerAction[] = ['pay', 'cancelInApp', 'fail', 'payLate', 'scanUps'];

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface ReceiptEvent {
  readonly seq: number;
  readonly at: number;
  readonly invoiceReference: string;
  readonly ersReference: string;
  readonly productName: string;
  readonly text: string;
}

interface DropState {
  next: DropScript;
  last?: { slot: number; outcome: DropScript; at: number };
}

function invoiceOn(screen: Screen | undefined): string | undefined {
  if (screen?.kind !== 'pay' && screen?.kind !== 'stillPaying') return undefined;
  return screen.qrPayload.startsWith(QR_PREFIX)
    ? screen.qrPayload.slice(QR_PREFIX.length)
    : undefined;
}

function parseButton(value: unknown): ButtonId {
  if (typeof value !== 'object' || value === null)
    throw new HttpError(
      400,
      'body must be {"button":{"kind":"product","slot":N}} or {"button":{"kind":"cancel"}}',
    );
  const button = (value as { button?: unknown }).button;
  if (typeof button !== 'object' || button === null)
    throw new HttpError(400, '"button" must be an object');
  const { kind, slot } = button as { kind?: unknown; slot?: unknown };
  if (kind === 'cancel') return { kind: 'cancel' };
  if (kind !== 'product')
    throw new HttpError(
      400,
      `"button.kind" must be "product" or "cancel": ${JSON.stringify(kind)}`,
    );
  if (typeof slot !== 'number' || !Number.isInteger(slot))
    throw new HttpError(400, `"button.slot" must be an integer: ${JSON.stringify(slot)}`);
  return { kind: 'product', slot };
}

function field<T extends string>(value: unknown, name: string, allowed: readonly T[]): T {
  const raw =
    typeof value === 'object' && value !== null
      ? (value as Record<string, unknown>)[name]
      : undefined;
  if (typeof raw !== 'string' || !(allowed as readonly string[]).includes(raw))
    throw new HttpError(
      400,
      `"${name}" must be one of ${allowed.map((a) => `"${a}"`).join(', ')}: ${JSON.stringify(raw)}`,
    );
  return raw as T;
}

function readJson(req: IncomingMessage): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(type))
    return Promise.reject(new HttpError(400, 'content-type must be application/json'));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > BODY_LIMIT) {
        failed = true;
        reject(new HttpError(400, `body larger than ${BODY_LIMIT} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (failed) return;
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(new HttpError(400, 'body is not valid JSON'));
      }
    });
    req.on('error', (err) => {
      failed = true;
      reject(err);
    });
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

/**
 * Starts the virtual kiosk's HTTP server on `host:port`. Resolves once it listens; rejects when
 * the address cannot be bound (the error names it). Routes:
 *
 * - `GET /` the page; `GET /events` Server-Sent Events `frame`, `relay`, `drop`, `receipt`, `log`
 *   (and `app`: the outcome of a late payment), the current state replayed first on connect;
 *   `GET /frame.png` the latest frame (503 before the first); `GET /api/state` JSON.
 * - `POST /api/press` `{"button":{"kind":"product","slot":1}}` | `{"button":{"kind":"cancel"}}`
 *   -> 204 (a FakeButtons press).
 * - `POST /api/customer` `{"action":"pay"|"cancelInApp"|"fail"|"payLate"}` -> 200
 *   `{invoiceReference}`; 409 when no invoice is open (or the simulator refuses the action),
 *   503 when SEQR is external.
 * - `POST /api/drop` `{"next":"delivered"|"notDelivered"}` -> 200 `{next}`: the next dispense's
 *   drop sensor; 409 when "notDelivered" cannot be scripted or undone.
 *
 * Bad bodies answer 400, unknown routes 404, other methods 405, all with `{"error": "..."}`.
 * Requests whose Host is not this server with its port (DNS rebinding; loopback names only from
 * this machine) and POSTs from another origin answer 403; without the token, when one is set,
 * 401. `GET /?token=...` with the right token sets it as a cookie and redirects to `/`.
 */
export async function startKiosk(options: KioskOptions): Promise<Kiosk> {
  const { buttons, dispenser, printer, clock, simulator } = options;
  const slots = new Set(options.products.map((p) => p.slot));
  const { width, height } = options.display;

  const streams = new Set<ServerResponse>();
  const logs: string[] = [];
  const receipts: ReceiptEvent[] = [];
  let receiptCount = 0;
  const relays = new Map<number, RelayEdge>();
  const drop: DropState = { next: 'delivered' };
  let frame: { seq: number; at: number; png: Buffer; screen: Screen } | undefined;
  let seq = 0;
  let shown: Screen | undefined;
  /** `shown` was not drawn: nobody was watching when it came. */
  let undrawn = false;
  let lastRef: string | undefined;
  let lateRef: string | undefined;

  const format = (type: string, data: unknown): string =>
    `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
  const broadcast = (type: string, data: unknown): void => {
    if (streams.size === 0) return;
    const message = format(type, data);
    for (const res of streams) {
      if (res.writableLength > STREAM_BACKLOG_LIMIT) {
        streams.delete(res);
        res.destroy();
        continue;
      }
      res.write(message);
    }
  };
  const frameEvent = (f: NonNullable<typeof frame>): unknown => ({
    seq: f.seq,
    at: f.at,
    width,
    height,
    screen: f.screen.kind,
    invoiceReference: invoiceOn(f.screen) ?? null,
    png: f.png.toString('base64'),
  });
  const dropEvent = (): unknown => ({ next: drop.next, last: drop.last ?? null });

  const png = new PngDisplay({
    locale: options.locale,
    width,
    height,
    onFrame: (bytes, screen) => {
      if (frame?.png.equals(bytes)) return;
      frame = { seq: ++seq, at: clock.now(), png: bytes, screen };
      broadcast('frame', frameEvent(frame));
    },
  });

  const confirmLatePayment = (ref: string): void => {
    try {
      simulator?.pay(ref);
      broadcast('app', {
        ok: true,
        message: `paid invoice ${ref} while the machine was cancelling it`,
      });
    } catch (err) {
      broadcast('app', { ok: false, message: err instanceof Error ? err.message : String(err) });
    }
  };
  let closed = false;
  const take = (screen: Screen): void => {
    shown = screen;
    const ref = invoiceOn(screen);
    if (ref !== undefined) lastRef = ref;
    if (lateRef !== undefined && screen.kind === 'cancelling') {
      const late = lateRef;
      lateRef = undefined;
      confirmLatePayment(late);
    } else if (ref === undefined && screen.kind !== 'preparing') lateRef = undefined;
  };
  const display: Display = {
    show(screen) {
      // After close the page keeps its last screen.
      if (closed) return Promise.reject(new VendError('E_CLOSED', 'the display was closed'));
      if (streams.size > 0) {
        take(screen);
        undrawn = false;
        return png.show(screen);
      }
      // Nobody watching: the screen is kept, drawn when asked for. Like a sink's queue, a screen
      // still waiting when close() comes in the same tick is refused, so a tee's sinks agree.
      return Promise.resolve().then(() => {
        if (closed)
          throw new VendError('E_CLOSED', 'the display was closed before this screen was shown');
        take(screen);
        undrawn = true;
        return undefined;
      });
    },
    async close() {
      if (!closed) {
        closed = true;
        // A screen shown while nobody watched is the page's last frame, drawn before the sink shuts.
        await drawShown();
      }
      await png.close();
    },
  };

  const unsubscribe = [
    dispenser.onRelay((edge) => {
      relays.set(edge.slot, edge);
      broadcast('relay', edge);
      if (!edge.energised) return;
      drop.last = { slot: edge.slot, outcome: drop.next, at: edge.at };
      drop.next = 'delivered';
      broadcast('drop', dropEvent());
    }),
    printer.onPrint((receipt) => {
      const event: ReceiptEvent = {
        seq: ++receiptCount,
        at: clock.now(),
        invoiceReference: receipt.invoiceReference,
        ersReference: receipt.ersReference,
        productName: receipt.productName,
        text: receiptText(receipt, options.locale),
      };
      receipts.push(event);
      if (receipts.length > RECEIPT_KEEP) receipts.shift();
      broadcast('receipt', event);
    }),
    options.logLines.subscribe((raw) => {
      const line = raw.replace(/\n+$/, '');
      logs.push(line);
      if (logs.length > LOG_KEEP) logs.shift();
      broadcast('log', { line });
    }),
  ];

  const page = kioskPage({
    locale: options.locale,
    display: { width, height, rotation: options.display.rotation },
    products: options.products,
    simulator: simulator !== undefined,
    ups: options.upsCode !== undefined,
  });

  /** The payer scans the static code: SEQR calls createPurchase (pay first, then choose). */
  const scanUps = async (): Promise<{ invoiceReference: string }> => {
    if (!simulator || options.upsCode === undefined)
      throw new HttpError(409, 'not in UPS mode with the built-in SEQR: there is no code to scan');
    const result = await simulator
      .scanUps({ code: options.upsCode, amount: '100.00' })
      .catch((err: unknown) => {
        throw new HttpError(409, err instanceof Error ? err.message : String(err));
      });
    if (result.outcome !== 'invoice')
      throw new HttpError(409, `the machine refused: ${JSON.stringify(result)}`);
    return { invoiceReference: result.invoiceReference };
  };

  const openInvoice = (): string | undefined =>
    simulator?.activeInvoice()?.reference ?? invoiceOn(shown);

  const customer = (action: Exclude<CustomerAction, 'scanUps'>): { invoiceReference: string } => {
    if (!simulator)
      throw new HttpError(
        503,
        'SEQR is an external endpoint: there is no simulated app to act with',
      );
    const open = openInvoice();
    if (action === 'payLate') {
      if (open === undefined) {
        // Nothing open any more: the customer's late confirmation reaches SEQR, which refuses it.
        if (lastRef === undefined)
          throw new HttpError(409, 'no invoice yet: press a product button first');
        simulator.pay(lastRef);
        return { invoiceReference: lastRef };
      }
      simulator.startPaying(open);
      lateRef = open;
      return { invoiceReference: open };
    }
    if (open === undefined)
      throw new HttpError(409, 'no open invoice: press a product button first');
    switch (action) {
      case 'pay':
        simulator.scan(open);
        simulator.pay(open);
        break;
      case 'cancelInApp':
        simulator.cancelInApp(open);
        break;
      case 'fail':
        simulator.fail(open);
        break;
    }
    if (lateRef === open) lateRef = undefined;
    return { invoiceReference: open };
  };

  const scriptDrop = (next: DropScript): { next: DropScript } => {
    if (next === drop.next) return { next };
    if (next === 'delivered')
      throw new HttpError(
        409,
        'the next dispense is already scripted as not delivered; it cannot be undone',
      );
    try {
      dispenser.nextResult(undefined, { outcome: 'notDelivered', reason: 'noDrop' });
    } catch (err) {
      throw new HttpError(
        409,
        `cannot script a missed drop: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    drop.next = next;
    broadcast('drop', dropEvent());
    return { next };
  };

  /** Draws the screen shown while nobody was watching. */
  const drawShown = async (): Promise<void> => {
    if (!undrawn || shown === undefined) return;
    undrawn = false;
    await png.show(shown);
  };

  const state = (): unknown => ({
    screen: shown ?? null,
    frame: frame
      ? { seq: frame.seq, at: frame.at, width, height, screen: frame.screen.kind }
      : null,
    invoiceReference: simulator ? (openInvoice() ?? null) : (invoiceOn(shown) ?? null),
    relays: options.products.map((p) => ({
      slot: p.slot,
      energised: relays.get(p.slot)?.energised ?? false,
    })),
    drop: dropEvent(),
    receipts: receiptCount,
    lastReceipt: receipts.at(-1) ?? null,
    simulator: simulator !== undefined,
    payLateArmed: lateRef ?? null,
  });

  const openStream = (req: IncomingMessage, res: ServerResponse): void => {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 1000\n\n');
    for (const line of logs) res.write(format('log', { line }));
    for (const receipt of receipts) res.write(format('receipt', receipt));
    for (const edge of relays.values()) res.write(format('relay', { ...edge, replay: true }));
    res.write(format('drop', dropEvent()));
    if (frame) res.write(format('frame', frameEvent(frame)));
    streams.add(res);
    // A screen shown while nobody watched reaches this stream through onFrame once drawn.
    void drawShown().catch(() => undefined);
    const forget = (): void => {
      streams.delete(res);
    };
    req.on('close', forget);
    res.on('error', forget);
  };

  let port = options.port;
  const { token } = options;

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // Never framed (clickjacking the buttons), never sniffed, never referred (a token in the URL).
    res.setHeader('x-frame-options', 'DENY');
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
    const refused = checkAccess(req, { host: options.host, port, ...(token ? { token } : {}) });
    if (refused) throw new HttpError(refused.status, refused.message);
    const path = new URL(req.url ?? '/', 'http://kiosk').pathname;
    const method = req.method ?? 'GET';
    const only = (allowed: 'GET' | 'POST'): void => {
      if (method === allowed || (allowed === 'GET' && method === 'HEAD')) return;
      res.setHeader('allow', allowed === 'GET' ? 'GET, HEAD' : 'POST');
      throw new HttpError(405, `${method} is not allowed on ${path}`);
    };
    switch (path) {
      case '/':
        only('GET');
        if (token !== undefined && queryToken(req.url ?? '/', token)) {
          // The token becomes a cookie the page's own requests carry; the address bar drops it.
          res.writeHead(303, {
            location: '/',
            'set-cookie': `${tokenCookie(port)}=${token}; HttpOnly; SameSite=Strict; Path=/`,
            'cache-control': 'no-store',
          });
          res.end();
          return;
        }
        res.writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          'cache-control': 'no-store',
          'content-security-policy':
            "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        });
        res.end(page);
        return;
      case '/events':
        only('GET');
        openStream(req, res);
        return;
      case '/frame.png':
        only('GET');
        await drawShown();
        if (!frame) throw new HttpError(503, 'no frame has been drawn yet');
        res.writeHead(200, {
          'content-type': 'image/png',
          'content-length': frame.png.length,
          'cache-control': 'no-store',
          'x-frame-seq': String(frame.seq),
        });
        res.end(frame.png);
        return;
      case '/api/state':
        only('GET');
        await drawShown();
        sendJson(res, 200, state());
        return;
      case '/api/press': {
        only('POST');
        const button = parseButton(await readJson(req));
        if (button.kind === 'product' && !slots.has(button.slot))
          throw new HttpError(400, `no product button for slot ${button.slot}`);
        try {
          buttons.press(button);
        } catch (err) {
          if (err instanceof RangeError || err instanceof TypeError)
            throw new HttpError(400, err.message);
          throw new HttpError(503, 'the machine is stopping');
        }
        res.writeHead(204).end();
        return;
      }
      case '/api/customer': {
        only('POST');
        const action = field(await readJson(req), 'action', ACTIONS);
        try {
          sendJson(res, 200, action === 'scanUps' ? await scanUps() : customer(action));
        } catch (err) {
          // The simulator refusing the action (unknown invoice, wrong state) answers its status.
          if (err instanceof SimulatorControlError) throw new HttpError(err.status, err.message);
          throw err;
        }
        return;
      }
      case '/api/drop': {
        only('POST');
        sendJson(
          res,
          200,
          scriptDrop(field(await readJson(req), 'next', ['delivered', 'notDelivered'])),
        );
        return;
      }
      default:
        throw new HttpError(404, `no route ${method} ${path}`);
    }
  };

  const server = createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      if (err instanceof HttpError) {
        // An unread body must not be parsed as the next request on this connection.
        if (!req.complete) res.setHeader('connection', 'close');
        sendJson(res, err.status, { error: err.message });
      } else if (!res.headersSent && !req.destroyed) {
        sendJson(res, 500, { error: 'internal error' });
      } else res.destroy();
    });
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    const fail = (err: Error): void => {
      reject(
        new Error(
          `the virtual kiosk cannot listen on ${options.host}:${options.port}: ${err.message}`,
          {
            cause: err,
          },
        ),
      );
    };
    server.once('error', fail);
    server.listen(options.port, options.host, () => {
      server.off('error', fail);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  port = address.port;
  const urlHost = address.address.includes(':') ? `[${address.address}]` : address.address;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${address.port}/`,
    display,
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const off of unsubscribe) off();
        for (const res of streams) res.end();
        streams.clear();
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
