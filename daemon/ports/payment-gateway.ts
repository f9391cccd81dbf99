import type { Money } from './money.js';

/** Invoice states as SEQR reports them (API.md §6.3). `EXPIRED` only from interface 2.10+. */
export type InvoiceStatus =
  'ISSUED' | 'PAID' | 'PENDING_ISSUER_ACKNOWLEDGE' | 'CANCELED' | 'FAILED' | 'RESERVED' | 'EXPIRED';

/**
 * What the terminal asks the customer to pay: one product, quantity one; or, with `reservation`,
 * the most a payer may spend before choosing (pay first, then choose).
 */
export interface InvoiceRequest {
  /** The terminal's own id for this purchase (the transaction id); echoed back in SEQR's receipt. */
  readonly clientInvoiceId: string;
  /** Shown on the bill in the customer's app, e.g. the machine's name. */
  readonly title: string;
  readonly itemDescription: string;
  readonly price: Money;
  /** VAT rate in whole percent, when configured. */
  readonly taxRatePercent?: number;
  /** Appears in SEQR's reconciliation reports; the machine name or slot. */
  readonly cashierId: string;
  /** Text at the bottom of the receipt in the app. */
  readonly footer?: string;
  /**
   * SEQR POSTs this URL when the invoice is paid, or a reservation confirmed or cancelled
   * (API.md §9.8); the terminal then asks for the status at once. Polling stays the safety net.
   */
  readonly notificationUrl?: string;
  /**
   * A reservation (API.md §6.1, §9.6): `price` is the most the payer reserves
   * (RESERVATION_REQUIRED_PRELIMINARY_AMOUNT); nothing is debited until the terminal commits the
   * final amount (at most `price`) within `commitTimeoutS` seconds of the payer's confirmation,
   * after which the reservation lapses (EXPIRED).
   */
  readonly reservation?: { readonly commitTimeoutS: number };
}

/** One row of a reservation's final invoice: what was delivered. */
export interface InvoiceRow {
  readonly description: string;
  readonly quantity: number;
  readonly unitPrice: Money;
  readonly taxRatePercent?: number;
}

/** The final content of a reservation invoice (updateInvoice before commitReservation). */
export interface ReservationContent {
  /** The invoice as issued (title, ids, URL, commit timeout); its `price` is not sent again. */
  readonly invoice: InvoiceRequest;
  readonly rows: readonly InvoiceRow[];
  /** The sum of the rows: what will be committed. */
  readonly total: Money;
}

/** An invoice SEQR accepted. */
export interface IssuedInvoice {
  /** SEQR's invoice reference: opaque digits, used by every later call. */
  readonly reference: string;
  /** What the customer scans: {@link invoiceQrPayload} of the reference. */
  readonly qrPayload: string;
}

/**
 * What the customer scans for an invoice: `HTTP://SEQR.SE/R<reference>`, upper case so the QR
 * code encodes in alphanumeric mode (a smaller, easier to scan code). The one place this format
 * is written.
 */
export function invoiceQrPayload(reference: string): string {
  return `HTTP://SEQR.SE/R${reference}`.toUpperCase();
}

/** One answer of a status poll. RESERVED: a reservation the payer confirmed, waiting for the commit. */
export interface PaymentStatus {
  readonly status: InvoiceStatus;
  /** SEQR's invoice version; pass it to the next poll to acknowledge this answer. */
  readonly version: number;
  /** The payment's reference, present when `status` is PAID. Needed for receipts and refunds. */
  readonly ersReference?: string;
  /** When SEQR recorded the payment (ISO 8601 as sent), present when PAID. */
  readonly paidAt?: string;
}

/** How a cancel request ended, in the terms that matter to the terminal (API.md §7.4). */
export type CancelOutcome =
  /** resultCode 0: cancelled now. Confirm with one more status poll. */
  | 'cancelled'
  /** resultCode 95: it was already cancelled (by the app, a reversal, or a newer invoice). */
  | 'alreadyCancelled'
  /** resultCode 50: the customer paid; this is a sale. */
  | 'paid'
  /** resultCode 51 (or 48): the customer is paying right now; keep polling. */
  | 'inProgress';

/** The merchant's copy of a receipt, uploaded to SEQR after PAID (submitPaymentReceipt). */
export interface ReceiptDocument {
  /** e.g. `text/plain`. */
  readonly mimeType: string;
  /** The document; sent base64-encoded. */
  readonly text: string;
  /** `PAYMENT_RECEIPT` for a sale. */
  readonly receiptType: 'PAYMENT_RECEIPT' | 'VOUCHER' | 'OTHER';
}

/** A refund to issue for an earlier payment. */
export interface RefundRequest {
  /** ersReference of the original payment. */
  readonly ersReference: string;
  /** Amount to refund; the sum of refunds may not exceed the payment (SEQR answers 98). */
  readonly amount: Money;
  /** Describes the refund on the customer's receipt, e.g. "Refund: Cola 33 cl (not delivered)". */
  readonly title: string;
  readonly cashierId: string;
}

/**
 * SEQR, in the vending domain's words. The real implementation speaks SOAP to SEQR; the fake
 * follows the same rules in memory; one contract suite (test/contract/payment-gateway.contract.ts)
 * holds both to them.
 *
 * Every method has a hard deadline; none retries by itself (a retry is the caller's decision, and
 * never for `issueInvoice` blindly). Rejections are always `VendError`s, SEQR's wire codes already
 * mapped to what they mean for the caller:
 * - `E_SEQR_UNKNOWN_INVOICE` (getStatus, cancelInvoice, updateInvoice, commitReservation): SEQR
 *   does not know the reference (54).
 * - `E_RESERVATION_NOT_RESERVED` (commitReservation): the invoice is not RESERVED (96): committed
 *   already, cancelled or lapsed; the status tells which.
 * - `E_REFUND_REFUSED` (refund): refused for good (11, 23, 64, 97, 99): sending it again cannot help.
 * - `E_REFUND_EXCEEDS_PAYMENT` (refund): the refunds would exceed the payment (98).
 * - `E_SEQR_AUTH`: the terminal's credentials were refused (resultCode 20, 21, 29, 33, 37).
 * - `E_SEQR_RESULT`: any other non-zero resultCode; `retryable` for SEQR's transient ones (1, 2,
 *   90, 93, 94). SEQR answered, so the call did not take effect.
 * - `E_SEQR_UNREACHABLE`, `E_SEQR_TIMEOUT`, `E_SEQR_HTTP`, `E_SEQR_FAULT`, `E_SEQR_MALFORMED`: the
 *   call's outcome at SEQR is unknown; `retryable` is true.
 * Errors carrying a SEQR answer have `resultCode` and `resultName`; all carry `operation`, and
 * transport errors `httpStatus` / `faultString` when known (`failureOf` in daemon/errors.ts reads them).
 * Messages and causes never contain the terminal password.
 */
export interface PaymentGateway {
  /** sendInvoice. Resolves once SEQR registered the invoice. On a cash-register terminal this
   *  cancels the terminal's previous unpaid invoice (one active invoice per terminal). */
  issueInvoice(request: InvoiceRequest): Promise<IssuedInvoice>;
  /** getPaymentStatus. `lastVersion` is the version of the last answer seen (0 at first). A PAID
   *  answer is also what commits the payment at SEQR: unanswered for 20 s, SEQR reverses it. */
  getStatus(reference: string, lastVersion: number): Promise<PaymentStatus>;
  /** cancelInvoice. Codes 0, 95, 50, 51/48 resolve as {@link CancelOutcome}; 54 rejects
   *  E_SEQR_UNKNOWN_INVOICE; others reject as above. */
  cancelInvoice(reference: string): Promise<CancelOutcome>;
  /** submitPaymentReceipt for a PAID invoice (or a refund, with the refund's reference). */
  submitReceipt(ersReference: string, document: ReceiptDocument): Promise<void>;
  /** refundPayment. Resolves with the refund's own ersReference. Rejects E_REFUND_REFUSED (unknown
   *  payment, refunds not allowed, ...) or E_REFUND_EXCEEDS_PAYMENT (over the original amount). */
  refund(request: RefundRequest): Promise<{ readonly refundReference: string }>;
  /** updateInvoice of a RESERVED reservation: its final rows and total (at most the reserved
   *  amount) before the commit. Optional for SEQR (the commit carries the amount); a failure
   *  leaves the invoice as issued. */
  updateInvoice(reference: string, content: ReservationContent): Promise<void>;
  /** commitReservation with the final amount (2.9+): resolves once SEQR debited `amount` (PAID).
   *  Rejects E_RESERVATION_NOT_RESERVED (96) when the invoice is not RESERVED. */
  commitReservation(reference: string, amount: Money): Promise<void>;
}
