// The sales outbox in the ledger: one row per finished purchase, written in the same SQLite
// transaction as its tx.closed entry, removed only when acknowledged.
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteLedger, ledgerPath } from '../../daemon/ledger/sqlite-ledger.js';
import { SEK, saleEntries, tempDir } from '../ledger/helpers.js';

let cleanup: () => void;
let file: string;
beforeEach(() => {
  const t = tempDir('seqr-outbox-');
  cleanup = t.cleanup;
  file = ledgerPath(path.join(t.dir, 'state'));
});
afterEach(() => {
  cleanup();
});

async function record(
  ledger: SqliteLedger,
  entries: Parameters<SqliteLedger['record']>[0][],
  at = 1_000,
): Promise<void> {
  for (const [i, e] of entries.entries()) await ledger.record(e, at + i);
}

describe('sales outbox', () => {
  it('holds one event per sold, refunded or flagged purchase, in ledger order, none for cancelled ones', async () => {
    const ledger = SqliteLedger.open({ path: file });
    await record(ledger, saleEntries('a', { slot: 2, price: 1850 }));
    await record(ledger, [
      ...saleEntries('b').slice(0, 3),
      { type: 'tx.closed', txId: 'b', outcome: 'cancelled' },
    ]);
    await record(ledger, [
      ...saleEntries('c').slice(0, 5),
      { type: 'dispense.finished', txId: 'c', outcome: 'uncertain' },
      { type: 'tx.closed', txId: 'c', outcome: 'flagged' },
    ]);
    const events = ledger.outbox(0, 10);
    expect(events.map((e) => [e.txId, e.outcome])).toEqual([
      ['a', 'sold'],
      ['c', 'flagged'],
    ]);
    expect(events[0]).toMatchObject({
      id: `a:${String(events[0]!.seq)}`,
      slot: 2,
      product: 'Product 2',
      amount: SEK(1850),
      ersReference: 'ers-a',
      invoiceReference: 'inv-a',
      refundedMinor: 0,
    });
    expect(events[0]!.seq).toBeLessThan(events[1]!.seq);
    expect(ledger.outbox(events[0]!.seq, 10).map((e) => e.txId)).toEqual(['c']);

    // The operator refunds the flagged purchase later: a second event for it, with a new id.
    await record(
      ledger,
      [
        { type: 'refund.requested', txId: 'c', amount: SEK(2500), initiator: 'operator' },
        { type: 'refund.confirmed', txId: 'c', refundReference: 'r-1' },
        { type: 'tx.closed', txId: 'c', outcome: 'refunded' },
      ],
      5_000,
    );
    const after = ledger.outbox(0, 10);
    expect(after.map((e) => e.outcome)).toEqual(['sold', 'flagged', 'refunded']);
    expect(after[2]).toMatchObject({ txId: 'c', refundedMinor: 2500 });
    expect(new Set(after.map((e) => e.id)).size).toBe(3);
    await ledger.close();
  });

  it('keeps events across a reopen until they are acknowledged, then never returns them', async () => {
    const ledger = SqliteLedger.open({ path: file });
    for (const id of ['a', 'b', 'c']) await record(ledger, saleEntries(id));
    await ledger.close();
    const again = SqliteLedger.open({ path: file });
    const [first, second] = again.outbox(0, 2);
    expect(again.outboxBacklog()).toMatchObject({ pending: 3 });
    again.acknowledgeOutbox([first!.seq, second!.seq, first!.seq]);
    expect(again.outbox(0, 10).map((e) => e.txId)).toEqual(['c']);
    expect(again.outboxBacklog().pending).toBe(1);
    const reader = SqliteLedger.open({ path: file, readonly: true });
    expect(reader.outbox(0, 10).map((e) => e.txId)).toEqual(['c']);
    await reader.close();
    await again.close();
  });

  it('writes the event and its tx.closed entry together or not at all', async () => {
    const ledger = SqliteLedger.open({ path: file });
    await record(ledger, saleEntries('a').slice(0, -1));
    const db = new Database(file);
    db.exec(
      "CREATE TRIGGER no_outbox BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
    );
    await expect(
      ledger.record({ type: 'tx.closed', txId: 'a', outcome: 'sold' }, 9_000),
    ).rejects.toMatchObject({
      code: 'E_LEDGER_WRITE',
    });
    expect(ledger.transaction('a')?.closed).toBeUndefined();
    expect(ledger.entries('a').at(-1)?.type).toBe('receipt.submitted');
    db.exec('DROP TRIGGER no_outbox');
    db.close();
    await ledger.record({ type: 'tx.closed', txId: 'a', outcome: 'sold' }, 9_001);
    expect(ledger.outbox(0, 10).map((e) => e.txId)).toEqual(['a']);
    await ledger.close();
  });

  it('keeps only the newest events when trimmed (a machine without a fleet broker)', async () => {
    const ledger = SqliteLedger.open({ path: file });
    for (const id of ['a', 'b', 'c', 'd']) await record(ledger, saleEntries(id));
    expect(ledger.trimOutbox(2)).toBe(2);
    expect(ledger.outbox(0, 10).map((e) => e.txId)).toEqual(['c', 'd']);
    await ledger.close();
  });
});
