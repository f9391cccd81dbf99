import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { SqliteLedger } from '../daemon/ledger/sqlite-ledger.js';
import type { LedgerEntry } from '../daemon/ports/ledger.js';
import { latencyFigures, type Bench } from './lib.js';

/** The steps the core records for one complete sale. */
function purchase(txId: string): LedgerEntry[] {
  return [
    {
      type: 'invoice.requested',
      txId,
      slot: 1,
      productName: 'Cola 33 cl',
      price: { minor: 2500, currency: 'SEK' },
    },
    { type: 'invoice.issued', txId, invoiceReference: '20261122072260070' },
    { type: 'status.seen', txId, status: 'ISSUED', version: 1 },
    {
      type: 'status.seen',
      txId,
      status: 'PAID',
      version: 2,
      ersReference: '2026112210184861801032678',
    },
    { type: 'dispense.started', txId, slot: 1 },
    { type: 'dispense.finished', txId, outcome: 'delivered' },
    { type: 'receipt.printed', txId },
    { type: 'receipt.submitted', txId },
    { type: 'tx.closed', txId, outcome: 'sold' },
  ];
}

/**
 * The ledger's write cost: every step of one purchase recorded durably (WAL, synchronous=FULL:
 * one fsync per step), on a real file system (`LEDGER_BENCH_DIR`, default the OS temp dir). Also
 * the cost of one step, and of reading the open transactions at start with a year of history.
 */
const bench: Bench = async () => {
  const base = process.env['LEDGER_BENCH_DIR'] ?? os.tmpdir();
  const dir = mkdtempSync(path.join(base, 'seqr-ledger-bench-'));
  try {
    const ledger = SqliteLedger.open({ path: path.join(dir, 'ledger.sqlite') });
    const purchases: number[] = [];
    const steps: number[] = [];
    let at = Date.now();
    for (let i = 0; i < 20; i++) for (const e of purchase(`warm${i}`)) await ledger.record(e, at++);
    for (let i = 0; i < 300; i++) {
      const start = performance.now();
      for (const e of purchase(`p${i}`)) {
        const s = performance.now();
        await ledger.record(e, at++);
        steps.push(performance.now() - s);
      }
      purchases.push(performance.now() - start);
    }
    for (let i = 0; i < 5; i++)
      for (const e of purchase(`open${i}`).slice(0, 4)) await ledger.record(e, at++);
    const reads: number[] = [];
    for (let i = 0; i < 50; i++) {
      const s = performance.now();
      await ledger.openTransactions();
      reads.push(performance.now() - s);
    }
    await ledger.close();
    const reopen = performance.now();
    await SqliteLedger.open({ path: path.join(dir, 'ledger.sqlite') }).close();
    const reopenMs = performance.now() - reopen;
    return [
      {
        title: 'ledger (SQLite WAL, synchronous=FULL)',
        figures: [
          ...latencyFigures('purchase (9 steps)', purchases),
          ...latencyFigures('one step', steps),
          ...latencyFigures('openTransactions (5 open of 325)', reads),
          { name: 'open + quick_check (325 transactions)', value: reopenMs, unit: 'ms' },
        ],
        note: `on ${base}; 300 purchases after 20 warm-up`,
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

export default bench;
