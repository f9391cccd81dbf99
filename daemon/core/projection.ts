import type { Failure } from '../errors.js';
import type { LedgerEntry, SettledRow, TimedEntry } from '../ports/ledger.js';
import type { Money } from '../ports/money.js';
import type { InvoiceStatus } from '../ports/payment-gateway.js';

export type DispenseState = 'none' | 'started' | 'delivered' | 'notDelivered' | 'uncertain';
export type RefundState = 'none' | 'requested' | 'failed' | 'confirmed';
export type ClosedOutcome = Extract<LedgerEntry, { type: 'tx.closed' }>['outcome'];

/**
 * What the refund rules need to know of a payment, as its refund entries left it: a
 * {@link TransactionView} is one, and so is the core's own note of a refund it is working on.
 */
export interface RefundFacts {
  /** The payment's reference (from the first PAID answer); refunds name it. */
  readonly ersReference?: string;
  readonly price: Money;
  /** The last refund step. */
  readonly refund: RefundState;
  readonly refundAttempts: number;
  /** The amount of the last `refund.requested`. */
  readonly refundRequestedMinor?: number;
  /** Sum of confirmed refunds (a 98-inferred one counts its requested amount). */
  readonly refundedMinor: number;
  readonly refundReference?: string;
  /** The last confirmation was inferred from a 98 answer: the operator should verify it. */
  readonly refundInferred: boolean;
  /** Why the last attempt failed. */
  readonly refundFailure?: Failure;
  readonly lastRefundAt?: number;
}

/** One press of a reservation: its product and how its dispense ended (`started`: no outcome yet). */
export interface VendFacts {
  readonly seq: number;
  readonly slot: number;
  readonly productName: string;
  readonly price: Money;
  readonly outcome: 'started' | 'delivered' | 'notDelivered' | 'uncertain';
}

/** What a reservation's entries say (the transaction view of one has these). */
export interface ReservationFacts {
  /** The payer's offer (createPurchase's amount). */
  readonly offered: Money;
  /** What the payer reserved, once SEQR reported RESERVED, and when that was recorded. */
  readonly reserved?: Money;
  readonly reservedAt?: number;
  readonly vends: readonly VendFacts[];
  /** The final total and rows, recorded before any call that ends the reservation. */
  readonly settling?: { readonly total: Money; readonly rows: readonly SettledRow[] };
  readonly committed: boolean;
}

/** The product name of a reservation's view until it is settled. */
export const RESERVATION_NAME = 'Pay first, then choose';

/** A reservation's rows in words: `Cola, 2 x Water`. */
export function rowsText(rows: readonly SettledRow[]): string {
  return rows
    .map((r) => (r.quantity === 1 ? r.productName : `${r.quantity} x ${r.productName}`))
    .join(', ');
}

/**
 * The current state of one transaction, folded from its entries in order (the ledger keeps it in
 * step with every `record`; start-up recovery folds the open ones). Times are epoch ms as
 * recorded.
 */
export interface TransactionView extends RefundFacts {
  readonly txId: string;
  readonly openedAt: number;
  readonly updatedAt: number;
  /** The product's slot; 0 for a reservation (its vends name theirs). */
  readonly slot: number;
  /** The product; for a reservation {@link RESERVATION_NAME}, then its rows in words once settled. */
  readonly productName: string;
  /** The out-of-service probe's invoice: no purchase, nothing for sale. */
  readonly probe?: true;
  readonly invoiceReference?: string;
  /** The last status SEQR reported, and its version. */
  readonly status?: InvoiceStatus;
  readonly statusVersion?: number;
  /** When the first PAID answer was recorded. */
  readonly paidAt?: number;
  readonly cancelRequested: boolean;
  readonly dispense: DispenseState;
  readonly dispenseDetail?: string;
  readonly dispenseFailure?: Failure;
  /** The drop sensor saw the product fall (`dispense.dropped`). */
  readonly dropped?: true;
  readonly receipt: 'none' | 'printed' | 'unprinted';
  readonly receiptFailure?: Failure;
  readonly receiptSubmitted: boolean;
  /** Failed submitPaymentReceipt attempts, the last one's failure, and whether SEQR refused it for good. */
  readonly receiptSubmitAttempts?: number;
  readonly receiptSubmitFailure?: Failure;
  readonly receiptRefused?: true;
  /** The latest `tx.closed` outcome; undefined while the transaction is open. */
  readonly closed?: ClosedOutcome;
  readonly closedAt?: number;
  /**
   * Set for a reservation (pay first, then choose). Its `price` is the amount asked, then the
   * amount reserved, then the settled total (what is charged); `paidAt` is when the commit was
   * recorded.
   */
  readonly reservation?: ReservationFacts;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

type RefundEntry = Extract<
  LedgerEntry,
  { type: 'refund.requested' | 'refund.confirmed' | 'refund.failed' }
>;

/** Folds one refund entry into the refund facts (the refund part of {@link applyEntry}). */
export function foldRefund<F extends RefundFacts>(facts: F, entry: RefundEntry, at: number): F {
  const next: Mutable<RefundFacts> = { ...facts, lastRefundAt: at };
  switch (entry.type) {
    case 'refund.requested':
      next.refund = 'requested';
      next.refundAttempts += 1;
      next.refundRequestedMinor = entry.amount.minor;
      break;
    case 'refund.confirmed':
      next.refund = 'confirmed';
      next.refundedMinor += next.refundRequestedMinor ?? 0;
      next.refundReference = entry.refundReference;
      next.refundInferred = entry.inferred !== undefined;
      break;
    case 'refund.failed':
      next.refund = 'failed';
      next.refundFailure = entry.failure;
      break;
  }
  return next as F;
}

/** The refund facts of a payment nothing was refunded of yet. */
export function freshRefundFacts(price: Money, ersReference: string | undefined): RefundFacts {
  return {
    ...(ersReference === undefined ? {} : { ersReference }),
    price,
    refund: 'none',
    refundAttempts: 0,
    refundedMinor: 0,
    refundInferred: false,
  };
}

/** The refund facts of a view, alone. */
export function refundFactsOf(view: RefundFacts): RefundFacts {
  const f = view;
  return {
    ...(f.ersReference === undefined ? {} : { ersReference: f.ersReference }),
    price: f.price,
    refund: f.refund,
    refundAttempts: f.refundAttempts,
    ...(f.refundRequestedMinor === undefined
      ? {}
      : { refundRequestedMinor: f.refundRequestedMinor }),
    refundedMinor: f.refundedMinor,
    ...(f.refundReference === undefined ? {} : { refundReference: f.refundReference }),
    refundInferred: f.refundInferred,
    ...(f.refundFailure === undefined ? {} : { refundFailure: f.refundFailure }),
    ...(f.lastRefundAt === undefined ? {} : { lastRefundAt: f.lastRefundAt }),
  };
}

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
  if (entry.type === 'reservation.requested') {
    if (view) return `transaction ${entry.txId} was already requested`;
    return {
      ...freshRefundFacts(entry.amount, undefined),
      txId: entry.txId,
      openedAt: at,
      updatedAt: at,
      slot: 0,
      productName: RESERVATION_NAME,
      cancelRequested: false,
      dispense: 'none',
      receipt: 'none',
      receiptSubmitted: false,
      reservation: { offered: entry.offered, vends: [], committed: false },
    };
  }
  if (entry.type === 'invoice.requested') {
    if (view) return `transaction ${entry.txId} was already requested`;
    return {
      ...freshRefundFacts(entry.price, undefined),
      txId: entry.txId,
      openedAt: at,
      updatedAt: at,
      slot: entry.slot,
      productName: entry.productName,
      ...(entry.probe ? { probe: true as const } : {}),
      cancelRequested: false,
      dispense: 'none',
      receipt: 'none',
      receiptSubmitted: false,
    };
  }
  if (!view) return `unknown transaction ${entry.txId} (no invoice.requested)`;
  const next: Mutable<TransactionView> = { ...view, updatedAt: at };
  const r = view.reservation;
  switch (entry.type) {
    case 'reservation.issued':
    case 'reservation.reserved':
    case 'vend.started':
    case 'vend.finished':
    case 'reservation.settling':
    case 'reservation.committed':
      if (!r) return `transaction ${entry.txId} is not a reservation (${entry.type})`;
      return applyReservationEntry(next, r, entry, at);
    case 'status.seen':
      next.status = entry.status;
      next.statusVersion = entry.version;
      if (entry.status === 'PAID') {
        // A reservation is paid when its commit is recorded; the status after it names the payment.
        if (next.paidAt === undefined && !r?.committed) next.paidAt = at;
        if (entry.ersReference !== undefined && next.ersReference === undefined)
          next.ersReference = entry.ersReference;
      }
      return next;
    case 'invoice.issued':
      next.invoiceReference = entry.invoiceReference;
      break;
    case 'cancel.requested':
      next.cancelRequested = true;
      break;
    case 'dispense.started':
      next.dispense = 'started';
      break;
    case 'dispense.dropped':
      next.dropped = true;
      break;
    case 'dispense.finished':
      next.dispense = entry.outcome;
      if (entry.detail !== undefined) next.dispenseDetail = entry.detail;
      if (entry.failure !== undefined) next.dispenseFailure = entry.failure;
      break;
    case 'receipt.printed':
      next.receipt = 'printed';
      break;
    case 'receipt.unprinted':
      next.receipt = 'unprinted';
      next.receiptFailure = entry.failure;
      break;
    case 'receipt.submitted':
      next.receiptSubmitted = true;
      break;
    case 'receipt.submitFailed':
      next.receiptSubmitAttempts = (next.receiptSubmitAttempts ?? 0) + 1;
      next.receiptSubmitFailure = entry.failure;
      if (entry.refused) next.receiptRefused = true;
      break;
    case 'refund.requested':
    case 'refund.confirmed':
    case 'refund.failed':
      return foldRefund(next, entry, at);
    case 'tx.closed':
      next.closed = entry.outcome;
      next.closedAt = at;
      break;
  }
  return next;
}

type ReservationEntry = Extract<
  LedgerEntry,
  {
    type:
      | 'reservation.issued'
      | 'reservation.reserved'
      | 'vend.started'
      | 'vend.finished'
      | 'reservation.settling'
      | 'reservation.committed';
  }
>;

/** The reservation part of {@link applyEntry}. */
function applyReservationEntry(
  next: Mutable<TransactionView>,
  r: ReservationFacts,
  entry: ReservationEntry,
  at: number,
): TransactionView | string {
  switch (entry.type) {
    case 'reservation.issued':
      next.invoiceReference = entry.invoiceReference;
      return next;
    case 'reservation.reserved':
      next.price = entry.amount;
      next.reservation = { ...r, reserved: entry.amount, reservedAt: at };
      return next;
    case 'vend.started':
      if (r.vends.some((v) => v.seq === entry.vend))
        return `vend ${entry.vend} of ${entry.txId} was already started`;
      next.reservation = {
        ...r,
        vends: [
          ...r.vends,
          {
            seq: entry.vend,
            slot: entry.slot,
            productName: entry.productName,
            price: entry.price,
            outcome: 'started',
          },
        ],
      };
      return next;
    case 'vend.finished':
      if (!r.vends.some((v) => v.seq === entry.vend && v.outcome === 'started'))
        return `vend ${entry.vend} of ${entry.txId} is not running`;
      next.reservation = {
        ...r,
        vends: r.vends.map((v) => (v.seq === entry.vend ? { ...v, outcome: entry.outcome } : v)),
      };
      return next;
    case 'reservation.settling':
      if (r.settling) return `reservation ${entry.txId} was already settled`;
      next.price = entry.total;
      if (entry.rows.length > 0) next.productName = rowsText(entry.rows);
      next.reservation = { ...r, settling: { total: entry.total, rows: entry.rows } };
      return next;
    case 'reservation.committed':
      if (!r.settling) return `reservation ${entry.txId} was committed before it was settled`;
      next.paidAt ??= at;
      if (entry.ersReference !== undefined) next.ersReference ??= entry.ersReference;
      next.reservation = { ...r, committed: true };
      return next;
  }
}

/** Folds stored entries into a view (undefined when the entries are not a valid transaction). */
export function viewOf(entries: readonly TimedEntry[]): TransactionView | undefined {
  let view: TransactionView | undefined;
  for (const e of entries) {
    const next = applyEntry(view, e, e.at);
    if (typeof next === 'string') return undefined;
    view = next;
  }
  return view;
}
