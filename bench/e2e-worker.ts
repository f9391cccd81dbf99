// Child process of the end-to-end benchmarks, so memory and CPU are those of one terminal alone.
//   e2e-worker.js serve-baseline <soapUrl> <terminalId> <device>   the baseline as a process
//   e2e-worker.js rss <ours|baseline> <purchases>                  RSS before/after paid purchases
//   e2e-worker.js soak <ours|baseline> <purchases> <seed>          random customers, fast clock
// The last stdout line of rss and soak is their result as JSON.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { systemClock } from '../daemon/ports/clock.js';
import { ManualClock } from '../daemon/runtime/manual-clock.js';
import { SeqrClient } from '../daemon/seqr/client.js';
import { FakeDispenser } from '../hardware/dispenser/fake-dispenser.js';
import { createDisplay } from '../hardware/display/index.js';
import { BaselineTerminal, everyOn } from './baseline.js';
import {
  FastClock,
  InvariantWatch,
  PANEL,
  PRODUCTS,
  benchSimulator,
  httpInFlight,
  startSide,
  type Side,
  type SideName,
} from './e2e-rig.js';

const [mode, ...args] = process.argv.slice(2);

/** Mulberry32: a small seeded PRNG, so a soak can be repeated. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function rssMiB(): number {
  return process.memoryUsage().rss / 2 ** 20;
}

function gcRss(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return rssMiB();
}

/** V8 heap in use, after the GC of {@link gcRss}. */
function heapMiB(): number {
  return process.memoryUsage().heapUsed / 2 ** 20;
}

/** What a customer does after the QR appears. */
export type Behaviour = 'pay' | 'cancel' | 'timeout' | 'payLate' | 'notDelivered' | 'cancelRace';

/** The soak's mix (weights) of customer behaviours. */
export const MIX: readonly [Behaviour, number][] = [
  ['pay', 0.5],
  ['cancel', 0.15],
  ['notDelivered', 0.1],
  ['cancelRace', 0.1],
  ['payLate', 0.08],
  ['timeout', 0.07],
];

function pick(r: number): Behaviour {
  let acc = 0;
  for (const [b, w] of MIX) {
    acc += w;
    if (r < acc) return b;
  }
  return 'pay';
}

interface Rig {
  side: Side;
  fast: FastClock;
  watch: InvariantWatch;
  /** The window after which the side gives up on an open invoice (ours: both windows). */
  windowMs: number;
  close(): Promise<void>;
}

async function rig(name: SideName, dir: string): Promise<Rig> {
  const clock = new ManualClock(Date.UTC(2026, 10, 29, 12));
  const sim = await benchSimulator(clock);
  const side = await startSide(name, { dir, clock, realClock: false, sim });
  const fast = new FastClock(clock, () => httpInFlight() > 0);
  await fast.settle();
  return {
    side,
    fast,
    watch: new InvariantWatch(sim, side.dispenser),
    windowMs: name === 'ours' ? 60_000 : 30_000,
    async close() {
      await side.close();
      await sim.close();
    },
  };
}

/** One purchase; resolves when the side is idle again. */
async function purchase(r: Rig, behaviour: Behaviour, rand: () => number): Promise<void> {
  const { side, fast } = r;
  const clock = fast.clock;
  const sim = side.sim;
  side.press(rand() < 0.5 ? 1 : 2);
  await fast.until(() => sim.control.activeInvoice() !== undefined, 30_000);
  const ref = sim.control.activeInvoice()?.reference;
  if (ref) {
    const after = (ms: number, fn: () => void): void => {
      clock.setTimeout(() => {
        try {
          fn();
        } catch {
          // The invoice moved on (e.g. the terminal cancelled it): the customer's action fails.
        }
      }, ms);
    };
    const soon = 500 + Math.floor(rand() * 7500);
    switch (behaviour) {
      case 'pay':
        after(soon, () => {
          sim.control.pay(ref);
        });
        break;
      case 'notDelivered':
        after(soon, () => {
          side.dispenser.nextResult(undefined, { outcome: 'notDelivered', reason: 'slotFault' });
          sim.control.pay(ref);
        });
        break;
      case 'cancel':
        after(soon, () => {
          side.cancel();
        });
        break;
      case 'cancelRace':
        after(soon, () => {
          sim.control.pay(ref);
          side.cancel();
        });
        break;
      case 'payLate':
        // PIN entry starts just before the terminal gives up; the payment lands after its cancel.
        after(r.windowMs - 700, () => {
          sim.control.startPaying(ref);
        });
        after(r.windowMs + 1500, () => {
          sim.control.pay(ref);
        });
        break;
      case 'timeout':
        break;
    }
  }
  await fast.until(() => side.idle() && sim.control.activeInvoice() === undefined, 600_000);
}

async function runPurchases(
  name: SideName,
  n: number,
  seed: number,
  behaviourOf: (rand: () => number) => Behaviour,
): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `seqr-e2e-${name}-`));
  const r = await rig(name, dir);
  try {
    const rand = prng(seed);
    // Warm-up purchases, so "before" is the terminal in service, not a half-loaded process.
    for (let i = 0; i < 5; i++) await purchase(r, 'pay', rand);
    const rssBefore = gcRss();
    const heapBefore = heapMiB();
    const counts: Record<string, number> = {};
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const b = behaviourOf(rand);
      counts[b] = (counts[b] ?? 0) + 1;
      await purchase(r, b, rand);
    }
    const wallMs = performance.now() - t0;
    const rssAfterRaw = rssMiB();
    const rssAfter = gcRss();
    const heapAfter = heapMiB();
    // Let the simulator's reversal timers run out before the final check.
    await r.fast.pass(30_000);
    const violations = r.watch.check();
    const invoices = r.side.sim.control.invoices();
    return {
      side: name,
      purchases: n,
      wallMs,
      perSecond: n / (wallMs / 1000),
      rssBefore,
      rssAfter,
      rssAfterRaw,
      heapBefore,
      heapAfter,
      counts,
      violations,
      sold: invoices.filter((i) => i.committed && !i.reversed && i.paidAt !== undefined).length,
      reversed: invoices.filter((i) => i.reversed).length,
      refunded: invoices.filter((i) => i.refunds.length > 0).length,
      pulses: r.side.dispenser.dispenseCount,
      clockHours: (r.fast.clock.now() - Date.UTC(2026, 10, 29, 12)) / 3_600_000,
    };
  } finally {
    await r.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function serveBaseline(soapUrl: string, terminalId: string, device: string): Promise<void> {
  const client = await SeqrClient.create({
    endpoint: soapUrl,
    terminal: { id: terminalId, password: '12345678' },
  });
  const display = createDisplay({ sink: 'framebuffer', device, ...PANEL, rotation: 0 }, 'en');
  const terminal = new BaselineTerminal({
    client,
    dispenser: new FakeDispenser({ clock: systemClock, slots: PRODUCTS.map((p) => p.slot) }),
    display,
    clock: systemClock,
    every: everyOn(systemClock, true),
    machineName: 'bench',
    products: PRODUCTS.map((p) => ({ ...p, soldOut: false })),
  });
  process.stdout.write(`${JSON.stringify({ msg: 'ready' })}\n`);
  await terminal.showIdle();
  const stop = (): void => {
    client.close();
    void display.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  // Keeps the process alive like a daemon waiting for buttons.
  setInterval(() => undefined, 1 << 30);
}

async function main(): Promise<void> {
  const [a = '', b = '', c = ''] = args;
  switch (mode ?? '') {
    case 'serve-baseline':
      await serveBaseline(a, b, c);
      return;
    case 'rss': {
      const result = await runPurchases(a as SideName, Number(b), 1, () => 'pay');
      process.stdout.write(`${JSON.stringify(result)}\n`);
      process.exit(0);
      return;
    }
    case 'soak': {
      const result = await runPurchases(a as SideName, Number(b), Number(c), (rand) =>
        pick(rand()),
      );
      process.stdout.write(`${JSON.stringify(result)}\n`);
      process.exit(0);
      return;
    }
    default:
      throw new Error(`unknown mode ${String(mode)}`);
  }
}

await main();
