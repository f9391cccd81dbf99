import type { Failure } from '../errors.js';
import type { Money } from './money.js';
import type { InvoiceStatus } from './payment-gateway.js';

/** Who asked for a refund; absent on `refund.requested` = the vending core, for the customer. */
export type RefundInitiator =
  /** Start-up recovery (the first attempt after a restart). */
  | 'recovery'
  /** The core's background retry of a refund that failed. */
  | 'retry'
  /** An operator, with `seqr-vend refund`. */
  | 'operator'
  /** The refund worker of versions before retries moved into the core (read only). */
  | 'refundWorker';

/** One row of a reservation's final bill: a product delivered `quantity` times. */
export interface SettledRow {
  readonly slot: number;
  readonly productName: string;
  readonly unitPrice: Money;
  readonly quantity: number;
}

/**
 * One durable step of a transaction. Each step is recorded (committed) BEFORE the side effect it
 * authorises: `dispense.started` before the relay is energised, `refund.requested` before
 * refundPayment is sent, `invoice.requested` before sendInvoice. After a crash, the last recorded
 * step tells recovery what may have happened.
 *
 * A reservation (pay first, then choose) is a transaction of its own that starts with
 * `reservation.requested` instead of `invoice.requested`: `reservation.requested` before
 * sendInvoice, `reservation.issued` before createPurchase is answered, `reservation.reserved` once
 * SEQR reports RESERVED, per press `vend.started` before the relay moves and `vend.finished` after,
 * `reservation.settling` (the final total, never recomputed) before any SEQR call that ends it,
 * then `reservation.committed`, or `status.seen` with the final status of a cancelled one.
 */
export type LedgerEntry =
  | {
      readonly type: 'invoice.requested';
      readonly txId: string;
      readonly slot: number;
      readonly productName: string;
      readonly price: Money;
      /** The out-of-service probe's invoice: never shown, never sold, always cancelled. */
      readonly probe?: true;
    }
  | { readonly type: 'invoice.issued'; readonly txId: string; readonly invoiceReference: string }
  | {
      readonly type: 'status.seen';
      readonly txId: string;
      readonly status: InvoiceStatus;
      readonly version: number;
      readonly ersReference?: string;
    }
  | { readonly type: 'cancel.requested'; readonly txId: string }
  | { readonly type: 'dispense.started'; readonly txId: string; readonly slot: number }
  /** The drop sensor saw the product fall (recorded as it fires, before the dispense ends). */
  | { readonly type: 'dispense.dropped'; readonly txId: string }
  | {
      readonly type: 'dispense.finished';
      readonly txId: string;
      readonly outcome: 'delivered' | 'notDelivered' | 'uncertain';
      /** Why, in words or the dispenser's reason (`noDrop`, `soldOut`, `restarted during the dispense`). */
      readonly detail?: string;
      /** The dispenser's failure, when one made the outcome uncertain or not delivered. */
      readonly failure?: Failure;
    }
  | { readonly type: 'receipt.printed'; readonly txId: string }
  | { readonly type: 'receipt.unprinted'; readonly txId: string; readonly failure: Failure }
  | { readonly type: 'receipt.submitted'; readonly txId: string }
  /**
   * A submitPaymentReceipt attempt failed; `refused`: SEQR refused it for good (a resultCode
   * that sending again cannot change) and it is never sent again.
   */
  | {
      readonly type: 'receipt.submitFailed';
      readonly txId: string;
      readonly failure: Failure;
      readonly refused?: true;
    }
  | {
      readonly type: 'refund.requested';
      readonly txId: string;
      readonly amount: Money;
      readonly initiator?: RefundInitiator;
    }
  | {
      readonly type: 'refund.confirmed';
      readonly txId: string;
      /** The refund's own ersReference; empty when `inferred`. */
      readonly refundReference: string;
      /**
       * `sumExceeded`: a retry after an attempt of unknown outcome was answered 98 (the sum of
       * refunds would exceed the payment), so the earlier attempt went through; SEQR gave no
       * reference for it and the operator should verify it in the reports.
       */
      readonly inferred?: 'sumExceeded';
    }
  | { readonly type: 'refund.failed'; readonly txId: string; readonly failure: Failure }
  | {
      readonly type: 'reservation.requested';
      readonly txId: string;
      /** The most the payer offered (createPurchase's amount). */
      readonly offered: Money;
      /** What the machine asks to reserve: the offer, at most its own limit. */
      readonly amount: Money;
    }
  | {
      readonly type: 'reservation.issued';
      readonly txId: string;
      readonly invoiceReference: string;
    }
  | {
      readonly type: 'reservation.reserved';
      readonly txId: string;
      /** What the payer reserved: the invoice's amount. The entry's time starts the commit window. */
      readonly amount: Money;
    }
  | {
      readonly type: 'vend.started';
      readonly txId: string;
      /**
       * The vend's number within the reservation: 1, 2, ... (not `seq`, which a stored entry
       * already carries as its position in the ledger).
       */
      readonly vend: number;
      readonly slot: number;
      readonly productName: string;
      readonly price: Money;
    }
  | {
      readonly type: 'vend.finished';
      readonly txId: string;
      /** The {@link vend} number of the `vend.started` it finishes. */
      readonly vend: number;
      /** Only `delivered` is charged. */
      readonly outcome: 'delivered' | 'notDelivered' | 'uncertain';
      readonly detail?: string;
      readonly failure?: Failure;
    }
  | {
      readonly type: 'reservation.settling';
      readonly txId: string;
      /** What is committed: the sum of `rows`, the delivered vends. Zero: cancelled instead. */
      readonly total: Money;
      readonly rows: readonly SettledRow[];
    }
  | {
      readonly type: 'reservation.committed';
      readonly txId: string;
      /** The payment's reference, when a status call after the commit gave it. */
      readonly ersReference?: string;
      /** `statusPaid`: a commit whose answer was lost, confirmed by SEQR reporting PAID. */
      readonly inferred?: 'statusPaid';
    }
  | {
      readonly type: 'tx.closed';
      readonly txId: string;
      /** sold: delivered; refunded: money back; cancelled: never paid; flagged: operator must act. */
      readonly outcome: 'sold' | 'refunded' | 'cancelled' | 'failed' | 'flagged';
    };

/** A ledger entry with the time it was recorded (epoch ms). */
export type TimedEntry = LedgerEntry & { readonly at: number };

/** A ledger entry as stored, with its position and time. */
export type StoredEntry = TimedEntry & { readonly seq: number };

/**
 * The durable record of every transaction step.
 *
 * - `record` resolves only once the entry is durable (committed to storage that survives a power
 *   cut: a ledger opened afterwards over the same storage has it); a rejection (`E_LEDGER_WRITE`)
 *   means it is not, nothing of it is stored, and the step it would authorise must not happen.
 * - A transaction starts with `invoice.requested`: an entry of a transaction without one, or a
 *   second `invoice.requested`, is refused with `E_LEDGER_WRITE`.
 * - Entries of one transaction come back in the order recorded (concurrent `record` calls in call
 *   order), each with its `at` and a `seq` that grows with every entry of the ledger.
 * - `openTransactions` lists transactions by their first entry, oldest first; a transaction with a
 *   `tx.closed` entry is closed for good (later entries do not reopen it).
 * - After `close`, `record` and `openTransactions` reject `E_CLOSED`.
 */
export interface Ledger {
  record(entry: LedgerEntry, at: number): Promise<void>;
  /**
   * Every entry of every transaction not yet closed (`tx.closed`), oldest first. Rejects
   * `E_LEDGER_CORRUPT` (naming the row) when a stored entry is not a valid entry.
   */
  openTransactions(): Promise<ReadonlyMap<string, readonly StoredEntry[]>>;
  /**
   * Every entry of every sale whose receipt SEQR still owes an answer to: closed `sold`, with a
   * payment reference, neither `receipt.submitted` nor a `receipt.submitFailed` that is `refused`.
   * Oldest first; rejects like {@link openTransactions}.
   */
  receiptsOwed(): Promise<ReadonlyMap<string, readonly StoredEntry[]>>;
  /** Idempotent. */
  close(): Promise<void>;
}
