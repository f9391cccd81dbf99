import path from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { recover } from '../../daemon/ledger/recovery.js';
import { SqliteLedger } from '../../daemon/ledger/sqlite-ledger.js';
import type { LedgerEntry } from '../../daemon/ports/ledger.js';
import {
  AutoClock,
  CountingDispenser,
  FakeSeqr,
  MemoryLogger,
  type RefundScript,
} from './fakes.js';
import { SEK, tempDir } from './helpers.js';
import { assertInvariants, paidBeforeRelay } from './invariants.js';

class Crash extends Error {}

interface Plan {
  readonly customer: 'pays' | 'abandons' | 'paysWhileCancelling';
  readonly dispense: 'delivered' | 'notDelivered' | 'fault';
  readonly refund: RefundScript;
  readonly crashAt: number;
  readonly restartAfterMs: number;
  readonly seqrDownAtRestart: boolean;
}

/**
 * One purchase in the core's write-ahead order (record, then the effect it authorises), cut by a
 * crash before the `crashAt`-th act (a ledger record or an external call).
 */
async function purchase(
  ledger: SqliteLedger,
  seqr: FakeSeqr,
  dispenser: CountingDispenser,
  clock: AutoClock,
  plan: Plan,
): Promise<void> {
  let acts = 0;
  const act = async <T>(fn: () => Promise<T>): Promise<T> => {
    if (++acts >= plan.crashAt) throw new Crash();
    clock.advance(100);
    return fn();
  };
  const record = (entry: LedgerEntry): Promise<void> =>
    act(() => ledger.record(entry, clock.now()));
  const txId = 'p1';
  await record({ type: 'invoice.requested', txId, slot: 1, productName: 'Cola', price: SEK(2500) });
  const { reference } = await act(() =>
    seqr.issueInvoice({
      clientInvoiceId: txId,
      title: 'm',
      itemDescription: 'Cola',
      price: SEK(2500),
      cashierId: 'm',
    }),
  );
  await record({ type: 'invoice.issued', txId, invoiceReference: reference });
  if (plan.customer === 'pays') seqr.pay(reference, 0);
  if (plan.customer === 'paysWhileCancelling') seqr.paying(reference, 1, 'pay');
  let status = await act(() => seqr.getStatus(reference));
  if (status.status !== 'PAID') {
    await record({ type: 'status.seen', txId, status: status.status, version: status.version });
    await record({ type: 'cancel.requested', txId });
    await act(() => seqr.cancelInvoice(reference));
    status = await act(() => seqr.getStatus(reference));
  }
  if (status.status !== 'PAID') {
    await record({ type: 'status.seen', txId, status: status.status, version: status.version });
    await record({ type: 'tx.closed', txId, outcome: 'cancelled' });
    return;
  }
  await record({
    type: 'status.seen',
    txId,
    status: 'PAID',
    version: status.version,
    ersReference: status.ersReference!,
  });
  await record({ type: 'dispense.started', txId, slot: 1 });
  dispenser.next =
    plan.dispense === 'fault'
      ? 'fail'
      : plan.dispense === 'delivered'
        ? { outcome: 'delivered' }
        : { outcome: 'notDelivered', reason: 'noDrop' };
  let outcome: 'delivered' | 'notDelivered' | 'uncertain';
  try {
    outcome = (await act(() => dispenser.dispense(1))).outcome;
  } catch (err) {
    if (err instanceof Crash) throw err;
    outcome = 'uncertain';
  }
  await record({ type: 'dispense.finished', txId, outcome });
  if (outcome === 'delivered') {
    await record({ type: 'receipt.printed', txId });
    await act(() => seqr.submitReceipt());
    await record({ type: 'receipt.submitted', txId });
    await record({ type: 'tx.closed', txId, outcome: 'sold' });
  } else if (outcome === 'uncertain') {
    await record({ type: 'tx.closed', txId, outcome: 'flagged' });
  } else {
    await record({ type: 'refund.requested', txId, amount: SEK(2500) });
    seqr.refundScript.push(plan.refund);
    try {
      const { refundReference } = await act(() =>
        seqr.refund({
          ersReference: status.ersReference!,
          amount: SEK(2500),
          title: 'r',
          cashierId: 'm',
        }),
      );
      await record({ type: 'refund.confirmed', txId, refundReference });
      await record({ type: 'tx.closed', txId, outcome: 'refunded' });
    } catch (err) {
      if (err instanceof Crash) throw err;
      await record({ type: 'refund.failed', txId, code: 'E_SEQR_TIMEOUT' });
    }
  }
}

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir());
});
afterEach(() => {
  cleanup();
});

describe('recovery after a crash at any point of a purchase', () => {
  it('keeps the money-safety invariants', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          customer: fc.constantFrom('pays', 'abandons', 'paysWhileCancelling'),
          dispense: fc.constantFrom('delivered', 'notDelivered', 'fault'),
          refund: fc.constantFrom<RefundScript>('ok', 'lostAnswer', 'notSent', 93),
          crashAt: fc.integer({ min: 1, max: 20 }),
          restartAfterMs: fc.constantFrom(3_000, 15_000, 60_000, 600_000),
          seqrDownAtRestart: fc.boolean(),
        }),
        async (plan: Plan) => {
          const file = path.join(dir, `run-${run++}.sqlite`);
          const clock = new AutoClock(1_700_000_000_000);
          const seqr = new FakeSeqr(clock);
          const before = new CountingDispenser();
          const first = SqliteLedger.open({ path: file });
          try {
            await purchase(first, seqr, before, clock, plan);
          } catch (err) {
            if (!(err instanceof Crash)) throw err;
          }
          await first.close();

          clock.advance(plan.restartAfterMs);
          if (plan.restartAfterMs > 20_000) seqr.reverseUncommitted();
          seqr.down = plan.seqrDownAtRestart;
          seqr.refundScript.length = 0;
          const ledger = SqliteLedger.open({ path: file });
          const dispenser = new CountingDispenser();
          dispenser.onDispense = (slot) => {
            paidBeforeRelay(ledger, slot);
          };
          const summary = await recover({
            ledger,
            gateway: seqr,
            dispenser,
            clock,
            logger: new MemoryLogger(),
            cashierId: 'm',
            resolveBoundMs: 10_000,
          });
          assertInvariants(
            ledger,
            seqr,
            summary,
            new Map([['p1', before.dispensed.length]]),
            new Map([['p1', dispenser.dispensed.length]]),
          );
          if (!plan.seqrDownAtRestart) expect(summary.unresolved, JSON.stringify(plan)).toEqual([]);
          await ledger.close();
        },
      ),
      { numRuns: 150 },
    );
  });
});
