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
  /** false: the operator took it off sale (shown as unavailable, its button ignored). Default true. */
  readonly enabled?: boolean;
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

/** The durations of reservations (see {@link UpsCoreConfig}). */
export interface UpsTimings {
  /** How long the payer has to confirm the reservation in the app before it is cancelled. */
  readonly confirmWindowMs: number;
  /** A session without a press for this long ends (and is settled). */
  readonly idleTimeoutMs: number;
  /** A session ends this long after the reservation at the latest: well before it lapses. */
  readonly sessionMaxMs: number;
  /**
   * SEQR's commitReservationTimeout (sent in whole seconds): a reservation not committed this long
   * after the payer confirmed it lapses, and what was delivered goes unpaid.
   */
  readonly commitTimeoutMs: number;
  /** First delay before a failed commit (or its status check) is tried again; doubles to the max. */
  readonly commitRetryMinMs: number;
  readonly commitRetryMaxMs: number;
}

/** Pay first, then choose (SEQR's unattended payment, UPS): how the machine runs reservations. */
export interface UpsCoreConfig extends UpsTimings {
  /** The static code the idle screen shows: `HTTP://SEQR.SE/000/ups?w=<merchantId>&t=<machineId>`. */
  readonly code: string;
  /** The most the machine reserves, whatever the payer offers; also its currency. */
  readonly maxCredit: Money;
}

/**
 * Reservation timings by default: a minute to confirm, 30 s between presses, 3 minutes per
 * session, 10 minutes to commit (SEQR's in-store reservations last minutes), commit retries
 * from 1 s up to 5 s (a SEQR that answers again is used within seconds).
 */
export const DEFAULT_UPS_TIMINGS: UpsTimings = {
  confirmWindowMs: 60_000,
  idleTimeoutMs: 30_000,
  sessionMaxMs: 180_000,
  commitTimeoutMs: 600_000,
  commitRetryMinMs: 1_000,
  commitRetryMaxMs: 5_000,
};

/**
 * Everything the vending core decides with. The composition root fills it from the configuration;
 * the core never reads anything else. Durations are milliseconds.
 */
export interface CoreConfig {
  /** The catalogue at start; `catalog.updated` replaces it while the daemon runs. */
  readonly products: readonly ProductConfig[];
  /** Maintenance mode at start (the operator's switch, kept outside the core); `maintenance.changed`
   *  changes it while the daemon runs. Default off. */
  readonly maintenance?: boolean;
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
  /**
   * First delay before a cancelInvoice that failed (or that SEQR answered 51: the customer is
   * paying) is sent again; doubles per attempt up to the max. Sent again until SEQR confirms.
   */
  readonly cancelRetryMinMs: number;
  readonly cancelRetryMaxMs: number;
  /**
   * SEQR's reversal window (API.md §9.3): a payment no status poll saw within it is reversed.
   * A CANCELED answer after SEQR was silent for this long less 5 s (clocks differ) may be such a
   * reversal, and the screen says so instead of "cancelled in the app".
   */
  readonly reversalWindowMs: number;
  /**
   * How long SEQR may answer nothing but 54 (unknown invoice) to both the status poll and the
   * cancel before the machine stops resolving the invoice: closed failed, or flagged for the
   * operator when a status call had failed without an answer before (a PAID may have been lost).
   */
  readonly unknownInvoiceGiveUpMs: number;
  /** Deadline for recording the payment and running the dispenser. Past it, the outcome is uncertain. */
  readonly dispenseDeadlineMs: number;
  /** Upper bound for receipt printing and submitPaymentReceipt after a sale. */
  readonly finishingDeadlineMs: number;
  /** Deadline of one refund attempt (recording it, then refundPayment). */
  readonly refundDeadlineMs: number;
  /** Deadline for start-up recovery (ledger read). */
  readonly startingDeadlineMs: number;
  /**
   * The one rule for a payment the machine learns of late, with nothing dispensed for it
   * ("dispense if the customer may still be there", {@link customerMayStillBeThere}): paid less
   * than this long ago, it is dispensed; older, it is refunded. Start-up recovery applies it to a
   * PAID purchase the ledger holds and to an open invoice SEQR answers PAID.
   *
   * Default 120 s: a power cut or crash followed by a Raspberry Pi boot and the daemon's start
   * takes about 30-60 s, and a customer who paid tends to wait at the machine for a minute or
   * two before walking away. Past that, a dispense most likely drops the product for the next
   * passer-by while the payer is gone, and the refund brings the money back at no risk: SEQR
   * refuses a second refund of the same payment (98), and the refund shows in the payer's app.
   */
  readonly maxCustomerAgeMs: number;
  /** First delay before a failed refund is tried again; doubles per attempt up to the max. */
  readonly refundRetryMinMs: number;
  readonly refundRetryMaxMs: number;
  /** First delay before a failed submitPaymentReceipt is tried again; doubles up to the max. */
  readonly receiptRetryMinMs: number;
  readonly receiptRetryMaxMs: number;
  /**
   * What happens to a paid purchase whose dispense was interrupted (a restart while the relay
   * ran, a relay fault, no outcome within the dispense deadline): the product may or may not have
   * come out, and it is never dispensed again. `refund`: the customer gets the money back at
   * once (the merchant may lose one product); `flag`: the operator decides (the customer waits
   * for a person). A drop the sensor recorded before the interruption settles it as delivered
   * either way.
   */
  readonly onInterruptedDispense: 'refund' | 'flag';
  /** First retry delay when SEQR cannot be reached; doubles per failure up to the max. */
  readonly outOfServiceBackoffMinMs: number;
  readonly outOfServiceBackoffMaxMs: number;
  /**
   * The notificationUrl every invoice carries (a SEQR callback gateway is configured): SEQR POSTs
   * it when the invoice is paid or a reservation confirmed or cancelled, and the machine asks for
   * the status at once. Absent: polling alone.
   */
  readonly notificationUrl?: string;
  /** Set in UPS mode: the machine serves createPurchase (pay first, then choose). */
  readonly ups?: UpsCoreConfig;
}

/** The durations SEQR's POS guidance and the design suggest, and the default policies. */
export const DEFAULT_TIMINGS = {
  paymentWindowMs: 30_000,
  stillPayingWindowMs: 30_000,
  pollIntervalMs: 1_000,
  thankYouMs: 5_000,
  messageMs: 5_000,
  invoicingDeadlineMs: 20_000,
  cancelDeadlineMs: 20_000,
  cancelRetryMinMs: 1_000,
  cancelRetryMaxMs: 8_000,
  reversalWindowMs: 20_000,
  unknownInvoiceGiveUpMs: 30_000,
  dispenseDeadlineMs: 30_000,
  finishingDeadlineMs: 30_000,
  refundDeadlineMs: 30_000,
  startingDeadlineMs: 30_000,
  maxCustomerAgeMs: 120_000,
  refundRetryMinMs: 5_000,
  refundRetryMaxMs: 30 * 60_000,
  receiptRetryMinMs: 5_000,
  receiptRetryMaxMs: 30 * 60_000,
  onInterruptedDispense: 'refund',
  outOfServiceBackoffMinMs: 2_000,
  outOfServiceBackoffMaxMs: 60_000,
} as const satisfies Partial<CoreConfig>;

/**
 * "Dispense if the customer may still be there": true when a payment made at `paidAt` (epoch ms)
 * is younger than {@link CoreConfig.maxCustomerAgeMs} at `now`. The one rule for every payment
 * the machine learns of with nothing dispensed for it: live, late in a cancel, or at start-up.
 */
export function customerMayStillBeThere(config: CoreConfig, paidAt: number, now: number): boolean {
  return now - paidAt < config.maxCustomerAgeMs;
}

/**
 * When a payment was made, for {@link customerMayStillBeThere}: SEQR's payment time (never later
 * than `now`), but never earlier than `notBefore`, a moment this machine knows was before the
 * payment (the last unpaid answer, the invoice request). So a SEQR clock behind this one cannot
 * age a payment the machine saw coming, and one ahead cannot make it younger than the answer.
 */
export function paymentTime(
  seqrPaidAt: number | undefined,
  notBefore: number,
  now: number,
): number {
  return Math.max(Math.min(seqrPaidAt ?? now, now), Math.min(notBefore, now));
}
