import { invoiceQrPayload } from '../ports/payment-gateway.js';
import { customerMayStillBeThere, type CoreConfig, type ProductConfig } from './config.js';
import { refundJob } from './background.js';
import { isoFromEpochMs } from './documents.js';
import { refundFactsOf, viewOf, type ClosedOutcome, type TransactionView } from './projection.js';
import type { Effect, Purchase, RecoveredTransaction, RecoveryItem, RefundJob } from './types.js';

/**
 * What start-up recovery does: records and logs now, refunds as background jobs (due now), and
 * the items that need a purchase phase, in the order they run.
 */
export interface RecoveryPlan {
  readonly effects: readonly Effect[];
  readonly refunds: readonly RefundJob[];
  readonly items: readonly RecoveryItem[];
}

/**
 * What happens to a dispense a restart interrupted (`dispense.started` without an outcome): the
 * relay may have pulsed, so it is recorded uncertain and never dispensed again. Flagged for the
 * operator; the one place a policy for it (flag or refund) would decide.
 */
function interruptedDispense(view: TransactionView): Effect[] {
  const { txId } = view;
  return [
    {
      type: 'ledger.record',
      entry: {
        type: 'dispense.finished',
        txId,
        outcome: 'uncertain',
        detail: 'restarted during the dispense',
      },
    },
    {
      type: 'log',
      level: 'error',
      msg: 'dispense interrupted by a restart: never dispensed again, flagged for the operator',
      fields: {
        txId,
        code: 'E_DISPENSE_INTERRUPTED',
        slot: view.slot,
        ersReference: view.ersReference ?? '',
      },
    },
    closeTx(txId, 'flagged'),
  ];
}

const closeTx = (txId: string, outcome: ClosedOutcome): Effect => ({
  type: 'ledger.record',
  entry: { type: 'tx.closed', txId, outcome },
});

const FINAL = new Set(['CANCELED', 'FAILED', 'EXPIRED']);

/**
 * Decides, from the ledger alone, how each transaction left open by a crash or power cut ends
 * (invariants 2-4). The rules, by the last durable step:
 * - refund confirmed -> closed refunded (flagged when only inferred from a 98 answer);
 * - delivered -> closed sold; uncertain -> closed flagged;
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
 * Items run paid dispenses first (a customer may be waiting), then the invoices to resolve.
 */
export function planRecovery(
  config: CoreConfig,
  transactions: readonly RecoveredTransaction[],
  at: number,
): RecoveryPlan {
  const effects: Effect[] = [];
  const refunds: RefundJob[] = [];
  const dispenses: RecoveryItem[] = [];
  const resolves: RecoveryItem[] = [];
  const refund = (view: TransactionView): void => {
    refunds.push(refundJob(view.txId, view.productName, refundFactsOf(view), at, 'recovery'));
  };

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
    const reference = view.invoiceReference;
    if (view.refund === 'confirmed') {
      effects.push(closeTx(txId, view.refundInferred ? 'flagged' : 'refunded'));
    } else if (view.dispense === 'delivered') {
      effects.push(closeTx(txId, 'sold'));
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
      effects.push(...interruptedDispense(view));
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
      });
    } else if (reference === undefined) {
      effects.push(closeTx(txId, 'failed'));
    } else {
      effects.push(closeTx(txId, view.status === 'CANCELED' ? 'cancelled' : 'failed'));
    }
  }
  return { effects, refunds, items: [...dispenses, ...resolves] };
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
  return { txId: view.txId, product };
}
