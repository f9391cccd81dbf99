// The simulator's HTTP server: the SOAP endpoint, its WSDL, the control API, and fault injection.
// One loopback server carries all three, so a test needs one port and one close().
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { systemClock, type TimerHandle } from '../daemon/ports/clock.js';
import { defaultWsdlPath } from '../daemon/package-root.js';
import {
  OPERATIONS,
  SoapRequestError,
  faultEnvelope,
  handle,
  isOperation,
  readRequest,
  resultOnlyEnvelope,
  type Handled,
  type SoapRequest,
} from './soap.js';
import { SimulatorControlError, SimulatorState, newTerminalId } from './state.js';
import { MerchantCallbacks, upsRoute } from './ups.js';
import { childText } from './xml.js';
import type {
  CallRecord,
  Fault,
  FaultOptions,
  Operation,
  SeqrSimulator,
  SimulatorControl,
  SimulatorOptions,
} from './types.js';

export const SOAP_PATH = '/soap/merchant/cashregister-2';
const MAX_BODY_BYTES = 1 << 20;
const XML_TYPE = 'text/xml;charset=UTF-8';
const DEFAULT_HTML = (status: number): string =>
  `<html><head><title>${status} ${http.STATUS_CODES[status] ?? 'Error'}</title></head>` +
  `<body><h1>${status} ${http.STATUS_CODES[status] ?? 'Error'}</h1><hr><center>nginx</center></body></html>`;

interface FaultRule {
  readonly op: Operation | '*';
  readonly fault: Fault;
  readonly share: number;
  left: number | undefined;
}

/** True for 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1';
}

const FAULT_KINDS: ReadonlySet<string> = new Set<Fault['kind']>([
  'delay',
  'hang',
  'drip',
  'http',
  'malformed',
  'soapFault',
  'reset',
  'result',
  'answerLost',
]);

/** Checks a fault received as JSON; throws a plain Error naming what is wrong. */
export function parseFault(value: unknown): Fault {
  if (typeof value !== 'object' || value === null) throw new Error('fault must be an object');
  const f = value as Record<string, unknown>;
  const kind = f['kind'];
  if (typeof kind !== 'string' || !FAULT_KINDS.has(kind))
    throw new Error(`fault.kind must be one of ${[...FAULT_KINDS].join(', ')}`);
  const num = (key: string): number => {
    const n = f[key];
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0)
      throw new Error(`fault.${key} must be a non-negative number`);
    return n;
  };
  const text = (key: string): string | undefined => {
    const t = f[key];
    if (t === undefined) return undefined;
    if (typeof t !== 'string') throw new Error(`fault.${key} must be a string`);
    return t;
  };
  const flag = (key: string): boolean | undefined => {
    const b = f[key];
    if (b === undefined) return undefined;
    if (typeof b !== 'boolean') throw new Error(`fault.${key} must be true or false`);
    return b;
  };
  switch (kind as Fault['kind']) {
    case 'delay':
      return { kind: 'delay', ms: num('ms') };
    case 'drip':
      return { kind: 'drip', totalMs: num('totalMs') };
    case 'http': {
      const body = text('body');
      return { kind: 'http', status: num('status'), ...(body === undefined ? {} : { body }) };
    }
    case 'soapFault': {
      const faultcode = text('faultcode');
      const faultstring = text('faultstring');
      return {
        kind: 'soapFault',
        ...(faultcode === undefined ? {} : { faultcode }),
        ...(faultstring === undefined ? {} : { faultstring }),
      };
    }
    case 'result':
      return { kind: 'result', resultCode: num('resultCode') };
    case 'hang':
      return { kind: 'hang' };
    case 'malformed':
      return { kind: 'malformed' };
    case 'reset':
      return { kind: 'reset' };
    case 'answerLost': {
      const answer = text('answer');
      if (answer !== undefined && answer !== 'reset' && answer !== 'garbled')
        throw new Error('fault.answer must be reset or garbled');
      const onlyPaid = flag('onlyPaid');
      return {
        kind: 'answerLost',
        ...(answer === undefined ? {} : { answer }),
        ...(onlyPaid === undefined ? {} : { onlyPaid }),
      };
    }
  }
}

/** Checks `times` and `share` of an injected fault; throws a plain Error naming what is wrong. */
function faultOptions(opts: FaultOptions | undefined): { times?: number; share: number } {
  const times = opts?.times;
  if (times !== undefined && (!Number.isInteger(times) || times < 1))
    throw new Error('times must be a positive integer');
  const share = opts?.share ?? 1;
  if (typeof share !== 'number' || !(share > 0 && share <= 1))
    throw new Error('share must be a number above 0, at most 1');
  return times === undefined ? { share } : { times, share };
}

/** Starts a simulator; resolves once it listens. */
export async function startSimulator(options: SimulatorOptions = {}): Promise<SeqrSimulator> {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const terminal = options.terminal ?? { id: newTerminalId(), password: '12345678' };
  const reseller = options.reseller ?? { id: 'public_test_shop', userId: '9900', password: '1234' };
  const state = new SimulatorState({
    clock,
    reversalMs: options.reversalMs ?? 20_000,
    missingAckMode: options.missingAckMode ?? 'REQUIRE_ACKNOWLEDGMENT',
    reportNotReadyCalls: options.reportNotReadyCalls ?? 1,
    reservationTimeoutMs: options.reservationTimeoutMs ?? 1_800_000,
    onPayerOutcome: (outcome) => {
      merchant.notify(outcome);
    },
  });
  const merchant = new MerchantCallbacks({
    clock,
    state,
    merchant: reseller,
    merchantId: options.ups?.merchantId ?? reseller.id,
    ...(options.ups?.createPurchaseUrl === undefined
      ? {}
      : { createPurchaseUrl: options.ups.createPurchaseUrl }),
    maxAmount: {
      currency: options.ups?.currency ?? 'SEK',
      value: options.ups?.maxAmount ?? '200.00',
    },
    timeoutMs: options.callbackTimeoutMs ?? 10_000,
    ...(options.callbackCa === undefined ? {} : { ca: options.callbackCa }),
  });
  state.addReseller(reseller);
  state.addTerminal(terminal, reseller);
  const wsdlTemplate = await readFile(defaultWsdlPath(), 'utf8');

  const records: CallRecord[] = [];
  const rules: FaultRule[] = [];
  const inFlight = new Map<string, number>();
  const maxInFlight = new Map<string, number>();
  const sockets = new Set<Socket>();
  const timers = new Set<TimerHandle>();
  let closed = false;

  const later = (fn: () => void, ms: number): void => {
    const handle = clock.setTimeout(() => {
      timers.delete(handle);
      if (!closed) fn();
    }, ms);
    timers.add(handle);
  };

  /** True for a getPaymentStatus that will answer PAID (what an `onlyPaid` fault waits for). */
  const reportsPaid = (request: SoapRequest | undefined): boolean => {
    if (request?.operation !== 'getPaymentStatus') return false;
    const ref = childText(request.wrapper, 'invoiceReference');
    return ref !== undefined && state.snapshot(ref)?.status === 'PAID';
  };

  /** The first injected fault that applies to this call, counted; undefined for none. */
  const takeFault = (op: string, request: SoapRequest | undefined): Fault | undefined => {
    for (let index = 0; index < rules.length; index++) {
      const rule = rules[index];
      if (!rule || (rule.op !== '*' && rule.op !== op)) continue;
      if (rule.fault.kind === 'answerLost' && rule.fault.onlyPaid === true && !reportsPaid(request))
        continue;
      if (rule.share < 1 && random() >= rule.share) continue;
      if (rule.left !== undefined) {
        rule.left -= 1;
        if (rule.left <= 0) rules.splice(index, 1);
      }
      return rule.fault;
    }
    return undefined;
  };

  const enter = (op: string): void => {
    for (const key of [op, '*']) {
      const n = (inFlight.get(key) ?? 0) + 1;
      inFlight.set(key, n);
      maxInFlight.set(key, Math.max(n, maxInFlight.get(key) ?? 0));
    }
  };
  const leave = (op: string): void => {
    for (const key of [op, '*']) inFlight.set(key, (inFlight.get(key) ?? 1) - 1);
  };

  const sendXml = (res: http.ServerResponse, status: number, body: string): void => {
    res.writeHead(status, { 'content-type': XML_TYPE, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };

  const drip = (res: http.ServerResponse, status: number, body: string, totalMs: number): void => {
    const bytes = Buffer.from(body, 'utf8');
    res.writeHead(status, { 'content-type': XML_TYPE, 'content-length': bytes.length });
    res.flushHeaders();
    const interval = bytes.length > 1 ? totalMs / (bytes.length - 1) : 0;
    let index = 0;
    const next = (): void => {
      if (res.destroyed) return;
      res.write(bytes.subarray(index, index + 1));
      index += 1;
      if (index < bytes.length) later(next, interval);
      else res.end();
    };
    next();
  };

  const soapCall = (req: http.IncomingMessage, res: http.ServerResponse, body: string): void => {
    let request: SoapRequest | undefined;
    let problem: SoapRequestError | undefined;
    try {
      request = readRequest(body);
    } catch (err) {
      if (!(err instanceof SoapRequestError)) throw err;
      problem = err;
    }
    const op = request?.operation ?? '(malformed)';
    const record: CallRecord = { op, at: clock.now() };
    const named = request
      ? (childText(request.wrapper, 'invoiceReference') ??
        childText(request.wrapper, 'ersReference'))
      : undefined;
    if (named !== undefined) record.reference = named;
    records.push(record);
    enter(op);
    res.on('close', () => {
      record.endedAt = clock.now();
      leave(op);
      options.onCall?.(record);
    });
    const fault = takeFault(op, request);
    if (fault) record.fault = fault.kind;
    switch (fault?.kind) {
      case 'hang':
        return;
      case 'reset':
        req.socket.resetAndDestroy();
        return;
      case 'http':
        res.writeHead(fault.status, { 'content-type': 'text/html; charset=utf-8' });
        res.end(fault.body ?? DEFAULT_HTML(fault.status));
        return;
      case 'malformed':
        sendXml(
          res,
          200,
          `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><ns2:${op}Response><return><resultCode>0</resultCode></retur`,
        );
        return;
      case 'soapFault':
        sendXml(
          res,
          500,
          faultEnvelope(
            fault.faultcode ?? 'soap:Server',
            fault.faultstring ?? 'Simulated server fault',
          ),
        );
        return;
      case 'result':
        record.resultCode = fault.resultCode;
        sendXml(res, 200, resultOnlyEnvelope(op, fault.resultCode));
        return;
      case 'delay':
      case 'drip':
      case 'answerLost':
      case undefined:
        break;
    }
    let status = 200;
    let envelope: string;
    if (request) {
      const handled: Handled = handle(state, request);
      record.resultCode = handled.resultCode;
      if (handled.terminalId !== undefined) record.terminalId = handled.terminalId;
      if (handled.created !== undefined) record.reference = handled.created;
      envelope = handled.envelope;
    } else {
      status = 500;
      envelope = faultEnvelope('soap:Client', problem?.message ?? 'bad request');
    }
    if (fault?.kind === 'delay')
      later(() => {
        sendXml(res, status, envelope);
      }, fault.ms);
    else if (fault?.kind === 'drip') drip(res, status, envelope, fault.totalMs);
    else if (fault?.kind === 'answerLost') {
      // The call took effect above; the terminal never gets to read what it did.
      if (fault.answer === 'garbled')
        sendXml(res, 200, envelope.slice(0, Math.floor(envelope.length / 2)));
      else req.socket.resetAndDestroy();
    } else sendXml(res, status, envelope);
  };

  const control: SimulatorControl = {
    scan: (ref) => {
      state.scan(ref);
    },
    startPaying: (ref) => {
      state.startPaying(ref);
    },
    pay: (ref) => {
      state.pay(ref);
    },
    cancelInApp: (ref) => {
      state.cancelInApp(ref);
    },
    fail: (ref) => {
      state.fail(ref);
    },
    injectFault: (op, fault, opts) => {
      if (op !== '*' && !isOperation(op)) throw new Error(`unknown operation ${String(op)}`);
      const { times, share } = faultOptions(opts);
      rules.push({ op, fault: parseFault(fault), share, left: times });
    },
    clearFaults: () => {
      rules.length = 0;
    },
    invoice: (ref) => state.snapshot(ref),
    invoices: () => state.snapshots(),
    activeInvoice: (terminalId) => state.active(terminalId ?? terminal.id),
    calls: () => records.map((r) => ({ ...r })),
    maxConcurrentCalls: (op) => maxInFlight.get(op ?? '*') ?? 0,
    addTerminal: (t) => {
      state.addTerminal(t, reseller);
    },
    addReseller: (r) => {
      state.addReseller(r);
    },
    upsCode: (token) => merchant.code(token),
    scanUps: (scan) => merchant.scan(scan),
    setCreatePurchaseUrl: (url) => {
      merchant.setCreatePurchaseUrl(url);
    },
    notifications: () => merchant.notifications(),
    upsCalls: () => merchant.upsCalls(),
    callbacksSettled: () => merchant.settled(),
  };

  const json = (res: http.ServerResponse, status: number, value: unknown): void => {
    const body = JSON.stringify(value);
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  };

  const controlCall = (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    url: URL,
    body: string,
  ): void => {
    if (!isLoopback(req.socket.remoteAddress)) {
      json(res, 403, { error: 'the control API answers loopback clients only' });
      return;
    }
    const path = url.pathname.replace(/\/+$/, '');
    const parts = path.split('/').slice(2).map(decodeURIComponent);
    const method = req.method ?? 'GET';
    const input = (): Record<string, unknown> => {
      if (body.trim() === '') return {};
      const parsed: unknown = JSON.parse(body);
      if (typeof parsed !== 'object' || parsed === null)
        throw new Error('body must be a JSON object');
      return parsed as Record<string, unknown>;
    };
    // The UPS routes answer asynchronously (a scan waits for createPurchase).
    if (parts[0] === 'ups' || parts[0] === 'notifications') {
      upsRoute(control, method, parts, input).then(
        (answer) => {
          if (answer) json(res, answer[0], answer[1]);
          else json(res, 404, { error: `no control route ${method} ${url.pathname}` });
        },
        (err: unknown) => {
          json(res, 400, { error: (err as Error).message });
        },
      );
      return;
    }
    try {
      const [first, ref, action] = parts;
      if (first === 'invoices' && ref !== undefined && action !== undefined && method === 'POST') {
        const actions: Record<string, (r: string) => void> = {
          scan: (r) => {
            control.scan(r);
          },
          'start-paying': (r) => {
            control.startPaying(r);
          },
          pay: (r) => {
            control.pay(r);
          },
          cancel: (r) => {
            control.cancelInApp(r);
          },
          fail: (r) => {
            control.fail(r);
          },
        };
        const run = actions[action];
        if (!run) {
          json(res, 404, { error: `unknown action ${action}` });
          return;
        }
        run(ref);
        json(res, 200, { invoice: control.invoice(ref) });
        return;
      }
      if (first === 'invoices' && ref !== undefined && method === 'GET' && action === undefined) {
        const invoice = control.invoice(ref);
        if (invoice) json(res, 200, invoice);
        else json(res, 404, { error: `no invoice with reference ${ref}` });
        return;
      }
      if (first === 'invoices' && ref === undefined && method === 'GET') {
        json(res, 200, control.invoices());
        return;
      }
      if (first === 'active' && method === 'GET') {
        const active = control.activeInvoice(url.searchParams.get('terminalId') ?? undefined);
        json(res, 200, { invoice: active ?? null });
        return;
      }
      if (first === 'calls' && method === 'GET') {
        json(res, 200, control.calls());
        return;
      }
      if (first === 'max-concurrent' && method === 'GET') {
        const op = url.searchParams.get('op');
        if (op !== null && !isOperation(op)) throw new Error(`unknown operation ${op}`);
        json(res, 200, { max: control.maxConcurrentCalls(op ?? undefined) });
        return;
      }
      if (first === 'faults' && method === 'POST') {
        const { op, fault, times, share } = input();
        if (typeof op !== 'string' || (op !== '*' && !isOperation(op)))
          throw new Error(`op must be '*' or one of ${OPERATIONS.join(', ')}`);
        if (times !== undefined && typeof times !== 'number')
          throw new Error('times must be a number');
        if (share !== undefined && typeof share !== 'number')
          throw new Error('share must be a number');
        control.injectFault(op, parseFault(fault), {
          ...(times === undefined ? {} : { times }),
          ...(share === undefined ? {} : { share }),
        });
        json(res, 200, { ok: true });
        return;
      }
      if (first === 'faults' && method === 'DELETE') {
        control.clearFaults();
        json(res, 200, { ok: true });
        return;
      }
      if (first === 'terminals' && method === 'POST') {
        const { id, password } = input();
        if (typeof id !== 'string' || typeof password !== 'string' || id === '')
          throw new Error('id and password must be strings');
        control.addTerminal({ id, password });
        json(res, 200, { ok: true });
        return;
      }
      json(res, 404, { error: `no control route ${method} ${url.pathname}` });
    } catch (err) {
      if (err instanceof SimulatorControlError) json(res, err.status, { error: err.message });
      else json(res, 400, { error: (err as Error).message });
    }
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > MAX_BODY_BYTES) {
        res.writeHead(413).end();
        return;
      }
      const body = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url ?? '/', 'http://simulator.invalid');
      if (url.pathname === '/control' || url.pathname.startsWith('/control/')) {
        controlCall(req, res, url, body);
      } else if (url.pathname === SOAP_PATH && req.method === 'POST') {
        soapCall(req, res, body);
      } else if (
        url.pathname === SOAP_PATH &&
        req.method === 'GET' &&
        url.searchParams.has('wsdl')
      ) {
        const wsdl = wsdlTemplate.replace(
          /(<soap:address\s+location=")[^"]*(")/,
          (_m, open: string, close: string) => `${open}${soapUrl}${close}`,
        );
        res.writeHead(200, { 'content-type': XML_TYPE, 'content-length': Buffer.byteLength(wsdl) });
        res.end(wsdl);
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      }
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const urlHost =
    host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const base = `http://${urlHost}:${port}`;
  const soapUrl = base + SOAP_PATH;

  let closing: Promise<void> | undefined;
  return {
    soapUrl,
    wsdlUrl: `${soapUrl}?wsdl`,
    controlUrl: `${base}/control`,
    terminal: { ...terminal },
    reseller: { ...reseller },
    control,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        closed = true;
        state.close();
        merchant.close();
        for (const handle of timers) clock.clearTimeout(handle);
        timers.clear();
        server.close(() => {
          resolve();
        });
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}
