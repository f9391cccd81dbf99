// A FleetMachine with no daemon behind it: an in-memory sales outbox with the ledger's
// semantics (ordered by seq, rows removed only by acknowledge), a settable snapshot, and
// commands that record what they were asked. The scale bench runs hundreds of these; the
// fleet tests drive one.
import type { SaleEvent } from '../../daemon/ledger/outbox.js';
import type {
  FleetMachine,
  MachineCommands,
  MachineSnapshot,
  ProductChange,
} from '../../daemon/fleet/port.js';
import { VendError } from '../../daemon/errors.js';

export function sampleSnapshot(name: string): MachineSnapshot {
  return {
    name,
    mode: 'demo',
    state: 'idle',
    status: 'idle',
    purchase: null,
    seqr: { reachable: true, lastRoundTripMs: 3, lastError: null },
    printer: 'ready',
    slots: [
      {
        slot: 1,
        name: 'Cola',
        price: { minor: 2500, currency: 'SEK' },
        enabled: true,
        stock: 10,
        soldOut: false,
      },
      {
        slot: 2,
        name: 'Water',
        price: { minor: 1850, currency: 'SEK' },
        enabled: true,
        stock: null,
        soldOut: false,
      },
    ],
    today: { sales: 0, totalMinor: 0, currency: 'SEK' },
    pending: 0,
    flagged: 0,
    refundsUnconfirmed: 0,
    reconciliation: null,
    maintenance: false,
    startedAt: 0,
  };
}

export class FakeMachine implements FleetMachine {
  snapshotValue: MachineSnapshot;
  /** Outbox rows not acknowledged yet, in seq order. */
  readonly pendingEvents: SaleEvent[] = [];
  readonly acknowledged: number[] = [];
  readonly calls: { command: string; args: unknown[] }[] = [];
  /** Events handed to the agent by `outbox.next` (each time it reads one). */
  handedOut = 0;
  /** How long each command takes (ms); the busy test makes it slow. */
  commandDelayMs = 0;
  #seq = 0;
  readonly #change = new Set<() => void>();
  readonly #sale = new Set<() => void>();

  constructor(name = 'fake') {
    this.snapshotValue = sampleSnapshot(name);
  }

  /** A new finished purchase in the outbox (as a tx.closed would write it). */
  sell(slot = 1, amountMinor = 2500, at = Date.now()): SaleEvent {
    const seq = ++this.#seq;
    const txId = `tx-${String(seq)}`;
    const event: SaleEvent = {
      id: `${txId}:${String(seq)}`,
      seq,
      txId,
      outcome: 'sold',
      slot,
      product: `Product ${String(slot)}`,
      amount: { minor: amountMinor, currency: 'SEK' },
      refundedMinor: 0,
      ersReference: `ers-${String(seq)}`,
      openedAt: at,
      paidAt: at,
      closedAt: at,
    };
    this.pendingEvents.push(event);
    const t = this.snapshotValue.today;
    this.snapshotValue = {
      ...this.snapshotValue,
      today: { ...t, sales: t.sales + 1, totalMinor: t.totalMinor + amountMinor },
    };
    for (const l of [...this.#sale]) l();
    for (const l of [...this.#change]) l();
    return event;
  }

  update(patch: Partial<MachineSnapshot>): void {
    this.snapshotValue = { ...this.snapshotValue, ...patch };
    for (const l of [...this.#change]) l();
  }

  snapshot(): Promise<MachineSnapshot> {
    return Promise.resolve(this.snapshotValue);
  }

  onChange(listener: () => void): () => void {
    this.#change.add(listener);
    return () => this.#change.delete(listener);
  }

  onSale(listener: () => void): () => void {
    this.#sale.add(listener);
    return () => this.#sale.delete(listener);
  }

  readonly outbox = {
    next: (afterSeq: number, limit: number): SaleEvent[] => {
      const batch = this.pendingEvents.filter((e) => e.seq > afterSeq).slice(0, limit);
      this.handedOut += batch.length;
      return batch;
    },
    acknowledge: (seqs: readonly number[]): void => {
      for (const seq of seqs) {
        const i = this.pendingEvents.findIndex((e) => e.seq === seq);
        if (i >= 0) this.pendingEvents.splice(i, 1);
        this.acknowledged.push(seq);
      }
    },
    backlog: () => ({
      pending: this.pendingEvents.length,
      oldestAt: this.pendingEvents[0]?.closedAt ?? null,
    }),
  };

  readonly commands: MachineCommands = {
    setProduct: (slot: number, change: ProductChange) =>
      this.#call('setProduct', [slot, change], () => {
        const s = this.snapshotValue.slots.find((x) => x.slot === slot);
        if (!s)
          throw new VendError('E_FLEET_COMMAND_REFUSED', `slot ${String(slot)} is not configured`);
        return {
          slot: { ...s, ...(change.name === undefined ? {} : { name: change.name }) },
          effective: 'now' as const,
        };
      }),
    refill: (slot: number, stock: number) =>
      this.#call('refill', [slot, stock], () => {
        const s = this.snapshotValue.slots.find((x) => x.slot === slot);
        if (!s)
          throw new VendError('E_FLEET_COMMAND_REFUSED', `slot ${String(slot)} is not configured`);
        return { slot: { ...s, stock }, effective: 'now' as const };
      }),
    setMaintenance: (on: boolean) =>
      this.#call('setMaintenance', [on], () => {
        this.update({ maintenance: on });
        return { maintenance: on, effective: 'now' as const };
      }),
    runEndOfDay: () =>
      this.#call('runEndOfDay', [], () => ({ periodId: 'p1', matched: true, state: 'reported' })),
    refundFlagged: (txId: string, amountMinor?: number) =>
      this.#call('refundFlagged', [txId, amountMinor], () => {
        throw new VendError(
          'E_FLEET_COMMAND_REFUSED',
          `only a flagged purchase can be refunded remotely; ${txId} is sold`,
        );
      }),
    fullStatus: () => this.#call('fullStatus', [], () => this.snapshotValue),
  };

  async #call<T>(command: string, args: unknown[], result: () => T): Promise<T> {
    this.calls.push({ command, args });
    if (this.commandDelayMs > 0) await new Promise((r) => setTimeout(r, this.commandDelayMs));
    return result();
  }
}
