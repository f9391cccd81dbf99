import type { Money } from '../ports/money.js';
import type { ClosedOutcome, TransactionView } from '../core/projection.js';

/** The `tx.closed` outcomes that finish a purchase someone paid for: each is one sale event. */
export const SALE_OUTCOMES: ReadonlySet<ClosedOutcome> = new Set(['sold', 'refunded', 'flagged']);

/**
 * One finished purchase, as the ledger's outbox keeps it until the broker has acknowledged it.
 * Written in the same SQLite transaction as its `tx.closed` entry, so a crash can neither lose nor
 * invent one. `id` is stable (`<txId>:<seq>`): a consumer deduplicates by machine and id.
 */
export interface SaleEvent {
  readonly id: string;
  /** The `tx.closed` entry's position in the ledger: the outbox's order. */
  readonly seq: number;
  readonly txId: string;
  readonly outcome: 'sold' | 'refunded' | 'flagged';
  readonly slot: number;
  readonly product: string;
  /** What the customer paid. */
  readonly amount: Money;
  /** Refunds SEQR confirmed, in minor units. */
  readonly refundedMinor: number;
  readonly ersReference?: string;
  readonly invoiceReference?: string;
  /** Epoch ms. */
  readonly openedAt: number;
  readonly paidAt?: number;
  readonly closedAt: number;
}

/** The sale event of a transaction just closed by entry `seq`, or undefined when it is no sale. */
export function saleEventOf(view: TransactionView, seq: number): SaleEvent | undefined {
  const outcome = view.closed;
  if (outcome !== 'sold' && outcome !== 'refunded' && outcome !== 'flagged') return undefined;
  return {
    id: `${view.txId}:${String(seq)}`,
    seq,
    txId: view.txId,
    outcome,
    slot: view.slot,
    product: view.productName,
    amount: view.price,
    refundedMinor: view.refundedMinor,
    ...(view.ersReference === undefined ? {} : { ersReference: view.ersReference }),
    ...(view.invoiceReference === undefined ? {} : { invoiceReference: view.invoiceReference }),
    openedAt: view.openedAt,
    ...(view.paidAt === undefined ? {} : { paidAt: view.paidAt }),
    closedAt: view.closedAt ?? view.updatedAt,
  };
}
