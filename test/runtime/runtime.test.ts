import { afterEach, describe, expect, it } from 'vitest';
import type { FakeCall } from '../../daemon/seqr/fake-gateway.js';
import { testConfig } from '../support/core-config.js';
import { startHarness, stepsOf, type Harness } from '../support/harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.runtime.stop().catch(() => undefined);
  h = undefined;
});

const polls = (h: Harness): FakeCall[] => h.fake.calls.filter((c) => c.method === 'getStatus');

/**
 * Poll spacing rules (invariant 5): no overlap; never faster than 1 s, except one call at once
 * after a failed one (so never more than two calls start within a second); never a gap over
 * `maxGapMs`.
 */
function expectPollCadence(calls: readonly FakeCall[], maxGapMs: number): void {
  for (let i = 1; i < calls.length; i++) {
    const prev = calls[i - 1]!;
    const cur = calls[i]!;
    expect(prev.endedAt).toBeDefined();
    expect(cur.startedAt).toBeGreaterThanOrEqual(prev.endedAt!);
    if (prev.outcome === 'ok') expect(cur.startedAt - prev.startedAt).toBeGreaterThanOrEqual(1000);
    expect(cur.startedAt - prev.startedAt).toBeLessThanOrEqual(Math.max(1000, maxGapMs));
    const before = calls[i - 2];
    if (before) expect(cur.startedAt - before.startedAt).toBeGreaterThanOrEqual(1000);
  }
}

describe('runtime with fakes', () => {
  it('sells: QR, poll, PAID recorded before the relay, one dispense, receipt, submit, idle', async () => {
    h = await startHarness();
    expect(h.display.current?.kind).toBe('idle');
    await h.pressProduct(1);
    expect(h.display.current).toMatchObject({ kind: 'pay', secondsLeft: 30, totalSeconds: 30 });
    const ref = h.fake.activeReference!;
    expect(h.display.current).toMatchObject({ qrPayload: `HTTP://SEQR.SE/R${ref}` });
    await h.advance(3000);
    expect(h.display.current).toMatchObject({ kind: 'pay', secondsLeft: 27 });
    expect(h.fake.acknowledged.get(ref)).toBe(1);
    h.fake.pay();
    await h.advance(1000);
    expect(h.dispenser.dispenses).toHaveLength(1);
    expect(h.dispenser.dispenses[0]!.slot).toBe(1);
    await h.advance(1000);
    expect(h.display.current?.kind).toBe('thankYou');
    expect(h.printer.receipts).toHaveLength(1);
    expect(h.printer.receipts[0]).toMatchObject({ productName: 'Cola', invoiceReference: ref });
    expect(h.fake.receipts).toHaveLength(1);
    expect(h.fake.committed(ref)).toBe(true);
    expect(stepsOf(h.ledger, 'tx-1')).toEqual([
      'invoice.requested',
      'invoice.issued',
      'status.seen:PAID',
      'dispense.started',
      'dispense.finished',
      // The receipt's submitPaymentReceipt is a background job: it does not wait for the printer.
      'receipt.submitted',
      'receipt.printed',
      'tx.closed:sold',
    ]);
    await h.advance(5000);
    expect(h.state().kind).toBe('idle');
    expect(h.display.current?.kind).toBe('idle');
    const pollsDone = polls(h).length;
    await h.advance(5000);
    expect(polls(h)).toHaveLength(pollsDone);
    expectPollCadence(polls(h), 1000);
  });

  it('logs one info line per state change with txId, product, invoice reference and outcome', async () => {
    h = await startHarness();
    await h.pressProduct(2);
    h.fake.pay();
    await h.advance(10_000);
    const info = h.lines.filter((l) => l.level === 30 && l.msg === 'state changed');
    expect(info.map((l) => l['to'])).toEqual([
      'idle',
      'invoicing',
      'awaitingPayment',
      'dispensing',
      'finishing',
      'notice',
      'idle',
    ]);
    const closing = info.find((l) => l['outcome'] === 'sold');
    expect(closing).toMatchObject({
      txId: 'tx-1',
      product: 'Water',
      invoiceReference: h.fake.activeReference,
    });
    expect(h.lines.some((l) => l.level === 20 && l.msg === 'event ignored')).toBe(true);
  });

  it('cancel button: cancelInvoice, a confirming status call, cancelled screen, idle', async () => {
    h = await startHarness();
    await h.pressProduct(1);
    await h.advance(2000);
    const ref = h.fake.activeReference!;
    await h.pressCancel();
    await h.advance(100);
    expect(h.fake.status(ref)).toBe('CANCELED');
    const cancelAt = h.fake.calls.find((c) => c.method === 'cancelInvoice')!.endedAt!;
    expect(polls(h).some((c) => c.startedAt >= cancelAt)).toBe(true);
    expect(h.display.current?.kind).toBe('cancelled');
    expect(stepsOf(h.ledger, 'tx-1')).toEqual([
      'invoice.requested',
      'invoice.issued',
      'cancel.requested',
      'status.seen:CANCELED',
      'tx.closed:cancelled',
    ]);
    await h.advance(5000);
    expect(h.state().kind).toBe('idle');
    expect(h.dispenser.dispenses).toHaveLength(0);
  });

  it('timeout: still paying? after 30 s, cancel after another 30 s', async () => {
    h = await startHarness();
    await h.pressProduct(1);
    await h.advance(30_000);
    expect(h.display.current).toMatchObject({ kind: 'stillPaying', secondsLeft: 30 });
    await h.advance(30_000);
    expect(h.display.screens.some((s) => s.kind === 'cancelled')).toBe(true);
    expect(h.fake.status(h.fake.activeReference!)).toBe('CANCELED');
    expectPollCadence(polls(h), 1000);
    expect(polls(h).length).toBeGreaterThanOrEqual(60);
  });

  it('still paying: a product button continues with the same invoice, then the payment sells', async () => {
    h = await startHarness();
    await h.pressProduct(3);
    const ref = h.fake.activeReference!;
    await h.advance(31_000);
    expect(h.display.current?.kind).toBe('stillPaying');
    await h.pressProduct(2);
    expect(h.display.current).toMatchObject({ kind: 'pay', qrPayload: `HTTP://SEQR.SE/R${ref}` });
    expect(h.fake.calls.filter((c) => c.method === 'issueInvoice')).toHaveLength(1);
    await h.advance(20_000);
    h.fake.pay();
    await h.advance(2000);
    expect(h.dispenser.dispenses.map((d) => d.slot)).toEqual([3]);
  });

  it('ignores other product buttons while paying', async () => {
    h = await startHarness();
    await h.pressProduct(1);
    await h.pressProduct(2);
    await h.advance(1000);
    expect(h.state()).toMatchObject({
      kind: 'awaitingPayment',
      purchase: { product: { slot: 1 } },
    });
    expect(h.fake.calls.filter((c) => c.method === 'issueInvoice')).toHaveLength(1);
  });

  it('cancel racing a payment in progress (51): keeps polling and sells when PAID arrives', async () => {
    h = await startHarness();
    await h.pressProduct(1);
    await h.advance(1000);
    h.fake.startPaying();
    await h.pressCancel();
    await h.advance(3000);
    expect(h.state().kind).toBe('cancelling');
    h.fake.pay();
    await h.advance(2000);
    expect(h.dispenser.dispenses).toHaveLength(1);
    expectPollCadence(polls(h), 1000);
  });

  it('cancel answered "paid" (50): a sale, dispensed once', async () => {
    h = await startHarness();
    await h.pressProduct(1);
    await h.advance(1500);
    h.fake.pay();
    await h.pressCancel();
    await h.advance(3000);
    expect(h.fake.calls.some((c) => c.method === 'cancelInvoice')).toBe(true);
    expect(h.dispenser.dispenses).toHaveLength(1);
    expect(stepsOf(h.ledger, 'tx-1')).toContain('tx.closed:sold');
  });

  it('payment cancelled in the app: problem screen, closed cancelled, idle', async () => {
    h = await startHarness();
    await h.pressProduct(1);
    h.fake.cancelInApp();
    await h.advance(1000);
    expect(h.display.current).toEqual({ kind: 'problem', problem: 'cancelledInApp' });
    await h.advance(5000);
    expect(h.state().kind).toBe('idle');
    expect(stepsOf(h.ledger, 'tx-1').at(-1)).toBe('tx.closed:cancelled');
  });

  it('payment FAILED at SEQR: problem screen, closed failed', async () => {
    h = await startHarness();
    await h.pressProduct(1);
    h.fake.fail();
    await h.advance(1000);
    expect(h.display.current).toEqual({ kind: 'problem', problem: 'paymentFailed' });
    expect(stepsOf(h.ledger, 'tx-1').at(-1)).toBe('tx.closed:failed');
  });

  it.each([
    'E_SEQR_UNREACHABLE',
    'E_SEQR_TIMEOUT',
    'E_SEQR_HTTP',
    'E_SEQR_FAULT',
    'E_SEQR_MALFORMED',
  ] as const)(
    'a poll failing with %s keeps polling the open invoice and the payment still sells',
    async (code) => {
      h = await startHarness();
      await h.pressProduct(1);
      for (let i = 0; i < 3; i++) h.fake.failNext(code, 'getStatus');
      h.fake.pay();
      await h.advance(5000);
      expect(h.dispenser.dispenses).toHaveLength(1);
      expectPollCadence(polls(h), 1000);
    },
  );

  it('a slow poll (1.8 s): the next starts at once when it returns, never two in flight', async () => {
    h = await startHarness();
    await h.pressProduct(1);
    await h.advance(2000);
    h.fake.delayNext(1800, 'getStatus');
    await h.advance(6000);
    expect(h.fake.maxConcurrentCalls('getStatus')).toBe(1);
    const calls = polls(h);
    const slow = calls.find((c) => c.endedAt! - c.startedAt >= 1800)!;
    const after = calls[calls.indexOf(slow) + 1]!;
    expect(after.startedAt).toBe(slow.endedAt);
    expectPollCadence(calls, 1800);
  });

  it('a hanging poll (10 s deadline) while the customer pays: no overlap, no reversal, sells', async () => {
    h = await startHarness();
    await h.pressProduct(1);
    await h.advance(1000);
    h.fake.hangNext('getStatus');
    await h.advance(1000);
    h.fake.pay();
    await h.advance(12_000);
    expect(h.fake.maxConcurrentCalls('getStatus')).toBe(1);
    expect(h.dispenser.dispenses).toHaveLength(1);
    expectPollCadence(polls(h), 10_000);
  });

  it('SEQR unreachable: out of service, buttons ignored, back to idle once sendInvoice works again', async () => {
    h = await startHarness();
    h.fake.setDown('E_SEQR_UNREACHABLE');
    await h.pressProduct(1);
    await h.advance(100);
    expect(h.display.current).toMatchObject({ kind: 'outOfService', reason: 'seqrUnreachable' });
    await h.pressProduct(2);
    await h.advance(20_000);
    // sendInvoice failed: the probe is an invoice of its own, backing off; nobody's purchase.
    const issued = () => h!.fake.calls.filter((c) => c.method === 'issueInvoice');
    const probes = issued()
      .slice(1)
      .map((c) => c.startedAt);
    expect(probes.length).toBeGreaterThanOrEqual(3);
    expect(probes[2]! - probes[1]!).toBeGreaterThan(probes[1]! - probes[0]!);
    expect(h.fake.calls.filter((c) => c.method === 'getStatus')).toHaveLength(0);
    expect(h.display.screens.map((s) => s.kind)).not.toContain('pay');
    h.fake.setDown(undefined);
    await h.advance(70_000, 1000);
    expect(h.state().kind).toBe('idle');
    expect(h.display.current?.kind).toBe('idle');
    expect(stepsOf(h.ledger, 'tx-1').at(-1)).toBe('tx.closed:failed');
    // The probe that went through: recorded, cancelled and confirmed, never shown.
    const probe = h.fake.calls.filter((c) => c.method === 'cancelInvoice').at(-1)!;
    expect(h.fake.status(probe.reference!)).toBe('CANCELED');
    const open = await h.ledger.openTransactions();
    expect([...open.keys()]).toEqual([]);
    const probeTx = h.ledger.entries.find(
      (e) => e.type === 'invoice.issued' && e.invoiceReference === probe.reference,
    )!.txId;
    expect(stepsOf(h.ledger, probeTx)).toEqual([
      'invoice.requested',
      'invoice.issued',
      'cancel.requested',
      'status.seen:CANCELED',
      'tx.closed:cancelled',
    ]);
    expect(h.ledger.entriesOf(probeTx)[0]).toMatchObject({ probe: true });
    expect(h.display.screens.map((s) => s.kind)).not.toContain('cancelling');
  });

  it('credentials refused: out of service for credentials', async () => {
    h = await startHarness();
    h.fake.failNext({ resultCode: 20 }, 'issueInvoice');
    h.fake.failNext({ resultCode: 20 });
    await h.pressProduct(1);
    await h.advance(2500);
    expect(h.display.current).toMatchObject({ kind: 'outOfService', reason: 'seqrCredentials' });
    await h.advance(10_000);
    expect(h.state().kind).toBe('idle');
  });

  it('SEQR refuses the invoice (49): problem screen, then idle', async () => {
    h = await startHarness();
    h.fake.failNext({ resultCode: 49 }, 'issueInvoice');
    await h.pressProduct(1);
    expect(h.display.current).toEqual({ kind: 'problem', problem: 'invoiceFailed' });
    await h.advance(5000);
    expect(h.state().kind).toBe('idle');
  });

  it('not delivered: refund.requested recorded, refundPayment, refunded screen', async () => {
    h = await startHarness();
    h.dispenser.nextResult(1, { outcome: 'notDelivered', reason: 'slotFault' });
    await h.pressProduct(1);
    const ref = h.fake.activeReference!;
    h.fake.pay();
    await h.advance(1000);
    expect(h.display.current).toMatchObject({ kind: 'notDelivered', refund: 'refunded' });
    expect(h.fake.refunded(ref)).toBe(2500);
    expect(stepsOf(h.ledger, 'tx-1').slice(-5)).toEqual([
      'dispense.started',
      'dispense.finished',
      'refund.requested',
      'refund.confirmed',
      'tx.closed:refunded',
    ]);
  });

  it('refund failure: the screen says the money comes back, refund.failed recorded, tx stays open', async () => {
    h = await startHarness();
    h.dispenser.nextResult(1, { outcome: 'notDelivered', reason: 'slotFault' });
    h.fake.failNext('E_SEQR_UNREACHABLE', 'refund');
    await h.pressProduct(1);
    h.fake.pay();
    await h.advance(1000);
    expect(h.display.current).toMatchObject({ kind: 'notDelivered', refund: 'pending' });
    expect(stepsOf(h.ledger, 'tx-1').at(-1)).toBe('refund.failed');
    expect((await h.ledger.openTransactions()).has('tx-1')).toBe(true);
  });

  it('dispense fault (unknown outcome): uncertain, never dispensed again, refunded (the default policy)', async () => {
    h = await startHarness();
    h.dispenser.failNext(1);
    await h.pressProduct(1);
    h.fake.pay();
    await h.advance(5000);
    expect(h.dispenser.dispenses).toHaveLength(1);
    expect(stepsOf(h.ledger, 'tx-1').slice(-4)).toEqual([
      'dispense.finished',
      'refund.requested',
      'refund.confirmed',
      'tx.closed:refunded',
    ]);
    expect(h.ledger.entriesOf('tx-1').find((e) => e.type === 'dispense.finished')).toMatchObject({
      outcome: 'uncertain',
      failure: { code: 'E_DISPENSER_FAULT' },
    });
    expect(h.display.screens).toContainEqual(
      expect.objectContaining({ kind: 'notDelivered', refund: 'refunded' }),
    );
  });

  it('dispense fault with dispense.onInterrupted: flag: uncertain, flagged, never dispensed again', async () => {
    h = await startHarness({ config: { ...testConfig, onInterruptedDispense: 'flag' } });
    h.dispenser.failNext(1);
    await h.pressProduct(1);
    h.fake.pay();
    await h.advance(5000);
    expect(h.dispenser.dispenses).toHaveLength(1);
    expect(stepsOf(h.ledger, 'tx-1').slice(-2)).toEqual(['dispense.finished', 'tx.closed:flagged']);
    expect(h.ledger.entriesOf('tx-1').find((e) => e.type === 'dispense.finished')).toMatchObject({
      outcome: 'uncertain',
      failure: { code: 'E_DISPENSER_FAULT' },
    });
    expect(h.fake.calls.filter((c) => c.method === 'refund')).toHaveLength(0);
    expect(h.display.current).toMatchObject({ kind: 'notDelivered', refund: 'checking' });
  });

  it('printer failure never undoes the sale: receipt.unprinted, receipt still submitted', async () => {
    h = await startHarness();
    h.printer.failNext('E_PRINTER_PAPER_OUT');
    await h.pressProduct(1);
    h.fake.pay();
    await h.advance(2000);
    expect(stepsOf(h.ledger, 'tx-1').slice(-3).sort()).toEqual([
      'receipt.submitted',
      'receipt.unprinted',
      'tx.closed:sold',
    ]);
    expect(h.fake.receipts).toHaveLength(1);
  });

  it('the PAID record failing: no dispense, the payment is refunded', async () => {
    h = await startHarness();
    await h.pressProduct(1);
    await h.advance(1500);
    h.fake.pay();
    h.ledger.failNext(1);
    await h.advance(1000);
    expect(h.dispenser.dispenses).toHaveLength(0);
    expect(h.fake.refunded(h.fake.activeReference!)).toBe(2500);
  });

  it('the invoice.requested record failing: no sendInvoice, problem screen', async () => {
    h = await startHarness();
    h.ledger.failNext(1);
    await h.pressProduct(1);
    expect(h.fake.calls.filter((c) => c.method === 'issueInvoice')).toHaveLength(0);
    expect(h.display.current).toEqual({ kind: 'problem', problem: 'invoiceFailed' });
  });

  it('the invoice.issued record failing: the QR never shows, no poll goes out first; the invoice is cancelled and confirmed', async () => {
    h = await startHarness();
    h.ledger.failNextOf('invoice.issued');
    await h.pressProduct(1);
    await h.advance(1500);
    expect(h.display.screens.map((s) => s.kind)).not.toContain('pay');
    const reference = h.fake.calls.find((c) => c.method === 'cancelInvoice')?.reference;
    const methods = h.fake.calls.map((c) => c.method);
    expect(methods.indexOf('cancelInvoice')).toBeGreaterThan(0);
    expect(methods.indexOf('cancelInvoice')).toBeLessThan(methods.indexOf('getStatus'));
    expect(reference && h.fake.status(reference)).toBe('CANCELED');
    await h.advance(6000);
    expect(h.runtime.state().kind).toBe('idle');
  });

  it('stop during a dispense: the pulse finishes, its outcome is recorded, adapters close', async () => {
    h = await startHarness();
    await h.pressProduct(1);
    h.fake.pay();
    await h.clock.advanceAsync(1000);
    expect(h.dispenser.busy).toBe(true);
    const stopped = h.runtime.stop();
    await h.advance(1000);
    await stopped;
    expect(h.dispenser.energised).toBeUndefined();
    expect(stepsOf(h.ledger, 'tx-1')).toContain('dispense.finished');
    expect(h.ledger.entriesOf('tx-1').find((e) => e.type === 'dispense.finished')).toMatchObject({
      outcome: 'delivered',
    });
    const kinds = h.transitions.length;
    await h.advance(60_000, 1000);
    expect(h.transitions).toHaveLength(kinds);
    await expect(h.display.show({ kind: 'problem', problem: 'paymentFailed' })).rejects.toThrow();
  });

  it('recovery at start: an interrupted dispense is refunded, never dispensed; an open invoice is cancelled first', async () => {
    const price = { minor: 2500, currency: 'SEK' };
    h = await startHarness({
      ledgerEntries: [
        {
          type: 'invoice.requested',
          txId: 'old-1',
          slot: 1,
          productName: 'Cola',
          price,
          seq: 1,
          at: 1,
        },
        { type: 'invoice.issued', txId: 'old-1', invoiceReference: 'R1', seq: 2, at: 2 },
        {
          type: 'status.seen',
          txId: 'old-1',
          status: 'PAID',
          version: 2,
          ersReference: 'E1',
          seq: 3,
          at: 3,
        },
        { type: 'dispense.started', txId: 'old-1', slot: 1, seq: 4, at: 4 },
        {
          type: 'invoice.requested',
          txId: 'old-2',
          slot: 2,
          productName: 'Water',
          price,
          seq: 5,
          at: 5,
        },
        { type: 'invoice.issued', txId: 'old-2', invoiceReference: 'R2', seq: 6, at: 6 },
      ],
    });
    expect(h.fake.calls[0]).toMatchObject({ method: 'cancelInvoice', reference: 'R2' });
    // Refunded by the default policy (the fake SEQR knows no payment E1: refused for good, 23).
    expect(stepsOf(h.ledger, 'old-1').slice(0, 5)).toEqual([
      'invoice.requested',
      'invoice.issued',
      'status.seen:PAID',
      'dispense.started',
      'dispense.finished',
    ]);
    await h.advance(2000);
    expect(h.ledger.entriesOf('old-1')).toContainEqual(
      expect.objectContaining({ type: 'refund.requested', initiator: 'recovery' }),
    );
    expect(h.state().kind).toBe('cancelling');
    // The fake does not know R2 (54, to the poll and the cancel): nothing can be paid through it,
    // but the last status call before the restart may have met a payment: flagged after 30 s.
    await h.advance(testConfig.unknownInvoiceGiveUpMs + 2000, 500);
    expect(stepsOf(h.ledger, 'old-2').at(-1)).toBe('tx.closed:flagged');
    await h.advance(5000);
    expect(h.state().kind).toBe('idle');
    expect(h.dispenser.dispenses).toHaveLength(0);
  });
});
