import type { LedgerEntry } from '../ports/ledger.js';
import type { IssuedInvoice } from '../ports/payment-gateway.js';
import type { CoreConfig, ProductConfig } from './config.js';
import { isoFromEpochMs, refundRequest } from './documents.js';
import type { Effect, Purchase, RecoveredTransaction } from './types.js';

/** What start-up recovery does: effects to run now, and at most one open invoice to resolve. */
export interface RecoveryPlan {
  readonly effects: readonly Effect[];
  /** The newest invoice that was open (issued, no final status): cancel and confirm it first. */
  readonly resolve?: {
    readonly purchase: Purchase;
    readonly invoice: IssuedInvoice;
    readonly version: number;
  };
}

type Entry<T extends LedgerEntry['type']> = Extract<LedgerEntry, { type: T }>;

function find<T extends LedgerEntry['type']>(
  entries: readonly LedgerEntry[],
  type: T,
  where: (e: Entry<T>) => boolean = () => true,
): Entry<T> | undefined {
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i];
    if (e?.type === type && where(e as Entry<T>)) return e as Entry<T>;
  }
  return undefined;
}

/**
 * Decides, from the ledger alone, how each transaction left open by a crash or power cut ends
 * (invariants 2-4). The rules, by the last durable step:
 * - refund confirmed -> closed refunded; delivered -> closed sold; uncertain -> closed flagged;
 * - dispense.started without an outcome -> the relay may have pulsed: recorded uncertain and
 *   flagged, never dispensed again;
 * - PAID without a dispense, or not delivered, or a refund requested/failed -> refundPayment
 *   (again); without a payment reference -> flagged;
 * - issued without a final status -> the newest is resolved (cancel, then poll until final; a PAID
 *   answer there is a sale); older ones were superseded by it (one active invoice per terminal);
 * - final status seen, or never issued -> closed cancelled / failed.
 */
export function planRecovery(
  config: CoreConfig,
  transactions: readonly RecoveredTransaction[],
  at: number,
): RecoveryPlan {
  const effects: Effect[] = [];
  let resolve: RecoveryPlan['resolve'];
  const close = (txId: string, outcome: Entry<'tx.closed'>['outcome']): void => {
    effects.push({ type: 'ledger.record', entry: { type: 'tx.closed', txId, outcome } });
  };

  for (const { txId, entries } of transactions) {
    const requested = find(entries, 'invoice.requested');
    const issued = find(entries, 'invoice.issued');
    const paidSeen = find(entries, 'status.seen', (e) => e.status === 'PAID');
    const lastStatus = find(entries, 'status.seen');
    const started = find(entries, 'dispense.started');
    const finished = find(entries, 'dispense.finished');
    const refundAsked = find(entries, 'refund.requested');

    if (find(entries, 'refund.confirmed')) {
      close(txId, 'refunded');
    } else if (finished?.outcome === 'delivered') {
      close(txId, 'sold');
    } else if (finished?.outcome === 'uncertain') {
      close(txId, 'flagged');
    } else if (started && !finished) {
      effects.push(
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
          msg: 'dispense interrupted by a restart: outcome uncertain, flagged for the operator',
          fields: { txId },
        },
      );
      close(txId, 'flagged');
    } else if (paidSeen || refundAsked) {
      const ersReference = paidSeen?.ersReference;
      if (ersReference === undefined || requested === undefined) {
        effects.push({
          type: 'log',
          level: 'error',
          msg: 'paid transaction without payment reference: flagged for the operator',
          fields: { txId },
        });
        close(txId, 'flagged');
      } else {
        const purchase = recoveredPurchase(config, txId, requested);
        const request = refundRequest(config, purchase, {
          ersReference,
          paidAt: isoFromEpochMs(at),
        });
        if (!refundAsked)
          effects.push({
            type: 'ledger.record',
            entry: {
              type: 'refund.requested',
              txId,
              amount: request.amount,
              initiator: 'recovery',
            },
          });
        effects.push({ type: 'payment.refund', txId, request });
      }
    } else if (
      issued &&
      requested &&
      lastStatus?.status !== 'CANCELED' &&
      lastStatus?.status !== 'FAILED' &&
      lastStatus?.status !== 'EXPIRED'
    ) {
      if (resolve) close(resolve.purchase.txId, 'cancelled');
      resolve = {
        purchase: recoveredPurchase(config, txId, requested),
        invoice: {
          reference: issued.invoiceReference,
          qrPayload: `HTTP://SEQR.SE/R${issued.invoiceReference}`,
        },
        version: lastStatus?.version ?? 0,
      };
    } else {
      close(txId, lastStatus?.status === 'CANCELED' ? 'cancelled' : 'failed');
    }
  }
  return resolve ? { effects, resolve } : { effects };
}

/** The purchase as recorded (name and price as sold, even if the configuration changed since). */
function recoveredPurchase(
  config: CoreConfig,
  txId: string,
  requested: Entry<'invoice.requested'>,
): Purchase {
  const configured = config.products.find((p) => p.slot === requested.slot);
  const product: ProductConfig = {
    slot: requested.slot,
    buttonLabel: configured?.buttonLabel ?? String(requested.slot),
    name: requested.productName,
    price: requested.price,
    ...(configured?.taxRatePercent === undefined
      ? {}
      : { taxRatePercent: configured.taxRatePercent }),
  };
  return { txId, product };
}
