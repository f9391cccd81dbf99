// Every operation of the client against the SEQR simulator over a real loopback socket.
import { createRequire } from 'node:module';
import { format, inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SeqrSimulator } from '../../simulator/index.js';
import { SeqrResultError } from '../../daemon/seqr/call-errors.js';
import { SeqrClient } from '../../daemon/seqr/client.js';
import type { SeqrInvoice } from '../../daemon/seqr/wire.js';
import {
  clientFor,
  countingProxy,
  rejectionOf,
  RESELLER_PASSWORD,
  startSim,
  TERMINAL_PASSWORD,
} from './support.js';

let sim: SeqrSimulator;
let client: SeqrClient;

beforeEach(async () => {
  sim = await startSim();
  client = await clientFor(sim);
});

afterEach(async () => {
  client.close();
  await sim.close();
});

const cola: SeqrInvoice = {
  paymentMode: 'IMMEDIATE_DEBIT',
  acknowledgmentMode: 'NO_ACKNOWLEDGMENT',
  issueDate: '2026-11-22T08:00:00.000Z',
  title: 'Vending 1',
  clientInvoiceId: 'tx-1',
  rows: [
    {
      itemDescription: 'Cola 33 cl',
      itemQuantity: 1,
      itemTotalAmount: { minor: 2550, currency: 'SEK' },
    },
  ],
  totalAmount: { minor: 2550, currency: 'SEK' },
  cashierId: 'slot-1',
};

async function paidInvoice(): Promise<{ reference: string; ersReference: string }> {
  const { invoiceReference } = await client.sendInvoice(cola);
  sim.control.pay(invoiceReference);
  const status = await client.getPaymentStatus(invoiceReference, 0);
  expect(status.status).toBe('PAID');
  return { reference: invoiceReference, ersReference: status.ersReference! };
}

describe('SeqrClient against the simulator', () => {
  it('sendInvoice registers the invoice with the exact amount', async () => {
    const sent = await client.sendInvoice(cola);
    expect(sent.invoiceReference).toMatch(/^\d+$/);
    expect(sim.control.invoice(sent.invoiceReference)).toMatchObject({
      status: 'ISSUED',
      amount: { currency: 'SEK', value: '25.50' },
      clientInvoiceId: 'tx-1',
      terminalId: sim.terminal.id,
    });
  });

  it('getPaymentStatus follows the invoice to PAID with ersReference and receipt', async () => {
    const { invoiceReference } = await client.sendInvoice(cola);
    const issued = await client.getPaymentStatus(invoiceReference, 0);
    expect(issued.status).toBe('ISSUED');
    sim.control.pay(invoiceReference);
    const paid = await client.getPaymentStatus(invoiceReference, issued.version);
    expect(paid.status).toBe('PAID');
    expect(paid.version).toBeGreaterThan(issued.version);
    expect(paid.ersReference).toMatch(/^\d+$/);
    expect(paid.receipt?.invoiceReference).toBe(invoiceReference);
    expect(paid.receipt?.invoice?.totalAmount).toEqual({ minor: 2550, currency: 'SEK' });
    expect(sim.control.invoice(invoiceReference)?.committed).toBe(true);
  });

  it('updateInvoice replaces the amount of an unpaid invoice', async () => {
    const { invoiceReference } = await client.sendInvoice(cola);
    await client.updateInvoice(invoiceReference, {
      ...cola,
      rows: [{ itemDescription: 'Cola', itemTotalAmount: { minor: 1999, currency: 'SEK' } }],
      totalAmount: { minor: 1999, currency: 'SEK' },
    });
    expect(sim.control.invoice(invoiceReference)?.amount).toEqual({
      currency: 'SEK',
      value: '19.99',
    });
  });

  it('cancelInvoice cancels; a second cancel answers 95 INVOICE_ALREADY_CANCELED', async () => {
    const { invoiceReference } = await client.sendInvoice(cola);
    await client.cancelInvoice(invoiceReference);
    expect((await client.getPaymentStatus(invoiceReference, 0)).status).toBe('CANCELED');
    const err = await rejectionOf(client.cancelInvoice(invoiceReference));
    expect(err).toBeInstanceOf(SeqrResultError);
    expect(err).toMatchObject({
      code: 'E_SEQR_RESULT',
      resultCode: 95,
      resultName: 'INVOICE_ALREADY_CANCELED',
    });
  });

  it('submitPaymentReceipt accepts a receipt for a paid invoice', async () => {
    const { reference, ersReference } = await paidInvoice();
    await client.submitPaymentReceipt(ersReference, {
      mimeType: 'text/plain',
      receiptData: Buffer.from('Cola 25.50 SEK').toString('base64'),
      receiptType: 'PAYMENT_RECEIPT',
    });
    expect(sim.control.invoice(reference)?.receipts).toBe(1);
  });

  it('refundPayment refunds part of a payment and refuses more than was paid (98)', async () => {
    const { reference, ersReference } = await paidInvoice();
    const refund = await client.refundPayment(ersReference, {
      title: 'Refund: Cola',
      totalAmount: { minor: 1000, currency: 'SEK' },
      cashierId: 'slot-1',
    });
    expect(refund.ersReference).toMatch(/^\d+$/);
    expect(refund.ersReference).not.toBe(ersReference);
    expect(sim.control.invoice(reference)?.refunds).toEqual([
      { ersReference: refund.ersReference, value: '10.00' },
    ]);
    const err = await rejectionOf(
      client.refundPayment(ersReference, {
        title: 'Refund: Cola',
        totalAmount: { minor: 1551, currency: 'SEK' },
      }),
    );
    expect(err).toMatchObject({
      code: 'E_SEQR_RESULT',
      resultCode: 98,
      resultName: 'SUM_OF_REFUNDS_CAN_NOT_BE_MORE_THAN_ORIGINAL_TRANSACTION',
    });
  });

  it('commitReservation commits a reserved amount with a final amount; 96 when not reserved', async () => {
    const { invoiceReference } = await client.sendInvoice({
      ...cola,
      paymentMode: 'RESERVATION_REQUIRED_PRELIMINARY_AMOUNT',
      commitReservationTimeout: 300,
    });
    const early = await rejectionOf(client.commitReservation(invoiceReference));
    expect(early).toMatchObject({ resultCode: 96, resultName: 'INVOICE_STATE_NOT_RESERVED' });
    sim.control.pay(invoiceReference);
    expect((await client.getPaymentStatus(invoiceReference, 0)).status).toBe('RESERVED');
    await client.commitReservation(invoiceReference, { minor: 1750, currency: 'SEK' });
    expect(sim.control.invoice(invoiceReference)?.committed).toBe(true);
  });

  it('registerTerminal gives a terminal that can then invoice; unregisterTerminal retires it', async () => {
    const { terminalId } = await client.registerTerminal({
      externalTerminalId: 'Hall A/Machine 2',
      password: 'New-Term-Pw-55',
      name: 'Vending, hall A',
    });
    expect(terminalId).toMatch(/^[0-9a-f]{32}$/);
    const second = await clientFor(sim, {
      terminal: { id: terminalId, password: 'New-Term-Pw-55' },
    });
    try {
      const { invoiceReference } = await second.sendInvoice(cola);
      expect(sim.control.invoice(invoiceReference)?.terminalId).toBe(terminalId);
      await second.unregisterTerminal();
      const err = await rejectionOf(second.sendInvoice(cola));
      expect(err).toMatchObject({ code: 'E_SEQR_AUTH' });
    } finally {
      second.close();
    }
  });

  it('assignSeqrId links the terminal; an id already taken answers 53', async () => {
    await client.assignSeqrId('VEND0001');
    await client.registerTerminal({ externalTerminalId: 'x', password: 'Other-Pw-99', name: 'x' });
    const { terminalId } = await client.registerTerminal({
      externalTerminalId: 'y',
      password: 'Other-Pw-98',
      name: 'y',
    });
    const other = await clientFor(sim, { terminal: { id: terminalId, password: 'Other-Pw-98' } });
    try {
      const err = await rejectionOf(other.assignSeqrId('VEND0001'));
      expect(err).toMatchObject({ resultCode: 53, resultName: 'INVALID_SEQR_ID' });
    } finally {
      other.close();
    }
  });

  it('markTransactionPeriod then executeReport (retrying REPORT_NOT_READY) serves the report', async () => {
    await paidInvoice();
    const { transactionPeriodId } = await client.markTransactionPeriod({
      TERMINALID: sim.terminal.id,
    });
    expect(transactionPeriodId).toMatch(/^\d+$/);
    const request = {
      reportId: 'Reconciliation/STD_RECON_007.xml',
      language: 'en',
      parameters: { transactionPeriodId, TERMINALID: sim.terminal.id },
    };
    let report;
    for (let attempt = 0; attempt < 5 && report === undefined; attempt++) {
      try {
        report = await client.executeReport(request);
      } catch (err) {
        expect(err).toMatchObject({
          resultCode: 2,
          resultName: 'REPORT_NOT_READY',
          retryable: true,
        });
      }
    }
    const { content, contentString } = report ?? {};
    expect(contentString).toContain('25.5');
    expect(Buffer.from(content ?? '', 'base64').toString('utf8')).toBe(contentString);
  });

  it('benchmarkingNop answers SUCCESS', async () => {
    await expect(client.benchmarkingNop()).resolves.toBeUndefined();
  });

  it('a wrong terminal password is E_SEQR_AUTH (20) and the error does not hold it', async () => {
    const wrong = await clientFor(sim, {
      terminal: { id: sim.terminal.id, password: 'Wrong-Pw-31415' },
    });
    try {
      const err = await rejectionOf(wrong.getPaymentStatus('1', 0));
      expect(err).toMatchObject({
        code: 'E_SEQR_AUTH',
        resultCode: 20,
        resultName: 'AUTHENTICATION_FAILED',
      });
      expect(JSON.stringify(err)).not.toContain('Wrong-Pw-31415');
    } finally {
      wrong.close();
    }
  });

  it('reuses one keep-alive connection for consecutive calls', async () => {
    const proxy = await countingProxy(sim.soapUrl);
    const viaProxy = await clientFor(sim, { endpoint: proxy.url });
    try {
      const { invoiceReference } = await viaProxy.sendInvoice(cola);
      for (let i = 0; i < 10; i++) await viaProxy.getPaymentStatus(invoiceReference, 0);
      expect(proxy.connections()).toBe(1);
    } finally {
      viaProxy.close();
      await proxy.close();
    }
  });

  it('holds no password where a logger could reach it', async () => {
    await client.benchmarkingNop();
    await client.sendInvoice(cola);
    for (const rendering of [
      inspect(client, { showHidden: true, depth: 20 }),
      JSON.stringify(client),
    ]) {
      expect(rendering).not.toContain(TERMINAL_PASSWORD);
      expect(rendering).not.toContain(RESELLER_PASSWORD);
    }
  });

  it("keeps the password out of the soap package's debug log (DEBUG=node-soap)", async () => {
    // The debug module the soap package logs through; enabled here as an operator would.
    const requireFromSoap = createRequire(createRequire(import.meta.url).resolve('soap'));
    const debug = requireFromSoap('debug') as {
      enable(ns: string): void;
      disable(): string;
      log: (...args: unknown[]) => void;
    };
    const lines: string[] = [];
    const originalLog = debug.log;
    debug.log = (...args: unknown[]) => {
      lines.push(format(...args));
    };
    const previous = debug.disable();
    debug.enable('node-soap');
    try {
      const { invoiceReference } = await client.sendInvoice(cola);
      await client.getPaymentStatus(invoiceReference, 0);
    } finally {
      debug.disable();
      if (previous) debug.enable(previous);
      debug.log = originalLog;
    }
    const log = lines.join('\n');
    expect(log).toContain('Http request');
    expect(log).not.toContain(TERMINAL_PASSWORD);
  });

  it('rejects with E_CLOSED after close()', async () => {
    client.close();
    await expect(client.benchmarkingNop()).rejects.toMatchObject({ code: 'E_CLOSED' });
  });
});

describe('a deferred client (the daemon builds it after READY=1)', () => {
  it('builds itself at its first call', async () => {
    const deferred = SeqrClient.deferred({ endpoint: sim.soapUrl, terminal: sim.terminal });
    try {
      const { invoiceReference } = await deferred.sendInvoice(cola);
      expect(sim.control.invoice(invoiceReference)).toBeDefined();
    } finally {
      deferred.close();
    }
  });

  it('an unreadable WSDL fails each call and prepare() with E_CONFIG_INVALID, not its creation', async () => {
    const deferred = SeqrClient.deferred({
      endpoint: sim.soapUrl,
      terminal: sim.terminal,
      wsdlPath: '/nonexistent/cashregister.wsdl',
    });
    try {
      await expect(deferred.benchmarkingNop()).rejects.toMatchObject({ code: 'E_CONFIG_INVALID' });
      await expect(deferred.prepare()).rejects.toMatchObject({ code: 'E_CONFIG_INVALID' });
      await expect(
        SeqrClient.create({ endpoint: sim.soapUrl, wsdlPath: '/nonexistent/cashregister.wsdl' }),
      ).rejects.toMatchObject({ code: 'E_CONFIG_INVALID' });
    } finally {
      deferred.close();
    }
  });
});
