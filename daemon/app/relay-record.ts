/**
 * Crash-torture instrumentation: a record of every relay edge of the virtual dispenser, naming
 * the transaction and invoice each pulse belongs to.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { FakeDispenser, RelayEdge } from '../../hardware/dispenser/fake-dispenser.js';
import type { SqliteLedger } from '../ledger/sqlite-ledger.js';
import type { Ledger } from '../ports/ledger.js';

/**
 * The ledger, noting which transaction's dispense was started last, so that a relay recording can
 * name the transaction and invoice a pulse belongs to.
 */
export class DispenseTracker implements Ledger {
  readonly #ledger: SqliteLedger;
  #txId: string | undefined;

  constructor(ledger: SqliteLedger) {
    this.#ledger = ledger;
  }

  record: Ledger['record'] = async (entry, at) => {
    await this.#ledger.record(entry, at);
    if (entry.type === 'dispense.started') this.#txId = entry.txId;
  };

  openTransactions: Ledger['openTransactions'] = () => this.#ledger.openTransactions();
  close: Ledger['close'] = () => this.#ledger.close();

  /** The transaction of the dispense started last, with its invoice reference. */
  current(): { txId: string; invoiceReference: string | null } | undefined {
    if (this.#txId === undefined) return undefined;
    return {
      txId: this.#txId,
      invoiceReference: this.#ledger.transaction(this.#txId)?.invoiceReference ?? null,
    };
  }
}

/**
 * Appends every relay edge of the virtual dispenser to `file` as a JSON line, synced to disk
 * before the pulse goes on: the crash-torture harness compares it with SEQR's records.
 * Returns the closer.
 */
export function recordRelays(
  dispenser: FakeDispenser,
  file: string,
  tracker: DispenseTracker,
): () => void {
  mkdirSync(path.dirname(file), { recursive: true });
  const fd = openSync(file, 'a');
  const off = dispenser.onRelay((edge: RelayEdge) => {
    const line = JSON.stringify({ ...edge, ...(tracker.current() ?? {}) });
    writeSync(fd, `${line}\n`);
    fsyncSync(fd);
  });
  return () => {
    off();
    closeSync(fd);
  };
}
