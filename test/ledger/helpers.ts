import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { LedgerEntry } from '../../daemon/ports/ledger.js';
import type { Money } from '../../daemon/ports/money.js';

export const SEK = (minor: number): Money => ({ minor, currency: 'SEK' });

/** A fresh directory under the OS temp dir, removed by the returned cleanup. */
export function tempDir(prefix = 'seqr-ledger-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return {
    dir,
    cleanup: () => {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The steps of one complete sale, in the order the core records them. */
export function saleEntries(
  txId: string,
  options: { slot?: number; price?: number; ers?: string; product?: string } = {},
): LedgerEntry[] {
  const slot = options.slot ?? 1;
  return [
    {
      type: 'invoice.requested',
      txId,
      slot,
      productName: options.product ?? `Product ${slot}`,
      price: SEK(options.price ?? 2500),
    },
    { type: 'invoice.issued', txId, invoiceReference: `inv-${txId}` },
    { type: 'status.seen', txId, status: 'ISSUED', version: 1 },
    {
      type: 'status.seen',
      txId,
      status: 'PAID',
      version: 2,
      ersReference: options.ers ?? `ers-${txId}`,
    },
    { type: 'dispense.started', txId, slot },
    { type: 'dispense.finished', txId, outcome: 'delivered' },
    { type: 'receipt.printed', txId },
    { type: 'receipt.submitted', txId },
    { type: 'tx.closed', txId, outcome: 'sold' },
  ];
}

/** A logger that keeps every line (the ledger's OpsLogger shape; pino fits it too). */
export class MemoryLogger {
  readonly lines: { level: string; fields: Record<string, unknown>; msg: string }[] = [];
  info(fields: object, msg: string): void {
    this.lines.push({ level: 'info', fields: fields as Record<string, unknown>, msg });
  }
  warn(fields: object, msg: string): void {
    this.lines.push({ level: 'warn', fields: fields as Record<string, unknown>, msg });
  }
  error(fields: object, msg: string): void {
    this.lines.push({ level: 'error', fields: fields as Record<string, unknown>, msg });
  }
  codes(level = 'error'): unknown[] {
    return this.lines.filter((l) => l.level === level).map((l) => l.fields['code']);
  }
}
