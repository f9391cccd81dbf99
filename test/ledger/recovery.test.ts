import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LedgerEntry } from '../../daemon/ports/ledger.js';
import type { DispenseResult } from '../../daemon/ports/dispenser.js';
import { recover, type RecoverySummary } from '../../daemon/ledger/recovery.js';
import { SqliteLedger } from '../../daemon/ledger/sqlite-ledger.js';
import { FakeDispenser } from '../../hardware/dispenser/fake-dispenser.js';
import { AutoClock, FakeSeqr, MemoryLogger } from './fakes.js';
import { SEK, tempDir } from './helpers.js';
import { assertInvariants, paidBeforeRelay } from './invariants.js';

const T0 = 1_700_000_000_000;
const TX = 't1';
const REF = 'R1';
const ERS = 'ERS-R1';
const PRICE = 2500;

const STEP = {
  requested: {
    type: 'invoice.requested',
    txId: TX,
    slot: 2,
    productName: 'Cola',
    price: SEK(PRICE),
  },
  issued: { type: 'invoice.issued', txId: TX, invoiceReference: REF },
  seenIssued: { type: 'status.seen', txId: TX, status: 'ISSUED', version: 1 },
  cancelRequested: { type: 'cancel.requested', txId: TX },
  canceled: { type: 'status.seen', txId: TX, status: 'CANCELED', version: 2 },
  paid: { type: 'status.seen', txId: TX, status: 'PAID', version: 2, ersReference: ERS },
  started: { type: 'dispense.started', txId: TX, slot: 2 },
  delivered: { type: 'dispense.finished', txId: TX, outcome: 'delivered' },
  notDelivered: { type: 'dispense.finished', txId: TX, outcome: 'notDelivered', detail: 'noDrop' },
  uncertain: { type: 'dispense.finished', txId: TX, outcome: 'uncertain' },
  printed: { type: 'receipt.printed', txId: TX },
  refundRequested: { type: 'refund.requested', txId: TX, amount: SEK(PRICE) },
  refundLost: { type: 'refund.failed', txId: TX, code: 'E_SEQR_TIMEOUT' },
  refundRefused: { type: 'refund.failed', txId: TX, code: 'E_SEQR_RESULT:93' },
  refundConfirmed: { type: 'refund.confirmed', txId: TX, refundReference: 'RF0' },
} as const satisfies Record<string, LedgerEntry>;
type Step = keyof typeof STEP;

type SeqrWorld =
  | 'issued'
  | 'paidNow'
  | 'paidLongAgo'
  | 'canceledBySeqr'
  | 'failed'
  | 'payingThenPaid'
  | 'payingThenAbandoned'
  | 'unknownReference'
  | 'unreachable'
  | 'paidNowRelayFault'
  | 'paidNowSoldOut';

interface Expect {
  readonly closed?: string;
  readonly dispensed?: number;
  readonly refunds?: number;
  readonly calls?: readonly string[];
  readonly errorCodes?: readonly string[];
}

const PRE_PAID: readonly (readonly Step[])[] = [
  ['requested', 'issued'],
  ['requested', 'issued', 'seenIssued'],
  ['requested', 'issued', 'seenIssued', 'cancelRequested'],
];

const WORLD_EXPECT: Record<SeqrWorld, Expect> = {
  issued: { closed: 'cancelled', dispensed: 0, refunds: 0 },
  paidNow: { closed: 'sold', dispensed: 1, refunds: 0 },
  paidLongAgo: { closed: 'refunded', dispensed: 0, refunds: 1 },
  canceledBySeqr: { closed: 'cancelled', dispensed: 0, calls: ['getStatus'] },
  failed: { closed: 'failed', dispensed: 0, calls: ['getStatus'] },
  payingThenPaid: { closed: 'sold', dispensed: 1, refunds: 0 },
  payingThenAbandoned: { closed: 'cancelled', dispensed: 0 },
  unknownReference: { closed: 'failed', dispensed: 0 },
  unreachable: { dispensed: 0, errorCodes: ['E_RECOVERY_UNRESOLVED'] },
  paidNowRelayFault: {
    closed: 'flagged',
    dispensed: 1,
    refunds: 0,
    errorCodes: ['E_DISPENSER_FAULT'],
  },
  paidNowSoldOut: { closed: 'refunded', dispensed: 0, refunds: 1 },
};

interface PostPaidCase {
  readonly steps: readonly Step[];
  /** Did an earlier refund attempt go through at SEQR before the crash? */
  readonly refundedBefore?: boolean;
  /** Seconds from the PAID record to the restart. */
  readonly restartAfterS?: number;
  readonly expect: Expect;
}

const PAID: readonly Step[] = ['requested', 'issued', 'seenIssued', 'paid'];
const POST_PAID: readonly PostPaidCase[] = [
  { steps: PAID, restartAfterS: 10, expect: { closed: 'sold', dispensed: 1, refunds: 0 } },
  { steps: PAID, restartAfterS: 600, expect: { closed: 'refunded', dispensed: 0, refunds: 1 } },
  {
    steps: [...PAID, 'started'],
    expect: {
      closed: 'flagged',
      dispensed: 0,
      refunds: 0,
      calls: [],
      errorCodes: ['E_DISPENSE_INTERRUPTED'],
    },
  },
  { steps: [...PAID, 'started', 'delivered'], expect: { closed: 'sold', dispensed: 0, calls: [] } },
  { steps: [...PAID, 'started', 'delivered', 'printed'], expect: { closed: 'sold', calls: [] } },
  {
    steps: [...PAID, 'started', 'uncertain'],
    expect: {
      closed: 'flagged',
      dispensed: 0,
      refunds: 0,
      calls: [],
      errorCodes: ['E_DISPENSER_FAULT'],
    },
  },
  {
    steps: [...PAID, 'started', 'notDelivered'],
    expect: { closed: 'refunded', dispensed: 0, refunds: 1 },
  },
  ...[false, true].flatMap((refundedBefore): PostPaidCase[] => [
    {
      steps: [...PAID, 'started', 'notDelivered', 'refundRequested'],
      refundedBefore,
      expect: refundedBefore
        ? { closed: 'flagged', dispensed: 0, refunds: 1, errorCodes: ['E_REFUND_UNVERIFIED'] }
        : { closed: 'refunded', dispensed: 0, refunds: 1 },
    },
    {
      steps: [...PAID, 'started', 'notDelivered', 'refundRequested', 'refundLost'],
      refundedBefore,
      expect: refundedBefore
        ? { closed: 'flagged', dispensed: 0, refunds: 1, errorCodes: ['E_REFUND_UNVERIFIED'] }
        : { closed: 'refunded', dispensed: 0, refunds: 1 },
    },
  ]),
  {
    steps: [...PAID, 'started', 'notDelivered', 'refundRequested', 'refundRefused'],
    expect: { closed: 'refunded', dispensed: 0, refunds: 1 },
  },
  {
    steps: [...PAID, 'started', 'notDelivered', 'refundRequested', 'refundConfirmed'],
    refundedBefore: true,
    expect: { closed: 'refunded', dispensed: 0, refunds: 1, calls: [] },
  },
  {
    steps: [...PAID, 'refundRequested'],
    refundedBefore: true,
    expect: { closed: 'flagged', dispensed: 0, refunds: 1, errorCodes: ['E_REFUND_UNVERIFIED'] },
  },
];

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir());
});
afterEach(() => {
  cleanup();
});

async function scenario(
  steps: readonly Step[],
  world: (seqr: FakeSeqr, dispenser: FakeDispenser) => void,
  restartAfterMs: number,
): Promise<{
  ledger: SqliteLedger;
  seqr: FakeSeqr;
  summary: RecoverySummary;
  dispensed: number;
  logger: MemoryLogger;
}> {
  const file = path.join(dir, 'ledger.sqlite');
  const before = SqliteLedger.open({ path: file });
  for (const [i, step] of steps.entries()) await before.record(STEP[step], T0 + i * 1000);
  await before.close();

  const clock = new AutoClock(T0 + steps.length * 1000 + restartAfterMs);
  const seqr = new FakeSeqr(clock);
  if (steps.includes('issued')) seqr.addInvoice(REF, PRICE);
  const dispenser = new FakeDispenser({ clock, pulseMs: 300 });
  world(seqr, dispenser);
  const ledger = SqliteLedger.open({ path: file });
  const logger = new MemoryLogger();
  const summary = await recover({
    ledger,
    gateway: seqr,
    dispenser: {
      dispense: (slot: number): Promise<DispenseResult> => {
        paidBeforeRelay(ledger, slot);
        return dispenser.dispense(slot);
      },
      safeState: () => dispenser.safeState(),
      stock: (slot: number) => dispenser.stock(slot),
      close: () => dispenser.close(),
    },
    clock,
    logger,
    cashierId: 'vending-1',
    resolveBoundMs: 20_000,
  });
  const beforeCrash = new Map([[TX, steps.includes('started') ? 1 : 0]]);
  assertInvariants(ledger, seqr, summary, beforeCrash, new Map([[TX, dispenser.dispenses.length]]));
  return { ledger, seqr, summary, dispensed: dispenser.dispenses.length, logger };
}

function check(result: Awaited<ReturnType<typeof scenario>>, expected: Expect): void {
  const tx = result.ledger.transaction(TX)!;
  expect(tx.closed).toBe(expected.closed);
  if (expected.dispensed !== undefined) expect(result.dispensed).toBe(expected.dispensed);
  if (expected.refunds !== undefined)
    expect(result.seqr.executedRefunds).toHaveLength(expected.refunds);
  if (expected.calls !== undefined) expect(result.seqr.calls).toEqual(expected.calls);
  for (const code of expected.errorCodes ?? []) expect(result.logger.codes()).toContain(code);
}

describe('recovery: last recorded step x SEQR status', () => {
  it('closes an invoice that was requested but never issued as failed, without calling SEQR', async () => {
    const r = await scenario(['requested'], () => undefined, 5000);
    check(r, { closed: 'failed', dispensed: 0, calls: [] });
    expect(r.summary.notes.join()).toMatch(/never issued/);
    await r.ledger.close();
  });

  it('closes an invoice with a final CANCELED status recorded without calling SEQR', async () => {
    const r = await scenario(
      ['requested', 'issued', 'seenIssued', 'canceled'],
      () => undefined,
      5000,
    );
    check(r, { closed: 'cancelled', dispensed: 0, calls: [] });
    await r.ledger.close();
  });

  for (const steps of PRE_PAID)
    for (const [world, expected] of Object.entries(WORLD_EXPECT) as [SeqrWorld, Expect][])
      it(`after ${steps.at(-1)!}, SEQR ${world}`, async () => {
        const r = await scenario(
          steps,
          (seqr, dispenser) => {
            switch (world) {
              case 'issued':
                break;
              case 'paidNow':
                seqr.pay(REF, 5_000);
                break;
              case 'paidLongAgo':
                seqr.pay(REF, 600_000);
                break;
              case 'canceledBySeqr':
                seqr.invoices.get(REF)!.status = 'CANCELED';
                break;
              case 'failed':
                seqr.invoices.get(REF)!.status = 'FAILED';
                break;
              case 'payingThenPaid':
                seqr.paying(REF, 3, 'pay');
                break;
              case 'payingThenAbandoned':
                seqr.paying(REF, 3, 'abandon');
                break;
              case 'unknownReference':
                seqr.invoices.delete(REF);
                break;
              case 'unreachable':
                seqr.down = true;
                break;
              case 'paidNowRelayFault':
                seqr.pay(REF, 5_000);
                dispenser.failNext();
                break;
              case 'paidNowSoldOut':
                seqr.pay(REF, 5_000);
                dispenser.nextResult(undefined, { outcome: 'notDelivered', reason: 'soldOut' });
                break;
            }
          },
          5000,
        );
        check(r, expected);
        if (world === 'issued') expect(r.seqr.calls).toContain('cancelInvoice');
        if (world === 'unreachable') {
          expect(r.summary.unresolved).toEqual([TX]);
          expect((await r.ledger.openTransactions()).has(TX)).toBe(true);
        }
        if (expected.closed === 'sold' || expected.closed === 'refunded')
          expect(r.ledger.transaction(TX)?.ersReference).toBe(ERS);
        await r.ledger.close();
      });

  for (const c of POST_PAID)
    it(`after ${c.steps.slice(4).join(' > ') || 'paid'}${c.refundedBefore ? ' (refund went through before the crash)' : ''}${c.restartAfterS ? `, restart after ${c.restartAfterS} s` : ''}`, async () => {
      const r = await scenario(
        c.steps,
        (seqr) => {
          seqr.invoices.set(REF, {
            status: 'PAID',
            version: 2,
            amount: PRICE,
            ersReference: ERS,
            paidAt: new Date(T0).toISOString(),
            paying: false,
          });
          seqr.payments.set(ERS, { amount: PRICE, refunded: c.refundedBefore ? PRICE : 0 });
          if (c.refundedBefore) seqr.executedRefunds.push({ ersReference: ERS, amount: PRICE });
        },
        (c.restartAfterS ?? 10) * 1000,
      );
      check(r, c.expect);
      await r.ledger.close();
    });

  it('leaves a refund that fails again open for the refund worker, visibly', async () => {
    const r = await scenario(
      [...PAID, 'started', 'notDelivered'],
      (seqr) => {
        seqr.payments.set(ERS, { amount: PRICE, refunded: 0 });
        seqr.refundScript.push('notSent');
      },
      10_000,
    );
    expect(r.summary.refundPending).toEqual([TX]);
    expect(r.ledger.transaction(TX)).toMatchObject({
      refund: 'failed',
      refundError: 'E_SEQR_UNREACHABLE',
    });
    expect(r.logger.codes()).toContain('E_REFUND_FAILED');
    await r.ledger.close();
  });

  it('flags a refund SEQR refuses for good (97) instead of retrying it', async () => {
    const r = await scenario(
      [...PAID, 'started', 'notDelivered'],
      (seqr) => {
        seqr.payments.set(ERS, { amount: PRICE, refunded: 0 });
        seqr.refundScript.push(97);
      },
      10_000,
    );
    check(r, { closed: 'flagged', refunds: 0 });
    await r.ledger.close();
  });
});
