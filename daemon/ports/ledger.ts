import type { Money } from './money.js';
import type { InvoiceStatus } from './payment-gateway.js';

/**
 * One durable step of a transaction. Each step is recorded (committed) BEFORE the side effect it
 * authorises: `dispense.started` before the relay is energised, `refund.requested` before
 * refundPayment is sent, `invoice.requested` before sendInvoice. After a crash, the last recorded
 * step tells recovery what may have happened.
 */
export type LedgerEntry =
  | {
      readonly type: 'invoice.requested';
      readonly txId: string;
      readonly slot: number;
      readonly productName: string;
      readonly price: Money;
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
  | {
      readonly type: 'dispense.finished';
      readonly txId: string;
      readonly outcome: 'delivered' | 'notDelivered' | 'uncertain';
      readonly detail?: string;
    }
  | { readonly type: 'receipt.printed'; readonly txId: string }
  | { readonly type: 'receipt.unprinted'; readonly txId: string; readonly code: string }
  | { readonly type: 'receipt.submitted'; readonly txId: string }
  | {
      readonly type: 'refund.requested';
      readonly txId: string;
      readonly amount: Money;
      /** Who asked; absent = the vending core. */
      readonly initiator?: 'recovery' | 'refundWorker' | 'operator';
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
  | { readonly type: 'refund.failed'; readonly txId: string; readonly code: string }
  | {
      readonly type: 'tx.closed';
      readonly txId: string;
      /** sold: delivered; refunded: money back; cancelled: never paid; flagged: operator must act. */
      readonly outcome: 'sold' | 'refunded' | 'cancelled' | 'failed' | 'flagged';
    };

/** A ledger entry as stored, with its position and time. */
export type StoredEntry = LedgerEntry & { readonly seq: number; readonly at: number };

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
  /** Every entry of every transaction not yet closed (`tx.closed`), oldest first. */
  openTransactions(): Promise<ReadonlyMap<string, readonly StoredEntry[]>>;
  /** Idempotent. */
  close(): Promise<void>;
}
