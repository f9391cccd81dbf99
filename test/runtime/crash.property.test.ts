// Crashes at any point of any purchase, restarts after any outage, faults of SEQR and of the
// dispenser: random runs of the real runtime (the core's live purchase, start-up recovery and
// background refunds) against the fake SEQR, the fake dispenser and the ManualClock, judged at the
// end by SEQR's own records, the relay pulses and the ledger (DESIGN.md invariants 1-4), and by
// the ports: nothing moves money or goods that the core did not decide (invariant 8).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CoreConfig } from '../../daemon/core/config.js';
import type { Effect } from '../../daemon/core/types.js';
import { MemoryLedger } from '../../daemon/ledger/memory-ledger.js';
import type { Dispenser } from '../../daemon/ports/dispenser.js';
import type { Ledger } from '../../daemon/ports/ledger.js';
import type { PaymentGateway } from '../../daemon/ports/payment-gateway.js';
import { ManualClock } from '../../daemon/runtime/manual-clock.js';
import { createRuntime, type Runtime } from '../../daemon/runtime/runtime.js';
import { FakePaymentGateway } from '../../daemon/seqr/fake-gateway.js';
import { FakeButtons } from '../../hardware/buttons/fake-buttons.js';
import { FakeDispenser } from '../../hardware/dispenser/fake-dispenser.js';
import { FakeDisplay } from '../../hardware/display/fake-display.js';
import { FakePrinter } from '../../hardware/printer/fake-printer.js';
import { testConfig } from '../support/core-config.js';
import { captureLog } from '../support/harness.js';
import { assertMoneyInvariants, watchRelays, type Pulse } from '../support/money-invariants.js';

/** Short windows and retries, so a run covers many purchases (no rule depends on them). */
const config: CoreConfig = {
  ...testConfig,
  paymentWindowMs: 4_000,
  stillPayingWindowMs: 2_000,
  thankYouMs: 500,
  messageMs: 500,
  cancelDeadlineMs: 5_000,
  refundDeadlineMs: 5_000,
  maxCustomerAgeMs: 30_000,
  refundRetryMinMs: 2_000,
  refundRetryMaxMs: 20_000,
  outOfServiceBackoffMinMs: 1_000,
  outOfServiceBackoffMaxMs: 5_000,
};

const never = <T>(): Promise<T> => new Promise<T>(() => undefined);

/**
 * One run of the daemon process: its ports go through here. At the `crashAt`-th act (a ledger
 * write, a SEQR call or a dispense) the machine dies: that act does not happen (`before`), or
 * happens with its answer lost (`lost`); nothing after it happens at all.
 */
class Incarnation {
  dead = false;
  #acts = 0;
  #crashAt: number | undefined;
  #phase: 'before' | 'lost' = 'before';

  /** Dies at the `n`-th act from now (undefined: does not die). */
  arm(n: number | undefined, phase: 'before' | 'lost'): void {
    this.#crashAt = n === undefined ? undefined : this.#acts + n;
    this.#phase = phase;
  }

  act<T>(run: () => Promise<T>): Promise<T> {
    if (this.dead) return never();
    this.#acts++;
    if (this.#crashAt !== undefined && this.#acts >= this.#crashAt) {
      this.dead = true;
      if (this.#phase === 'lost') void run().catch(() => undefined);
      return never();
    }
    return run();
  }
}

type Customer = 'pays' | 'abandons' | 'cancels' | 'paysWhileCancelling' | 'cancelsInApp';

interface Purchase {
  readonly slot: number;
  readonly customer: Customer;
  /** When the customer acts after the pay screen, ms. */
  readonly actAfterMs: number;
  readonly dispense: 'delivered' | 'notDelivered' | 'fault';
  /** Refund calls that fail (before reaching SEQR, timing out, or SEQR busy) before one works. */
  readonly refundFaults: readonly ('E_SEQR_UNREACHABLE' | 'hang' | 93 | 97)[];
  readonly pollFaults: number;
  /** The machine dies at its n-th act during this purchase (none: it survives). */
  readonly crashAt: number | undefined;
  readonly phase: 'before' | 'lost';
  readonly outageMs: number;
  readonly seqrDownAfterRestartMs: number;
  /** The restarted machine dies again, during its recovery, at this act. */
  readonly crashInRecoveryAt: number | undefined;
}

const purchase: fc.Arbitrary<Purchase> = fc.record({
  slot: fc.constantFrom(1, 2, 3),
  customer: fc.constantFrom<Customer>(
    'pays',
    'pays',
    'pays',
    'abandons',
    'cancels',
    'paysWhileCancelling',
    'cancelsInApp',
  ),
  actAfterMs: fc.integer({ min: 100, max: 3_000 }),
  dispense: fc.constantFrom('delivered', 'delivered', 'notDelivered', 'fault'),
  refundFaults: fc.array(
    fc.constantFrom('E_SEQR_UNREACHABLE' as const, 'hang' as const, 93 as const),
    {
      maxLength: 2,
    },
  ),
  pollFaults: fc.integer({ min: 0, max: 2 }),
  crashAt: fc.option(fc.integer({ min: 1, max: 14 }), { nil: undefined, freq: 3 }),
  phase: fc.constantFrom('before', 'lost'),
  outageMs: fc.constantFrom(1_000, 10_000, 25_000, 120_000),
  seqrDownAfterRestartMs: fc.constantFrom(0, 0, 0, 8_000),
  crashInRecoveryAt: fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined, freq: 5 }),
});

interface World {
  /** The machine's configuration (runs alternate dispense.onInterrupted). */
  readonly config: CoreConfig;
  readonly clock: ManualClock;
  readonly fake: FakePaymentGateway;
  readonly ledger: MemoryLedger;
  readonly pulses: Pulse[];
  /** Port calls that move money or goods, each matched against an effect the core emitted. */
  readonly unmatched: string[];
  machine?: {
    runtime: Runtime;
    buttons: FakeButtons;
    dispenser: FakeDispenser;
    display: FakeDisplay;
    life: Incarnation;
  };
  txs: number;
}

/** Money-moving effects the core emitted, not yet carried out, by a key the port call shows. */
function decisionTracker(world: World) {
  const pending = new Map<string, number>();
  const key = (e: Effect): string | undefined => {
    switch (e.type) {
      case 'payment.refund':
        return `refund:${e.request.ersReference}:${e.request.amount.minor}`;
      case 'payment.cancel':
        return `cancel:${e.reference}`;
      case 'payment.issue':
        return `issue:${e.request.clientInvoiceId}`;
      case 'payment.commit':
        return `commit:${e.reference}:${e.amount.minor}`;
      case 'dispenser.dispense':
        return `dispense:${e.slot}`;
      case 'display.show':
      case 'ledger.record':
      case 'log':
      case 'payment.poll':
      case 'payment.probe':
      case 'payment.submitReceipt':
      case 'payment.update':
      case 'request.answer':
      case 'printer.print':
      case 'timer.cancel':
      case 'timer.start':
        return undefined;
    }
  };
  return {
    decided(effects: readonly Effect[]): void {
      for (const e of effects) {
        const k = key(e);
        if (k !== undefined) pending.set(k, (pending.get(k) ?? 0) + 1);
      }
    },
    carriedOut(k: string): void {
      const n = pending.get(k) ?? 0;
      if (n === 0) world.unmatched.push(k);
      else pending.set(k, n - 1);
    },
  };
}

function boot(world: World, life: Incarnation): void {
  const { clock, fake, ledger } = world;
  const { config } = world;
  const slots = config.products.map((p) => p.slot);
  const dispenser = new FakeDispenser({ clock, slots });
  watchRelays(dispenser, ledger, world.pulses);
  const track = decisionTracker(world);
  const gateway: PaymentGateway = {
    issueInvoice: (r) =>
      life.act(() => (track.carriedOut(`issue:${r.clientInvoiceId}`), fake.issueInvoice(r))),
    getStatus: (ref, v) => life.act(() => fake.getStatus(ref, v)),
    cancelInvoice: (ref) =>
      life.act(() => (track.carriedOut(`cancel:${ref}`), fake.cancelInvoice(ref))),
    submitReceipt: (ers, d) => life.act(() => fake.submitReceipt(ers, d)),
    refund: (r) =>
      life.act(
        () => (track.carriedOut(`refund:${r.ersReference}:${r.amount.minor}`), fake.refund(r)),
      ),
    updateInvoice: (ref, c) => life.act(() => fake.updateInvoice(ref, c)),
    commitReservation: (ref, a) =>
      life.act(
        () => (track.carriedOut(`commit:${ref}:${a.minor}`), fake.commitReservation(ref, a)),
      ),
  };
  const ports: Dispenser = {
    dispense: (slot, observer) =>
      life.act(() => (track.carriedOut(`dispense:${slot}`), dispenser.dispense(slot, observer))),
    safeState: () => (life.dead ? Promise.resolve() : dispenser.safeState()),
    stock: (slot) => dispenser.stock(slot),
    refill: (slot, count) => {
      dispenser.refill(slot, count);
    },
    close: () => (life.dead ? Promise.resolve() : dispenser.close()),
  };
  const store: Ledger = {
    record: (entry, at) => life.act(() => ledger.record(entry, at)),
    openTransactions: () => ledger.openTransactions(),
    receiptsOwed: () => ledger.receiptsOwed(),
    close: () => Promise.resolve(),
  };
  const buttons = new FakeButtons({ clock, slots });
  const display = new FakeDisplay();
  const runtime = createRuntime({
    gateway,
    buttons,
    dispenser: ports,
    display,
    printer: new FakePrinter({ clock }),
    ledger: store,
    clock,
    log: captureLog().log,
    config,
    newTxId: () => `tx-${++world.txs}`,
  });
  runtime.onTransition(({ effects }) => {
    track.decided(effects);
  });
  world.machine = { runtime, buttons, dispenser, display, life };
}

async function advance(world: World, ms: number, stepMs = 250): Promise<void> {
  for (let left = ms; left > 0; left -= stepMs) {
    await world.clock.advanceAsync(Math.min(stepMs, left));
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  }
}

/** A new machine process on the same ledger and SEQR: start-up recovery runs first. */
async function startMachine(world: World, crashAt?: number, phase: 'before' | 'lost' = 'before') {
  const life = new Incarnation();
  life.arm(crashAt, phase);
  boot(world, life);
  await world.machine!.runtime.start();
}

async function restart(world: World, p: Purchase): Promise<void> {
  await advance(world, p.outageMs, 1_000);
  if (p.seqrDownAfterRestartMs > 0) world.fake.setDown('E_SEQR_UNREACHABLE');
  await startMachine(world, p.crashInRecoveryAt, p.phase);
  await advance(world, Math.max(p.seqrDownAfterRestartMs, 500));
  world.fake.setDown(undefined);
  if (world.machine!.life.dead) {
    // Killed again while recovering: the next start takes over.
    await advance(world, 3_000, 1_000);
    await startMachine(world);
  } else world.machine!.life.arm(undefined, 'before');
}

async function buy(world: World, p: Purchase): Promise<void> {
  const m = world.machine!;
  const { fake } = world;
  for (const f of p.refundFaults) {
    if (f === 'hang') fake.hangNext('refund');
    else if (typeof f === 'number') fake.failNext({ resultCode: f }, 'refund');
    else fake.failNext(f, 'refund');
  }
  for (let i = 0; i < p.pollFaults; i++) fake.failNext('E_SEQR_TIMEOUT', 'getStatus');
  if (p.dispense === 'notDelivered')
    m.dispenser.nextResult(p.slot, { outcome: 'notDelivered', reason: 'slotFault' });
  if (p.dispense === 'fault') m.dispenser.failNext(p.slot);
  m.buttons.press({ kind: 'product', slot: p.slot });
  await advance(world, 300, 100);
  // The customer pays what the screen shows: the QR code of a recorded invoice.
  const screen = m.display.current;
  const ref = screen?.kind === 'pay' ? screen.qrPayload.replace('HTTP://SEQR.SE/R', '') : undefined;
  await advance(world, p.actAfterMs);
  const act = (what: () => void): void => {
    try {
      what();
    } catch {
      // Too late: the invoice is no longer payable (cancelled, timed out, never issued).
    }
  };
  if (ref !== undefined && !m.life.dead)
    switch (p.customer) {
      case 'pays':
        act(() => {
          fake.pay(ref);
        });
        break;
      case 'cancels':
        m.buttons.press({ kind: 'cancel' });
        break;
      case 'paysWhileCancelling':
        act(() => {
          fake.startPaying(ref);
        });
        m.buttons.press({ kind: 'cancel' });
        await advance(world, 1_500);
        act(() => {
          fake.pay(ref);
        });
        break;
      case 'cancelsInApp':
        act(() => {
          fake.cancelInApp(ref);
        });
        break;
      case 'abandons':
        break;
    }
  await advance(world, 15_000);
}

/** Every machine clears its retries and open invoices given time and a reachable SEQR. */
async function settle(world: World): Promise<void> {
  for (let i = 0; i < 40; i++) {
    await advance(world, 5_000, 500);
    const m = world.machine!;
    const open = await world.ledger.openTransactions();
    if (
      m.runtime.state().kind === 'idle' &&
      open.size === 0 &&
      m.runtime.state().background.jobs.length === 0
    )
      return;
  }
}

describe('crash, restart and faults at any point: the money-safety invariants hold', () => {
  it('over random purchases, crashes, outages and faults', async () => {
    let runs = 0;
    let crashes = 0;
    const outcomes: Record<string, number> = {};
    let refundedAtSeqr = 0;
    let pulses = 0;
    let retries = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(purchase, { minLength: 1, maxLength: 3 }), async (purchases) => {
        runs++;
        const clock = new ManualClock(1_763_800_000_000);
        const world: World = {
          config: { ...config, onInterruptedDispense: runs % 2 ? 'refund' : 'flag' },
          clock,
          fake: new FakePaymentGateway({ clock, reversalMs: 20_000, deadlineMs: 3_000 }),
          ledger: new MemoryLedger(),
          pulses: [],
          unmatched: [],
          txs: 0,
        };
        await startMachine(world);
        for (const p of purchases) {
          await advance(world, 500);
          world.machine!.life.arm(p.crashAt, p.phase);
          await buy(world, p);
          if (world.machine!.life.dead) {
            crashes++;
            await restart(world, p);
          } else world.machine!.life.arm(undefined, 'before');
        }
        await settle(world);
        // A last customer who cancels: SEQR cancels any invoice the ledger never learnt of.
        world.machine!.buttons.press({ kind: 'product', slot: 1 });
        await advance(world, 1_000);
        world.machine!.buttons.press({ kind: 'cancel' });
        await settle(world);
        const m = world.machine!;
        expect(m.runtime.state().kind, JSON.stringify(purchases)).toBe('idle');
        expect(world.unmatched, 'port calls the core did not decide').toEqual([]);
        assertMoneyInvariants({
          entries: world.ledger.entries,
          fake: world.fake,
          pulses: world.pulses,
        });
        for (const e of world.ledger.entries) {
          if (e.type === 'tx.closed') outcomes[e.outcome] = (outcomes[e.outcome] ?? 0) + 1;
          if (e.type === 'refund.requested' && e.initiator === 'retry') retries++;
        }
        refundedAtSeqr += world.fake.calls.filter(
          (c) => c.method === 'refund' && c.outcome === 'ok',
        ).length;
        pulses += world.pulses.length;
        await m.runtime.stop();
      }),
      { numRuns: 100 },
    );
    expect(runs).toBe(100);
    // Not vacuous: crashes happened, and purchases ended every way.
    expect(crashes).toBeGreaterThan(10);
    for (const outcome of ['sold', 'refunded', 'flagged', 'cancelled'])
      expect(outcomes[outcome] ?? 0, `${outcome} in ${JSON.stringify(outcomes)}`).toBeGreaterThan(
        0,
      );
    expect(refundedAtSeqr).toBeGreaterThan(0);
    expect(pulses).toBeGreaterThan(10);
    expect(retries).toBeGreaterThan(0);
  }, 300_000);
});
