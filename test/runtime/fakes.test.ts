// The in-memory fakes the runtime and the demo mode use: SEQR's rules in the fake gateway, the
// recording display, the memory ledger.
import { describe, expect, it } from 'vitest';
import { errorCodeOf } from '../../daemon/errors.js';
import { MemoryLedger } from '../../daemon/ledger/memory-ledger.js';
import { systemClock } from '../../daemon/ports/clock.js';
import { ManualClock } from '../../daemon/runtime/manual-clock.js';
import { FakePaymentGateway } from '../../daemon/seqr/fake-gateway.js';
import { SeqrOutcomeError } from '../../daemon/seqr/domain-codes.js';
import { FakeDisplay } from '../../hardware/display/fake-display.js';
import { FakePrinter } from '../../hardware/printer/fake-printer.js';
import { RECEIPT } from '../hardware/receipt.js';

const request = {
  clientInvoiceId: 'tx-1',
  title: 'T',
  itemDescription: 'Cola',
  price: { minor: 2500, currency: 'SEK' },
  cashierId: 'm',
};

describe('FakePaymentGateway', () => {
  it('commits a payment by polling; unpolled for reversalMs it is reversed to CANCELED', async () => {
    const clock = new ManualClock();
    const gw = new FakePaymentGateway({ clock, reversalMs: 20_000 });
    const a = await gw.issueInvoice(request);
    gw.pay();
    const status = await gw.getStatus(a.reference, 1);
    expect(status).toMatchObject({ status: 'PAID', version: 2 });
    expect(status.ersReference).toMatch(/^\d{25}$/);
    expect(gw.committed(a.reference)).toBe(true);
    const b = await gw.issueInvoice(request);
    gw.pay(b.reference);
    clock.advance(20_000);
    expect((await gw.getStatus(b.reference, 0)).status).toBe('CANCELED');
  });

  it('one active invoice: a new one cancels the previous unpaid one', async () => {
    const gw = new FakePaymentGateway({ clock: new ManualClock() });
    const a = await gw.issueInvoice(request);
    await gw.issueInvoice(request);
    expect(gw.status(a.reference)).toBe('CANCELED');
  });

  it('cancel answers cancelled / inProgress / paid / alreadyCancelled like codes 0, 51, 50, 95', async () => {
    const gw = new FakePaymentGateway({ clock: new ManualClock() });
    const a = await gw.issueInvoice(request);
    gw.startPaying();
    expect(await gw.cancelInvoice(a.reference)).toBe('inProgress');
    gw.pay();
    expect(await gw.cancelInvoice(a.reference)).toBe('paid');
    const b = await gw.issueInvoice(request);
    expect(await gw.cancelInvoice(b.reference)).toBe('cancelled');
    expect(await gw.cancelInvoice(b.reference)).toBe('alreadyCancelled');
  });

  it('refunds are bounded by the payment (98); unknown references are 54 / 23, in domain terms', async () => {
    const gw = new FakePaymentGateway({ clock: new ManualClock() });
    const a = await gw.issueInvoice(request);
    gw.pay();
    const { ersReference } = await gw.getStatus(a.reference, 0);
    const refund = {
      ersReference: ersReference!,
      amount: request.price,
      title: 'r',
      cashierId: 'm',
    };
    await gw.refund(refund);
    await expect(gw.refund(refund)).rejects.toMatchObject({
      resultCode: 98,
      code: 'E_REFUND_EXCEEDS_PAYMENT',
      retryable: false,
    });
    await expect(gw.getStatus('nope', 0)).rejects.toMatchObject({
      resultCode: 54,
      code: 'E_SEQR_UNKNOWN_INVOICE',
    });
    const unknown = gw.refund({ ...refund, ersReference: 'x' });
    await expect(unknown).rejects.toBeInstanceOf(SeqrOutcomeError);
    await expect(unknown).rejects.toMatchObject({
      resultCode: 23,
      resultName: 'INVALID_ERS_REFERENCE',
      code: 'E_REFUND_REFUSED',
    });
  });

  it('injects transport failures, auth codes, hangs until the deadline, and counts concurrency', async () => {
    const clock = new ManualClock();
    const gw = new FakePaymentGateway({ clock, deadlineMs: 5000 });
    gw.failNext('E_SEQR_UNREACHABLE');
    expect(errorCodeOf(await gw.issueInvoice(request).catch((e: unknown) => e))).toBe(
      'E_SEQR_UNREACHABLE',
    );
    gw.failNext({ resultCode: 20 });
    expect(errorCodeOf(await gw.issueInvoice(request).catch((e: unknown) => e))).toBe(
      'E_SEQR_AUTH',
    );
    const a = await gw.issueInvoice(request);
    gw.hangNext('getStatus');
    const hanging = gw.getStatus(a.reference, 0).catch((e: unknown) => e);
    const other = gw.getStatus(a.reference, 0);
    await clock.advanceAsync(5000);
    expect(errorCodeOf(await hanging)).toBe('E_SEQR_TIMEOUT');
    await other;
    expect(gw.maxConcurrentCalls('getStatus')).toBe(2);
  });
});

describe('FakeDisplay and MemoryLedger', () => {
  it('the display records screens, fails on demand and refuses after close', async () => {
    const d = new FakeDisplay();
    await d.show({ kind: 'problem', problem: 'paymentFailed' });
    d.failNext();
    await expect(d.show({ kind: 'problem', problem: 'invoiceFailed' })).rejects.toMatchObject({
      code: 'E_DISPLAY_WRITE',
    });
    expect(d.screens).toHaveLength(1);
    expect(d.current).toEqual({ kind: 'problem', problem: 'paymentFailed' });
    await d.close();
    await expect(d.show({ kind: 'problem', problem: 'paymentFailed' })).rejects.toMatchObject({
      code: 'E_CLOSED',
    });
  });

  it('the ledger keeps order, lists only open transactions, and fails writes on demand', async () => {
    const l = new MemoryLedger();
    const requested = (txId: string) =>
      ({
        type: 'invoice.requested',
        txId,
        slot: 1,
        productName: 'Cola',
        price: { minor: 2500, currency: 'SEK' },
      }) as const;
    await l.record(requested('a'), 1);
    await l.record({ type: 'tx.closed', txId: 'a', outcome: 'sold' }, 2);
    await l.record(requested('b'), 3);
    l.failNext();
    await expect(l.record({ type: 'receipt.submitted', txId: 'b' }, 4)).rejects.toMatchObject({
      code: 'E_LEDGER_WRITE',
    });
    const open = await l.openTransactions();
    expect([...open.keys()]).toEqual(['b']);
    expect(open.get('b')).toEqual([{ ...requested('b'), seq: 3, at: 3 }]);
  });
});

describe('FakePrinter', () => {
  it('keeps only the latest keepReceipts receipts (a demo that runs for weeks)', async () => {
    const printer = new FakePrinter({ clock: systemClock, keepReceipts: 2 });
    const printed: string[] = [];
    printer.onPrint((r) => printed.push(r.invoiceReference));
    for (const ref of ['1', '2', '3']) await printer.print({ ...RECEIPT, invoiceReference: ref });
    expect(printer.receipts.map((r) => r.invoiceReference)).toEqual(['2', '3']);
    expect(printed).toEqual(['1', '2', '3']);
  });
});
