// SEQR faults a customer must never pay for (issue 14), one at a time where the fault soak is too
// coarse to tell them apart: the runtime with the fake SEQR (including "done, but the answer
// lost" for every call that changes state), the fake hardware and a ManualClock.
import { afterEach, describe, expect, it } from 'vitest';
import type { Screen } from '../../daemon/ports/display.js';
import { ManualClock } from '../../daemon/runtime/manual-clock.js';
import { FakePaymentGateway } from '../../daemon/seqr/fake-gateway.js';
import { FakeDispenser } from '../../hardware/dispenser/fake-dispenser.js';
import { testConfig } from '../support/core-config.js';
import { startHarness, stepsOf, type Harness, type HarnessOptions } from '../support/harness.js';

const T0 = 1_763_800_000_000;
let h: Harness | undefined;
afterEach(async () => {
  await h?.runtime.stop().catch(() => undefined);
  h = undefined;
});

/** The harness with a fake SEQR whose hung calls end at the default 3 s poll deadline. */
async function start(options: HarnessOptions = {}): Promise<Harness> {
  const clock = options.clock ?? new ManualClock(T0);
  const fake =
    options.fake ?? new FakePaymentGateway({ clock, reversalMs: 20_000, deadlineMs: 3_000 });
  h = await startHarness({ ...options, clock, fake });
  return h;
}

const calls = (x: Harness, method: string) => x.fake.calls.filter((c) => c.method === method);
const kinds = (screens: readonly Screen[]): string[] =>
  screens.map((s) =>
    s.kind === 'problem'
      ? `problem:${s.problem}`
      : s.kind === 'cancelling' && s.note !== undefined
        ? `cancelling:${s.note}`
        : s.kind,
  );
/** Every SEQR failure line of the journal (they name the operation). */
const failureLines = (x: Harness) =>
  x.lines.filter((l) => typeof l['operation'] === 'string' && typeof l['code'] === 'string');

describe('a status poll answered 54 (or refused) on the pay screen', () => {
  it('cancels the invoice and confirms its final status: never walked away from, and the screen says the connection was lost', async () => {
    const x = await start();
    await x.pressProduct(1);
    await x.advance(1_500);
    const ref = x.fake.activeReference!;
    x.fake.failNext({ resultCode: 54 }, 'getStatus');
    await x.advance(600);
    expect(calls(x, 'cancelInvoice').map((c) => c.reference)).toEqual([ref]);
    await x.advance(1_500);
    expect(x.fake.status(ref)).toBe('CANCELED');
    expect(x.display.current).toEqual({ kind: 'problem', problem: 'connectionLost' });
    expect(stepsOf(x.ledger, 'tx-1').slice(-3)).toEqual([
      'cancel.requested',
      'status.seen:CANCELED',
      'tx.closed:cancelled',
    ]);
    // The journal line names the operation, the resultCode and its name.
    expect(failureLines(x)).toContainEqual(
      expect.objectContaining({
        code: 'E_SEQR_UNKNOWN_INVOICE',
        operation: 'getPaymentStatus',
        resultCode: 54,
        resultName: 'INVALID_INVOICE_REFERENCE',
      }),
    );
  });

  it('a customer paying meanwhile is a sale (cancel answered 50: the PAID is polled)', async () => {
    const x = await start();
    await x.pressProduct(1);
    await x.advance(1_500);
    const ref = x.fake.activeReference!;
    x.fake.pay(ref);
    x.fake.failNext({ resultCode: 54 }, 'getStatus');
    x.fake.failNext({ resultCode: 54 }, 'getStatus');
    await x.advance(5_000);
    expect(x.fake.committed(ref)).toBe(true);
    expect(x.dispenser.dispenses).toHaveLength(1);
    expect(stepsOf(x.ledger, 'tx-1')).toContain('tx.closed:sold');
  });

  it('a PAID answer lost (the payment committed), then 54s: never closed as failed; sold once', async () => {
    const x = await start();
    await x.pressProduct(1);
    await x.advance(1_500);
    const ref = x.fake.activeReference!;
    x.fake.pay(ref);
    x.fake.loseAnswerNext('getStatus', { onlyPaid: true });
    for (let i = 0; i < 4; i++) x.fake.failNext({ resultCode: 54 }, 'getStatus');
    await x.advance(10_000);
    expect(x.fake.committed(ref)).toBe(true);
    expect(x.dispenser.dispenses).toHaveLength(1);
    const steps = stepsOf(x.ledger, 'tx-1');
    expect(steps).toContain('tx.closed:sold');
    expect(steps).not.toContain('tx.closed:failed');
    expect(x.fake.refunded(ref)).toBe(0);
  });

  it('SEQR answering only 54, to the poll and the cancel, for 30 s: closed failed (no PAID could be missed), never before', async () => {
    const x = await start();
    await x.pressProduct(1);
    await x.advance(1_500);
    x.fake.setDown({ resultCode: 54 });
    await x.advance(25_000);
    expect(x.state().kind).toBe('cancelling');
    await x.advance(10_000);
    expect(stepsOf(x.ledger, 'tx-1').at(-1)).toBe('tx.closed:failed');
    expect(x.state().kind).not.toBe('cancelling');
  });

  it('the same after a status call went unanswered: flagged for the operator (a PAID may have been lost)', async () => {
    const x = await start();
    await x.pressProduct(1);
    await x.advance(1_500);
    // A status call times out (SEQR may have answered PAID into it), and from then on SEQR
    // answers 54 to everything: no later answer proves the invoice unpaid.
    x.fake.failNext('E_SEQR_TIMEOUT', 'getStatus');
    x.fake.setDown({ resultCode: 54 });
    await x.advance(40_000);
    expect(stepsOf(x.ledger, 'tx-1').at(-1)).toBe('tx.closed:flagged');
    expect(
      x.lines.filter((l) => l['code'] === 'E_SEQR_UNKNOWN_INVOICE' && l.level >= 50),
    ).not.toEqual([]);
  });
});

describe('a failed status poll', () => {
  it('is followed by the next one at once, on the next call; a second failure waits for the timer', async () => {
    const x = await start();
    await x.pressProduct(1);
    await x.advance(1_500);
    x.fake.failNext('E_SEQR_UNREACHABLE', 'getStatus');
    x.fake.failNext('E_SEQR_HTTP', 'getStatus');
    x.fake.failNext('E_SEQR_HTTP', 'getStatus');
    await x.advance(3_000);
    const polls = calls(x, 'getStatus');
    const failed = polls.findIndex((c) => c.outcome === 'E_SEQR_UNREACHABLE');
    // Failed at 2000, at once again (failed), then the timer's 3000 (failed), at once again.
    expect(
      polls.slice(failed, failed + 4).map((c) => c.startedAt - polls[failed]!.startedAt),
    ).toEqual([0, 0, 1_000, 1_000]);
    expect(x.fake.maxConcurrentCalls('getStatus')).toBe(1);
  });
});

describe('cancelling', () => {
  it('a failed cancelInvoice goes out again after about 1 s, then 2 s, and the screen says SEQR has not confirmed yet', async () => {
    const x = await start();
    await x.pressProduct(1);
    await x.advance(1_500);
    const ref = x.fake.activeReference!;
    x.fake.failNext('E_SEQR_UNREACHABLE', 'cancelInvoice');
    x.fake.failNext({ resultCode: 90 }, 'cancelInvoice');
    await x.pressCancel();
    await x.advance(5_000);
    const cancels = calls(x, 'cancelInvoice');
    expect(cancels.map((c) => c.startedAt - cancels[0]!.startedAt)).toEqual([0, 1_000, 3_000]);
    expect(x.fake.status(ref)).toBe('CANCELED');
    expect(kinds(x.display.screens).slice(-3)).toEqual([
      'cancelling',
      'cancelling:retrying',
      'cancelled',
    ]);
    expect(failureLines(x).filter((l) => l['operation'] === 'cancelInvoice')).toEqual([
      expect.objectContaining({
        code: 'E_SEQR_UNREACHABLE',
        msg: 'cancelInvoice failed: sent again after a backoff',
      }),
      expect.objectContaining({
        code: 'E_SEQR_RESULT',
        resultCode: 90,
        resultName: 'SYSTEM_ERROR',
      }),
    ]);
  });

  it('the customer paying (51) sees that a payment is being confirmed; the cancel is sent again until they give up', async () => {
    const x = await start();
    await x.pressProduct(1);
    await x.advance(1_500);
    const ref = x.fake.activeReference!;
    x.fake.startPaying(ref);
    await x.pressCancel();
    await x.advance(100);
    expect(x.display.current).toMatchObject({ kind: 'cancelling', note: 'paying' });
    await x.advance(4_000);
    expect(calls(x, 'cancelInvoice').length).toBeGreaterThanOrEqual(3);
    x.fake.cancelInApp(ref);
    await x.advance(9_000);
    expect(x.fake.status(ref)).toBe('CANCELED');
    expect(stepsOf(x.ledger, 'tx-1').at(-1)).toBe('tx.closed:cancelled');
  });

  it('the backoff is bounded: a cancel failing for a minute is sent at least every 8 s, with polling throughout', async () => {
    const x = await start();
    await x.pressProduct(1);
    await x.advance(1_500);
    x.fake.setDown('E_SEQR_UNREACHABLE');
    await x.pressCancel();
    await x.advance(60_000);
    const cancels = calls(x, 'cancelInvoice');
    for (let i = 1; i < cancels.length; i++)
      expect(cancels[i]!.startedAt - cancels[i - 1]!.startedAt).toBeLessThanOrEqual(8_000);
    expect(x.display.current).toMatchObject({ kind: 'outOfService' });
    x.fake.setDown(undefined);
    await x.advance(10_000);
    expect(stepsOf(x.ledger, 'tx-1').at(-1)).toBe('tx.closed:cancelled');
  });
});

describe('what the customer is told', () => {
  it('cancelled in the app while SEQR answered all along: "cancelled in the app"', async () => {
    const x = await start();
    await x.pressProduct(1);
    await x.advance(2_500);
    x.fake.cancelInApp();
    await x.advance(1_000);
    expect(x.display.current).toEqual({ kind: 'problem', problem: 'cancelledInApp' });
  });

  it('CANCELED after SEQR was silent for its reversal window: SEQR reversed the payment, not "cancelled in the app"', async () => {
    const x = await start({ config: { ...testConfig, paymentWindowMs: 60_000 } });
    await x.pressProduct(1);
    await x.advance(1_500);
    const ref = x.fake.activeReference!;
    x.fake.setDown('E_SEQR_UNREACHABLE');
    x.fake.pay(ref);
    await x.advance(21_000);
    x.fake.setDown(undefined);
    await x.advance(1_500);
    expect(x.fake.status(ref)).toBe('CANCELED');
    expect(x.display.current).toEqual({ kind: 'problem', problem: 'paymentReversed' });
  });

  it('a payment seen after the customer could have left (the customer rule) is refunded, and the screen says it came too late', async () => {
    const x = await start();
    await x.pressProduct(1);
    await x.advance(1_500);
    const ref = x.fake.activeReference!;
    x.fake.pay(ref);
    // A status call commits the payment at SEQR and its answer is lost; then SEQR cannot be
    // reached for longer than a customer would wait.
    await x.fake.getStatus(ref, 1);
    x.fake.setDown('E_SEQR_UNREACHABLE');
    await x.advance(testConfig.maxCustomerAgeMs + 10_000, 500);
    x.fake.setDown(undefined);
    await x.advance(10_000);
    expect(x.dispenser.dispenses).toHaveLength(0);
    expect(x.fake.refunded(ref)).toBe(2_500);
    expect(x.display.screens).toContainEqual(
      expect.objectContaining({ kind: 'notDelivered', late: true }),
    );
    expect(stepsOf(x.ledger, 'tx-1').at(-1)).toBe('tx.closed:refunded');
  });
});

describe('"done, but the answer lost"', () => {
  it('sendInvoice: out of service; the probe invoice supersedes the lost one and is itself cancelled and confirmed', async () => {
    const x = await start();
    x.fake.loseAnswerNext('issueInvoice');
    await x.pressProduct(1);
    await x.advance(100);
    const lost = calls(x, 'issueInvoice')[0]!;
    expect(lost.outcome).toBe('E_SEQR_UNREACHABLE');
    expect(x.display.current).toMatchObject({ kind: 'outOfService' });
    await x.advance(10_000);
    expect(x.state().kind).toBe('idle');
    // Nothing is left open at SEQR: one open invoice per terminal, the probe's cancelled.
    const refs = calls(x, 'issueInvoice').map((c) => c.outcome);
    expect(refs).toEqual(['E_SEQR_UNREACHABLE', 'ok']);
    expect(x.fake.activeReference && x.fake.status(x.fake.activeReference)).toBe('CANCELED');
    expect(x.dispenser.dispenses).toHaveLength(0);
  });

  it('getPaymentStatus reporting PAID (committed): the next poll at once brings it; sold once', async () => {
    const x = await start();
    await x.pressProduct(1);
    await x.advance(1_500);
    const ref = x.fake.activeReference!;
    x.fake.pay(ref);
    x.fake.loseAnswerNext('getStatus', { onlyPaid: true, answer: 'garbled' });
    await x.advance(600);
    const polls = calls(x, 'getStatus');
    expect(polls.at(-1)!.startedAt).toBe(polls.at(-2)!.endedAt);
    expect(x.dispenser.dispenses).toHaveLength(1);
    await x.advance(5_000);
    expect(x.dispenser.dispenses).toHaveLength(1);
  });

  it('cancelInvoice: sent again, answered "already cancelled", confirmed; cancelled once', async () => {
    const x = await start();
    await x.pressProduct(1);
    await x.advance(1_500);
    const ref = x.fake.activeReference!;
    x.fake.loseAnswerNext('cancelInvoice');
    await x.pressCancel();
    await x.advance(4_000);
    expect(x.fake.status(ref)).toBe('CANCELED');
    expect(calls(x, 'cancelInvoice').map((c) => c.outcome)).toContain('E_SEQR_UNREACHABLE');
    expect(x.display.current?.kind).toBe('cancelled');
    expect(stepsOf(x.ledger, 'tx-1').filter((s) => s === 'tx.closed:cancelled')).toHaveLength(1);
  });

  it('refundPayment: the retry is answered 98, so the customer is never refunded twice; flagged to verify', async () => {
    const x = await start({ config: { ...testConfig, refundRetryMinMs: 1_000 } });
    x.dispenser.nextResult(1, { outcome: 'notDelivered', reason: 'slotFault' });
    x.fake.loseAnswerNext('refund', { answer: 'garbled' });
    await x.pressProduct(1);
    x.fake.pay();
    await x.advance(10_000);
    expect(x.fake.refunded(x.fake.activeReference!)).toBe(2_500);
    expect(calls(x, 'refund').map((c) => c.outcome)).toEqual([
      'E_SEQR_MALFORMED',
      'E_REFUND_EXCEEDS_PAYMENT',
    ]);
    expect(stepsOf(x.ledger, 'tx-1').at(-1)).toBe('tx.closed:flagged');
  });

  it('submitPaymentReceipt: sent again until SEQR answers; recorded once taken, never owed', async () => {
    const x = await start();
    x.fake.loseAnswerNext('submitReceipt');
    await x.pressProduct(1);
    x.fake.pay();
    await x.advance(20_000);
    expect(calls(x, 'submitReceipt').map((c) => c.outcome)).toEqual(['E_SEQR_UNREACHABLE', 'ok']);
    // SEQR keeps both copies of the same document: at least once, never lost.
    expect(x.fake.receipts).toHaveLength(2);
    expect(x.fake.receipts[0]!.document).toEqual(x.fake.receipts[1]!.document);
    expect(stepsOf(x.ledger, 'tx-1')).toEqual(
      expect.arrayContaining(['receipt.submitFailed', 'receipt.submitted', 'tx.closed:sold']),
    );
    expect([...(await x.ledger.receiptsOwed()).keys()]).toEqual([]);
  });
});

describe('the receipt outbox', () => {
  it('a receipt SEQR did not take before a restart is sent by the next start, with backoff meanwhile', async () => {
    const clock = new ManualClock(T0);
    const fake = new FakePaymentGateway({ clock, reversalMs: 20_000, deadlineMs: 3_000 });
    const x = await start({ clock, fake });
    for (let i = 0; i < 4; i++) fake.failNext({ resultCode: 93 }, 'submitReceipt');
    await x.pressProduct(1);
    fake.pay();
    await x.advance(40_000, 500);
    const failedAttempts = calls(x, 'submitReceipt').map((c) => c.startedAt);
    // Backoff from 5 s, doubling.
    expect(failedAttempts.length).toBeGreaterThanOrEqual(3);
    expect(failedAttempts[2]! - failedAttempts[1]!).toBeGreaterThan(
      failedAttempts[1]! - failedAttempts[0]!,
    );
    await x.runtime.stop();
    fake.setDown(undefined);
    const restarted = await startHarness({
      clock,
      fake,
      ledgerEntries: x.ledger.entries,
      firstTxNumber: 10,
    });
    h = restarted;
    await restarted.advance(1_000);
    expect(fake.receipts).toHaveLength(1);
    expect(stepsOf(restarted.ledger, 'tx-1').at(-1)).toBe('receipt.submitted');
    expect([...(await restarted.ledger.receiptsOwed()).keys()]).toEqual([]);
  });

  it('a receipt SEQR refuses for good is logged with its code and never sent again', async () => {
    const x = await start();
    x.fake.failNext({ resultCode: 49 }, 'submitReceipt');
    await x.pressProduct(1);
    x.fake.pay();
    await x.advance(60_000);
    expect(calls(x, 'submitReceipt')).toHaveLength(1);
    expect(x.lines).toContainEqual(
      expect.objectContaining({
        code: 'E_RECEIPT_REFUSED',
        failure: 'E_SEQR_RESULT',
        resultCode: 49,
        resultName: 'INVALID_INVOICE_DATA',
        operation: 'submitPaymentReceipt',
      }),
    );
    expect([...(await x.ledger.receiptsOwed()).keys()]).toEqual([]);
  });
});

describe('the drop sensor', () => {
  it('records the drop as it happens, before the dispense finishes', async () => {
    const clock = new ManualClock(T0);
    const dispenser = new FakeDispenser({ clock, slots: [1, 2, 3], dropWindowMs: 1_500 });
    const x = await start({ clock, dispenser });
    await x.pressProduct(1);
    x.fake.pay();
    await x.advance(3_000);
    const steps = stepsOf(x.ledger, 'tx-1');
    expect(steps.indexOf('dispense.dropped')).toBeGreaterThan(steps.indexOf('dispense.started'));
    expect(steps.indexOf('dispense.dropped')).toBeLessThan(steps.indexOf('dispense.finished'));
  });
});
