/**
 * Crash-torture instrumentation: every relay edge of the virtual dispenser appended to a file,
 * naming the transaction and invoice each pulse belongs to, synced before the pulse goes on. The
 * torture harness compares it with SEQR's records after killing the daemon at random points.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { Ledger } from '../../daemon/ports/ledger.js';
import type { FakeDispenser, RelayEdge } from '../dispenser/fake-dispenser.js';

export interface RelayRecord {
  /**
   * The ledger to give the runtime: the same ledger, noting which transaction's dispense was
   * started last (recorded before the relay moves), so the record can name it.
   */
  readonly ledger: Ledger;
  /** Stops recording and closes the file. */
  close(): void;
}

/**
 * Starts recording the relay edges of `dispenser` to `file` (appended, one JSON line per edge).
 * `invoiceOf` finds a transaction's invoice reference in the ledger (null if it has none).
 */
export function recordRelays(
  dispenser: FakeDispenser,
  file: string,
  ledger: Ledger,
  invoiceOf: (txId: string) => string | null,
): RelayRecord {
  let current: { txId: string; invoiceReference: string | null } | undefined;
  mkdirSync(path.dirname(file), { recursive: true });
  const fd = openSync(file, 'a');
  const off = dispenser.onRelay((edge: RelayEdge) => {
    const line = JSON.stringify({ ...edge, ...(current ?? {}) });
    writeSync(fd, `${line}\n`);
    fsyncSync(fd);
  });
  return {
    ledger: {
      async record(entry, at) {
        await ledger.record(entry, at);
        if (entry.type === 'dispense.started')
          current = { txId: entry.txId, invoiceReference: invoiceOf(entry.txId) };
      },
      openTransactions: () => ledger.openTransactions(),
      receiptsOwed: () => ledger.receiptsOwed(),
      close: () => ledger.close(),
    },
    close() {
      off();
      closeSync(fd);
    },
  };
}
