// The money-safety checks of a torture run (DESIGN.md invariants 1-4), judged from three records
// the daemon cannot rewrite after the fact: the simulator's own invoices, payments and refunds; the
// relay record file (each edge fsynced before the pulse); and the ledger the daemon left behind.
import type { TransactionView } from '../../daemon/core/projection.js';
import type { InvoiceSnapshot } from '../../simulator/types.js';

/** One line of the fake hardware's relay record (`virtual.recordFile`). */
export interface RelayRecord {
  readonly slot: number;
  readonly energised: boolean;
  readonly at: number;
  readonly txId?: string;
  readonly invoiceReference?: string;
}

export const VIOLATION_KINDS = [
  /** A relay was energised for an invoice SEQR never reported PAID (or for no invoice at all). */
  'relayWithoutPaid',
  /** A relay was energised before the ledger durably held PAID and `dispense.started`. */
  'relayBeforeRecord',
  /** More than one relay pulse for one invoice. */
  'dispensedTwice',
  /** A payment SEQR committed is not closed sold, refunded or flagged in the ledger. */
  'paidUnsettled',
  /** The ledger says sold, but no relay pulse was recorded for the invoice. */
  'soldWithoutPulse',
  /** The ledger says refunded, but SEQR holds no refund of the payment. */
  'refundedWithoutRefund',
  /** The ledger says delivered, yet the payment was refunded too. */
  'deliveredAndRefunded',
  /** More than one refund of one payment at SEQR. */
  'refundedTwice',
  /** A payment SEQR reversed: no status poll within its reversal time (invariant 5). */
  'paymentReversed',
  /** An invoice still open at SEQR (ISSUED, pending, reserved, or PAID and never seen) at the end. */
  'invoiceLeftOpen',
] as const;
export type ViolationKind = (typeof VIOLATION_KINDS)[number];

export interface Violation {
  readonly kind: ViolationKind;
  readonly invoiceReference?: string;
  readonly txId?: string;
  readonly detail: string;
}

export interface CheckInput {
  /** The simulator's invoices of the daemon's terminal. */
  readonly invoices: readonly InvoiceSnapshot[];
  /** The relay record, in file order (torn lines already dropped). */
  readonly relay: readonly RelayRecord[];
  /** Every transaction in the ledger. */
  readonly ledger: readonly TransactionView[];
}

/** What the records show, beside the violations. */
export interface CheckCounts {
  readonly invoices: number;
  /** Payments SEQR committed (a status poll returned PAID). */
  readonly paid: number;
  /** Payments SEQR reversed because nobody polled in time. */
  readonly reversed: number;
  readonly pulses: number;
  /** Payments with at least one refund at SEQR. */
  readonly refundedAtSeqr: number;
  readonly ledgerTransactions: number;
  /** Ledger transactions by their closing outcome (`open` when not closed). */
  readonly ledgerOutcomes: Readonly<Record<string, number>>;
}

export interface CheckResult {
  readonly violations: readonly Violation[];
  readonly byKind: Readonly<Record<ViolationKind, number>>;
  readonly counts: CheckCounts;
}

const OPEN_AT_SEQR: ReadonlySet<string> = new Set([
  'ISSUED',
  'PENDING_ISSUER_ACKNOWLEDGE',
  'RESERVED',
]);
const SETTLED: ReadonlySet<string> = new Set(['sold', 'refunded', 'flagged']);

/** Judges one run. Pure: the same records give the same verdict. */
export function checkRun(input: CheckInput): CheckResult {
  const violations: Violation[] = [];
  const add = (v: Violation): void => {
    violations.push(v);
  };
  const invoices = new Map(input.invoices.map((i) => [i.reference, i]));
  const byReference = new Map<string, TransactionView>();
  const byTxId = new Map<string, TransactionView>();
  for (const view of input.ledger) {
    byTxId.set(view.txId, view);
    if (view.invoiceReference !== undefined) byReference.set(view.invoiceReference, view);
  }

  const pulses = input.relay.filter((r) => r.energised);
  const pulsesByReference = new Map<string, number>();
  for (const pulse of pulses) {
    const ref = pulse.invoiceReference;
    const invoice = ref === undefined ? undefined : invoices.get(ref);
    if (ref === undefined || !invoice?.committed) {
      add({
        kind: 'relayWithoutPaid',
        ...(ref === undefined ? {} : { invoiceReference: ref }),
        ...(pulse.txId === undefined ? {} : { txId: pulse.txId }),
        detail: `slot ${pulse.slot} energised at ${pulse.at} for ${ref === undefined ? 'no invoice' : `invoice ${invoice ? `${invoice.status}, never committed` : 'unknown to SEQR'}`}`,
      });
    }
    const view =
      (pulse.txId === undefined ? undefined : byTxId.get(pulse.txId)) ??
      (ref === undefined ? undefined : byReference.get(ref));
    if (view?.paidAt === undefined || view.dispense === 'none') {
      add({
        kind: 'relayBeforeRecord',
        ...(ref === undefined ? {} : { invoiceReference: ref }),
        ...(pulse.txId === undefined ? {} : { txId: pulse.txId }),
        detail: view
          ? `ledger has ${view.paidAt === undefined ? 'no PAID' : 'PAID'} and dispense ${view.dispense}`
          : 'no ledger transaction for the pulse',
      });
    }
    if (ref !== undefined) pulsesByReference.set(ref, (pulsesByReference.get(ref) ?? 0) + 1);
  }
  for (const [ref, n] of pulsesByReference) {
    if (n > 1) add({ kind: 'dispensedTwice', invoiceReference: ref, detail: `${n} relay pulses` });
  }

  let paid = 0;
  let reversed = 0;
  let refundedAtSeqr = 0;
  for (const invoice of input.invoices) {
    const ref = invoice.reference;
    if (invoice.reversed) {
      reversed++;
      add({
        kind: 'paymentReversed',
        invoiceReference: ref,
        detail: `paid at ${invoice.paidAt ?? '-'}, never polled in time: SEQR reversed it`,
      });
    }
    if (invoice.refunds.length > 0) refundedAtSeqr++;
    if (invoice.refunds.length > 1)
      add({
        kind: 'refundedTwice',
        invoiceReference: ref,
        detail: `${invoice.refunds.length} refunds: ${invoice.refunds.map((r) => `${r.ersReference} ${r.value}`).join(', ')}`,
      });
    if (OPEN_AT_SEQR.has(invoice.status) || (invoice.status === 'PAID' && !invoice.committed))
      add({
        kind: 'invoiceLeftOpen',
        invoiceReference: ref,
        detail: `${invoice.status}${invoice.status === 'PAID' ? ' (never seen by a poll)' : ''}`,
      });
    if (!invoice.committed) continue;
    paid++;
    const view = byReference.get(ref);
    const txId = view ? { txId: view.txId } : {};
    if (!view || view.closed === undefined || !SETTLED.has(view.closed)) {
      add({
        kind: 'paidUnsettled',
        invoiceReference: ref,
        ...txId,
        detail: view
          ? `ledger ${view.closed === undefined ? 'open' : `closed ${view.closed}`}, status ${view.status ?? '-'}, dispense ${view.dispense}, refund ${view.refund}`
          : 'no ledger transaction has this invoice',
      });
      continue;
    }
    const pulsed = (pulsesByReference.get(ref) ?? 0) > 0;
    if (view.closed === 'sold' && !pulsed)
      add({ kind: 'soldWithoutPulse', invoiceReference: ref, ...txId, detail: 'closed sold' });
    if (view.closed === 'refunded' && invoice.refunds.length === 0)
      add({
        kind: 'refundedWithoutRefund',
        invoiceReference: ref,
        ...txId,
        detail: `refund ${view.refund}, reference ${view.refundReference ?? '-'}`,
      });
    if (view.dispense === 'delivered' && invoice.refunds.length > 0)
      add({
        kind: 'deliveredAndRefunded',
        invoiceReference: ref,
        ...txId,
        detail: `${invoice.refunds.length} refund(s) after a delivered dispense`,
      });
  }

  const ledgerOutcomes: Record<string, number> = {};
  for (const view of input.ledger) {
    const key = view.closed ?? 'open';
    ledgerOutcomes[key] = (ledgerOutcomes[key] ?? 0) + 1;
  }
  const byKind = Object.fromEntries(VIOLATION_KINDS.map((k) => [k, 0])) as Record<
    ViolationKind,
    number
  >;
  for (const v of violations) byKind[v.kind]++;
  return {
    violations,
    byKind,
    counts: {
      invoices: input.invoices.length,
      paid,
      reversed,
      pulses: pulses.length,
      refundedAtSeqr,
      ledgerTransactions: input.ledger.length,
      ledgerOutcomes,
    },
  };
}

/**
 * Parses the relay record file's text. A line torn by a kill in the middle of its write is not
 * a pulse (the record is fsynced before the relay moves) and is counted, not returned.
 */
export function parseRelayRecord(text: string): { records: RelayRecord[]; torn: number } {
  const records: RelayRecord[] = [];
  let torn = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const whole = parseRecord(line);
    if (whole) {
      records.push(whole);
      continue;
    }
    torn++;
    // The next start appends after a torn line: the complete (flat) record follows the last brace.
    const tail = parseRecord(line.slice(Math.max(0, line.lastIndexOf('{'))));
    if (tail) records.push(tail);
  }
  return { records, torn };
}

function parseRecord(text: string): RelayRecord | undefined {
  try {
    const value = JSON.parse(text) as unknown;
    return isRelayRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function isRelayRecord(value: unknown): value is RelayRecord {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  return (
    typeof r['slot'] === 'number' &&
    typeof r['energised'] === 'boolean' &&
    typeof r['at'] === 'number' &&
    (r['txId'] === undefined || typeof r['txId'] === 'string') &&
    (r['invoiceReference'] === undefined || typeof r['invoiceReference'] === 'string')
  );
}
