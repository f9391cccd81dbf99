import { expect } from 'vitest';
import type { SqliteLedger } from '../../daemon/ledger/sqlite-ledger.js';
import type { RecoverySummary } from '../../daemon/ledger/recovery.js';
import type { FakeSeqr } from './fakes.js';

/**
 * Hooks a dispenser's calls to check invariant 1 at the moment of the call: the ledger already
 * holds PAID for the transaction of that slot and `dispense.started` as its last step.
 */
export function paidBeforeRelay(ledger: SqliteLedger, slot: number): void {
  const candidates = ledger
    .transactions({ slot })
    .filter((t) => t.closed === undefined && t.dispense === 'started');
  expect(candidates, 'a dispense without dispense.started recorded').toHaveLength(1);
  const entries = ledger.entries(candidates[0]!.txId);
  expect(entries.at(-1)?.type).toBe('dispense.started');
  expect(entries.some((e) => e.type === 'status.seen' && e.status === 'PAID')).toBe(true);
}

/**
 * DESIGN.md invariants 2 and 3 plus "a refund is never issued twice", over the ledger after
 * recovery and SEQR's ground truth.
 */
export function assertInvariants(
  ledger: SqliteLedger,
  seqr: FakeSeqr,
  summary: RecoverySummary,
  dispensesBeforeCrash: ReadonlyMap<string, number>,
  dispensesInRecovery: ReadonlyMap<string, number>,
): void {
  for (const tx of ledger.transactions()) {
    const entries = ledger.entries(tx.txId);
    const started = entries.filter((e) => e.type === 'dispense.started').length;
    const relays =
      (dispensesBeforeCrash.get(tx.txId) ?? 0) + (dispensesInRecovery.get(tx.txId) ?? 0);
    // Invariant 2: at most one dispense per paid invoice, and each one was recorded first.
    expect(relays, `${tx.txId} dispensed more than once`).toBeLessThanOrEqual(1);
    expect(relays).toBeLessThanOrEqual(started);
    if ((dispensesBeforeCrash.get(tx.txId) ?? 0) > 0)
      expect(dispensesInRecovery.get(tx.txId) ?? 0).toBe(0);
    // Invariant 1: no relay without PAID recorded.
    if (relays > 0) expect(tx.status === 'PAID' || tx.paidAt !== undefined).toBe(true);

    const payment = tx.ersReference === undefined ? undefined : seqr.payments.get(tx.ersReference);
    const refunds = seqr.executedRefunds.filter((r) => r.ersReference === tx.ersReference);
    // Never refunded twice, and never more than paid.
    expect(refunds.length, `${tx.txId} refunded twice`).toBeLessThanOrEqual(1);
    if (payment) expect(payment.refunded).toBeLessThanOrEqual(payment.amount);
    if (tx.closed === 'refunded') expect(refunds).toHaveLength(1);
    if (tx.closed === 'sold') expect(tx.dispense).toBe('delivered');
    if (tx.closed === 'sold') expect(refunds).toHaveLength(0);
  }
  // Invariant 3: every payment SEQR holds ends dispensed, refunded or flagged (or waits, visibly,
  // for the refund worker).
  for (const [ers, payment] of seqr.payments) {
    const tx = ledger.findByErsReference(ers);
    if (!tx) {
      // Paid at SEQR, never seen by the terminal: only possible while it is left unresolved.
      expect(summary.unresolved.length).toBeGreaterThan(0);
      continue;
    }
    if (tx.closed === undefined) expect(summary.refundPending).toContain(tx.txId);
    else expect(['sold', 'refunded', 'flagged']).toContain(tx.closed);
    if (tx.closed === 'sold' || (tx.closed === 'flagged' && tx.dispense === 'uncertain'))
      expect(payment.refunded).toBe(0);
  }
  // Invariant 4: every transaction is closed unless recovery says why not.
  for (const tx of ledger.transactions())
    if (tx.closed === undefined)
      expect([...summary.unresolved, ...summary.refundPending]).toContain(tx.txId);
}
