// The kiosk composed as demo mode composes it: the runtime drawing on kiosk.display, fake
// hardware, the real SOAP gateway against an in-process simulator on loopback, one ManualClock.
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { startKiosk, type Kiosk, type KioskOptions } from '../../daemon/kiosk/index.js';
import { MemoryLedger } from '../../daemon/ledger/memory-ledger.js';
import { createLogger } from '../../daemon/log.js';
import { ManualClock } from '../../daemon/runtime/manual-clock.js';
import { createRuntime, type Runtime } from '../../daemon/runtime/runtime.js';
import { SeqrClient } from '../../daemon/seqr/client.js';
import { SeqrPaymentGateway } from '../../daemon/seqr/gateway.js';
import { FakeButtons } from '../../hardware/buttons/fake-buttons.js';
import { FakeDispenser } from '../../hardware/dispenser/fake-dispenser.js';
import { formatMoney } from '../../hardware/display/screen-text.js';
import { FakePrinter } from '../../hardware/printer/fake-printer.js';
import { startSimulator, type SeqrSimulator } from '../../simulator/index.js';
import { testConfig } from '../support/core-config.js';
import { trackCalls } from '../support/sim-harness.js';

/** Journal lines fanned out to subscribers, as the composition root does for the kiosk. */
export function logHub(): {
  sink: { write(line: string): void };
  subscribe(listener: (line: string) => void): () => void;
} {
  const listeners = new Set<(line: string) => void>();
  return {
    sink: {
      write(line) {
        for (const l of listeners) l(line);
      },
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
  json(): unknown;
}

/** One request over a fresh loopback connection; `host` overrides the Host header. */
export function http(
  url: string,
  method: string,
  path: string,
  options: { body?: string | Buffer; headers?: Record<string, string> } = {},
): Promise<HttpAnswer> {
  const base = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: base.hostname,
        port: base.port,
        method,
        path,
        agent: false,
        headers: {
          ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...options.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            json: () => JSON.parse(body.toString('utf8')) as unknown,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** POST with a JSON body. */
export function post(url: string, path: string, body: unknown): Promise<HttpAnswer> {
  return http(url, 'POST', path, { body: JSON.stringify(body) });
}

/** Writes raw bytes on a new connection, half-closes it, returns all the server sent until it closed. */
export function rawExchange(url: string, bytes: string): Promise<string> {
  const base = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(base.port), base.hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => {
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    socket.on('error', reject);
    socket.end(bytes);
  });
}

export interface SseEvent {
  readonly type: string;
  readonly data: Record<string, unknown>;
}

/** An EventSource stand-in over fetch: collects every event of `GET /events`. */
export interface SseClient {
  readonly events: SseEvent[];
  /** The first event (already received or coming) matching; rejects after `guardMs` real ms. */
  waitFor(predicate: (e: SseEvent) => boolean, guardMs?: number): Promise<SseEvent>;
  /** Resolves when the server ended the stream. */
  readonly ended: Promise<void>;
  close(): void;
}

export async function openEvents(url: string): Promise<SseClient> {
  const abort = new AbortController();
  const res = await fetch(new URL('/events', url), { signal: abort.signal });
  if (res.status !== 200 || !res.body) throw new Error(`GET /events answered ${res.status}`);
  const events: SseEvent[] = [];
  const waiters = new Set<() => void>();
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const ended = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          let type = 'message';
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) type = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (data !== '') events.push({ type, data: JSON.parse(data) as Record<string, unknown> });
        }
        for (const w of [...waiters]) w();
      }
    } catch {
      // aborted by close()
    }
  })();
  return {
    events,
    ended,
    waitFor(predicate, guardMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const hit = events.find(predicate);
          if (!hit) return false;
          waiters.delete(onData);
          clearTimeout(guard);
          resolve(hit);
          return true;
        };
        const onData = (): void => {
          check();
        };
        const guard = setTimeout(() => {
          waiters.delete(onData);
          reject(
            new Error(
              `no matching event; got ${events.map((e) => `${e.type}:${JSON.stringify(e.data['screen'] ?? e.data['slot'] ?? '')}`).join(' ')}`,
            ),
          );
        }, guardMs);
        if (!check()) waiters.add(onData);
      });
    },
    close() {
      abort.abort();
    },
  };
}

export interface KioskRig {
  readonly clock: ManualClock;
  readonly sim: SeqrSimulator;
  readonly kiosk: Kiosk;
  readonly url: string;
  readonly runtime: Runtime;
  readonly buttons: FakeButtons;
  readonly dispenser: FakeDispenser;
  readonly printer: FakePrinter;
  readonly ledger: MemoryLedger;
  /** Moves the clock by `ms` in steps, letting real SOAP I/O come back after each step. */
  advanceIo(ms: number, stepMs?: number): Promise<void>;
  /** The simulator's open invoice for the machine's terminal. */
  activeRef(): string;
  close(): Promise<void>;
}

export interface RigOptions {
  readonly display?: KioskOptions['display'];
  /** Drop window of the fake dispenser; `null` = no drop sensor. Default 1000 ms. */
  readonly dropWindowMs?: number | null;
}

const realSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

export const rigProducts = testConfig.products.map((p) => ({
  slot: p.slot,
  name: p.name,
  price: formatMoney(p.price, 'en'),
}));

export async function startKioskRig(options: RigOptions = {}): Promise<KioskRig> {
  const clock = new ManualClock(1_763_800_000_000);
  const slots = testConfig.products.map((p) => p.slot);
  const sim = await startSimulator({
    clock,
    terminal: { id: testConfig.merchant.terminalId, password: 'Term-Pw-5e1d' },
    missingAckMode: 'NO_ACKNOWLEDGMENT',
  });
  const client = await SeqrClient.create({
    endpoint: sim.soapUrl,
    terminal: sim.terminal,
    deadlineMs: 2000,
  });
  const tracked = trackCalls(new SeqrPaymentGateway(client, { clock }));
  const buttons = new FakeButtons({ clock, slots });
  const dropWindowMs = options.dropWindowMs === undefined ? 1000 : options.dropWindowMs;
  const dispenser = new FakeDispenser({
    clock,
    slots,
    ...(dropWindowMs === null ? {} : { dropWindowMs }),
  });
  const printer = new FakePrinter({ clock });
  const ledger = new MemoryLedger();
  const hub = logHub();
  const log = createLogger({ level: 'debug', journald: false, destination: hub.sink });
  const kiosk = await startKiosk({
    host: '127.0.0.1',
    port: 0,
    locale: 'en',
    display: options.display ?? { width: 320, height: 240, rotation: 0 },
    products: rigProducts,
    buttons,
    dispenser,
    printer,
    simulator: sim.control,
    logLines: hub,
    clock,
  });
  let n = 0;
  const runtime = createRuntime({
    gateway: tracked.gateway,
    buttons,
    dispenser,
    display: kiosk.display,
    printer,
    ledger,
    clock,
    log,
    config: testConfig,
    newTxId: () => `tx-${++n}`,
  });
  const settleIo = async (maxWaitMs: number): Promise<void> => {
    await settle();
    const until = Date.now() + maxWaitMs;
    while (tracked.pending() > 0 && Date.now() < until) await realSleep(1);
    await settle();
  };
  await runtime.start();
  await settleIo(2000);
  return {
    clock,
    sim,
    kiosk,
    url: kiosk.url,
    runtime,
    buttons,
    dispenser,
    printer,
    ledger,
    async advanceIo(ms, stepMs = 100) {
      for (let left = ms; left > 0; left -= stepMs) {
        await clock.advanceAsync(Math.min(stepMs, left));
        await settleIo(500);
      }
    },
    activeRef() {
      const active = sim.control.activeInvoice();
      if (!active) throw new Error('no open invoice at the simulator');
      return active.reference;
    },
    async close() {
      await runtime.stop().catch(() => undefined);
      await kiosk.close();
      client.close();
      await sim.close();
    },
  };
}
