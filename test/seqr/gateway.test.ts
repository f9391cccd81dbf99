// SeqrPaymentGateway: the PaymentGateway port over the SOAP client, against the simulator over a
// loopback socket (and a recording stub where the exact request matters).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SeqrSimulator } from '../../simulator/index.js';
import { systemClock, type Clock } from '../../daemon/ports/clock.js';
import type { InvoiceRequest } from '../../daemon/ports/payment-gateway.js';
import { SeqrClient } from '../../daemon/seqr/client.js';
import { SeqrPaymentGateway } from '../../daemon/seqr/gateway.js';
import { answer, startStub } from './stub-server.js';
import { parseXml, walk } from './xml-tree.js';
import { clientFor, expectNoSecrets, rejectionOf, startSim, TERMINAL_PASSWORD } from './support.js';

let sim: SeqrSimulator;
let client: SeqrClient;
let gateway: SeqrPaymentGateway;

beforeEach(async () => {
  sim = await startSim();
  client = await clientFor(sim);
  gateway = new SeqrPaymentGateway(client);
});

afterEach(async () => {
  client.close();
  await sim.close();
});

const cola: InvoiceRequest = {
  clientInvoiceId: 'tx-42',
  title: 'Vending, hall A',
  itemDescription: 'Cola 33 cl',
  price: { minor: 2500, currency: 'SEK' },
  taxRatePercent: 12,
  cashierId: 'machine-1/slot-2',
  footer: 'Thank you',
};

async function paid(): Promise<{ reference: string; ersReference: string }> {
  const { reference } = await gateway.issueInvoice(cola);
  sim.control.pay(reference);
  const status = await gateway.getStatus(reference, 0);
  expect(status.status).toBe('PAID');
  return { reference, ersReference: status.ersReference! };
}

describe('SeqrPaymentGateway', () => {
  it('issueInvoice: an immediate-debit invoice without acknowledgment, and the upper-case QR', async () => {
    const issued = await gateway.issueInvoice(cola);
    expect(issued.qrPayload).toBe(`HTTP://SEQR.SE/R${issued.reference}`);
    expect(sim.control.invoice(issued.reference)).toMatchObject({
      status: 'ISSUED',
      paymentMode: 'IMMEDIATE_DEBIT',
      acknowledgmentMode: 'NO_ACKNOWLEDGMENT',
      amount: { currency: 'SEK', value: '25.00' },
      clientInvoiceId: 'tx-42',
      title: 'Vending, hall A',
    });
  });

  it('getStatus: ISSUED, then PAID with ersReference and paidAt, acknowledging versions', async () => {
    const { reference } = await gateway.issueInvoice(cola);
    const first = await gateway.getStatus(reference, 0);
    expect(first).toEqual({ status: 'ISSUED', version: first.version });
    sim.control.pay(reference);
    const second = await gateway.getStatus(reference, first.version);
    expect(second.status).toBe('PAID');
    expect(second.version).toBeGreaterThan(first.version);
    expect(second.ersReference).toBe(sim.control.invoice(reference)?.ersReference);
    expect(second.paidAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/);
    expect(sim.control.invoice(reference)?.committed).toBe(true);
  });

  it('cancelInvoice: 0 -> cancelled, then 95 -> alreadyCancelled', async () => {
    const { reference } = await gateway.issueInvoice(cola);
    await expect(gateway.cancelInvoice(reference)).resolves.toBe('cancelled');
    expect((await gateway.getStatus(reference, 0)).status).toBe('CANCELED');
    await expect(gateway.cancelInvoice(reference)).resolves.toBe('alreadyCancelled');
  });

  it('cancelInvoice: a payer who is paying -> inProgress (51), one who paid -> paid (50)', async () => {
    const { reference } = await gateway.issueInvoice(cola);
    sim.control.startPaying(reference);
    await expect(gateway.cancelInvoice(reference)).resolves.toBe('inProgress');
    sim.control.pay(reference);
    await expect(gateway.cancelInvoice(reference)).resolves.toBe('paid');
  });

  it('cancelInvoice: 48 PAYMENT_IN_PROGRESS -> inProgress', async () => {
    sim.control.injectFault('cancelInvoice', { kind: 'result', resultCode: 48 });
    await expect(gateway.cancelInvoice('1')).resolves.toBe('inProgress');
  });

  it('cancelInvoice: other codes reject (54 -> E_SEQR_UNKNOWN_INVOICE, 20 -> E_SEQR_AUTH)', async () => {
    sim.control.injectFault('cancelInvoice', { kind: 'result', resultCode: 54 }, { times: 1 });
    await expect(gateway.cancelInvoice('1')).rejects.toMatchObject({
      code: 'E_SEQR_UNKNOWN_INVOICE',
      operation: 'cancelInvoice',
      resultCode: 54,
      resultName: 'INVALID_INVOICE_REFERENCE',
    });
    sim.control.injectFault('cancelInvoice', { kind: 'result', resultCode: 20 }, { times: 1 });
    await expect(gateway.cancelInvoice('1')).rejects.toMatchObject({ code: 'E_SEQR_AUTH' });
  });

  it('submitReceipt uploads the receipt for the payment', async () => {
    const { reference, ersReference } = await paid();
    await gateway.submitReceipt(ersReference, {
      mimeType: 'text/plain',
      text: 'Cola 33 cl  25,00 kr\nSEQR payment',
      receiptType: 'PAYMENT_RECEIPT',
    });
    expect(sim.control.invoice(reference)?.receipts).toBe(1);
  });

  it('refund resolves with the refund reference; more than paid rejects E_REFUND_EXCEEDS_PAYMENT (98)', async () => {
    const { reference, ersReference } = await paid();
    const { refundReference } = await gateway.refund({
      ersReference,
      amount: { minor: 2500, currency: 'SEK' },
      title: 'Refund: Cola 33 cl (not delivered)',
      cashierId: 'machine-1/slot-2',
    });
    expect(sim.control.invoice(reference)?.refunds).toEqual([
      { ersReference: refundReference, value: '25.00' },
    ]);
    const err = await rejectionOf(
      gateway.refund({
        ersReference,
        amount: { minor: 1, currency: 'SEK' },
        title: 'Refund again',
        cashierId: 'x',
      }),
    );
    expect(err).toMatchObject({
      code: 'E_REFUND_EXCEEDS_PAYMENT',
      resultCode: 98,
      retryable: false,
    });
  });

  it('refund of an unknown payment rejects E_REFUND_REFUSED (23 INVALID_ERS_REFERENCE)', async () => {
    await expect(
      gateway.refund({
        ersReference: '2099010100000000000000000',
        amount: { minor: 100, currency: 'SEK' },
        title: 'Refund',
        cashierId: 'x',
      }),
    ).rejects.toMatchObject({
      code: 'E_REFUND_REFUSED',
      resultCode: 23,
      resultName: 'INVALID_ERS_REFERENCE',
    });
  });

  it('applies a per-method deadline and leaves the others at the client default', async () => {
    const strict = new SeqrPaymentGateway(client, { deadlines: { getStatus: 250 } });
    const { reference } = await strict.issueInvoice(cola);
    sim.control.injectFault('*', { kind: 'delay', ms: 1200 });
    const err = await rejectionOf(strict.getStatus(reference, 0));
    expect(err).toMatchObject({ code: 'E_SEQR_TIMEOUT', retryable: true });
    expectNoSecrets(err, [TERMINAL_PASSWORD]);
    await expect(strict.cancelInvoice(reference)).resolves.toBe('cancelled');
  });

  it('passes transport failures through as retryable VendErrors', async () => {
    sim.control.injectFault('sendInvoice', { kind: 'http', status: 502, body: '<html>bad</html>' });
    await expect(gateway.issueInvoice(cola)).rejects.toMatchObject({
      code: 'E_SEQR_HTTP',
      httpStatus: 502,
      retryable: true,
    });
  });
});

describe('SeqrPaymentGateway requests on the wire', () => {
  it('sends one row of quantity one with the price, tax rate and the clock as issueDate', async () => {
    const stub = await startStub(({ operation }) => ({
      kind: 'xml',
      body: answer(operation, '<resultCode>0</resultCode><invoiceReference>77</invoiceReference>'),
    }));
    const clock: Clock = { ...systemClock, now: () => Date.UTC(2026, 10, 22, 8, 30) };
    const onStub = await SeqrClient.create({
      endpoint: stub.url,
      terminal: { id: 't', password: TERMINAL_PASSWORD },
    });
    try {
      await new SeqrPaymentGateway(onStub, { clock }).issueInvoice(cola);
      const invoice = walk(parseXml(stub.requests[0]!.body)).find((n) => n.local === 'invoice')!;
      const text = (path: string) =>
        path
          .split('/')
          .reduce((node, name) => node.children.find((c) => c.local === name)!, invoice).text;
      expect(invoice.children.map((c) => c.local)).toEqual([
        'paymentMode',
        'acknowledgmentMode',
        'issueDate',
        'title',
        'clientInvoiceId',
        'invoiceRows',
        'totalAmount',
        'cashierId',
        'footer',
      ]);
      expect(text('issueDate')).toBe('2026-11-22T08:30:00.000Z');
      const rows = invoice.children.find((c) => c.local === 'invoiceRows')!.children;
      expect(rows).toHaveLength(1);
      expect(rows[0]!.children.map((c) => [c.local, c.children.length ? '' : c.text])).toEqual([
        ['itemDescription', 'Cola 33 cl'],
        ['itemQuantity', '1'],
        ['itemTaxRate', '12'],
        ['itemTotalAmount', ''],
        ['itemUnitPrice', ''],
      ]);
      expect(text('totalAmount/value')).toBe('25.00');
      expect(text('invoiceRows/invoiceRow/itemTotalAmount/value')).toBe('25.00');
    } finally {
      onStub.close();
      await stub.close();
    }
  });

  it('sends the receipt text base64-encoded as UTF-8', async () => {
    const stub = await startStub(({ operation }) => ({
      kind: 'xml',
      body: answer(operation, '<resultCode>0</resultCode>'),
    }));
    const onStub = await SeqrClient.create({
      endpoint: stub.url,
      terminal: { id: 't', password: TERMINAL_PASSWORD },
    });
    try {
      const text = 'Cola 33 cl – 25,00 kr\nÅtervänd flaska';
      await new SeqrPaymentGateway(onStub).submitReceipt('E1', {
        mimeType: 'text/plain',
        text,
        receiptType: 'PAYMENT_RECEIPT',
      });
      const doc = walk(parseXml(stub.requests[0]!.body)).find(
        (n) => n.local === 'receiptDocument',
      )!;
      expect(doc.children.map((c) => c.local)).toEqual(['mimeType', 'receiptData', 'receiptType']);
      expect(Buffer.from(doc.children[1]!.text, 'base64').toString('utf8')).toBe(text);
      expect(
        walk(parseXml(stub.requests[0]!.body)).find((n) => n.local === 'ersReference')?.text,
      ).toBe('E1');
    } finally {
      onStub.close();
      await stub.close();
    }
  });
});
