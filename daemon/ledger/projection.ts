import type { LedgerEntry } from '../ports/ledger.js';
import type { Money } from '../ports/money.js';
import type { InvoiceStatus } from '../ports/payment-gateway.js';

export type DispenseState = 'none' | 'started' | 'delivered' | 'notDelivered' | 'uncertain';
export type RefundState = 'none' | 'requested' | 'failed' | 'confirmed';
export type ClosedOutcome = Extract<LedgerEntry, { type: 'tx.closed' }>['outcome'];

/**
 * The current state of one transaction, folded from its entries in order (the ledger keeps it in
 * step with every `record`). Times are epoch ms as recorded.
 */
export interface TransactionView {
  readonly txId: string;
  readonly openedAt: number;
  readonly updatedAt: number;
  readonly slot: number;
  readonly productName: string;
  readonly price: Money;
  readonly invoiceReference?: string;
  /** The last status SEQR reported, and its version. */
  readonly status?: InvoiceStatus;
  readonly statusVersion?: number;
  /** Set by the first PAID answer (the payment's reference) and when it was recorded. */
  readonly ersReference?: string;
  readonly paidAt?: number;
  readonly cancelRequested: boolean;
  readonly dispense: DispenseState;
  readonly dispenseDetail?: string;
  readonly receipt: 'none' | 'printed' | 'unprinted';
  readonly receiptError?: string;
  readonly receiptSubmitted: boolean;
  /** The last refund step. `refundedMinor` sums confirmed refunds (a 98-inferred one counts its requested amount). */
  readonly refund: RefundState;
  readonly refundAttempts: number;
  readonly refundRequestedMinor?: number;
  readonly refundedMinor: number;
  readonly refundReference?: string;
  readonly refundInferred: boolean;
  readonly refundError?: string;
  readonly lastRefundAt?: number;
  /** The latest `tx.closed` outcome; undefined while the transaction is open. */
  readonly closed?: ClosedOutcome;
  readonly closedAt?: number;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * Folds one entry into the view. `view` is undefined only before `invoice.requested`; any other
 * first entry, or a second `invoice.requested`, is a programming error the ledger refuses
 * (returns a reason instead of a view).
 */
export function applyEntry(
  view: TransactionView | undefined,
  entry: LedgerEntry,
  at: number,
): TransactionView | string {
  if (entry.type === 'invoice.requested') {
    if (view) return `transaction ${entry.txId} was already requested`;
    return {
      txId: entry.txId,
      openedAt: at,
      updatedAt: at,
      slot: entry.slot,
      productName: entry.productName,
      price: entry.price,
      cancelRequested: false,
      dispense: 'none',
      receipt: 'none',
      receiptSubmitted: false,
      refund: 'none',
      refundAttempts: 0,
      refundedMinor: 0,
      refundInferred: false,
    };
  }
  if (!view) return `unknown transaction ${entry.txId} (no invoice.requested)`;
  const next: Mutable<TransactionView> = { ...view, updatedAt: at };
  switch (entry.type) {
    case 'invoice.issued':
      next.invoiceReference = entry.invoiceReference;
      break;
    case 'status.seen':
      next.status = entry.status;
      next.statusVersion = entry.version;
      if (entry.status === 'PAID' && next.paidAt === undefined) {
        next.paidAt = at;
        if (entry.ersReference !== undefined) next.ersReference = entry.ersReference;
      }
      break;
    case 'cancel.requested':
      next.cancelRequested = true;
      break;
    case 'dispense.started':
      next.dispense = 'started';
      break;
    case 'dispense.finished':
      next.dispense = entry.outcome;
      if (entry.detail !== undefined) next.dispenseDetail = entry.detail;
      break;
    case 'receipt.printed':
      next.receipt = 'printed';
      break;
    case 'receipt.unprinted':
      next.receipt = 'unprinted';
      next.receiptError = entry.code;
      break;
    case 'receipt.submitted':
      next.receiptSubmitted = true;
      break;
    case 'refund.requested':
      next.refund = 'requested';
      next.refundAttempts += 1;
      next.refundRequestedMinor = entry.amount.minor;
      next.lastRefundAt = at;
      break;
    case 'refund.confirmed':
      next.refund = 'confirmed';
      next.refundedMinor += next.refundRequestedMinor ?? 0;
      next.refundReference = entry.refundReference;
      next.refundInferred = entry.inferred !== undefined;
      next.lastRefundAt = at;
      break;
    case 'refund.failed':
      next.refund = 'failed';
      next.refundError = entry.code;
      next.lastRefundAt = at;
      break;
    case 'tx.closed':
      next.closed = entry.outcome;
      next.closedAt = at;
      break;
  }
  return next;
}
