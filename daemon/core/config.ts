import type { Money } from '../ports/money.js';

/** A product slot as configured: what the button sells and for how much. */
export interface ProductConfig {
  /** The dispenser slot (relay) this product comes out of; also the product button's number. */
  readonly slot: number;
  /** The label printed next to the physical button, e.g. `1` or `A3`. */
  readonly buttonLabel: string;
  readonly name: string;
  readonly price: Money;
  /** VAT rate in whole percent, sent on the invoice row and printed on the receipt. */
  readonly taxRatePercent?: number;
}

/** Who sells: printed on receipts and shown in the customer's app. */
export interface MerchantInfo {
  readonly name: string;
  readonly address?: readonly string[];
  /** The SEQR terminal id, printed on receipts. */
  readonly terminalId: string;
  /** Text at the bottom of the receipt in the customer's app. */
  readonly invoiceFooter?: string;
}

/**
 * Everything the vending core decides with. The composition root fills it from the configuration;
 * the core never reads anything else. Durations are milliseconds.
 */
export interface CoreConfig {
  readonly products: readonly ProductConfig[];
  /** Shown on the idle and out-of-service screens; the invoice title and SEQR cashier id. */
  readonly machineName: string;
  readonly merchant: MerchantInfo;
  /** First payment window after the QR appears (SEQR POS guidance: 30 s). */
  readonly paymentWindowMs: number;
  /** The "still paying?" window that follows; at its end the invoice is cancelled (30 s). */
  readonly stillPayingWindowMs: number;
  /** Status poll period, measured from the start of one call to the start of the next (1 s). */
  readonly pollIntervalMs: number;
  /** How long the thank-you screen stays at least. */
  readonly thankYouMs: number;
  /** How long cancelled / problem / not-delivered screens stay. */
  readonly messageMs: number;
  /** Deadline for creating an invoice (recording it, then sendInvoice). */
  readonly invoicingDeadlineMs: number;
  /** Time to get a cancel confirmed before the screen says out of service (polling goes on). */
  readonly cancelDeadlineMs: number;
  /** Deadline for recording the payment and running the dispenser. Past it, the outcome is uncertain. */
  readonly dispenseDeadlineMs: number;
  /** Upper bound for receipt printing and submitPaymentReceipt after a sale. */
  readonly finishingDeadlineMs: number;
  /** Deadline of one refund attempt (recording it, then refundPayment). */
  readonly refundDeadlineMs: number;
  /** Deadline for start-up recovery (ledger read). */
  readonly startingDeadlineMs: number;
  /** First retry delay when SEQR cannot be reached; doubles per failure up to the max. */
  readonly outOfServiceBackoffMinMs: number;
  readonly outOfServiceBackoffMaxMs: number;
}

/** The durations SEQR's POS guidance and the design suggest. */
export const DEFAULT_TIMINGS = {
  paymentWindowMs: 30_000,
  stillPayingWindowMs: 30_000,
  pollIntervalMs: 1_000,
  thankYouMs: 5_000,
  messageMs: 5_000,
  invoicingDeadlineMs: 20_000,
  cancelDeadlineMs: 20_000,
  dispenseDeadlineMs: 30_000,
  finishingDeadlineMs: 30_000,
  refundDeadlineMs: 30_000,
  startingDeadlineMs: 30_000,
  outOfServiceBackoffMinMs: 2_000,
  outOfServiceBackoffMaxMs: 60_000,
} as const satisfies Partial<CoreConfig>;
