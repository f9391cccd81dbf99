import { viewOf } from '../core/projection.js';
import type { Ledger, LedgerEntry, StoredEntry } from '../ports/ledger.js';
import { VendError } from '../errors.js';

/**
 * A {@link Ledger} in memory, for tests and the demo mode: nothing survives the process. Entries
 * are kept in the order recorded; `record` resolves asynchronously. Like the SQLite ledger it
 * refuses (E_LEDGER_WRITE, nothing stored) an entry of a transaction that has no
 * `invoice.requested` and a second `invoice.requested`. `failNext` makes the next writes reject
 * with E_LEDGER_WRITE without storing anything.
 */
export class MemoryLedger implements Ledger {
  readonly #entries: StoredEntry[] = [];
  #failures = 0;
  readonly #failTypes = new Set<LedgerEntry['type']>();
  readonly #requested = new Set<string>();
  #closed = false;

  constructor(initial: readonly StoredEntry[] = []) {
    this.#entries.push(...initial);
    for (const e of initial) this.#requested.add(e.txId);
  }

  /** Every entry ever recorded, oldest first. */
  get entries(): readonly StoredEntry[] {
    return this.#entries;
  }

  /** The entries of one transaction, oldest first. */
  entriesOf(txId: string): readonly StoredEntry[] {
    return this.#entries.filter((e) => e.txId === txId);
  }

  /** The next `count` writes fail. */
  failNext(count = 1): void {
    this.#failures += count;
  }

  /** The next write of an entry of this type fails. */
  failNextOf(type: LedgerEntry['type']): void {
    this.#failTypes.add(type);
  }

  async record(entry: LedgerEntry, at: number): Promise<void> {
    await Promise.resolve();
    if (this.#closed) throw new VendError('E_CLOSED', 'ledger is closed');
    if (this.#failTypes.delete(entry.type))
      throw new VendError('E_LEDGER_WRITE', `could not record ${entry.type}`, { retryable: true });
    if (this.#failures > 0) {
      this.#failures--;
      throw new VendError('E_LEDGER_WRITE', `could not record ${entry.type}`, { retryable: true });
    }
    const known = this.#requested.has(entry.txId);
    const opens = entry.type === 'invoice.requested' || entry.type === 'reservation.requested';
    if (opens ? known : !known)
      throw new VendError(
        'E_LEDGER_WRITE',
        known
          ? `transaction ${entry.txId} was already requested`
          : `unknown transaction ${entry.txId} (no invoice.requested or reservation.requested)`,
      );
    this.#requested.add(entry.txId);
    this.#entries.push({ ...entry, seq: this.#entries.length + 1, at });
  }

  async openTransactions(): Promise<ReadonlyMap<string, readonly StoredEntry[]>> {
    await Promise.resolve();
    if (this.#closed) throw new VendError('E_CLOSED', 'ledger is closed');
    const closed = new Set(this.#entries.filter((e) => e.type === 'tx.closed').map((e) => e.txId));
    const open = new Map<string, StoredEntry[]>();
    for (const e of this.#entries) {
      if (closed.has(e.txId)) continue;
      const list = open.get(e.txId) ?? [];
      list.push(e);
      open.set(e.txId, list);
    }
    return open;
  }

  async receiptsOwed(): Promise<ReadonlyMap<string, readonly StoredEntry[]>> {
    await Promise.resolve();
    if (this.#closed) throw new VendError('E_CLOSED', 'ledger is closed');
    const owed = new Map<string, StoredEntry[]>();
    for (const e of this.#entries) owed.set(e.txId, [...(owed.get(e.txId) ?? []), e]);
    for (const [txId, entries] of owed) {
      const view = viewOf(entries);
      if (
        view?.closed !== 'sold' ||
        view.ersReference === undefined ||
        view.receiptSubmitted ||
        view.receiptRefused
      )
        owed.delete(txId);
    }
    return owed;
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}
