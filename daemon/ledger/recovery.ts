import { VendError } from '../errors.js';
import type { Clock } from '../ports/clock.js';
import type { Dispenser } from '../ports/dispenser.js';
import type { Ledger, LedgerEntry } from '../ports/ledger.js';
import type { InvoiceStatus, PaymentGateway, PaymentStatus } from '../ports/payment-gateway.js';
import type { ClosedOutcome, TransactionView } from './projection.js';
import { attemptRefund, viewOf, type OpsLogger } from './refunds.js';

export interface RecoveryOptions {
  readonly ledger: Ledger;
  readonly gateway: PaymentGateway;
  readonly dispenser: Dispenser;
  readonly clock: Clock;
  readonly logger: OpsLogger;
  /** SEQR cashierId on refunds (the machine name). */
  readonly cashierId: string;
  /**
   * A payment younger than this (from SEQR's payment time, else from when PAID was recorded) is
   * still dispensed: the customer may be standing at the machine. Older ones are refunded.
   * Default 120 s.
   */
  readonly maxCustomerAgeMs?: number;
  /** How long one open invoice may take to reach a final status. Default 60 s. */
  readonly resolveBoundMs?: number;
  /** Status poll period while resolving. Default 1 s (SEQR's rule). */
  readonly pollIntervalMs?: number;
}

/** What recovery did, per transaction id, for the start-up log line. */
export interface RecoverySummary {
  readonly examined: number;
  readonly closed: Readonly<Partial<Record<ClosedOutcome, readonly string[]>>>;
  /** Paid during the outage and dispensed now. */
  readonly dispensed: readonly string[];
  readonly refunded: readonly string[];
  readonly flagged: readonly string[];
  /** Refunds that failed and are left open for the {@link RefundWorker}. */
  readonly refundPending: readonly string[];
  /** Open invoices SEQR did not bring to a final status within the bound: still open. */
  readonly unresolved: readonly string[];
  readonly notes: readonly string[];
}

const FINAL: ReadonlySet<InvoiceStatus> = new Set(['CANCELED', 'FAILED', 'EXPIRED', 'PAID']);

/**
 * Start-up recovery, run before the idle screen: every transaction a crash or power cut left
 * open is brought to an end with SEQR, by its last durable step (DESIGN.md invariants 1-4):
 *
 * - refund confirmed -> closed `refunded` (`flagged` when only inferred from a 98 answer);
 * - delivered -> closed `sold`; uncertain -> closed `flagged`;
 * - `dispense.started` without an outcome -> the relay may have pulsed: NEVER dispensed again;
 *   recorded `uncertain`, logged at error level (`E_DISPENSE_INTERRUPTED`), closed `flagged`;
 * - not delivered, or a refund requested / failed -> refunded via {@link attemptRefund} (safe to
 *   retry, see there); a refund that fails again stays open for the RefundWorker;
 * - PAID recorded, nothing dispensed -> dispensed when the payment is younger than
 *   `maxCustomerAgeMs`, else refunded;
 * - invoice issued without a final status -> resolved with SEQR: a status poll first (it also
 *   commits a payment made during the outage); ISSUED / PENDING / RESERVED -> cancelInvoice, then
 *   polled each `pollIntervalMs` until final (an answer of "in progress" keeps polling) within
 *   `resolveBoundMs`; PAID -> as above; CANCELED / EXPIRED -> `cancelled`; FAILED or unknown to
 *   SEQR (54) -> `failed`. Not final in time -> left open, `E_RECOVERY_UNRESOLVED`;
 * - `invoice.requested` without `invoice.issued` -> nothing was shown to a customer, so nobody
 *   can pay it: closed `failed`. If SEQR did create it, the next sendInvoice cancels it (one
 *   active invoice per terminal).
 *
 * Every step is recorded before the effect it authorises (PAID before the relay,
 * `dispense.started` before `dispense`, `cancel.requested` before cancelInvoice,
 * `refund.requested` before refundPayment). A ledger failure rejects the whole recovery: the
 * daemon must not trade without a record.
 */
export async function recover(options: RecoveryOptions): Promise<RecoverySummary> {
  const { ledger, gateway, dispenser, clock, logger } = options;
  const maxAge = options.maxCustomerAgeMs ?? 120_000;
  const bound = options.resolveBoundMs ?? 60_000;
  const pollMs = options.pollIntervalMs ?? 1_000;
  const closed: Partial<Record<ClosedOutcome, string[]>> = {};
  const dispensed: string[] = [];
  const refunded: string[] = [];
  const flagged: string[] = [];
  const refundPending: string[] = [];
  const unresolved: string[] = [];
  const notes: string[] = [];

  const record = (entry: LedgerEntry): Promise<void> => ledger.record(entry, clock.now());
  const close = async (txId: string, outcome: ClosedOutcome): Promise<void> => {
    await record({ type: 'tx.closed', txId, outcome });
    (closed[outcome] ??= []).push(txId);
    if (outcome === 'flagged') flagged.push(txId);
  };
  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      clock.setTimeout(resolve, ms);
    });

  async function refund(view: TransactionView, reason: string): Promise<void> {
    const outcome = await attemptRefund(options, view, 'recovery', reason);
    switch (outcome.kind) {
      case 'confirmed':
      case 'nothing':
        refunded.push(view.txId);
        await close(view.txId, 'refunded');
        break;
      case 'confirmedBy98':
        refunded.push(view.txId);
        await close(view.txId, 'flagged');
        break;
      case 'flag':
        await close(view.txId, 'flagged');
        break;
      case 'failed':
        refundPending.push(view.txId);
        break;
    }
  }

  /** A PAID payment with nothing dispensed yet. */
  async function settlePaid(view: TransactionView, paidAtMs: number): Promise<void> {
    const { txId, slot } = view;
    if (view.ersReference === undefined) {
      logger.error({ code: 'E_REFUND_FAILED', txId }, 'paid without a payment reference: flagged');
      await close(txId, 'flagged');
      return;
    }
    const age = clock.now() - paidAtMs;
    if (age >= maxAge) {
      notes.push(`${txId}: paid ${Math.round(age / 1000)} s ago, customer gone: refunded`);
      await refund(view, 'not delivered');
      return;
    }
    await record({ type: 'dispense.started', txId, slot });
    let outcome: 'delivered' | 'notDelivered' | 'uncertain';
    let detail: string | undefined;
    try {
      const result = await dispenser.dispense(slot);
      outcome = result.outcome;
      if (result.outcome === 'notDelivered') detail = result.reason;
    } catch (err) {
      outcome = 'uncertain';
      detail = err instanceof VendError ? err.code : 'dispense failed';
      logger.error(
        { code: 'E_DISPENSER_FAULT', txId, slot, err },
        'dispense during recovery failed: outcome uncertain, flagged for the operator',
      );
    }
    await record({
      type: 'dispense.finished',
      txId,
      outcome,
      ...(detail === undefined ? {} : { detail }),
    });
    if (outcome === 'delivered') {
      dispensed.push(txId);
      await close(txId, 'sold');
    } else if (outcome === 'uncertain') {
      await close(txId, 'flagged');
    } else {
      await refund(
        { ...view, dispense: 'notDelivered' },
        detail === 'soldOut' ? 'sold out' : 'not delivered',
      );
    }
  }

  /** Brings an issued invoice to a final status (and a PAID one to its end), or leaves it open. */
  async function resolveInvoice(view: TransactionView, reference: string): Promise<void> {
    const { txId } = view;
    const deadline = clock.now() + bound;
    let version = view.statusVersion ?? 0;
    let last: InvoiceStatus | undefined = view.status;
    let cancel: 'none' | 'sent' | 'paying' | 'failed' = 'none';
    let cancelRecorded = view.cancelRequested;
    for (;;) {
      let answer: PaymentStatus | undefined;
      try {
        answer = await gateway.getStatus(reference, version);
      } catch (err) {
        if (err instanceof VendError && 'resultCode' in err && err.resultCode === 54) {
          notes.push(`${txId}: invoice ${reference} unknown to SEQR`);
          await close(txId, 'failed');
          return;
        }
        logger.warn({ txId, err }, 'status poll during recovery failed');
      }
      if (answer) {
        if (answer.status !== last || answer.version !== version || answer.status === 'PAID') {
          await record({
            type: 'status.seen',
            txId,
            status: answer.status,
            version: answer.version,
            ...(answer.ersReference === undefined ? {} : { ersReference: answer.ersReference }),
          });
        }
        version = answer.version;
        last = answer.status;
        if (answer.status === 'PAID') {
          const paidAt = answer.paidAt === undefined ? Number.NaN : Date.parse(answer.paidAt);
          const seenAt = clock.now();
          const paidView: TransactionView = {
            ...view,
            status: 'PAID',
            paidAt: seenAt,
            ...(answer.ersReference === undefined ? {} : { ersReference: answer.ersReference }),
          };
          await settlePaid(paidView, Number.isFinite(paidAt) ? Math.min(paidAt, seenAt) : seenAt);
          return;
        }
        if (FINAL.has(answer.status)) {
          await close(txId, answer.status === 'FAILED' ? 'failed' : 'cancelled');
          return;
        }
        // Re-sent while SEQR says the customer is paying or the call failed: an abandoned
        // payment must still end cancelled.
        if (cancel !== 'sent') {
          if (!cancelRecorded) {
            await record({ type: 'cancel.requested', txId });
            cancelRecorded = true;
          }
          try {
            const result = await gateway.cancelInvoice(reference);
            cancel = result === 'inProgress' ? 'paying' : 'sent';
          } catch (err) {
            cancel = 'failed';
            logger.warn({ txId, err }, 'cancel during recovery failed');
          }
          // Confirm at once: a cancel is only done when a status poll says so.
          if (cancel === 'sent') continue;
        }
      }
      if (clock.now() + pollMs > deadline) {
        unresolved.push(txId);
        logger.error(
          { code: 'E_RECOVERY_UNRESOLVED', txId, invoiceReference: reference, status: last },
          'open invoice not resolved with SEQR at start; it stays open',
        );
        return;
      }
      await sleep(pollMs);
    }
  }

  const open = await ledger.openTransactions();
  for (const [txId, entries] of open) {
    const view = viewOf(entries);
    if (!view) {
      logger.error({ code: 'E_LEDGER_CORRUPT', txId }, 'open transaction with invalid steps');
      flagged.push(txId);
      continue;
    }
    if (view.refund === 'confirmed') {
      await close(txId, view.refundInferred ? 'flagged' : 'refunded');
    } else if (view.dispense === 'delivered') {
      await close(txId, 'sold');
    } else if (view.dispense === 'uncertain') {
      logger.error(
        { code: 'E_DISPENSER_FAULT', txId, ersReference: view.ersReference },
        'dispense outcome uncertain: flagged for the operator',
      );
      await close(txId, 'flagged');
    } else if (view.dispense === 'started') {
      await record({
        type: 'dispense.finished',
        txId,
        outcome: 'uncertain',
        detail: 'restarted during the dispense',
      });
      logger.error(
        { code: 'E_DISPENSE_INTERRUPTED', txId, slot: view.slot, ersReference: view.ersReference },
        'dispense interrupted by a restart: never dispensed again, flagged for the operator',
      );
      await close(txId, 'flagged');
    } else if (view.dispense === 'notDelivered' || view.refund !== 'none') {
      await refund(view, 'not delivered');
    } else if (view.status === 'PAID') {
      await settlePaid(view, view.paidAt ?? 0);
    } else if (view.invoiceReference !== undefined && !FINAL.has(view.status ?? 'ISSUED')) {
      await resolveInvoice(view, view.invoiceReference);
    } else if (view.invoiceReference === undefined) {
      notes.push(
        `${txId}: invoice requested but never issued; SEQR cancels it with the next invoice`,
      );
      await close(txId, 'failed');
    } else {
      await close(txId, view.status === 'FAILED' ? 'failed' : 'cancelled');
    }
  }
  return {
    examined: open.size,
    closed,
    dispensed,
    refunded,
    flagged,
    refundPending,
    unresolved,
    notes,
  };
}
