// Shared pieces of the end-to-end benchmarks: the two terminals under test ("ours": the vending
// runtime with the daemon's adapters; "baseline": the SEQR sample's loop) wired to the same SEQR
// simulator on loopback, the same FramebufferDisplay writing whole frames to a temp file, and the
// same fake hardware; a fast-clock driver; and the money-safety invariants checked from the
// simulator's and the fake dispenser's own records.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { DEFAULT_TIMINGS, type CoreConfig, type ProductConfig } from '../daemon/core/config.js';
import { SqliteLedger } from '../daemon/ledger/sqlite-ledger.js';
import type { Clock } from '../daemon/ports/clock.js';
import type { Display, ProductView, Screen } from '../daemon/ports/display.js';
import type { PaymentGateway } from '../daemon/ports/payment-gateway.js';
import type { ManualClock } from '../daemon/runtime/manual-clock.js';
import { createRuntime, type Runtime } from '../daemon/runtime/runtime.js';
import { SeqrClient } from '../daemon/seqr/client.js';
import { SeqrPaymentGateway } from '../daemon/seqr/gateway.js';
import { FakeButtons } from '../hardware/buttons/fake-buttons.js';
import { FakeDispenser } from '../hardware/dispenser/fake-dispenser.js';
import { createDisplay } from '../hardware/display/index.js';
import { FakePrinter } from '../hardware/printer/fake-printer.js';
import { startSimulator, type CallRecord, type SeqrSimulator } from '../simulator/index.js';
import { BaselineTerminal, everyOn, type BaselineClient } from './baseline.js';

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

/** Wraps a Display: reports each screen when its `show` resolved (the frame is written). */
export class TimedDisplay implements Display {
  readonly #inner: Display;
  readonly #listeners = new Set<(screen: Screen, at: number) => void>();
  #pending = 0;

  constructor(inner: Display) {
    this.#inner = inner;
  }

  /** Frames being written now. */
  get pending(): number {
    return this.#pending;
  }

  onWritten(listener: (screen: Screen, at: number) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Resolves with performance.now() when a screen of `kind` has been written. */
  next(kind: Screen['kind']): Promise<number> {
    return new Promise((resolve) => {
      const off = this.onWritten((s, at) => {
        if (s.kind !== kind) return;
        off();
        resolve(at);
      });
    });
  }

  async show(screen: Screen): Promise<void> {
    this.#pending++;
    try {
      await this.#inner.show(screen);
      const at = performance.now();
      for (const l of [...this.#listeners]) l(screen, at);
    } finally {
      this.#pending--;
    }
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}

/** Counts calls in flight through a gateway, so a fast-clock driver knows when I/O has settled. */
function trackGateway(inner: PaymentGateway, counter: { n: number }): PaymentGateway {
  const t = <T>(p: Promise<T>): Promise<T> => {
    counter.n++;
    return p.finally(() => counter.n--);
  };
  return {
    issueInvoice: (r) => t(inner.issueInvoice(r)),
    getStatus: (ref, v) => t(inner.getStatus(ref, v)),
    cancelInvoice: (ref) => t(inner.cancelInvoice(ref)),
    submitReceipt: (e, d) => t(inner.submitReceipt(e, d)),
    refund: (r) => t(inner.refund(r)),
  };
}

function trackClient(inner: SeqrClient, counter: { n: number }): BaselineClient {
  const t = <T>(p: Promise<T>): Promise<T> => {
    counter.n++;
    return p.finally(() => counter.n--);
  };
  return {
    sendInvoice: (i, tk, o) => t(inner.sendInvoice(i, tk, o)),
    getPaymentStatus: (r, v, o) => t(inner.getPaymentStatus(r, v, o)),
    cancelInvoice: (r, o) => t(inner.cancelInvoice(r, o)),
  };
}

export interface SideOptions {
  readonly dir: string;
  readonly clock: Clock;
  /** True on the system clock: the baseline then uses the global setInterval. */
  readonly realClock: boolean;
  readonly sim: SeqrSimulator;
  /** The SOAP client's hard deadline per call (both sides). Default 10 s (the config default). */
  readonly deadlineMs?: number;
  /** The baseline's polling window before it cancels. Default 30 s (the sample's). */
  readonly windowMs?: number;
  /** Overrides of the core's timings (ours). */
  readonly timings?: Partial<CoreConfig>;
  /** The display; default the framebuffer sink on a temp file. */
  readonly display?: Display;
}

/** One terminal under test, as the benchmarks drive and observe it. */
export interface Side {
  readonly name: SideName;
  readonly sim: SeqrSimulator;
  readonly dispenser: FakeDispenser;
  readonly display: TimedDisplay;
  press(slot: number): void;
  cancel(): void;
  /** No purchase under way. */
  idle(): boolean;
  /** SEQR calls in flight from this side. */
  pending(): number;
  close(): Promise<void>;
}

const silentLog = pino({ level: 'info' }, pino.destination({ dest: '/dev/null', sync: true }));

function framebufferDisplay(dir: string, clock: Clock): Display {
  return createDisplay(
    {
      sink: 'framebuffer',
      device: fakeFramebuffer(dir),
      ...PANEL,
      rotation: 0,
    },
    'en',
    { clock, sysfsRoot: path.join(dir, 'no-sysfs') },
  );
}

/** Ours: the vending runtime with the daemon's adapters (SOAP gateway, SQLite ledger, framebuffer). */
export async function startOurs(o: SideOptions): Promise<Side & { runtime: Runtime }> {
  const { clock } = o;
  const counter = { n: 0 };
  const client = await SeqrClient.create({
    endpoint: o.sim.soapUrl,
    terminal: o.sim.terminal,
    deadlineMs: o.deadlineMs ?? 10_000,
  });
  const slots = PRODUCTS.map((p) => p.slot);
  const buttons = new FakeButtons({ clock, slots });
  const dispenser = new FakeDispenser({ clock, slots, pulseMs: 300 });
  const display = new TimedDisplay(o.display ?? framebufferDisplay(o.dir, clock));
  const config: CoreConfig = {
    ...DEFAULT_TIMINGS,
    machineName: 'bench',
    merchant: { name: 'Bench', terminalId: o.sim.terminal.id },
    products: PRODUCTS,
    ...o.timings,
  };
  const runtime = createRuntime({
    gateway: trackGateway(new SeqrPaymentGateway(client, { clock }), counter),
    buttons,
    dispenser,
    display,
    printer: new FakePrinter({ clock }),
    ledger: SqliteLedger.open({ path: path.join(o.dir, 'ledger.sqlite') }),
    clock,
    log: silentLog,
    config,
  });
  await runtime.start();
  return {
    name: 'ours',
    sim: o.sim,
    runtime,
    dispenser,
    display,
    press: (slot) => {
      buttons.press({ kind: 'product', slot });
    },
    cancel: () => {
      buttons.press({ kind: 'cancel' });
    },
    idle: () => runtime.state().kind === 'idle',
    pending: () => counter.n,
    async close() {
      await runtime.stop().catch(() => undefined);
      client.close();
    },
  };
}

/** The baseline: the sample's loop over the same client, display and dispenser. */
export async function startBaseline(
  o: SideOptions,
): Promise<Side & { terminal: BaselineTerminal }> {
  const { clock } = o;
  const counter = { n: 0 };
  const client = await SeqrClient.create({
    endpoint: o.sim.soapUrl,
    terminal: o.sim.terminal,
    deadlineMs: o.deadlineMs ?? 10_000,
  });
  const dispenser = new FakeDispenser({ clock, slots: PRODUCTS.map((p) => p.slot), pulseMs: 300 });
  const display = new TimedDisplay(o.display ?? framebufferDisplay(o.dir, clock));
  const terminal = new BaselineTerminal({
    client: trackClient(client, counter),
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
    dispenser,
    display,
    press: (slot) => {
      terminal.press(slot);
    },
    cancel: () => {
      terminal.cancel();
    },
    idle: () => !terminal.busy,
    pending: () => counter.n,
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
