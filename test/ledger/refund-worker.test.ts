import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RefundWorker, refundDecision } from '../../daemon/ledger/refunds.js';
import { SqliteLedger } from '../../daemon/ledger/sqlite-ledger.js';
import type { LedgerEntry } from '../../daemon/ports/ledger.js';
import { FakeSeqr, ManualClock, MemoryLogger } from './fakes.js';
import { SEK, saleEntries, tempDir } from './helpers.js';

const T0 = 1_700_000_000_000;
let dir: string;
let cleanup: () => void;
let ledger: SqliteLedger;
let clock: ManualClock;
let seqr: FakeSeqr;
let logger: MemoryLogger;

/** A purchase that was paid, not delivered, and whose refund attempt ended with `last`. */
async function failedRefund(txId: string, last: LedgerEntry[]): Promise<void> {
  const steps = [
    ...saleEntries(txId).slice(0, 5),
    { type: 'dispense.finished', txId, outcome: 'notDelivered' },
    { type: 'refund.requested', txId, amount: SEK(2500) },
    ...last,
  ] satisfies LedgerEntry[];
  for (const e of steps) await ledger.record(e, clock.now());
  seqr.payments.set(`ers-${txId}`, { amount: 2500, refunded: 0 });
}

beforeEach(() => {
  ({ dir, cleanup } = tempDir());
  ledger = SqliteLedger.open({ path: path.join(dir, 'ledger.sqlite') });
  clock = new ManualClock(T0);
  seqr = new FakeSeqr(clock);
  logger = new MemoryLogger();
});
afterEach(async () => {
  await ledger.close();
  cleanup();
});

function worker(): RefundWorker {
  return new RefundWorker({
    ledger,
    gateway: seqr,
    clock,
    logger,
    cashierId: 'm',
    baseDelayMs: 10_000,
    maxDelayMs: 60_000,
  });
}

describe('RefundWorker', () => {
  it('retries a failed refund with backoff until SEQR confirms it, visible meanwhile', async () => {
    await failedRefund('a', [{ type: 'refund.failed', txId: 'a', code: 'E_SEQR_UNREACHABLE' }]);
    const w = worker();
    expect(await w.runOnce()).toMatchObject({ waiting: ['a'], confirmed: [] });
    expect(seqr.calls).toEqual([]);

    clock.advance(10_000);
    seqr.refundScript.push('notSent');
    expect(await w.runOnce()).toMatchObject({ failed: ['a'] });
    expect(ledger.transaction('a')).toMatchObject({ refund: 'failed', refundAttempts: 2 });
    expect(logger.codes()).toEqual(['E_REFUND_FAILED']);
    expect(w.dueAt(ledger.transaction('a')!)).toBe(T0 + 10_000 + 20_000);

    clock.advance(19_999);
    expect((await w.runOnce()).waiting).toEqual(['a']);
    clock.advance(1);
    expect((await w.runOnce()).confirmed).toEqual(['a']);
    expect(ledger.transaction('a')).toMatchObject({ closed: 'refunded', refund: 'confirmed' });
    expect(seqr.executedRefunds).toHaveLength(1);
    expect(ledger.entries('a').filter((e) => e.type === 'refund.requested')).toHaveLength(3);
  });

  it('treats a 98 answer after a lost answer as confirmed (flagged to verify), never refunding twice', async () => {
    await failedRefund('a', []);
    seqr.refundScript.push('lostAnswer');
    await seqr
      .refund({ ersReference: 'ers-a', amount: SEK(2500), title: 't', cashierId: 'm' })
      .catch(() => undefined);
    await ledger.record({ type: 'refund.failed', txId: 'a', code: 'E_SEQR_TIMEOUT' }, clock.now());
    clock.advance(10_000);
    expect((await worker().runOnce()).flagged).toEqual(['a']);
    expect(seqr.executedRefunds).toHaveLength(1);
    expect(ledger.transaction('a')).toMatchObject({
      closed: 'flagged',
      refund: 'confirmed',
      refundInferred: true,
      refundedMinor: 2500,
    });
    expect(logger.codes()).toEqual(['E_REFUND_UNVERIFIED']);
  });

  it('leaves refunds in flight alone and flags a partial attempt of unknown outcome', async () => {
    await failedRefund('inflight', []);
    await failedRefund('partial', [
      { type: 'refund.failed', txId: 'partial', code: 'E_SEQR_TIMEOUT' },
    ]);
    // The partial attempt: 10.00 of 25.00, outcome unknown.
    await ledger.record(
      { type: 'refund.requested', txId: 'partial', amount: SEK(1000) },
      clock.now(),
    );
    await ledger.record(
      { type: 'refund.failed', txId: 'partial', code: 'E_SEQR_TIMEOUT' },
      clock.now(),
    );
    expect(refundDecision(ledger.transaction('partial')!)).toMatchObject({ kind: 'flag' });
    clock.advance(3_600_000);
    const pass = await worker().runOnce();
    expect(pass.flagged).toEqual(['partial']);
    expect(seqr.calls).toEqual([]);
    expect(ledger.transaction('inflight')?.closed).toBeUndefined();
  });

  it('runs passes from its own timer until stopped', async () => {
    await failedRefund('a', [{ type: 'refund.failed', txId: 'a', code: 'E_SEQR_RESULT:93' }]);
    const w = worker();
    w.start();
    clock.advance(0);
    await new Promise((r) => setTimeout(r, 50));
    expect(seqr.calls).toEqual([]);
    clock.advance(10_000);
    await new Promise((r) => setTimeout(r, 50));
    expect(ledger.transaction('a')?.closed).toBe('refunded');
    await w.stop();
    expect(clock.timers.size).toBe(0);
  });
});
