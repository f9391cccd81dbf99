// Start-up recovery end to end: a ledger a crash left behind (every last durable step) x what
// SEQR did meanwhile, then the runtime (the core's starting phase) with the fake SEQR, the fake
// dispenser and the ManualClock; judged by SEQR's own records, the relay pulses and the ledger.
import { afterEach, describe, expect, it } from 'vitest';
import { viewOf } from '../../daemon/core/projection.js';
import type { LedgerEntry, StoredEntry } from '../../daemon/ports/ledger.js';
import { ManualClock } from '../../daemon/runtime/manual-clock.js';
import { FakePaymentGateway } from '../../daemon/seqr/fake-gateway.js';
import { FakeDispenser } from '../../hardware/dispenser/fake-dispenser.js';
import type { CoreConfig } from '../../daemon/core/config.js';
import { testConfig } from '../support/core-config.js';
import { startHarness, type Harness } from '../support/harness.js';
import { assertMoneyInvariants, watchRelays, type Pulse } from '../support/money-invariants.js';

const T0 = 1_763_800_000_000;
const TX = 'old-1';
const PRICE = { minor: 2500, currency: 'SEK' };

type Step =
  | 'requested'
  | 'issued'
  | 'seenIssued'
  | 'cancelRequested'
  | 'canceled'
  | 'paid'
  | 'started'
  | 'dropped'
  | 'delivered'
  | 'notDelivered'
  | 'uncertain'
  | 'printed'
  | 'refundRequested'
  | 'refundLost'
  | 'refundBusy'
  | 'refundRefused'
  | 'refundConfirmed';

function entry(step: Step, ref: string, ers: string): LedgerEntry {
  switch (step) {
    case 'requested':
      return { type: 'invoice.requested', txId: TX, slot: 2, productName: 'Water', price: PRICE };
    case 'issued':
      return { type: 'invoice.issued', txId: TX, invoiceReference: ref };
    case 'seenIssued':
      return { type: 'status.seen', txId: TX, status: 'ISSUED', version: 1 };
    case 'cancelRequested':
      return { type: 'cancel.requested', txId: TX };
    case 'canceled':
      return { type: 'status.seen', txId: TX, status: 'CANCELED', version: 2 };
    case 'paid':
      return { type: 'status.seen', txId: TX, status: 'PAID', version: 2, ersReference: ers };
    case 'started':
      return { type: 'dispense.started', txId: TX, slot: 2 };
    case 'dropped':
      return { type: 'dispense.dropped', txId: TX };
    case 'delivered':
      return { type: 'dispense.finished', txId: TX, outcome: 'delivered' };
    case 'notDelivered':
      return { type: 'dispense.finished', txId: TX, outcome: 'notDelivered', detail: 'slotFault' };
    case 'uncertain':
      return { type: 'dispense.finished', txId: TX, outcome: 'uncertain' };
    case 'printed':
      return { type: 'receipt.printed', txId: TX };
    case 'refundRequested':
      return { type: 'refund.requested', txId: TX, amount: PRICE };
    case 'refundLost':
      return { type: 'refund.failed', txId: TX, failure: { code: 'E_SEQR_TIMEOUT' } };
    case 'refundBusy':
      return {
        type: 'refund.failed',
        txId: TX,
        failure: { code: 'E_SEQR_RESULT', resultCode: 93 },
      };
    case 'refundRefused':
      return {
        type: 'refund.failed',
        txId: TX,
        failure: { code: 'E_REFUND_REFUSED', resultCode: 97 },
      };
    case 'refundConfirmed':
      return { type: 'refund.confirmed', txId: TX, refundReference: 'RF0' };
  }
}

/** What SEQR saw before the restart, and how the world behaves after it. */
interface Before {
  /** The customer's side before the restart (the clock is at the restart minus `beforeMs`). */
  readonly seqr?: (fake: FakePaymentGateway, ref: string, ers: string) => Promise<void> | void;
  /** The ledger names an invoice SEQR never issued to this terminal (54). */
  readonly unknownToSeqr?: boolean;
  /** How long before the restart that happened. Default 5 s. */
  readonly beforeMs?: number;
  readonly dispenser?: (d: FakeDispenser) => void;
  /** The core's configuration (default the test machine's). */
  readonly config?: CoreConfig;
}

interface Expect {
  readonly closed?: string;
  readonly dispensed?: number;
  /** Minor units refunded at SEQR. */
  readonly refunded?: number;
  /** SEQR calls after the restart, in order (when given). */
  readonly calls?: readonly string[];
  readonly errorCodes?: readonly string[];
}

let h: Harness | undefined;
afterEach(async () => {
  await h?.runtime.stop().catch(() => undefined);
  h = undefined;
});

const commit = async (fake: FakePaymentGateway, ref: string): Promise<string> => {
  fake.pay(ref);
  const s = await fake.getStatus(ref, 0);
  return s.ersReference!;
};

interface Outcome {
  readonly h: Harness;
  readonly ref: string;
  readonly pulses: Pulse[];
  /** SEQR calls made before the restart (the fake's record of them). */
  readonly callsBefore: number;
}

async function scenario(
  steps: readonly Step[],
  before: Before = {},
  settleMs = 60_000,
): Promise<Outcome> {
  const clock = new ManualClock(T0);
  const fake = new FakePaymentGateway({ clock, reversalMs: 20_000 });
  // SEQR knows the invoice when the ledger says it was issued.
  const ref =
    steps.includes('issued') && before.unknownToSeqr !== true
      ? (
          await fake.issueInvoice({
            clientInvoiceId: TX,
            title: 'Corner Cafe',
            itemDescription: 'Water',
            price: PRICE,
            cashierId: 'm',
          })
        ).reference
      : 'R-unknown';
  // What the recorded steps say SEQR did.
  const ers = steps.includes('paid') ? await commit(fake, ref) : 'ERS-none';
  if (steps.includes('canceled')) fake.cancelInApp(ref);
  const entries: StoredEntry[] = steps.map((s, i) => ({
    ...entry(s, ref, ers),
    seq: i + 1,
    at: clock.now() + i,
  }));
  clock.advance(steps.length);
  const beforeMs = before.beforeMs ?? 5_000;
  await before.seqr?.(fake, ref, ers);
  clock.advance(beforeMs);
  const dispenser = new FakeDispenser({ clock, slots: [1, 2, 3] });
  before.dispenser?.(dispenser);
  const callsBefore = fake.calls.length;
  h = await startHarness({
    clock,
    fake,
    dispenser,
    ledgerEntries: entries,
    firstTxNumber: 100,
    ...(before.config ? { config: before.config } : {}),
  });
  const pulses: Pulse[] = [];
  watchRelays(dispenser, h.ledger, pulses);
  await h.advance(settleMs, 200);
  return { h, ref, pulses, callsBefore };
}

function check(r: Outcome, expected: Expect, options: { relayedBefore?: boolean } = {}): void {
  const view = viewOf(r.h.ledger.entriesOf(TX))!;
  const calls = r.h.fake.calls.slice(r.callsBefore).map((c) => c.method);
  if (expected.closed !== undefined) expect(view.closed).toBe(expected.closed);
  if (expected.dispensed !== undefined)
    expect(r.h.dispenser.dispenses).toHaveLength(expected.dispensed);
  if (expected.refunded !== undefined) expect(r.h.fake.refunded(r.ref)).toBe(expected.refunded);
  if (expected.calls !== undefined) expect(calls).toEqual(expected.calls);
  const codes = r.h.lines.filter((l) => l.level >= 50).map((l) => l['code']);
  for (const code of expected.errorCodes ?? []) expect(codes).toContain(code);
  // A dispense interrupted before the restart is never repeated.
  if (options.relayedBefore) expect(r.h.dispenser.dispenses).toHaveLength(0);
  if (view.closed !== undefined)
    assertMoneyInvariants({ entries: r.h.ledger.entries, fake: r.h.fake, pulses: r.pulses });
  expect(r.h.state().kind).toBe('idle');
}

type World = keyof typeof WORLDS;

/** What SEQR did with an invoice the ledger has as open (issued, no final status). */
const WORLDS = {
  /** Nothing: still ISSUED. */
  issued: { before: {}, expect: { closed: 'cancelled', dispensed: 0, refunded: 0 } },
  /** Paid 5 s before the restart; not polled yet (uncommitted): the customer is there. */
  paidNow: {
    before: {
      seqr: (f: FakePaymentGateway, ref: string) => {
        f.pay(ref);
      },
    },
    expect: { closed: 'sold', dispensed: 1, refunded: 0 },
  },
  /** Paid, not polled for longer than SEQR's 20 s: SEQR reversed it, nobody was charged. */
  paidAndReversed: {
    before: {
      seqr: (f: FakePaymentGateway, ref: string) => {
        f.pay(ref);
      },
      beforeMs: 600_000,
    },
    expect: { closed: 'cancelled', dispensed: 0, refunded: 0 },
  },
  /** Paid and committed 10 min before the restart, the PAID answer lost: refunded. */
  paidLongAgoAnswerLost: {
    before: {
      seqr: async (f: FakePaymentGateway, ref: string) => {
        await commit(f, ref);
      },
      beforeMs: 600_000,
    },
    expect: { closed: 'refunded', dispensed: 0, refunded: 2500 },
  },
  canceledInApp: {
    before: {
      seqr: (f: FakePaymentGateway, ref: string) => {
        f.cancelInApp(ref);
      },
    },
    expect: { closed: 'cancelled', dispensed: 0, calls: ['cancelInvoice', 'getStatus'] },
  },
  failed: {
    before: {
      seqr: (f: FakePaymentGateway, ref: string) => {
        f.fail(ref);
      },
    },
    expect: { closed: 'failed', dispensed: 0 },
  },
  paidNowRelayFault: {
    before: {
      seqr: (f: FakePaymentGateway, ref: string) => {
        f.pay(ref);
      },
      dispenser: (d: FakeDispenser) => {
        d.failNext();
      },
    },
    // The relay may have pulsed: dispense.onInterrupted (default refund).
    expect: { closed: 'refunded', dispensed: 1, refunded: 2500, errorCodes: ['E_DISPENSER_FAULT'] },
  },
  paidNowNotDelivered: {
    before: {
      seqr: (f: FakePaymentGateway, ref: string) => {
        f.pay(ref);
      },
      dispenser: (d: FakeDispenser) => {
        d.nextResult(undefined, { outcome: 'notDelivered', reason: 'slotFault' });
      },
    },
    // slotFault: the slot refused before its relay moved.
    expect: { closed: 'refunded', dispensed: 0, refunded: 2500 },
  },
} as const satisfies Record<string, { before: Before; expect: Expect }>;

const PRE_PAID: readonly (readonly Step[])[] = [
  ['requested', 'issued'],
  ['requested', 'issued', 'seenIssued'],
  ['requested', 'issued', 'seenIssued', 'cancelRequested'],
];

describe('recovery: last recorded step x SEQR', () => {
  it('an invoice requested but never issued: closed failed, SEQR not called', async () => {
    const r = await scenario(['requested']);
    check(r, { closed: 'failed', dispensed: 0, calls: [] });
  });

  it('a final CANCELED status recorded: closed cancelled, SEQR not called', async () => {
    const r = await scenario(['requested', 'issued', 'seenIssued', 'canceled']);
    check(r, { closed: 'cancelled', dispensed: 0, calls: [] });
  });

  for (const steps of PRE_PAID)
    for (const world of Object.keys(WORLDS) as World[])
      it(`after ${steps.at(-1)!}, SEQR ${world}`, async () => {
        const r = await scenario(steps, WORLDS[world].before);
        check(r, WORLDS[world].expect);
        const calls = r.h.fake.calls.map((c) => c.method);
        expect(calls).toContain('cancelInvoice');
        // The cancel is confirmed by a status poll after it.
        expect(calls.lastIndexOf('getStatus')).toBeGreaterThan(calls.indexOf('cancelInvoice'));
      });

  it('an invoice unknown to SEQR (54 to the status call and the cancel, for 30 s): flagged, since the last call before the restart may have met a payment', async () => {
    const r = await scenario(['requested', 'issued', 'seenIssued'], { unknownToSeqr: true });
    check(r, { closed: 'flagged', dispensed: 0, errorCodes: ['E_SEQR_UNKNOWN_INVOICE'] });
    const calls = r.h.fake.calls.filter((c) => c.outcome === 'E_SEQR_UNKNOWN_INVOICE');
    expect(calls.map((c) => c.method)).toContain('cancelInvoice');
    expect(calls.map((c) => c.method)).toContain('getStatus');
    expect(calls.at(-1)!.startedAt - calls[0]!.startedAt).toBeGreaterThanOrEqual(
      testConfig.unknownInvoiceGiveUpMs,
    );
  });

  it('SEQR paying while recovering (51), then paid: a sale, dispensed once', async () => {
    const r = await scenario(
      ['requested', 'issued', 'seenIssued'],
      {
        seqr: (f, ref) => {
          f.startPaying(ref);
        },
      },
      2_500,
    );
    expect(r.h.state().kind).toBe('cancelling');
    r.h.fake.pay(r.ref);
    await r.h.advance(30_000, 200);
    check(r, { closed: 'sold', dispensed: 1, refunded: 0 });
  });

  it('SEQR paying while recovering, then the customer gives up in the app: cancelled', async () => {
    const r = await scenario(
      ['requested', 'issued'],
      {
        seqr: (f, ref) => {
          f.startPaying(ref);
        },
      },
      2_500,
    );
    expect(r.h.state().kind).toBe('cancelling');
    r.h.fake.cancelInApp(r.ref);
    await r.h.advance(30_000, 200);
    check(r, { closed: 'cancelled', dispensed: 0 });
  });

  it('SEQR unreachable: the invoice is never walked away from; resolved once SEQR answers', async () => {
    const r = await scenario(['requested', 'issued', 'seenIssued'], {
      seqr: (f) => {
        f.setDown('E_SEQR_UNREACHABLE');
      },
    });
    expect(r.h.state().kind).toBe('cancelling');
    expect(viewOf(r.h.ledger.entriesOf(TX))?.closed).toBeUndefined();
    expect(r.h.lines.filter((l) => l.level >= 50).map((l) => l['code'])).toContain(
      'E_RECOVERY_UNRESOLVED',
    );
    // Buttons sell nothing meanwhile.
    await r.h.pressProduct(1);
    expect(r.h.fake.calls.filter((c) => c.method === 'issueInvoice')).toHaveLength(1);
    r.h.fake.setDown(undefined);
    await r.h.advance(40_000, 200);
    check(r, { closed: 'cancelled', dispensed: 0 });
  });
});

interface PostPaid {
  readonly steps: readonly Step[];
  /** An earlier refund attempt went through at SEQR before the crash (its answer lost). */
  readonly refundedBefore?: boolean;
  /** Time from the PAID record to the restart. Default 10 s. */
  readonly restartAfterMs?: number;
  /** dispense.onInterrupted (default refund). */
  readonly policy?: 'refund' | 'flag';
  readonly expect: Expect;
}

const PAID: readonly Step[] = ['requested', 'issued', 'seenIssued', 'paid'];
const NOT_DELIVERED: readonly Step[] = [...PAID, 'started', 'notDelivered'];
const POST_PAID: readonly PostPaid[] = [
  { steps: PAID, expect: { closed: 'sold', dispensed: 1, refunded: 0 } },
  {
    steps: PAID,
    restartAfterMs: testConfig.maxCustomerAgeMs + 1_000,
    expect: { closed: 'refunded', dispensed: 0, refunded: 2500 },
  },
  {
    steps: [...PAID, 'started'],
    expect: {
      closed: 'refunded',
      dispensed: 0,
      refunded: 2500,
      calls: ['refund'],
      errorCodes: ['E_DISPENSE_INTERRUPTED'],
    },
  },
  {
    steps: [...PAID, 'started'],
    policy: 'flag',
    expect: {
      closed: 'flagged',
      dispensed: 0,
      refunded: 0,
      calls: [],
      errorCodes: ['E_DISPENSE_INTERRUPTED'],
    },
  },
  {
    // The drop sensor's record settles it, whatever the policy.
    steps: [...PAID, 'started', 'dropped'],
    policy: 'flag',
    expect: { closed: 'sold', dispensed: 0, refunded: 0, calls: ['submitReceipt'] },
  },
  {
    steps: [...PAID, 'started', 'dropped'],
    expect: { closed: 'sold', dispensed: 0, refunded: 0, calls: ['submitReceipt'] },
  },
  // Sold before the restart, the receipt never submitted: owed, sent now.
  {
    steps: [...PAID, 'started', 'delivered'],
    expect: { closed: 'sold', dispensed: 0, calls: ['submitReceipt'] },
  },
  {
    steps: [...PAID, 'started', 'delivered', 'printed'],
    expect: { closed: 'sold', calls: ['submitReceipt'] },
  },
  {
    steps: [...PAID, 'started', 'uncertain'],
    expect: { closed: 'refunded', dispensed: 0, refunded: 2500, calls: ['refund'] },
  },
  {
    steps: [...PAID, 'started', 'uncertain'],
    policy: 'flag',
    expect: {
      closed: 'flagged',
      dispensed: 0,
      refunded: 0,
      calls: [],
      errorCodes: ['E_DISPENSER_FAULT'],
    },
  },
  {
    steps: NOT_DELIVERED,
    expect: { closed: 'refunded', dispensed: 0, refunded: 2500, calls: ['refund'] },
  },
  ...[false, true].flatMap((refundedBefore): PostPaid[] => [
    {
      steps: [...NOT_DELIVERED, 'refundRequested'],
      refundedBefore,
      expect: refundedBefore
        ? {
            closed: 'flagged',
            refunded: 2500,
            calls: ['refund'],
            errorCodes: ['E_REFUND_UNVERIFIED'],
          }
        : { closed: 'refunded', refunded: 2500, calls: ['refund'] },
    },
    {
      steps: [...NOT_DELIVERED, 'refundRequested', 'refundLost'],
      refundedBefore,
      expect: refundedBefore
        ? {
            closed: 'flagged',
            refunded: 2500,
            calls: ['refund'],
            errorCodes: ['E_REFUND_UNVERIFIED'],
          }
        : { closed: 'refunded', refunded: 2500, calls: ['refund'] },
    },
  ]),
  {
    steps: [...NOT_DELIVERED, 'refundRequested', 'refundBusy'],
    expect: { closed: 'refunded', dispensed: 0, refunded: 2500, calls: ['refund'] },
  },
  {
    steps: [...NOT_DELIVERED, 'refundRequested', 'refundRefused'],
    expect: { closed: 'flagged', dispensed: 0, refunded: 0, calls: [] },
  },
  {
    steps: [...NOT_DELIVERED, 'refundRequested', 'refundConfirmed'],
    refundedBefore: true,
    expect: { closed: 'refunded', dispensed: 0, refunded: 2500, calls: [] },
  },
  {
    steps: [...PAID, 'refundRequested'],
    refundedBefore: true,
    expect: { closed: 'flagged', refunded: 2500, errorCodes: ['E_REFUND_UNVERIFIED'] },
  },
];

describe('recovery after PAID was recorded', () => {
  for (const c of POST_PAID)
    it(`after ${c.steps.slice(4).join(' > ') || 'paid'}${c.refundedBefore ? ' (a refund went through before the crash)' : ''}${c.restartAfterMs ? `, restart after ${c.restartAfterMs / 1000} s` : ''}${c.policy ? `, dispense.onInterrupted: ${c.policy}` : ''}`, async () => {
      const r = await scenario(c.steps, {
        beforeMs: c.restartAfterMs ?? 10_000,
        ...(c.policy ? { config: { ...testConfig, onInterruptedDispense: c.policy } } : {}),
        seqr: async (f, _ref, ers) => {
          if (c.refundedBefore)
            await f.refund({ ersReference: ers, amount: PRICE, title: 'r', cashierId: 'm' });
        },
      });
      check(r, c.expect, { relayedBefore: c.steps.includes('started') });
    });
});
