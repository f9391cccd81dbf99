// Shared pieces of the end-to-end benchmarks: the two terminals under test ("ours": the vending
// runtime with the daemon's adapters; "baseline": the SEQR sample's loop) wired to the same SEQR
// simulator on loopback, the same FramebufferDisplay writing whole frames to a temp file, and the
// same fake hardware; a fast-clock driver; and the money-safety invariants checked from the
// simulator's and the fake dispenser's own records.
import dc from 'node:diagnostics_channel';
import { mkdirSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { TERMINAL_PASSWORD_CREDENTIAL } from '../config/credentials.js';
import { parseConfigText } from '../config/load.js';
import { startApp, type App } from '../daemon/app.js';
import type { ProductConfig } from '../daemon/core/config.js';
import type { Clock } from '../daemon/ports/clock.js';
import type { Display, ProductView, Screen } from '../daemon/ports/display.js';
import type { ManualClock } from '../daemon/runtime/manual-clock.js';
import { SeqrClient } from '../daemon/seqr/client.js';
import { FakeDispenser } from '../hardware/dispenser/fake-dispenser.js';
import { createDisplay } from '../hardware/display/index.js';
import { startSimulator, type CallRecord, type SeqrSimulator } from '../simulator/index.js';
import { BaselineTerminal, everyOn } from './baseline.js';

export type SideName = 'ours' | 'baseline';

/** The display both sides draw on: a Raspberry Pi 7" panel, RGB565, as config sets it. */
export const PANEL = { width: 800, height: 480, bitsPerPixel: 16 as const, stride: 1600 };

export const PRODUCTS: readonly ProductConfig[] = [
  { slot: 1, buttonLabel: '1', name: 'Cola 33 cl', price: { minor: 2500, currency: 'SEK' } },
  { slot: 2, buttonLabel: '2', name: 'Mineral water', price: { minor: 1850, currency: 'SEK' } },
];

const PRODUCT_VIEWS: readonly ProductView[] = PRODUCTS.map((p) => ({ ...p, soldOut: false }));

/** A zero-filled file standing in for /dev/fb0 (the geometry comes from config, as on a Pi). */
export function fakeFramebuffer(dir: string, name = 'fb0'): string {
  mkdirSync(dir, { recursive: true });
  const device = path.join(dir, name);
  writeFileSync(device, Buffer.alloc(PANEL.stride * PANEL.height));
  return device;
}

/** Wraps a Display: tells listeners of each screen at the moment it is asked for. */
class ObservedDisplay implements Display {
  readonly #inner: Display;
  readonly #listeners = new Set<(screen: Screen) => void>();

  constructor(inner: Display) {
    this.#inner = inner;
  }

  onShow(listener: (screen: Screen) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  show(screen: Screen): Promise<void> {
    for (const l of [...this.#listeners]) l(screen);
    return this.#inner.show(screen);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}

let inFlight: { n: number } | undefined;

/**
 * HTTP client requests of this process not yet answered (response ended) or failed, from Node's
 * HTTP diagnostics channels: the SOAP calls of whichever terminal runs here, seen from outside it.
 */
export function httpInFlight(): number {
  if (!inFlight) {
    const counter = { n: 0 };
    const done = new WeakSet<object>();
    const finish = (request: object): void => {
      if (done.has(request)) return;
      done.add(request);
      counter.n--;
    };
    dc.subscribe('http.client.request.start', () => {
      counter.n++;
    });
    dc.subscribe('http.client.response.finish', (message) => {
      const { request, response } = message as { request: object; response: IncomingMessage };
      response.once('end', () => {
        finish(request);
      });
    });
    dc.subscribe('http.client.request.error', (message) => {
      finish((message as { request: object }).request);
    });
    inFlight = counter;
  }
  return inFlight.n;
}

export interface SideOptions {
  readonly dir: string;
  readonly clock: Clock;
  /** True on the system clock: the baseline then uses the global setInterval. */
  readonly realClock: boolean;
  readonly sim: SeqrSimulator;
  /** The SOAP client's hard deadline per call (both sides), ms. Default 10 s (the config default). */
  readonly deadlineMs?: number;
  /** The baseline's polling window before it cancels. Default 30 s (the sample's). */
  readonly windowMs?: number;
  /** `timeouts` of ours' configuration (config/schema.ts). */
  readonly timeouts?: Readonly<Record<string, number>>;
}

/** One terminal under test, as the benchmarks drive and observe it. */
export interface Side {
  readonly name: SideName;
  readonly sim: SeqrSimulator;
  readonly dispenser: FakeDispenser;
  /** The framebuffer file it writes. */
  readonly device: string;
  press(slot: number): void;
  cancel(): void;
  /** Calls `listener` when the terminal asks its display for a screen. */
  onScreen(listener: (screen: Screen) => void): () => void;
  /** No purchase under way. */
  idle(): boolean;
  close(): Promise<void>;
}

const nullSink = { write: (): boolean => true };

/** Ours as the daemon runs it in demo mode with SEQR at `soapUrl` and the framebuffer sink. */
export function oursConfigText(o: {
  readonly dir: string;
  readonly device: string;
  readonly soapUrl: string;
  readonly terminalId: string;
  readonly deadlineMs?: number;
  readonly timeouts?: Readonly<Record<string, number>>;
}): string {
  const timeouts = Object.entries(o.timeouts ?? {})
    .map(([k, v]) => `${k}: ${String(v)}`)
    .join(', ');
  return `mode: demo
machine: { name: bench }
merchant: { name: Bench }
seqr: { endpoint: "${o.soapUrl}", terminalId: "${o.terminalId}", deadlineMs: ${String(o.deadlineMs ?? 10_000)} }
products:
  - { slot: 1, name: Cola 33 cl, price: "25.00", buttonPin: 5, relayPin: 17 }
  - { slot: 2, name: Mineral water, price: "18.50", buttonPin: 6, relayPin: 27 }
buttons: { cancelPin: 26 }
gpio: { backend: fake }
display: { sink: framebuffer, device: "${o.device}", width: ${String(PANEL.width)}, height: ${String(PANEL.height)}, bitsPerPixel: ${String(PANEL.bitsPerPixel)}, stride: ${String(PANEL.stride)} }
printer: { type: none }
timeouts: { ${timeouts} }
kiosk: { enabled: false }
stateDirectory: "${o.dir}/state"
credentialsDirectory: "${o.dir}/credentials"
control: { socketPath: "${o.dir}/control.sock" }
`;
}

/** The terminal password where {@link oursConfigText}'s daemon reads it (`<dir>/credentials`). */
export function writeTerminalCredential(dir: string, password: string): void {
  mkdirSync(path.join(dir, 'credentials'), { recursive: true, mode: 0o700 });
  writeFileSync(path.join(dir, 'credentials', TERMINAL_PASSWORD_CREDENTIAL), `${password}\n`, {
    mode: 0o600,
  });
}

/** Ours: the daemon's composition root (startApp), in demo mode against the bench simulator. */
export async function startOurs(o: SideOptions): Promise<Side & { app: App }> {
  const device = fakeFramebuffer(o.dir);
  writeTerminalCredential(o.dir, o.sim.terminal.password);
  const config = parseConfigText(
    oursConfigText({
      dir: o.dir,
      device,
      soapUrl: o.sim.soapUrl,
      terminalId: o.sim.terminal.id,
      ...(o.deadlineMs === undefined ? {} : { deadlineMs: o.deadlineMs }),
      ...(o.timeouts === undefined ? {} : { timeouts: o.timeouts }),
    }),
    'bench config',
    {},
  );
  const app = await startApp({
    config,
    env: {},
    clock: o.clock,
    logDestination: nullSink,
    sysfsRoot: path.join(o.dir, 'no-sysfs'),
  });
  const virtual = app.virtual;
  if (!virtual) throw new Error('demo mode without virtual hardware');
  return {
    name: 'ours',
    sim: o.sim,
    app,
    device,
    dispenser: virtual.dispenser,
    press: (slot) => {
      virtual.buttons.press({ kind: 'product', slot });
    },
    cancel: () => {
      virtual.buttons.press({ kind: 'cancel' });
    },
    onScreen: (listener) =>
      app.runtime.onTransition(({ effects }) => {
        for (const e of effects) if (e.type === 'display.show') listener(e.screen);
      }),
    idle: () => app.runtime.state().kind === 'idle',
    close: () => app.stop(),
  };
}

/** The baseline: the sample's loop over the same client, display sink and fake dispenser. */
export async function startBaseline(
  o: SideOptions,
): Promise<Side & { terminal: BaselineTerminal }> {
  const { clock } = o;
  const device = fakeFramebuffer(o.dir);
  const client = await SeqrClient.create({
    endpoint: o.sim.soapUrl,
    terminal: o.sim.terminal,
    deadlineMs: o.deadlineMs ?? 10_000,
  });
  const dispenser = new FakeDispenser({ clock, slots: PRODUCTS.map((p) => p.slot), pulseMs: 300 });
  const display = new ObservedDisplay(
    createDisplay({ sink: 'framebuffer', device, ...PANEL, rotation: 0 }, 'en', {
      clock,
      sysfsRoot: path.join(o.dir, 'no-sysfs'),
    }),
  );
  const terminal = new BaselineTerminal({
    client,
    dispenser,
    display,
    clock,
    every: everyOn(clock, o.realClock),
    machineName: 'bench',
    products: PRODUCT_VIEWS,
    ...(o.windowMs === undefined ? {} : { windowMs: o.windowMs }),
  });
  await terminal.showIdle();
  return {
    name: 'baseline',
    sim: o.sim,
    terminal,
    device,
    dispenser,
    press: (slot) => {
      terminal.press(slot);
    },
    cancel: () => {
      terminal.cancel();
    },
    onScreen: (listener) => display.onShow(listener),
    idle: () => !terminal.busy,
    async close() {
      terminal.cancel();
      await dispenser.close();
      await display.close();
      client.close();
    },
  };
}

export function startSide(name: SideName, o: SideOptions): Promise<Side> {
  return name === 'ours' ? startOurs(o) : startBaseline(o);
}

/** A simulator as the benchmarks use it: invoices without the loyalty acknowledgment step. */
export function benchSimulator(clock?: Clock): Promise<SeqrSimulator> {
  return startSimulator({
    missingAckMode: 'NO_ACKNOWLEDGMENT',
    terminal: { id: 'b3e0c9d5a1f24e6f8a7b6c5d4e3f2a10', password: '12345678' },
    ...(clock ? { clock } : {}),
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Writes to a framebuffer file as inotify reports them (performance.now() of each event). */
export class FrameWatch {
  readonly #times: number[] = [];
  readonly #watcher: FSWatcher;

  constructor(device: string) {
    this.#watcher = watch(device, () => {
      this.#times.push(performance.now());
    });
  }

  /** The first write at or after `from`, once there is one (NaN after `timeoutMs`). */
  async firstAfter(from: number, timeoutMs = 10_000): Promise<number> {
    for (;;) {
      const hit = this.#times.find((t) => t >= from);
      if (hit !== undefined) return hit;
      if (performance.now() - from > timeoutMs) return Number.NaN;
      await sleep(2);
    }
  }

  /**
   * The last write at or after `from` once `quietMs` passed without another: the frame that
   * ended a burst (a screen written after the ones it replaced).
   */
  async lastAfter(from: number, quietMs = 150, timeoutMs = 10_000): Promise<number> {
    for (;;) {
      await sleep(quietMs / 5);
      const last = this.#times.at(-1);
      if (last !== undefined && last >= from && performance.now() - last >= quietMs) return last;
      if (performance.now() - from > timeoutMs) return Number.NaN;
    }
  }

  close(): void {
    this.#watcher.close();
  }
}
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * Drives a ManualClock as fast as the work allows: lets I/O in flight (SOAP calls over loopback,
 * frame writes) finish, then jumps to the next timer.
 */
export class FastClock {
  readonly clock: ManualClock;
  readonly #busy: () => boolean;

  constructor(clock: ManualClock, busy: () => boolean) {
    this.clock = clock;
    this.#busy = busy;
  }

  async settle(): Promise<void> {
    for (let quiet = 0; quiet < 3;) {
      await turn();
      quiet = this.#busy() ? 0 : quiet + 1;
    }
  }

  /** Settles, then fires the next timer; false when no timer is left. */
  async step(): Promise<boolean> {
    await this.settle();
    const next = this.clock.nextAt();
    if (next === undefined) return false;
    this.clock.advanceTo(next);
    return true;
  }

  /** Steps until `done()` or `maxMs` of clock time passed; true when `done()`. */
  async until(done: () => boolean, maxMs: number): Promise<boolean> {
    const end = this.clock.now() + maxMs;
    await this.settle();
    while (!done()) {
      const next = this.clock.nextAt();
      if (next === undefined || next > end) return false;
      this.clock.advanceTo(next);
      await this.settle();
    }
    return true;
  }

  /** Lets `ms` of clock time pass, firing everything due on the way. */
  async pass(ms: number): Promise<void> {
    const end = this.clock.now() + ms;
    await this.until(() => false, ms);
    this.clock.advanceTo(Math.max(end, this.clock.now()));
    await this.settle();
  }
}

/** Invariant violations, by DESIGN.md's money-safety invariants 1-3 (and no refund twice). */
export interface Violations {
  dispenseWithoutPaid: number;
  dispensedTwice: number;
  paidNeitherDispensedNorRefunded: number;
  refundedTwice: number;
}

export function totalViolations(v: Violations): number {
  return (
    v.dispenseWithoutPaid + v.dispensedTwice + v.paidNeitherDispensedNorRefunded + v.refundedTwice
  );
}

/**
 * Watches a side's relay and, at the end, the simulator's invoices. A relay edge belongs to the
 * invoice the simulator issued last for the terminal (one purchase at a time).
 */
export class InvariantWatch {
  readonly #sim: SeqrSimulator;
  readonly #energised = new Map<string, number>();
  #withoutPaid = 0;
  readonly #off: () => void;

  constructor(sim: SeqrSimulator, dispenser: FakeDispenser) {
    this.#sim = sim;
    this.#off = dispenser.onRelay((edge) => {
      if (!edge.energised) return;
      const invoices = sim.control.invoices();
      const last = invoices[invoices.length - 1];
      if (!last || last.status !== 'PAID' || !last.committed) this.#withoutPaid++;
      if (last) this.#energised.set(last.reference, (this.#energised.get(last.reference) ?? 0) + 1);
    });
  }

  check(): Violations {
    this.#off();
    const v: Violations = {
      dispenseWithoutPaid: this.#withoutPaid,
      dispensedTwice: 0,
      paidNeitherDispensedNorRefunded: 0,
      refundedTwice: 0,
    };
    for (const inv of this.#sim.control.invoices()) {
      const pulses = this.#energised.get(inv.reference) ?? 0;
      if (pulses > 1) v.dispensedTwice++;
      if (inv.refunds.length > 1) v.refundedTwice++;
      const paid = inv.committed && !inv.reversed && inv.paidAt !== undefined;
      if (paid && pulses === 0 && inv.refunds.length === 0) v.paidNeitherDispensedNorRefunded++;
    }
    return v;
  }
}

/** Poll cadence of the status calls for one invoice, from the simulator's record. */
export function pollStats(
  calls: readonly CallRecord[],
  periodMs: number,
): { mean: number; maxDeviation: number; maxGap: number; overlaps: number } {
  const gaps = calls.slice(1).map((c, i) => c.at - (calls[i]?.at ?? c.at));
  let overlaps = 0;
  for (let i = 1; i < calls.length; i++) {
    const cur = calls[i];
    if (cur && calls.slice(0, i).some((p) => cur.at < (p.endedAt ?? Number.POSITIVE_INFINITY)))
      overlaps++;
  }
  return {
    mean: gaps.reduce((a, b) => a + b, 0) / Math.max(1, gaps.length),
    maxDeviation: Math.max(0, ...gaps.map((g) => Math.abs(g - periodMs))),
    maxGap: Math.max(0, ...gaps),
    overlaps,
  };
}
