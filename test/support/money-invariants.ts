import { expect } from 'vitest';
import { viewOf, type TransactionView } from '../../daemon/core/projection.js';
import type { MemoryLedger } from '../../daemon/ledger/memory-ledger.js';
import type { StoredEntry } from '../../daemon/ports/ledger.js';
import type { FakePaymentGateway } from '../../daemon/seqr/fake-gateway.js';
import type { FakeDispenser } from '../../hardware/dispenser/fake-dispenser.js';

/** A relay pulse, with what the ledger durably held for its transaction at that moment. */
export interface Pulse {
  readonly slot: number;
  /** The open transaction whose last step is `dispense.started` for the slot, if exactly one. */
  readonly txId: string | undefined;
  readonly paidRecorded: boolean;
  readonly invoiceReference: string | undefined;
}

/** The views of every transaction of `entries`, by txId. */
export function viewsOf(entries: readonly StoredEntry[]): Map<string, TransactionView> {
  const byTx = new Map<string, StoredEntry[]>();
  for (const e of entries) byTx.set(e.txId, [...(byTx.get(e.txId) ?? []), e]);
  const views = new Map<string, TransactionView>();
  for (const [txId, list] of byTx) {
    const view = viewOf(list);
    if (!view) throw new Error(`ledger entries of ${txId} do not fold`);
    views.set(txId, view);
  }
  return views;
}

/**
 * Notes every relay pulse of `dispenser` with what `ledger` held when the relay went on (the
 * fake calls listeners before the pulse): invariant 1 is judged from these.
 */
export function watchRelays(dispenser: FakeDispenser, ledger: MemoryLedger, pulses: Pulse[]): void {
  dispenser.onRelay((edge) => {
    if (!edge.energised) return;
    const started = [...viewsOf(ledger.entries).values()].filter((v) => {
      const last = ledger.entriesOf(v.txId).at(-1);
      return v.slot === edge.slot && last?.type === 'dispense.started';
    });
    const tx = started.length === 1 ? started[0] : undefined;
    pulses.push({
      slot: edge.slot,
      txId: tx?.txId,
      paidRecorded: tx?.paidAt !== undefined,
      invoiceReference: tx?.invoiceReference,
    });
  });
}

export interface MoneyWorld {
  /** The ledger as it stands at the end (every incarnation's durable entries). */
  readonly entries: readonly StoredEntry[];
  /** SEQR's side: invoices, commits, refunds. */
  readonly fake: FakePaymentGateway;
  /** Every relay pulse of every incarnation. */
  readonly pulses: readonly Pulse[];
}

/**
 * DESIGN.md invariants 1-4 over a finished world, judged from SEQR's own records (the fake),
 * the relay pulses and the ledger:
 * 1. every pulse was for an invoice SEQR committed as PAID, with PAID and `dispense.started`
 *    durable before it;
 * 2. at most one pulse per invoice;
 * 3. every payment SEQR committed is closed sold, refunded or flagged; refunded ones were
 *    refunded at SEQR in full, sold ones delivered and never refunded; no payment refunded twice
 *    or beyond its amount;
 * 4. no invoice is left open at SEQR, and the ledger has no open transaction.
 */
export function assertMoneyInvariants(w: MoneyWorld): void {
  const views = viewsOf(w.entries);
  const byReference = new Map<string, TransactionView>();
  for (const v of views.values())
    if (v.invoiceReference !== undefined) byReference.set(v.invoiceReference, v);

  const pulsesPerRef = new Map<string, number>();
  for (const p of w.pulses) {
    expect(p.txId, `pulse on slot ${p.slot} without dispense.started last`).toBeDefined();
    expect(p.paidRecorded, `pulse for ${String(p.txId)} before PAID was durable`).toBe(true);
    const ref = p.invoiceReference;
    expect(
      ref !== undefined && w.fake.committed(ref),
      `pulse for ${String(ref)} not committed`,
    ).toBe(true);
    if (ref !== undefined) pulsesPerRef.set(ref, (pulsesPerRef.get(ref) ?? 0) + 1);
  }
  for (const [ref, n] of pulsesPerRef) expect(n, `${ref} pulsed ${n} times`).toBe(1);

  const refundsOk = w.fake.calls.filter((c) => c.method === 'refund' && c.outcome === 'ok');
  for (const v of views.values()) {
    const ref = v.invoiceReference;
    const refunded = ref === undefined ? 0 : w.fake.refunded(ref);
    expect(refunded, `${v.txId} refunded beyond the payment`).toBeLessThanOrEqual(v.price.minor);
    if (v.closed === 'refunded') expect(refunded, `${v.txId} closed refunded`).toBe(v.price.minor);
    if (v.closed === 'sold') {
      expect(v.dispense, `${v.txId} sold`).toBe('delivered');
      expect(refunded, `${v.txId} sold and refunded`).toBe(0);
    }
    if (v.dispense === 'delivered') expect(refunded, `${v.txId} delivered and refunded`).toBe(0);
    expect(v.closed, `${v.txId} left open: ${JSON.stringify(v)}`).toBeDefined();
    if (ref === undefined) continue;
    const status = w.fake.status(ref);
    expect(
      status === 'ISSUED' || (status === 'PAID' && !w.fake.committed(ref)),
      `${ref} open at SEQR`,
    ).toBe(false);
    if (w.fake.committed(ref))
      expect(['sold', 'refunded', 'flagged'], `${v.txId} paid`).toContain(v.closed);
  }
  // One successful refund call per payment at most (a retry after an unknown outcome gets 98).
  const perErs = new Map<string, number>();
  for (const c of refundsOk)
    perErs.set(c.reference ?? '', (perErs.get(c.reference ?? '') ?? 0) + 1);
  for (const [ers, n] of perErs) expect(n, `payment ${ers} refunded ${n} times`).toBe(1);
  // SEQR's active invoice: final, or (when the ledger never learnt of it: the sendInvoice answer
  // was lost, so no QR code was shown) never paid; the next sendInvoice cancels it.
  const active = w.fake.activeReference;
  if (active !== undefined) {
    const status = w.fake.status(active);
    const open = status === 'ISSUED' || (status === 'PAID' && !w.fake.committed(active));
    if (byReference.has(active)) expect(open, `${active} open at SEQR`).toBe(false);
    else expect(w.fake.committed(active), `${active} paid, unknown to the ledger`).toBe(false);
  }
}
