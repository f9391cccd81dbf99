/**
 * The daemon's implementation of the {@link FleetMachine} port, over the running daemon's parts:
 * its status, the core's sold-out slots, the dispenser's stock, the ledger (outbox, attention
 * counts, last reconciliation), the catalogue, the end-of-day run and operator refunds.
 * The composition root builds it.
 */
import { pendingItems } from '../cli/ledger-commands.js';
import { VendError } from '../errors.js';
import type { PeriodRecord, SqliteLedger } from '../ledger/sqlite-ledger.js';
import { foldRefund } from '../core/projection.js';
import {
  closingAfterRefund,
  refundAnswered,
  refundDecision,
  type RefundAnswer,
} from '../core/refunds.js';
import { failureOf } from '../errors.js';
import type { OpsLogger } from '../ledger/end-of-day.js';
import type { LedgerEntry } from '../ports/ledger.js';
import type { PaymentGateway } from '../ports/payment-gateway.js';
import type { Clock } from '../ports/clock.js';
import type { Catalog } from './catalog.js';
import type { FleetMachine, MachineSnapshot, SlotView } from './port.js';

/** The part of the daemon's `status()` the fleet reads. */
export interface DaemonStatus {
  readonly mode: 'demo' | 'production';
  readonly machine: string;
  readonly state: string;
  readonly status: string;
  readonly transaction?: {
    readonly txId: string;
    readonly slot: number;
    readonly product: string;
    readonly invoiceReference?: string;
  };
  readonly seqr: {
    readonly reachable: boolean | null;
    readonly lastRoundTripMs: number | null;
    readonly lastError: string | null;
  };
  readonly printer: string;
  readonly today: {
    readonly sales: number;
    readonly totalMinor: number;
    readonly currency: string;
  };
  readonly pending: number;
}

export interface DaemonMachineDeps {
  readonly status: () => Promise<DaemonStatus>;
  /** Everything `seqr-vend status --json` shows (for the `status` command). */
  readonly fullStatus: () => Promise<unknown>;
  readonly soldOut: () => readonly number[];
  readonly stock: (slot: number) => number | undefined;
  /** Subscribes to the core's transitions; `closed` is true when a transaction was closed. */
  readonly onTransition: (listener: (closed: boolean) => void) => () => void;
  readonly ledger: SqliteLedger;
  readonly catalog: Catalog;
  /**
   * The selling side (the core, through the runtime), told of a change once it is stored:
   * the catalogue, maintenance mode, a slot's refill.
   */
  readonly live: {
    readonly catalog: (products: Catalog['products'] extends () => infer P ? P : never) => void;
    readonly maintenance: (on: boolean) => void;
    readonly refill: (slot: number, count: number) => void;
  };
  readonly currency: string;
  /** The SEQR terminal, for the last reconciliation period. */
  readonly terminalId: string;
  /** Closes the reconciliation period now; absent without a reseller credential. */
  readonly endOfDay?: () => Promise<PeriodRecord>;
  /** Operator refunds: SEQR's refund call, the journal, the cashier id on the refund. */
  readonly refunds: {
    readonly gateway: Pick<PaymentGateway, 'refund'>;
    readonly logger: OpsLogger;
    readonly cashierId: string;
  };
  readonly clock: Clock;
  readonly startedAt: number;
  /** How far back flagged purchases and unconfirmed refunds are counted. Default 90 days. */
  readonly attentionWindowMs?: number;
}

/** How long the attention counts (a ledger scan) are reused when nothing closed. */
const ATTENTION_TTL_MS = 60_000;

export function createDaemonMachine(deps: DaemonMachineDeps): FleetMachine {
  const { ledger, catalog, clock } = deps;
  const changeListeners = new Set<() => void>();
  const saleListeners = new Set<() => void>();
  let attention: { at: number; flagged: number; refunds: number } | undefined;

  deps.onTransition((closed) => {
    if (closed) {
      attention = undefined;
      for (const l of [...saleListeners]) l();
    }
    for (const l of [...changeListeners]) l();
  });

  const attentionCounts = (): { flagged: number; refunds: number } => {
    const now = clock.now();
    if (attention && now - attention.at < ATTENTION_TTL_MS) return attention;
    const items = pendingItems(
      ledger.transactions({ since: now - (deps.attentionWindowMs ?? 90 * 86_400_000) }),
    );
    attention = {
      at: now,
      flagged: items.filter((i) => i.kind === 'flagged' || i.kind === 'uncertain dispense').length,
      refunds: items.filter((i) => i.kind === 'refund unconfirmed').length,
    };
    return attention;
  };

  const slotViews = (): SlotView[] => {
    const soldOut = new Set(deps.soldOut());
    return catalog.products().map((p) => {
      const stock = deps.stock(p.slot);
      return {
        slot: p.slot,
        name: p.name,
        price: { minor: p.priceMinor, currency: deps.currency },
        enabled: p.enabled,
        stock: stock ?? null,
        soldOut: soldOut.has(p.slot) || stock === 0,
      };
    });
  };

  const slotView = (slot: number): SlotView => {
    const view = slotViews().find((s) => s.slot === slot);
    if (!view) throw new VendError('E_FLEET_COMMAND_REFUSED', `slot ${slot} is not configured`);
    return view;
  };

  const notifyChange = (): void => {
    for (const l of [...changeListeners]) l();
  };

  return {
    async snapshot(): Promise<MachineSnapshot> {
      const s = await deps.status();
      const counts = attentionCounts();
      const period = ledger.lastPeriod(deps.terminalId);
      return {
        name: s.machine,
        mode: s.mode,
        state: s.state,
        status: s.status,
        purchase: s.transaction ?? null,
        seqr: {
          reachable: s.seqr.reachable,
          lastRoundTripMs: s.seqr.lastRoundTripMs,
          lastError: s.seqr.lastError,
        },
        printer: s.printer,
        slots: slotViews(),
        today: s.today,
        pending: s.pending,
        flagged: counts.flagged,
        refundsUnconfirmed: counts.refunds,
        reconciliation:
          period?.matched === undefined
            ? null
            : { periodId: period.periodId, matched: period.matched },
        maintenance: catalog.maintenance,
        startedAt: deps.startedAt,
      };
    },
    onChange(listener) {
      changeListeners.add(listener);
      return () => changeListeners.delete(listener);
    },
    onSale(listener) {
      saleListeners.add(listener);
      return () => saleListeners.delete(listener);
    },
    outbox: {
      next: (afterSeq, limit) => ledger.outbox(afterSeq, limit),
      acknowledge: (seqs) => {
        ledger.acknowledgeOutbox(seqs);
      },
      backlog: () => ledger.outboxBacklog(),
    },
    commands: {
      async setProduct(slot, change) {
        await catalog.change(slot, change);
        deps.live.catalog(catalog.products());
        notifyChange();
        return { slot: slotView(slot), effective: 'now' };
      },
      async refill(slot, stock) {
        await catalog.refill(slot, stock, clock.now());
        deps.live.refill(slot, stock);
        notifyChange();
        return { slot: slotView(slot), effective: 'now' };
      },
      async setMaintenance(on) {
        await catalog.setMaintenance(on);
        deps.live.maintenance(on);
        notifyChange();
        return { maintenance: on, effective: 'now' };
      },
      async runEndOfDay() {
        if (!deps.endOfDay)
          throw new VendError(
            'E_FLEET_COMMAND_REFUSED',
            'end-of-day reports need the reseller user (seqr.reseller and its credential)',
          );
        const period = await deps.endOfDay();
        notifyChange();
        return { periodId: period.periodId, matched: period.matched ?? null, state: period.state };
      },
      async refundFlagged(txId, amountMinor) {
        const view = ledger.transaction(txId);
        if (!view)
          throw new VendError('E_FLEET_COMMAND_REFUSED', `no purchase ${txId} in the ledger`);
        if (view.closed !== 'flagged')
          throw new VendError(
            'E_FLEET_COMMAND_REFUSED',
            `only a flagged purchase can be refunded remotely; ${txId} is ${view.closed ?? 'still open'}`,
          );
        // The core's refund rules decide (at most what is left, never twice); this carries them
        // out and records them, as `seqr-vend refund` does.
        const decision = refundDecision(view, {
          ...(amountMinor === undefined ? {} : { amountMinor }),
          operator: true,
        });
        if (decision.kind === 'nothing')
          throw new VendError('E_FLEET_COMMAND_REFUSED', `${txId} is already refunded in full`);
        if (decision.kind === 'flag')
          throw new VendError('E_FLEET_COMMAND_REFUSED', `refund not sent: ${decision.reason}`);
        const requested: Extract<LedgerEntry, { type: 'refund.requested' }> = {
          type: 'refund.requested',
          txId,
          amount: decision.amount,
          initiator: 'operator',
        };
        await ledger.record(requested, clock.now());
        const { gateway, logger, cashierId } = deps.refunds;
        const answer: RefundAnswer = await gateway
          .refund({
            ersReference: view.ersReference ?? '',
            amount: decision.amount,
            title: `Refund: ${view.productName} (operator refund)`,
            cashierId,
          })
          .then(
            ({ refundReference }) => ({ ok: true as const, refundReference }),
            (err: unknown) => ({ ok: false as const, failure: failureOf(err) }),
          );
        const at = clock.now();
        const before = foldRefund(view, requested, at);
        const { result, entries, facts } = refundAnswered(txId, before, decision, answer, at, true);
        for (const entry of entries) await ledger.record(entry, at);
        const closing = closingAfterRefund(result, facts, true);
        if (closing !== undefined && closing !== view.closed)
          await ledger.record({ type: 'tx.closed', txId, outcome: closing }, at);
        attention = undefined;
        notifyChange();
        for (const l of [...saleListeners]) l();
        switch (result.kind) {
          case 'confirmed':
          case 'inferred':
            logger.info(
              { txId, ersReference: view.ersReference, result: result.kind },
              'refund confirmed',
            );
            return {
              txId,
              refundedMinor: facts.refundedMinor,
              refundReference: result.kind === 'confirmed' ? result.refundReference : '',
              outcome: result.kind,
            };
          case 'failed':
            logger.error(
              {
                code: 'E_REFUND_FAILED',
                txId,
                ersReference: view.ersReference,
                failure: result.failure.code,
              },
              'refund not confirmed',
            );
            throw new VendError(
              'E_REFUND_FAILED',
              `refund not confirmed by SEQR (${result.failure.code})${result.retry ? '; send it again later' : ''}`,
            );
        }
      },
      fullStatus: () => deps.fullStatus(),
    },
  };
}
