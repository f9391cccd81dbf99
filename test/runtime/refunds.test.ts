// Refunds and their retries, decided by the core (background jobs), carried out by the runtime
// with the fake SEQR, the fake dispenser and the ManualClock.
import { afterEach, describe, expect, it } from 'vitest';
import { viewOf } from '../../daemon/core/projection.js';
import { testConfig } from '../support/core-config.js';
import { startHarness, stepsOf, type Harness } from '../support/harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.runtime.stop().catch(() => undefined);
  h = undefined;
});

const refundCalls = (h: Harness) => h.fake.calls.filter((c) => c.method === 'refund');
const view = (h: Harness, txId = 'tx-1') => viewOf(h.ledger.entriesOf(txId));
const errorCodes = (h: Harness) => h.lines.filter((l) => l.level >= 50).map((l) => l['code']);

/** A purchase paid and not delivered: its refund's first attempt goes out. */
async function notDelivered(options: Parameters<typeof startHarness>[0] = {}): Promise<Harness> {
  const harness = await startHarness(options);
  harness.dispenser.nextResult(1, { outcome: 'notDelivered', reason: 'slotFault' });
  await harness.pressProduct(1);
  harness.fake.pay();
  return harness;
}

describe('refund retries', () => {
  it.each([97, 99, 11, 23])(
    'a refund SEQR refused for good (%i) is never sent again, and is flagged',
    async (resultCode) => {
      h = await startHarness();
      h.dispenser.nextResult(1, { outcome: 'notDelivered', reason: 'slotFault' });
      h.fake.failNext({ resultCode }, 'refund');
      await h.pressProduct(1);
      h.fake.pay();
      await h.advance(2000);
      expect(h.display.current).toMatchObject({ kind: 'notDelivered', refund: 'pending' });
      expect(view(h)).toMatchObject({
        closed: 'flagged',
        refund: 'failed',
        refundFailure: { code: 'E_REFUND_REFUSED', resultCode },
      });
      expect(errorCodes(h)).toContain('E_REFUND_REFUSED');
      // Hours of retry timers later: still the one call.
      await h.advance(4 * 3_600_000, 10_000);
      expect(refundCalls(h)).toHaveLength(1);
      expect(h.state().background.jobs).toEqual([]);
    },
  );

  it('a refund answered 98 after an attempt of known outcome is flagged, never sent again', async () => {
    h = await notDelivered();
    h.fake.failNext({ resultCode: 98 }, 'refund');
    await h.advance(2000);
    expect(view(h)).toMatchObject({ closed: 'flagged', refund: 'failed' });
    await h.advance(3_600_000, 10_000);
    expect(refundCalls(h)).toHaveLength(1);
  });

  it('a refund that fails is retried with backoff until SEQR confirms it, visible meanwhile', async () => {
    h = await startHarness();
    h.dispenser.nextResult(1, { outcome: 'notDelivered', reason: 'slotFault' });
    h.fake.failNext('E_SEQR_UNREACHABLE', 'refund');
    h.fake.failNext({ resultCode: 93 }, 'refund');
    await h.pressProduct(1);
    h.fake.pay();
    await h.advance(2000);
    expect(h.display.current).toMatchObject({ kind: 'notDelivered', refund: 'pending' });
    expect(view(h)?.refund).toBe('failed');
    expect(view(h)?.closed).toBeUndefined();
    expect(errorCodes(h)).toContain('E_REFUND_FAILED');
    const first = refundCalls(h)[0]!.startedAt;

    await h.advance(testConfig.refundRetryMinMs, 1000);
    expect(refundCalls(h)).toHaveLength(2);
    expect(refundCalls(h)[1]!.startedAt - first).toBeGreaterThanOrEqual(
      testConfig.refundRetryMinMs,
    );
    expect(view(h)?.closed).toBeUndefined();
    // The delay doubles.
    await h.advance(2 * testConfig.refundRetryMinMs - 2000, 1000);
    expect(refundCalls(h)).toHaveLength(2);
    await h.advance(2000, 1000);
    expect(refundCalls(h)).toHaveLength(3);
    expect(view(h)).toMatchObject({ closed: 'refunded', refund: 'confirmed', refundedMinor: 2500 });
    expect(h.fake.refunded(h.fake.activeReference!)).toBe(2500);
    const initiators = h.ledger
      .entriesOf('tx-1')
      .flatMap((e) => (e.type === 'refund.requested' ? [e.initiator] : []));
    expect(initiators).toEqual([undefined, 'retry', 'retry']);
  });

  it('a retry answered 98 after a lost answer: the first went through; flagged to verify, never refunded twice', async () => {
    h = await startHarness();
    h.dispenser.nextResult(1, { outcome: 'notDelivered', reason: 'slotFault' });
    h.fake.hangNext('refund');
    await h.pressProduct(1);
    const ref = h.fake.activeReference!;
    h.fake.pay();
    await h.advance(12_000, 500);
    expect(view(h)).toMatchObject({ refund: 'failed', refundFailure: { code: 'E_SEQR_TIMEOUT' } });
    // What the lost answer hid: SEQR did refund.
    const ersReference = view(h)!.ersReference!;
    await h.fake.refund({
      ersReference,
      amount: { minor: 2500, currency: 'SEK' },
      title: 't',
      cashierId: 'm',
    });
    await h.advance(testConfig.refundRetryMinMs, 1000);
    expect(h.fake.refunded(ref)).toBe(2500);
    expect(view(h)).toMatchObject({
      closed: 'flagged',
      refund: 'confirmed',
      refundInferred: true,
      refundedMinor: 2500,
    });
    expect(errorCodes(h)).toContain('E_REFUND_UNVERIFIED');
    await h.advance(3_600_000, 10_000);
    expect(refundCalls(h).filter((c) => c.outcome === 'ok')).toHaveLength(1);
  });

  it('refund.requested not durable: the refund is not sent; it goes out on a later attempt', async () => {
    h = await startHarness();
    h.dispenser.nextResult(1, { outcome: 'notDelivered', reason: 'slotFault' });
    await h.pressProduct(1);
    h.ledger.failNextOf('refund.requested');
    h.fake.pay();
    await h.advance(2000);
    expect(refundCalls(h)).toHaveLength(0);
    expect(h.display.current).toMatchObject({ kind: 'notDelivered', refund: 'pending' });
    await h.advance(testConfig.refundRetryMinMs, 1000);
    expect(refundCalls(h)).toHaveLength(1);
    expect(stepsOf(h.ledger, 'tx-1').slice(-3)).toEqual([
      'refund.requested',
      'refund.confirmed',
      'tx.closed:refunded',
    ]);
  });

  it('a refund that fails again at start-up stays open, visible, and is retried until confirmed', async () => {
    const price = { minor: 2500, currency: 'SEK' };
    const first = await notDelivered();
    first.fake.failNext('E_SEQR_TIMEOUT', 'refund');
    await first.advance(2000);
    const entries = first.ledger.entries;
    await first.runtime.stop();
    expect(viewOf(entries.filter((e) => e.txId === 'tx-1'))).toMatchObject({ refund: 'failed' });

    first.fake.failNext('E_SEQR_UNREACHABLE', 'refund');
    h = await startHarness({
      clock: first.clock,
      fake: first.fake,
      ledgerEntries: entries,
      firstTxNumber: 10,
    });
    await h.advance(2000);
    expect(refundCalls(h)).toHaveLength(2);
    expect(view(h)).toMatchObject({
      refund: 'failed',
      refundFailure: { code: 'E_SEQR_UNREACHABLE' },
    });
    expect(view(h)?.closed).toBeUndefined();
    expect(h.state().kind).toBe('idle');
    // Selling goes on meanwhile.
    await h.pressProduct(2);
    expect(h.state().kind).toBe('awaitingPayment');
    await h.pressCancel();
    await h.advance(testConfig.refundRetryMinMs * 4, 1000);
    expect(view(h)).toMatchObject({ closed: 'refunded', refundedMinor: price.minor });
    const initiators = h.ledger
      .entriesOf('tx-1')
      .flatMap((e) => (e.type === 'refund.requested' ? [e.initiator ?? 'core'] : []));
    expect(initiators).toEqual(['core', 'recovery', 'retry']);
  });

  it('stop lets a refund in flight be answered and records its outcome', async () => {
    h = await startHarness();
    h.dispenser.nextResult(1, { outcome: 'notDelivered', reason: 'slotFault' });
    h.fake.delayNext(800, 'refund');
    await h.pressProduct(1);
    h.fake.pay();
    await h.clock.advanceAsync(1500);
    await h.settle();
    expect(refundCalls(h)).toHaveLength(1);
    expect(refundCalls(h)[0]!.endedAt).toBeUndefined();
    const stopped = h.runtime.stop();
    await h.advance(1000);
    await stopped;
    expect(stepsOf(h.ledger, 'tx-1').slice(-2)).toEqual(['refund.confirmed', 'tx.closed:refunded']);
  });
});
