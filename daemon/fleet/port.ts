import type { SaleEvent } from '../ledger/outbox.js';
import type { Money } from '../ports/money.js';

/** One slot as the machine sells it now (configuration file + remote changes). */
export interface SlotView {
  readonly slot: number;
  readonly name: string;
  readonly price: Money;
  readonly enabled: boolean;
  /** Items left, where the machine counts them; null = not tracked. */
  readonly stock: number | null;
  readonly soldOut: boolean;
}

/**
 * The live facts of one machine: those `seqr-vend status` shows, in the fleet's terms. No secret
 * ever appears here (it is published to the broker).
 */
export interface MachineSnapshot {
  readonly name: string;
  readonly mode: 'demo' | 'production';
  /** The core's phase (`idle`, `awaitingPayment`, `outOfService`, ...). */
  readonly state: string;
  /** The one-line status (`systemctl status`). */
  readonly status: string;
  readonly purchase: {
    readonly txId: string;
    readonly slot: number;
    readonly product: string;
    readonly invoiceReference?: string;
  } | null;
  readonly seqr: {
    readonly reachable: boolean | null;
    readonly lastRoundTripMs: number | null;
    readonly lastError: string | null;
  };
  /** The printer's state (`ready`, `paperOut`, ...) or the error code of asking it. */
  readonly printer: string;
  readonly slots: readonly SlotView[];
  readonly today: {
    readonly sales: number;
    readonly totalMinor: number;
    readonly currency: string;
  };
  /** Open transactions (what recovery or the refund worker still owns). */
  readonly pending: number;
  /** Paid purchases the operator must settle (flagged, uncertain dispense). */
  readonly flagged: number;
  /** Refunds SEQR has not confirmed yet. */
  readonly refundsUnconfirmed: number;
  /** The last end-of-day comparison: null when none ran. */
  readonly reconciliation: { readonly periodId: string; readonly matched: boolean } | null;
  readonly maintenance: boolean;
  /** When the daemon started (epoch ms). */
  readonly startedAt: number;
}

/**
 * The ledger's sales outbox. `next` reads what is stored, oldest first; `acknowledge` deletes
 * events the broker has acknowledged (PUBACK), after which they are never sent again. Both are
 * synchronous and durable; they throw `E_LEDGER_*` on failure.
 */
export interface SalesOutbox {
  /** Up to `limit` events with `seq > afterSeq`, in ledger order. */
  next(afterSeq: number, limit: number): readonly SaleEvent[];
  acknowledge(seqs: readonly number[]): void;
  backlog(): { readonly pending: number; readonly oldestAt: number | null };
}

/** A remote change to one slot; absent fields are left as they are. */
export interface ProductChange {
  readonly price?: string;
  readonly name?: string;
  readonly enabled?: boolean;
}

/**
 * How a change reached the machine: `now` means stored durably and handed to the selling side,
 * which uses it from the next purchase (one in progress keeps its product and price).
 */
export type Effective = 'now';

/**
 * What operators may ask a machine to do. Each method validates its arguments as the
 * configuration does and rejects with a `VendError`: `E_FLEET_COMMAND_INVALID` for input no
 * configuration could hold, `E_FLEET_COMMAND_REFUSED` for a valid request the machine must not
 * carry out (unknown slot, not a flagged purchase, no reseller credential). A change that resolves
 * is durable. There is deliberately no way to dispense.
 */
export interface MachineCommands {
  setProduct(
    slot: number,
    change: ProductChange,
  ): Promise<{ slot: SlotView; effective: Effective }>;
  refill(slot: number, stock: number): Promise<{ slot: SlotView; effective: Effective }>;
  setMaintenance(on: boolean): Promise<{ maintenance: boolean; effective: Effective }>;
  /** Closes the SEQR reconciliation period now and compares the report. */
  runEndOfDay(): Promise<{ periodId: string; matched: boolean | null; state: string }>;
  /**
   * Refunds a flagged purchase: only one the ledger closed as flagged, at most what is left of
   * the paid amount, never twice (the ledger's refund record decides).
   */
  refundFlagged(
    txId: string,
    amountMinor?: number,
  ): Promise<{ txId: string; refundedMinor: number; refundReference: string; outcome: string }>;
  /** Everything the machine can tell, as `seqr-vend status --json` would. */
  fullStatus(): Promise<unknown>;
}

/**
 * The machine, as the fleet agent sees it: its live facts and their changes, the sales outbox
 * and the commands. The composition root implements it over the running daemon; tests and the
 * scale bench use a fake.
 */
export interface FleetMachine {
  snapshot(): Promise<MachineSnapshot>;
  /** Called whenever the snapshot may have changed (a state change, a sale closed). */
  onChange(listener: () => void): () => void;
  /** Called whenever a new sale event is in the outbox. */
  onSale(listener: () => void): () => void;
  readonly outbox: SalesOutbox;
  readonly commands: MachineCommands;
}
