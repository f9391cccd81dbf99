import { invoiceQrPayload } from '../ports/payment-gateway.js';
import type { Failure } from '../errors.js';
import { customerMayStillBeThere, type CoreConfig, type ProductConfig } from './config.js';
import { receiptJob, refundJob } from './background.js';
import { isoFromEpochMs, receipt, receiptDocument } from './documents.js';
import { refundFactsOf, viewOf, type ClosedOutcome, type TransactionView } from './projection.js';
import { recoverReservation } from './reservation.js';
import type {
  Effect,
  Job,
  Purchase,
  RecoveredTransaction,
  RecoveryItem,
  ReceiptJob,
} from './types.js';

/**
 * What start-up recovery does: records and logs now, refunds and owed receipts as background
 * jobs (due now), and the items that need a purchase phase, in the order they run.
 */
export interface RecoveryPlan {
  readonly effects: readonly Effect[];
  readonly jobs: readonly Job[];
  readonly items: readonly RecoveryItem[];
}

/** How a dispense whose outcome is unknown (the relay may have pulsed) is settled. */
export type InterruptedDispense =
  /** The drop sensor's record: delivered. */
  | { readonly kind: 'delivered'; readonly effects: readonly Effect[] }
  /** Refunded (`dispense.onInterrupted: refund`): the caller adds the refund job. */
  | { readonly kind: 'refund'; readonly effects: readonly Effect[] }
  /** Flagged for the operator (`flag`): closed. */
  | { readonly kind: 'flagged'; readonly effects: readonly Effect[] };

/** Why the outcome of a dispense is unknown. */
export type InterruptedWhy =
  { readonly restart: true } | { readonly failure: Failure } | { readonly detail: string };

/**
 * What happens to a paid purchase whose dispense has no outcome: a restart while the relay ran
 * (`dispense.started` without `dispense.finished`), a relay fault, or no outcome within the
 * dispense deadline. It is never dispensed again (invariant 2). A drop the sensor recorded
 * (`dispense.dropped`) settles it as delivered; otherwise the outcome is recorded uncertain and
 * the operator's policy decides ({@link CoreConfig.onInterruptedDispense}): refund the customer
 * at once, or flag it for the operator. The one place this is decided, for recovery and for a
 * live purchase.
 */
export function interruptedDispense(
  config: CoreConfig,
  tx: {
    readonly txId: string;
    readonly slot: number;
    readonly ersReference: string | undefined;
    readonly dropped: boolean;
  },
  why: InterruptedWhy,
): InterruptedDispense {
  const { txId } = tx;
  const cause =
    'restart' in why
      ? { detail: 'restarted during the dispense' }
      : 'failure' in why
        ? { failure: why.failure }
        : { detail: why.detail };
  const code = 'restart' in why ? 'E_DISPENSE_INTERRUPTED' : 'E_DISPENSER_FAULT';
  const fields = {
    txId,
    slot: tx.slot,
    ersReference: tx.ersReference ?? '',
    ...('failure' in why ? failureLog(why.failure) : {}),
    code,
  };
  if (tx.dropped)
    return {
      kind: 'delivered',
      effects: [
        {
          type: 'ledger.record',
          entry: {
            type: 'dispense.finished',
            txId,
            outcome: 'delivered',
            detail:
              'restart' in why
                ? 'the drop sensor saw it fall before the restart'
                : 'the drop sensor saw it fall',
            ...('failure' in why ? { failure: why.failure } : {}),
          },
        },
        {
          type: 'log',
          level: 'warn',
          msg: 'dispense interrupted after the drop sensor saw the product fall: delivered',
          fields,
        },
      ],
    };
  const uncertain: Effect = {
    type: 'ledger.record',
    entry: { type: 'dispense.finished', txId, outcome: 'uncertain', ...cause },
  };
  if (config.onInterruptedDispense === 'refund')
    return {
      kind: 'refund',
      effects: [
        uncertain,
        {
          type: 'log',
          level: 'error',
          msg: 'dispense outcome unknown: never dispensed again, refunded (dispense.onInterrupted: refund)',
          fields,
        },
      ],
    };
  return {
    kind: 'flagged',
    effects: [
      uncertain,
      {
        type: 'log',
        level: 'error',
        msg: 'dispense outcome unknown: never dispensed again, flagged for the operator (dispense.onInterrupted: flag)',
        fields,
      },
      closeTx(txId, 'flagged'),
    ],
  };
}

/** A failure as log fields beside the line's own `code`: its code as `failure`, its details. */
function failureLog(f: Failure): Readonly<Record<string, string | number>> {
  const { code: failure, ...detail } = f;
  return { ...detail, failure };
}

const closeTx = (txId: string, outcome: ClosedOutcome): Effect => ({
  type: 'ledger.record',
  entry: { type: 'tx.closed', txId, outcome },
});

/** The receipt job a sale owes, rebuilt from the ledger (undefined when nothing is owed). */
export function owedReceipt(
  config: CoreConfig,
  view: TransactionView,
  at: number,
): ReceiptJob | undefined {
  const { ersReference, invoiceReference, paidAt } = view;
  if (view.receiptSubmitted || view.receiptRefused) return undefined;
  if (ersReference === undefined || ersReference === '' || invoiceReference === undefined)
    return undefined;
  const paid = { ersReference, paidAt: isoFromEpochMs(paidAt ?? view.openedAt) };
  const document = receiptDocument(
    receipt(config, recoveredPurchase(config, view), invoiceReference, paid),
  );
  return receiptJob(view.txId, ersReference, document, at, view.receiptSubmitAttempts ?? 0);
}

const FINAL = new Set(['CANCELED', 'FAILED', 'EXPIRED']);

/**
 * Decides, from the ledger alone, how each transaction left open by a crash or power cut ends
 * (invariants 2-4), and which sales still owe SEQR their receipt. The rules, by the last durable
 * step:
 * - refund confirmed -> closed refunded (flagged when only inferred from a 98 answer);
 * - delivered -> closed sold (its receipt owed unless SEQR has it); uncertain -> refunded or
 *   flagged, by `dispense.onInterrupted`;
 * - `dispense.started` without an outcome -> {@link interruptedDispense};
 * - not delivered, or a refund requested / failed -> a refund job, decided by the refund rules;
 * - PAID recorded, nothing dispensed -> dispensed when {@link customerMayStillBeThere}, else
 *   refunded;
 * - issued without a final status -> resolved with SEQR like a live cancel (cancel, poll until a
 *   confirmed final status; a PAID answer there follows the same customer rule); every such
 *   invoice, one at a time, newest first (the newest is the one a customer may be paying);
 * - final status recorded -> closed cancelled / failed;
 * - requested but never issued -> nobody could pay it: closed failed (if SEQR did create it, the
 *   next sendInvoice cancels it: one active invoice per terminal).
 * - a reservation (pay first, then choose): daemon/core/reservation.ts `recoverReservation`.
 * Items run paid dispenses first (a customer may be waiting), then reservations (before they
 * lapse), then the invoices to resolve.
 */
export function planRecovery(
  config: CoreConfig,
  transactions: readonly RecoveredTransaction[],
  at: number,
  receiptsOwed: readonly RecoveredTransaction[] = [],
): RecoveryPlan {
  const effects: Effect[] = [];
  const jobs: Job[] = [];
  const dispenses: RecoveryItem[] = [];
  const reservations: RecoveryItem[] = [];
  const resolves: RecoveryItem[] = [];
  const refund = (view: TransactionView): void => {
    jobs.push(refundJob(view.txId, view.productName, refundFactsOf(view), at, 'recovery'));
  };
  const owed = (view: TransactionView): void => {
    const job = owedReceipt(config, view, at);
    if (job) jobs.push(job);
  };
  for (const { txId, entries } of receiptsOwed) {
    const view = viewOf(entries);
    if (view?.closed === 'sold') owed(view);
    else
      effects.push({
        type: 'log',
        level: 'error',
        msg: 'sale with invalid steps: its receipt is not sent',
        fields: { txId, code: 'E_LEDGER_CORRUPT' },
      });
  }

  for (const { txId, entries } of transactions) {
    const view = viewOf(entries);
    if (!view) {
      effects.push({
        type: 'log',
        level: 'error',
        msg: 'open transaction with invalid steps: left open for the operator',
        fields: { txId, code: 'E_LEDGER_CORRUPT' },
      });
      continue;
    }
    if (view.reservation && view.refund !== 'confirmed') {
      const plan = recoverReservation(config, view);
      effects.push(...plan.effects);
      if (plan.item) reservations.push({ kind: 'reservation', reservation: plan.item });
      if (plan.refund) refund(view);
      continue;
    }
    const reference = view.invoiceReference;
    if (view.refund === 'confirmed') {
      effects.push(closeTx(txId, view.refundInferred ? 'flagged' : 'refunded'));
    } else if (view.dispense === 'delivered') {
      effects.push(closeTx(txId, 'sold'));
      owed(view);
    } else if (
      view.dispense === 'uncertain' &&
      (view.refund !== 'none' || config.onInterruptedDispense === 'refund')
    ) {
      // The policy refunds an unknown outcome; a refund already under way goes on either way.
      refund(view);
    } else if (view.dispense === 'uncertain') {
      effects.push(
        {
          type: 'log',
          level: 'error',
          msg: 'dispense outcome uncertain: flagged for the operator',
          fields: { txId, code: 'E_DISPENSER_FAULT', ersReference: view.ersReference ?? '' },
        },
        closeTx(txId, 'flagged'),
      );
    } else if (view.dispense === 'started') {
      const settled = interruptedDispense(
        config,
        {
          txId,
          slot: view.slot,
          ersReference: view.ersReference,
          dropped: view.dropped === true,
        },
        { restart: true },
      );
      effects.push(...settled.effects);
      if (settled.kind === 'refund') refund(view);
      if (settled.kind === 'delivered') {
        effects.push(closeTx(txId, 'sold'));
        owed(view);
      }
    } else if (view.dispense === 'notDelivered' || view.refund !== 'none') {
      refund(view);
    } else if (view.status === 'PAID') {
      const paidAt = view.paidAt ?? view.updatedAt;
      if (
        reference !== undefined &&
        view.ersReference !== undefined &&
        customerMayStillBeThere(config, paidAt, at)
      )
        dispenses.push({
          kind: 'dispense',
          purchase: recoveredPurchase(config, view),
          invoice: { reference, qrPayload: invoiceQrPayload(reference) },
          paid: { ersReference: view.ersReference, paidAt: isoFromEpochMs(paidAt) },
        });
      else {
        effects.push({
          type: 'log',
          level: 'info',
          msg: 'paid before the restart, the customer may be gone: refunding instead of dispensing',
          fields: { txId, paidSecondsAgo: Math.round((at - paidAt) / 1000) },
        });
        refund(view);
      }
    } else if (reference !== undefined && !FINAL.has(view.status ?? 'ISSUED')) {
      resolves.unshift({
        kind: 'resolve',
        purchase: recoveredPurchase(config, view),
        invoice: { reference, qrPayload: invoiceQrPayload(reference) },
        version: view.statusVersion ?? 0,
        status: view.status ?? 'ISSUED',
        openedAt: view.openedAt,
        updatedAt: view.updatedAt,
      });
    } else if (reference === undefined) {
      effects.push(closeTx(txId, 'failed'));
    } else {
      effects.push(closeTx(txId, view.status === 'CANCELED' ? 'cancelled' : 'failed'));
    }
  }
  return { effects, jobs, items: [...dispenses, ...reservations, ...resolves] };
}

/** The purchase as recorded (name and price as sold, even if the configuration changed since). */
function recoveredPurchase(config: CoreConfig, view: TransactionView): Purchase {
  const configured = config.products.find((p) => p.slot === view.slot);
  const product: ProductConfig = {
    slot: view.slot,
    buttonLabel: configured?.buttonLabel ?? String(view.slot),
    name: view.productName,
    price: view.price,
    ...(configured?.taxRatePercent === undefined
      ? {}
      : { taxRatePercent: configured.taxRatePercent }),
  };
  return {
    txId: view.txId,
    product,
    ...(view.probe ? { probe: { reason: 'starting' as const, failures: 0 } } : {}),
  };
}
