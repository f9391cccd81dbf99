import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator, type SeqrSimulator } from '../../simulator/index.js';
import { child, childText, parseXml } from '../../simulator/xml.js';
import { ManualClock } from '../../daemon/runtime/manual-clock.js';
import { call, invoiceXml, issue, poll, reseller } from './helpers.js';

let sim: SeqrSimulator;
let clock: ManualClock;

beforeEach(async () => {
  clock = new ManualClock(Date.UTC(2026, 10, 22, 9, 0, 0));
  sim = await startSimulator({ clock });
});
afterEach(async () => {
  await sim.close();
});

const status = (answer: { ret: Parameters<typeof childText>[0] }): string | undefined =>
  childText(answer.ret, 'status');

describe('sendInvoice and getPaymentStatus', () => {
  it('issues a 17-digit reference with its upper-case QR code, and answers ISSUED version 1 with empty customerTokens', async () => {
    const answer = await call(sim, 'sendInvoice', invoiceXml('25.00'));
    expect(answer.status).toBe(200);
    expect(answer.code).toBe(0);
    expect(childText(answer.ret, 'resultDescription')).toBe('SUCCESS');
    const ref = childText(answer.ret, 'invoiceReference')!;
    expect(ref).toMatch(/^20261122\d{9}$/);
    expect(childText(answer.ret, 'invoiceQRCode')).toBe(`HTTP://SEQR.SE/R${ref}`);
    // Schema order, null fields omitted: no ersReference before resultCode.
    expect(answer.ret!.children.map((c) => c.local)).toEqual([
      'resultCode',
      'resultDescription',
      'invoiceQRCode',
      'invoiceReference',
    ]);
    const first = await poll(sim, ref);
    expect(status(first)).toBe('ISSUED');
    expect(childText(first.ret, 'version')).toBe('1');
    expect(first.text).toContain('<customerTokens/>');
    expect(first.ret!.children.map((c) => c.local)).toEqual([
      'resultCode',
      'resultDescription',
      'status',
      'customerTokens',
      'version',
    ]);
  });

  it('commits a payment on the first poll that returns PAID, with ersReference and receipt, so no reversal follows', async () => {
    const ref = await issue(sim);
    sim.control.pay(ref);
    const paid = await poll(sim, ref, 1);
    expect(status(paid)).toBe('PAID');
    const ers = childText(paid.ret, 'ersReference')!;
    expect(ers).toMatch(/^\d{25}$/);
    expect(paid.ret!.children[0]!.local).toBe('ersReference');
    const receipt = child(paid.ret, 'receipt');
    expect(childText(receipt, 'paymentReference')).toBe(ers);
    expect(childText(receipt, 'terminalId')).toBe(sim.terminal.id);
    expect(childText(receipt, 'invoiceReference')).toBe(ref);
    expect(childText(receipt, 'paymentDate')).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$/,
    );
    expect(childText(child(child(receipt, 'invoice'), 'totalAmount'), 'value')).toBe('25.00');
    expect(childText(paid.ret, 'version')).toBe('2');
    clock.advance(60_000);
    const later = sim.control.invoice(ref)!;
    expect(later).toMatchObject({ status: 'PAID', committed: true, reversed: false, polls: 1 });
    expect(status(await poll(sim, ref, 2))).toBe('PAID');
  });

  it('reverses a payment to CANCELED when no poll comes within 20 s after the payer paid', async () => {
    const ref = await issue(sim);
    sim.control.pay(ref);
    clock.advance(19_999);
    expect(sim.control.invoice(ref)!.status).toBe('PAID');
    clock.advance(1);
    expect(sim.control.invoice(ref)).toMatchObject({
      status: 'CANCELED',
      reversed: true,
      committed: false,
    });
    const answer = await poll(sim, ref);
    expect(status(answer)).toBe('CANCELED');
    expect(childText(answer.ret, 'ersReference')).toBeUndefined();
    expect(childText(answer.ret, 'version')).toBe('3');
    expect(sim.control.invoice(ref)!.history.map((h) => h.status)).toEqual([
      'ISSUED',
      'PAID',
      'CANCELED',
    ]);
  });

  it('honours a configured reversalMs', async () => {
    await sim.close();
    sim = await startSimulator({ clock, reversalMs: 5_000 });
    const ref = await issue(sim);
    sim.control.pay(ref);
    clock.advance(5_000);
    expect(sim.control.invoice(ref)!.status).toBe('CANCELED');
  });

  it('keeps one active invoice per terminal: a new sendInvoice cancels the unpaid previous one', async () => {
    const first = await issue(sim);
    expect(sim.control.activeInvoice()!.reference).toBe(first);
    const second = await issue(sim);
    expect(sim.control.invoice(first)!.status).toBe('CANCELED');
    expect(status(await poll(sim, first))).toBe('CANCELED');
    expect(sim.control.activeInvoice()!.reference).toBe(second);
    expect(sim.control.activeInvoice(sim.terminal.id)!.status).toBe('ISSUED');
  });

  it('answers 54 for a reference of another terminal or an unknown one', async () => {
    const ref = await issue(sim);
    sim.control.addTerminal({ id: 'aaaabbbbccccddddeeeeffff00001111', password: 'other-pass' });
    const other = { id: 'aaaabbbbccccddddeeeeffff00001111', password: 'other-pass' };
    expect((await poll(sim, ref, 0, other)).code).toBe(54);
    expect((await poll(sim, '20260101000000000')).code).toBe(54);
  });

  it('needs acknowledgment when acknowledgmentMode is missing: PENDING_ISSUER_ACKNOWLEDGE until updateInvoice, versions increasing', async () => {
    const answer = await call(
      sim,
      'sendInvoice',
      '<invoice><title>t</title><totalAmount><currency>SEK</currency><value>30</value></totalAmount></invoice>',
    );
    const ref = childText(answer.ret, 'invoiceReference')!;
    expect(() => {
      sim.control.pay(ref);
    }).toThrow(/acknowledg/);
    sim.control.scan(ref);
    const pending = await poll(sim, ref, 1);
    expect(status(pending)).toBe('PENDING_ISSUER_ACKNOWLEDGE');
    expect(childText(pending.ret, 'version')).toBe('2');
    const update = await call(
      sim,
      'updateInvoice',
      `<invoiceReference>${ref}</invoiceReference><invoice><totalAmount><currency>SEK</currency><value>27</value></totalAmount></invoice>`,
    );
    expect(update.code).toBe(0);
    const issued = await poll(sim, ref, 2);
    expect(status(issued)).toBe('ISSUED');
    expect(childText(issued.ret, 'version')).toBe('3');
    sim.control.pay(ref);
    const paid = await poll(sim, ref, 3);
    expect(childText(paid.ret, 'version')).toBe('4');
    expect(sim.control.invoice(ref)!.amount).toEqual({ currency: 'SEK', value: '27' });
  });

  it('treats a missing acknowledgmentMode as NO_ACKNOWLEDGMENT when configured so', async () => {
    await sim.close();
    sim = await startSimulator({ clock, missingAckMode: 'NO_ACKNOWLEDGMENT' });
    const answer = await call(
      sim,
      'sendInvoice',
      '<invoice><totalAmount><currency>SEK</currency><value>30</value></totalAmount></invoice>',
    );
    const ref = childText(answer.ret, 'invoiceReference')!;
    sim.control.scan(ref);
    expect(sim.control.invoice(ref)!.status).toBe('ISSUED');
    sim.control.pay(ref);
    expect(sim.control.invoice(ref)!.status).toBe('PAID');
  });

  it('answers FAILED and CANCELED from the payer side', async () => {
    const a = await issue(sim);
    sim.control.fail(a);
    expect(status(await poll(sim, a))).toBe('FAILED');
    const b = await issue(sim);
    sim.control.cancelInApp(b);
    expect(status(await poll(sim, b))).toBe('CANCELED');
    expect(() => {
      sim.control.pay(b);
    }).toThrow(expect.objectContaining({ status: 409, code: 'E_SIM_CONTROL' }));
    expect(() => {
      sim.control.pay('nope');
    }).toThrow(expect.objectContaining({ status: 404 }));
  });

  it('rejects invalid invoice data with 49 and a bad notificationUrl with 64', async () => {
    expect((await call(sim, 'sendInvoice', '<invoice><title>x</title></invoice>')).code).toBe(49);
    expect(
      (
        await call(
          sim,
          'sendInvoice',
          invoiceXml('1.00', '<notificationUrl>ftp://x</notificationUrl>'),
        )
      ).code,
    ).toBe(64);
  });
});

describe('cancelInvoice races', () => {
  it('answers 0 for an issued invoice, 95 when already cancelled, 51 while the payer pays, 50 once paid', async () => {
    const a = await issue(sim);
    const cancel = (ref: string) =>
      call(sim, 'cancelInvoice', `<invoiceReference>${ref}</invoiceReference>`);
    expect((await cancel(a)).code).toBe(0);
    expect(status(await poll(sim, a))).toBe('CANCELED');
    const again = await cancel(a);
    expect(again.code).toBe(95);
    expect(childText(again.ret, 'resultDescription')).toBe('INVOICE_ALREADY_CANCELED');

    const b = await issue(sim);
    sim.control.startPaying(b);
    const busy = await cancel(b);
    expect(busy.code).toBe(51);
    expect(childText(busy.ret, 'resultDescription')).toBe('CANNOT_CANCEL_INVOICE_IN_PROGRESS');
    sim.control.pay(b);
    const paid = await cancel(b);
    expect(paid.code).toBe(50);
    expect(status(await poll(sim, b))).toBe('PAID');
  });
});

describe('reservations', () => {
  it('reserves for reservation modes and commits with commitReservation (96 when not reserved)', async () => {
    const ref = await issue(sim, '40.00');
    expect(
      (await call(sim, 'commitReservation', `<invoiceReference>${ref}</invoiceReference>`)).code,
    ).toBe(96);
    const answer = await call(
      sim,
      'sendInvoice',
      '<invoice><paymentMode>RESERVATION_REQUIRED_PRELIMINARY_AMOUNT</paymentMode><acknowledgmentMode>NO_ACKNOWLEDGMENT</acknowledgmentMode>' +
        '<totalAmount><currency>SEK</currency><value>40.00</value></totalAmount></invoice>',
    );
    const res = childText(answer.ret, 'invoiceReference')!;
    sim.control.pay(res);
    expect(status(await poll(sim, res))).toBe('RESERVED');
    const commit = await call(
      sim,
      'commitReservation',
      `<amount><currency>SEK</currency><value>17.50</value></amount><invoiceReference>${res}</invoiceReference>`,
    );
    expect(commit.code).toBe(0);
    expect(status(await poll(sim, res))).toBe('PAID');
    expect(sim.control.invoice(res)).toMatchObject({ committed: true, amount: { value: '17.50' } });
  });
  it('expires a reservation not committed within commitReservationTimeout seconds', async () => {
    const answer = await call(
      sim,
      'sendInvoice',
      '<invoice><paymentMode>RESERVATION_REQUIRED</paymentMode><acknowledgmentMode>NO_ACKNOWLEDGMENT</acknowledgmentMode>' +
        '<totalAmount><currency>SEK</currency><value>5</value></totalAmount><commitReservationTimeout>60</commitReservationTimeout></invoice>',
    );
    const ref = childText(answer.ret, 'invoiceReference')!;
    sim.control.pay(ref);
    clock.advance(59_999);
    expect(status(await poll(sim, ref))).toBe('RESERVED');
    clock.advance(1);
    expect(status(await poll(sim, ref))).toBe('EXPIRED');
    expect(
      (await call(sim, 'commitReservation', `<invoiceReference>${ref}</invoiceReference>`)).code,
    ).toBe(96);
  });
});

describe('refunds and receipts', () => {
  it('refunds partially, refuses more than the original with 98, and 23 for an unknown ersReference', async () => {
    const ref = await issue(sim, '25.00');
    sim.control.pay(ref);
    const ers = childText((await poll(sim, ref)).ret, 'ersReference')!;
    const refund = (ersRef: string, value: string) =>
      call(
        sim,
        'refundPayment',
        `<ersReference>${ersRef}</ersReference><invoice><title>Refund</title><cashierId>op</cashierId>` +
          `<totalAmount><currency>SEK</currency><value>${value}</value></totalAmount></invoice>`,
      );
    const first = await refund(ers, '10.00');
    expect(first.code).toBe(0);
    const refundRef = childText(first.ret, 'ersReference')!;
    expect(refundRef).toMatch(/^\d{25}$/);
    expect(refundRef).not.toBe(ers);
    const over = await refund(ers, '15.01');
    expect(over.code).toBe(98);
    expect(childText(over.ret, 'resultDescription')).toBe(
      'Sum of refunds can not be more than original transaction',
    );
    expect((await refund(ers, '15.00')).code).toBe(0);
    expect((await refund('2012050100000000000000001', '1.00')).code).toBe(23);
    expect(sim.control.invoice(ref)!.refunds).toEqual([
      { ersReference: refundRef, value: '10.00' },
      expect.objectContaining({ value: '15.00' }),
    ]);
  });

  it('accepts submitPaymentReceipt for a known payment or refund and answers 23 otherwise', async () => {
    const ref = await issue(sim);
    sim.control.pay(ref);
    const ers = childText((await poll(sim, ref)).ret, 'ersReference')!;
    const doc =
      '<receiptDocument><mimeType>text/plain</mimeType><receiptData>aGVsbG8=</receiptData><receiptType>PAYMENT_RECEIPT</receiptType></receiptDocument>';
    expect(
      (await call(sim, 'submitPaymentReceipt', `<ersReference>${ers}</ersReference>${doc}`)).code,
    ).toBe(0);
    expect(
      (await call(sim, 'submitPaymentReceipt', `<ersReference>123</ersReference>${doc}`)).code,
    ).toBe(23);
    expect(sim.control.invoice(ref)!.receipts).toBe(1);
  });
});

describe('authentication', () => {
  it('answers 20 for a wrong password, 29 for an unknown terminal, 37 for an unknown reseller user, 21 for a short terminal password', async () => {
    expect((await poll(sim, '1', 0, { id: sim.terminal.id, password: 'wrong' })).code).toBe(20);
    const unknown = await poll(sim, '1', 0, {
      id: '0123456789abcdef0123456789abcdef',
      password: 'x',
    });
    expect(unknown.code).toBe(29);
    expect(childText(unknown.ret, 'resultDescription')).toBe('INVALID_INITIATOR_PRINCIPAL_ID');
    const mark = (creds: Parameters<typeof call>[3]) =>
      call(sim, 'markTransactionPeriod', '', creds);
    expect(
      (await mark({ id: 'nobody', userId: '9900', password: '1234', type: 'RESELLERUSER' })).code,
    ).toBe(37);
    expect((await mark({ ...reseller(sim), password: 'bad' })).code).toBe(20);
    expect((await mark(reseller(sim))).code).toBe(0);
    // The combined "id/userId" form without a userId element.
    expect(
      (
        await mark({
          id: `${sim.reseller.id}/${sim.reseller.userId}`,
          password: sim.reseller.password,
          type: 'RESELLERUSER',
        })
      ).code,
    ).toBe(0);
    sim.control.addTerminal({ id: 'fedcba9876543210fedcba9876543210', password: 'abc' });
    expect(
      (await poll(sim, '1', 0, { id: 'fedcba9876543210fedcba9876543210', password: 'abc' })).code,
    ).toBe(21);
  });

  it('registers a terminal for a reseller user, which can then invoice; unregisterTerminal removes it', async () => {
    const answer = await call(
      sim,
      'registerTerminal',
      '<externalTerminalId>Shop 1/POS 2</externalTerminalId><password>new-secret</password><name>Vending 2</name>',
      reseller(sim),
    );
    expect(answer.code).toBe(0);
    const id = childText(answer.ret, 'terminalId')!;
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    const creds = { id, password: 'new-secret' };
    const ref = await issue(sim, '5.00', '', creds);
    expect(sim.control.activeInvoice(id)!.reference).toBe(ref);
    expect(sim.control.activeInvoice()).toBeUndefined();
    sim.control.pay(ref);
    const paid = await poll(sim, ref, 0, creds);
    expect(childText(child(paid.ret, 'receipt'), 'receiverName')).toBe('Vending 2');
    expect((await call(sim, 'registerTerminal', '<password>x</password>')).code).toBe(21);
    expect((await call(sim, 'unregisterTerminal', '', creds)).code).toBe(0);
    expect((await poll(sim, ref, 0, creds)).code).toBe(29);
  });

  it('assigns an alphanumeric seqrId once (53 when invalid or taken by another terminal)', async () => {
    expect((await call(sim, 'assignSeqrId', '<seqrId>ABC123456</seqrId>')).code).toBe(0);
    expect((await call(sim, 'assignSeqrId', '<seqrId>ABC-1</seqrId>')).code).toBe(53);
    sim.control.addTerminal({ id: '11112222333344445555666677778888', password: 'pass1' });
    const other = { id: '11112222333344445555666677778888', password: 'pass1' };
    expect((await call(sim, 'assignSeqrId', '<seqrId>ABC123456</seqrId>', other)).code).toBe(53);
    expect((await call(sim, 'assignSeqrId', '<seqrId>ABC123456</seqrId>')).code).toBe(0);
  });
});

describe('reports', () => {
  const report = (id: string, params: string) =>
    call(
      sim,
      'executeReport',
      `<reportId>${id}</reportId><language>en</language><parameters><parameter>${params}</parameter></parameters>`,
      reseller(sim),
    );
  const entry = (k: string, v: string) => `<entry><key>${k}</key><value>${v}</value></entry>`;

  it('answers REPORT_NOT_READY first, then a summary of the committed payments of the period', async () => {
    for (const value of ['25.00', '10.50', '3']) {
      const ref = await issue(sim, value);
      sim.control.pay(ref);
      await poll(sim, ref);
    }
    const reversed = await issue(sim, '99.00');
    sim.control.pay(reversed);
    clock.advance(20_000);
    const mark = await call(sim, 'markTransactionPeriod', '', reseller(sim));
    const period = childText(mark.ret, 'transactionPeriodId')!;
    expect(period).toMatch(/^\d{25}$/);
    const notReady = await report('Reconciliation/Shop.xml', entry('transactionPeriodId', period));
    expect(notReady.code).toBe(2);
    expect(childText(notReady.ret, 'resultDescription')).toBe('REPORT_NOT_READY');
    const ready = await report('Reconciliation/Shop.xml', entry('transactionPeriodId', period));
    expect(ready.code).toBe(0);
    const r = child(ready.ret, 'report')!;
    expect(r.children.map((c) => c.local)).toEqual([
      'title',
      'mimeType',
      'content',
      'contentString',
    ]);
    const text = childText(r, 'contentString')!;
    expect(Buffer.from(childText(r, 'content')!, 'base64').toString('utf8')).toBe(text);
    const doc = parseXml(text);
    expect(doc.local).toBe('ResellerTransactionSummary');
    expect(childText(child(doc, 'Meta'), 'TransactionPeriodId')).toBe(period);
    expect(childText(child(doc, 'Meta'), 'ResellerId')).toBe(sim.reseller.id);
    expect(childText(child(doc, 'Row'), 'SalesCount')).toBe('3');
    expect(childText(child(doc, 'Row'), 'SalesTotal')).toBe('38.50000');

    // The next period starts where this one ended: nothing in it yet.
    const next = childText(
      (await call(sim, 'markTransactionPeriod', '', reseller(sim))).ret,
      'transactionPeriodId',
    )!;
    await report('Reconciliation/Shop.xml', entry('transactionPeriodId', next));
    const empty = parseXml(
      childText(
        child(
          (await report('Reconciliation/Shop.xml', entry('transactionPeriodId', next))).ret,
          'report',
        ),
        'contentString',
      )!,
    );
    expect(childText(child(empty, 'Row'), 'SalesCount')).toBe('0');
  });

  it('builds per-terminal detail reports only for periods marked with TERMINALID', async () => {
    const ref = await issue(sim, '12.00');
    sim.control.pay(ref);
    const ers = childText((await poll(sim, ref)).ret, 'ersReference')!;
    const params = `<parameters><parameter>${entry('TERMINALID', sim.terminal.id)}</parameter></parameters>`;
    const mark = await call(sim, 'markTransactionPeriod', params, reseller(sim));
    const period = childText(mark.ret, 'transactionPeriodId')!;
    const both = entry('transactionPeriodId', period) + entry('TERMINALID', sim.terminal.id);
    expect((await report('Reconciliation/STD_RECON_007.xml', both)).code).toBe(2);
    const ready = await report('Reconciliation/STD_RECON_007.xml', both);
    expect(ready.code).toBe(0);
    const r = child(ready.ret, 'report');
    expect(childText(r, 'title')).toBe(`STD_RECON_007_${period}.xml`);
    const row = child(parseXml(childText(r, 'contentString')!), 'Row');
    expect(childText(row, 'TerminalId')).toBe(sim.terminal.id);
    expect(childText(row, 'CashierId')).toBe('slot-1');
    expect(childText(row, 'SalesAmount')).toBe('12.00000');
    expect(childText(row, 'ErsReference')).toBe(ers);
    // A shop-wide period never becomes ready for a terminal report.
    const shop = childText(
      (await call(sim, 'markTransactionPeriod', '', reseller(sim))).ret,
      'transactionPeriodId',
    )!;
    const shopParams = entry('transactionPeriodId', shop) + entry('TERMINALID', sim.terminal.id);
    expect((await report('Reconciliation/STD_RECON_006.xml', shopParams)).code).toBe(2);
    expect((await report('Reconciliation/STD_RECON_006.xml', shopParams)).code).toBe(2);
  });
});
