import type { Failure } from '../errors.js';
import type { ButtonId } from '../ports/buttons.js';
import type { DispenseResult } from '../ports/dispenser.js';
import type { OutOfServiceReason, Screen } from '../ports/display.js';
import type { LedgerEntry, RefundInitiator, TimedEntry } from '../ports/ledger.js';
import type {
  CancelOutcome,
  InvoiceRequest,
  InvoiceStatus,
  IssuedInvoice,
  PaymentStatus,
  ReceiptDocument,
  RefundRequest,
  ReservationContent,
} from '../ports/payment-gateway.js';
import type { Receipt } from '../ports/printer.js';
import type { Money } from '../ports/money.js';
import type { ProductConfig } from './config.js';
import type { RefundFacts } from './projection.js';
import type { RefundAttempt } from './refunds.js';
import type { RecoveredReservation, Session } from './reservation.js';

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

/**
 * An invoice the out-of-service probe creates to learn whether sendInvoice works again (see
 * `outOfService`): recorded, never shown, cancelled and confirmed like any other. It carries the
 * out-of-service state the machine returns to if it fails.
 */
export interface ProbeOf {
  readonly reason: OutOfServiceReason;
  readonly failures: number;
}

/** One purchase: the transaction id (from the runtime, on the button event) and what is sold. */
export interface Purchase {
  readonly txId: string;
  readonly product: ProductConfig;
  /** Set for the out-of-service probe's invoice: nothing is sold, nothing is shown. */
  readonly probe?: ProbeOf;
}

/**
 * The status polling of an open invoice (invariant 5). One call per `pollIntervalMs`, measured
 * from the start of the previous call; never two in flight; when the poll timer fires while a
 * call is still out, the next call starts the moment that one returns. A call that fails is
 * followed at once by one more (the gateway uses a fresh connection after a failure); if that
 * one fails too, the next waits for the timer, so a SEQR that fails fast costs at most two calls
 * per interval.
 */
export interface Polling {
  /** A getPaymentStatus call is out. */
  readonly inFlight: boolean;
  /** The poll timer fired while a call was out: start the next one as soon as it returns. */
  readonly overdue: boolean;
  /** When the next call is due (epoch ms). The poll timer's token is derived from it. */
  readonly dueAt: number;
  /** SEQR's invoice version of the last answer (acknowledged by the next call). */
  readonly version: number;
  /** The last status SEQR reported (ISSUED before the first answer). */
  readonly status: InvoiceStatus;
  /** The call out was sent right after a failed one: if it fails too, the next waits for the timer. */
  readonly retry: boolean;
  /** When the call out (or the last one) was sent (epoch ms). */
  readonly sentAt: number;
  /**
   * No payment was made before this (epoch ms): the start of the last call SEQR answered with an
   * unpaid status, or when the invoice was requested. The lower bound of a payment's time for the
   * customer rule, in this machine's clock (SEQR's may differ).
   */
  readonly unpaidAt: number;
  /** When SEQR last answered a status call for this invoice (epoch ms). */
  readonly answeredAt: number;
  /**
   * A status call failed without an answer since the last unpaid answer: SEQR may have answered
   * PAID (and so committed the payment) into a lost connection.
   */
  readonly paidMayBeMissed: boolean;
}

/** A payment SEQR reported PAID. */
export interface Paid {
  readonly ersReference: string;
  /** SEQR's payment date when it sent one, else the time the PAID answer arrived (ISO 8601). */
  readonly paidAt: string;
}

/**
 * Why an open invoice is being cancelled: the cancel button, the payment window's end, start-up
 * recovery (or an invoice the ledger could not record), an answer to a status poll that is not a
 * status (54 unknown invoice, another refusal), or the out-of-service probe's own invoice.
 */
export type CancelReason = 'button' | 'timeout' | 'recovery' | 'unknownAnswer' | 'probe';

/** What the cancelling screen adds: nothing yet, SEQR slow to answer, the customer paying (51). */
export type CancelNote = 'none' | 'retrying' | 'paying';

/**
 * Where the machine is. Every state but `idle` holds a `deadline` token: the `deadline` timer of
 * that state is running, so no state can be left waiting forever. Timer tokens are compared on
 * `timer.expired`, so a timer from an earlier state or purchase is ignored.
 */
export type Phase =
  /**
   * Waiting for the ledger's open transactions (`recovery.loaded`). Once planned, the recovery
   * work runs: records and refunds at once, and each open invoice or paid purchase through the
   * purchase phases, one at a time (see {@link State.recovery}), before the machine sells.
   */
  | { readonly kind: 'starting'; readonly deadline: string }
  /** Showing the products, waiting for a product button. */
  | { readonly kind: 'idle' }
  /** `recording`: invoice.requested is being made durable; `issuing`: sendInvoice is out. */
  | {
      readonly kind: 'invoicing';
      readonly purchase: Purchase;
      readonly step: 'recording' | 'issuing';
      readonly deadline: string;
    }
  /** The pay screen; `stillPaying` is the second window ("still paying?"). */
  | {
      readonly kind: 'awaitingPayment';
      readonly purchase: Purchase;
      readonly invoice: IssuedInvoice;
      readonly polling: Polling;
      readonly stage: 'paying' | 'stillPaying';
      /** When the current window ends (the `deadline` timer). */
      readonly windowEndsAt: number;
      readonly windowMs: number;
      readonly deadline: string;
      readonly countdown: string;
    }
  /**
   * cancelInvoice was (or is being) sent; polling goes on until SEQR reports a final status.
   * A PAID answer here is a sale (or a refund, by the customer rule). A cancel that fails, or
   * that SEQR answers 51 (the customer is paying), is sent again after a backoff (the `retry`
   * timer); the deadline switches the screen to out-of-service. The invoice is never abandoned
   * (invariant 4), with one exception: SEQR answering 54 (unknown invoice) to both the status
   * poll and the cancel, and nothing else, for `unknownInvoiceGiveUpMs`.
   */
  | {
      readonly kind: 'cancelling';
      readonly purchase: Purchase;
      readonly invoice: IssuedInvoice;
      readonly polling: Polling;
      readonly reason: CancelReason;
      /** inFlight: the call is out; done: cancelled (or already), a status call confirms it;
       *  paid: SEQR said 50, a status call brings the PAID; waiting: sent again at `retryAt`. */
      readonly cancel: 'inFlight' | 'done' | 'paid' | 'waiting';
      /** cancelInvoice calls sent so far: the retry delay doubles with each. */
      readonly cancelAttempts: number;
      /** When the next cancelInvoice goes out, while `cancel` is waiting (the `retry` timer). */
      readonly retryAt: number | undefined;
      /** When SEQR confirmed the cancel (0 or 95): a status call sent later must say CANCELED. */
      readonly cancelledAt: number | undefined;
      /** Since when SEQR answered only 54 about this invoice, and whether the cancel did too. */
      readonly unknown: { readonly since: number; readonly cancel: boolean } | undefined;
      /** What the cancelling screen says; the out-of-service screen once past the deadline. */
      readonly note: CancelNote;
      readonly overdueScreen: boolean;
      readonly deadline: string;
    }
  /** `recordingPaid` -> `recordingStart` -> `running`: the relay pulses only in `running`. */
  | {
      readonly kind: 'dispensing';
      readonly purchase: Purchase;
      readonly invoice: IssuedInvoice;
      readonly paid: Paid;
      readonly step: 'recordingPaid' | 'recordingStart' | 'running';
      /** The drop sensor saw the product fall during this dispense. */
      readonly dropped: boolean;
      readonly deadline: string;
    }
  /**
   * Nothing was delivered: the refund is a background job (see {@link RefundJob}) and this phase
   * shows its first attempt's outcome; at the deadline the screen says it is pending and the job
   * goes on without the customer.
   */
  | {
      readonly kind: 'refunding';
      readonly purchase: Purchase;
      readonly invoice: IssuedInvoice;
      readonly paid: Paid;
      /** The payment came after the customer could have left: refunded, never dispensed. */
      readonly late: boolean;
      readonly deadline: string;
    }
  /**
   * Delivered: print the receipt under the thank-you screen. submitPaymentReceipt is a background
   * job (see {@link ReceiptJob}), so SEQR never holds the customer up.
   */
  | {
      readonly kind: 'finishing';
      readonly purchase: Purchase;
      readonly invoice: IssuedInvoice;
      readonly paid: Paid;
      readonly step: 'printing';
      readonly thankYouUntil: number;
      readonly deadline: string;
    }
  /** A closing screen (thank you, cancelled, a problem, refund news) until its deadline. */
  | { readonly kind: 'notice'; readonly deadline: string }
  /**
   * Maintenance mode (the operator's switch, {@link State.maintenance}): the out-of-service screen,
   * buttons ignored, no invoices. Entered instead of idle (at once from idle, else when the
   * purchase on screen is over); left for idle when the switch goes off. Like idle it has no
   * deadline: it waits for the operator. Background refunds go on.
   */
  | { readonly kind: 'maintenance' }
  /**
   * SEQR cannot be used; the deadline is the next probe. Buttons are ignored. The probe exercises
   * what failed: a status call (SEQR reachable, credentials accepted), or, when sendInvoice
   * failed, an invoice of its own (see {@link ProbeOf}), cancelled and confirmed before the
   * machine sells again.
   */
  | {
      readonly kind: 'outOfService';
      readonly reason: OutOfServiceReason;
      /** Consecutive failed probes; the retry delay doubles with each. */
      readonly failures: number;
      readonly probe: 'status' | 'invoice';
      readonly probing: boolean;
      readonly deadline: string;
    }
  /** A reservation, pay first, then choose (UPS): see daemon/core/reservation.ts. */
  | { readonly kind: 'session'; readonly session: Session; readonly deadline: string };

/**
 * A refund the core owes, worked on beside the purchase phases: the live purchase's refund (the
 * `refunding` phase shows its first attempt), refunds start-up recovery found open, and retries of
 * failed ones. One attempt at a time: `refund.requested` durable, then refundPayment; a failure is
 * retried with backoff, a refusal for good is flagged and never sent again (daemon/core/refunds.ts).
 */
export interface RefundJob {
  readonly kind: 'refund';
  readonly txId: string;
  /** For the refund's title on the customer's receipt. */
  readonly productName: string;
  /** The refund facts as the ledger holds them before the next attempt. */
  readonly facts: RefundFacts;
  /** Written on the next attempt's `refund.requested`; absent = the core, for the customer. */
  readonly initiator?: RefundInitiator;
  /** Attempts made so far, across restarts: the retry delay doubles with each. */
  readonly attempts: number;
  /** When the next attempt may start (epoch ms). */
  readonly dueAt: number;
  /** The attempt out now: its `refund.requested` is being recorded, or refundPayment is out. */
  readonly attempt?: RefundAttempt;
}

/**
 * A sale's submitPaymentReceipt, owed until SEQR accepts it (`receipt.submitted`) or refuses it
 * for good (`receipt.submitFailed` with `refused`). Every failed attempt is recorded, so the
 * ledger keeps the count across restarts and start-up recovery finds what is still owed (also of
 * sales closed long ago). One receipt call at a time across all jobs; a failure is retried with
 * backoff. SEQR keeps a receipt per call, so an answer lost after SEQR took it costs a second
 * copy of the same document, never a missing one.
 */
export interface ReceiptJob {
  readonly kind: 'receipt';
  readonly txId: string;
  readonly ersReference: string;
  readonly document: ReceiptDocument;
  /** Attempts made so far, across restarts: the retry delay doubles with each. */
  readonly attempts: number;
  readonly dueAt: number;
  /** submitPaymentReceipt is out. */
  readonly inFlight: boolean;
}

/**
 * Work that runs beside the purchase on screen. Every kind is keyed by its kind and transaction
 * id, at most one of a kind per transaction, and driven by the one `settle` timer (due at the
 * earliest `dueAt`): an expiry starts one due attempt per step, so each attempt's record gates
 * only its own call. New kinds (an operator's refund of a flagged purchase) join the union.
 */
export type Job = RefundJob | ReceiptJob;

export interface Background {
  /** Oldest first; at most one per transaction. */
  readonly jobs: readonly Job[];
  /** When the running `settle` timer fires; undefined when none runs. */
  readonly settleAt?: number;
}

/** Start-up recovery work done as a purchase phase, in order, before the machine sells. */
export type RecoveryItem =
  /** An invoice issued before the restart without a final status: cancel, poll until final. */
  | {
      readonly kind: 'resolve';
      readonly purchase: Purchase;
      readonly invoice: IssuedInvoice;
      readonly version: number;
      readonly status: InvoiceStatus;
      /** When the invoice was requested: no payment can be older (the customer rule). */
      readonly openedAt: number;
      /** The ledger's last step of it: SEQR's last answer was no later. */
      readonly updatedAt: number;
    }
  /** PAID and recorded, nothing dispensed, the customer may still be there: dispense it. */
  | {
      readonly kind: 'dispense';
      readonly purchase: Purchase;
      readonly invoice: IssuedInvoice;
      readonly paid: Paid;
    }
  /** A reservation left open: cancelled (nothing delivered) or committed for what was delivered. */
  | { readonly kind: 'reservation'; readonly reservation: RecoveredReservation };

/** Start-up recovery: not planned yet, or the items still to run. */
export type Recovery =
  { readonly loaded: false } | { readonly loaded: true; readonly items: readonly RecoveryItem[] };

/** The core's whole state: the phase, plus what the machine knows across purchases. */
export type State = Phase & {
  /**
   * The catalogue on sale: the configuration's products, then each `catalog.updated`'s. A button
   * starts a purchase of the product listed here; the purchase keeps that product, and so the
   * price it was invoiced at, whatever changes meanwhile.
   */
  readonly products: readonly ProductConfig[];
  /** Maintenance mode is on: no purchase starts; idle becomes the `maintenance` phase. */
  readonly maintenance: boolean;
  /** Slots the dispenser reports empty (shown as sold out, their buttons ignored). */
  readonly soldOut: readonly number[];
  readonly background: Background;
  readonly recovery: Recovery;
};

export type PhaseKind = Phase['kind'];

// ---------------------------------------------------------------------------------------------
// Events: dotted, past tense, stamped with `at` (epoch ms) by the runtime.
// ---------------------------------------------------------------------------------------------

/** The PaymentGateway call a `payment.failed` event is about. */
export type PaymentOp =
  'issue' | 'poll' | 'cancel' | 'refund' | 'submitReceipt' | 'probe' | 'update' | 'commit';

/**
 * Timers the core starts. Each state uses `deadline`; payment states add `poll` and `countdown`,
 * cancelling its `retry` of cancelInvoice; `settle` drives the background jobs.
 */
export type TimerName = 'deadline' | 'poll' | 'countdown' | 'settle' | 'retry';

/** A transaction the ledger still has open at start-up, its entries (with their times) oldest first. */
export interface RecoveredTransaction {
  readonly txId: string;
  readonly entries: readonly TimedEntry[];
}

/** The events of the purchase phases (every event but a reservation's own). */
export type VendEvent =
  /** The runtime read the ledger at start-up. */
  | {
      readonly type: 'recovery.loaded';
      /** Every transaction not closed yet. */
      readonly transactions: readonly RecoveredTransaction[];
      /** Sales closed with their receipt not yet taken (nor refused) by SEQR; absent: none. */
      readonly receiptsOwed?: readonly RecoveredTransaction[];
      readonly at: number;
    }
  /** A button was pressed. `txId` is a fresh id the core uses if the press starts a purchase. */
  | {
      readonly type: 'button.pressed';
      readonly button: ButtonId;
      readonly txId: string;
      readonly at: number;
    }
  /** The dispenser's stock changed (read by the runtime after each dispense, a refill and at start). */
  | { readonly type: 'stock.updated'; readonly soldOut: readonly number[]; readonly at: number }
  /**
   * The operator changed the catalogue (price, name, enabled): every purchase that starts from
   * now on uses `products`; a purchase in progress keeps its own. Idle shows it at once.
   */
  | {
      readonly type: 'catalog.updated';
      readonly products: readonly ProductConfig[];
      readonly at: number;
    }
  /** The operator switched maintenance mode (durable outside the core: this is the news). */
  | { readonly type: 'maintenance.changed'; readonly on: boolean; readonly at: number }
  | {
      readonly type: 'payment.issued';
      readonly txId: string;
      readonly invoice: IssuedInvoice;
      readonly at: number;
    }
  | {
      readonly type: 'payment.statusReceived';
      readonly txId: string;
      readonly status: PaymentStatus;
      readonly at: number;
    }
  | {
      readonly type: 'payment.cancelAnswered';
      readonly txId: string;
      readonly outcome: CancelOutcome;
      readonly at: number;
    }
  | {
      readonly type: 'payment.refunded';
      readonly txId: string;
      readonly refundReference: string;
      readonly at: number;
    }
  | { readonly type: 'payment.receiptSubmitted'; readonly txId: string; readonly at: number }
  /** SEQR answered the out-of-service probe (it is reachable and accepts the credentials). */
  | { readonly type: 'payment.probed'; readonly at: number }
  /** A PaymentGateway call failed, with the gateway's domain failure (see the port). */
  | {
      readonly type: 'payment.failed';
      readonly op: PaymentOp;
      /** The purchase the call was for; absent for the probe. */
      readonly txId?: string;
      readonly failure: Failure;
      readonly retryable: boolean;
      readonly at: number;
    }
  /** `entry` (as it was in the `ledger.record` effect) is durable. */
  | { readonly type: 'ledger.recorded'; readonly entry: LedgerEntry; readonly at: number }
  /** `entry` could not be made durable; what it would have authorised did not happen. */
  | {
      readonly type: 'ledger.failed';
      readonly entry: LedgerEntry;
      readonly failure: Failure;
      readonly at: number;
    }
  /** The drop sensor saw the product fall, before the dispense finished. */
  | { readonly type: 'dispense.dropped'; readonly txId: string; readonly at: number }
  | {
      readonly type: 'dispense.finished';
      readonly txId: string;
      readonly result: DispenseResult;
      readonly at: number;
    }
  /** The dispenser rejected: E_DISPENSER_BUSY (nothing driven) or an unknown outcome. */
  | {
      readonly type: 'dispense.failed';
      readonly txId: string;
      readonly failure: Failure;
      readonly at: number;
    }
  | { readonly type: 'printer.printed'; readonly txId: string; readonly at: number }
  | {
      readonly type: 'printer.failed';
      readonly txId: string;
      readonly failure: Failure;
      readonly at: number;
    }
  | { readonly type: 'display.failed'; readonly failure: Failure; readonly at: number }
  | {
      readonly type: 'timer.expired';
      readonly name: TimerName;
      readonly token: string;
      readonly at: number;
    };

/** createPurchase's refusals (SEQR's UPS documentation). */
export type UpsRefusal =
  | 'INSUFFICIENT_FUNDS'
  | 'DEVICE_IN_USE'
  | 'DEVICE_UNAVAILABLE'
  | 'INVOICING_ERROR'
  | 'SYSTEM_ERROR';

/**
 * Events of reservations and of SEQR's callbacks. A request from outside (`requestId`) is always
 * answered by one `request.answer` effect, at once or once its outcome is known.
 */
export type ReservationEvent =
  /** SEQR's createPurchase reached the machine: a payer offers up to `offered` (UPS). */
  | {
      readonly type: 'ups.requested';
      readonly requestId: string;
      /** A fresh transaction id the core uses if it starts a reservation. */
      readonly txId: string;
      readonly offered: Money;
      readonly at: number;
    }
  /** SEQR's notificationUrl: invoice `reference` changed (paid, reserved, cancelled). */
  | {
      readonly type: 'payment.notified';
      readonly requestId: string;
      readonly reference: string;
      readonly at: number;
    }
  /** updateInvoice of a reservation was accepted. */
  | { readonly type: 'payment.updated'; readonly txId: string; readonly at: number }
  /** commitReservation was accepted: the payer was debited. */
  | { readonly type: 'payment.committed'; readonly txId: string; readonly at: number };

export type Event = VendEvent | ReservationEvent;

export type EventType = Event['type'];

/** What a request from outside is answered (createPurchase, a notification). */
export type RequestAnswer =
  | { readonly invoiceReferenceId: string }
  | { readonly errorCode: UpsRefusal }
  | { readonly known: boolean };

// ---------------------------------------------------------------------------------------------
// Effects: dotted, imperative. The runtime runs them in order and reports back as events.
// ---------------------------------------------------------------------------------------------

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type Effect =
  /** Replace the screen. Failures come back as `display.failed`. */
  | { readonly type: 'display.show'; readonly screen: Screen }
  /** sendInvoice -> `payment.issued` | `payment.failed{op:'issue'}`. */
  | { readonly type: 'payment.issue'; readonly txId: string; readonly request: InvoiceRequest }
  /** getPaymentStatus -> `payment.statusReceived` | `payment.failed{op:'poll'}`. */
  | {
      readonly type: 'payment.poll';
      readonly txId: string;
      readonly reference: string;
      readonly lastVersion: number;
    }
  /** cancelInvoice -> `payment.cancelAnswered` | `payment.failed{op:'cancel'}`. */
  | { readonly type: 'payment.cancel'; readonly txId: string; readonly reference: string }
  /** refundPayment -> `payment.refunded` | `payment.failed{op:'refund'}`. Always listed right
   *  after the `refund.requested` record that authorises it, in a step of its own. */
  | { readonly type: 'payment.refund'; readonly txId: string; readonly request: RefundRequest }
  /** submitPaymentReceipt -> `payment.receiptSubmitted` | `payment.failed{op:'submitReceipt'}`. */
  | {
      readonly type: 'payment.submitReceipt';
      readonly txId: string;
      readonly ersReference: string;
      readonly document: ReceiptDocument;
    }
  /** A cheap call that tells whether SEQR answers -> `payment.probed` | `payment.failed{op:'probe'}`. */
  | { readonly type: 'payment.probe' }
  /** updateInvoice -> `payment.updated` | `payment.failed{op:'update'}`. */
  | {
      readonly type: 'payment.update';
      readonly txId: string;
      readonly reference: string;
      readonly content: ReservationContent;
    }
  /** commitReservation -> `payment.committed` | `payment.failed{op:'commit'}`. */
  | {
      readonly type: 'payment.commit';
      readonly txId: string;
      readonly reference: string;
      readonly amount: Money;
    }
  /** Answer the request `requestId` (its handler waits for this). */
  | { readonly type: 'request.answer'; readonly requestId: string; readonly answer: RequestAnswer }
  /**
   * Make `entry` durable -> `ledger.recorded` | `ledger.failed`. The runtime writes entries in
   * effect order, and the effects after a `ledger.record` in the same step start only once it is
   * durable (they are skipped when it fails): a record authorises what follows it.
   */
  | { readonly type: 'ledger.record'; readonly entry: LedgerEntry }
  /** Pulse the slot's relay -> `dispense.finished` | `dispense.failed`. */
  | { readonly type: 'dispenser.dispense'; readonly txId: string; readonly slot: number }
  /** -> `printer.printed` | `printer.failed`. */
  | { readonly type: 'printer.print'; readonly txId: string; readonly receipt: Receipt }
  /** (Re)start the named timer to fire at `at` (epoch ms) -> `timer.expired{name, token}`. */
  | {
      readonly type: 'timer.start';
      readonly name: TimerName;
      readonly token: string;
      readonly at: number;
    }
  | { readonly type: 'timer.cancel'; readonly name: TimerName }
  | {
      readonly type: 'log';
      readonly level: LogLevel;
      readonly msg: string;
      readonly fields?: Readonly<Record<string, string | number | boolean>>;
    };

export type EffectType = Effect['type'];

/** What `step` returns: the next state and the effects to run, in order. */
export interface Transition {
  readonly state: State;
  readonly effects: readonly Effect[];
}
