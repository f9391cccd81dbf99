// The torture run's kill-point relay, driven by the project's SEQR client against the simulator:
// a kill before the call leaves SEQR untouched, a lost answer leaves SEQR changed, and a kill
// after the answer lets the client have it.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SeqrClient } from '../../daemon/seqr/client.js';
import type { SeqrInvoice } from '../../daemon/seqr/wire.js';
import { startSimulator, type SeqrSimulator } from '../../simulator/index.js';
import {
  startSoapProxy,
  type ProxiedCall,
  type ProxyDecision,
  type SoapProxy,
} from '../../bench/torture/soap-proxy.js';

const cola: SeqrInvoice = {
  paymentMode: 'IMMEDIATE_DEBIT',
  acknowledgmentMode: 'NO_ACKNOWLEDGMENT',
  issueDate: '2026-11-22T08:00:00.000Z',
  title: 'Vending 1',
  clientInvoiceId: 'tx-1',
  rows: [
    { itemDescription: 'Cola', itemQuantity: 1, itemTotalAmount: { minor: 2500, currency: 'SEK' } },
  ],
  totalAmount: { minor: 2500, currency: 'SEK' },
  cashierId: 'slot-1',
};

let sim: SeqrSimulator;
let proxy: SoapProxy;
let client: SeqrClient;
const seen: string[] = [];
const killed: string[] = [];
let onRequest: (call: ProxiedCall) => (() => void) | undefined;
let onAnswer: (call: ProxiedCall, answer: string) => ProxyDecision;

beforeEach(async () => {
  seen.length = 0;
  killed.length = 0;
  onRequest = () => undefined;
  onAnswer = () => ({ action: 'pass' });
  sim = await startSimulator({ port: 0 });
  proxy = await startSoapProxy(sim.soapUrl, {
    onRequest: (call) => {
      seen.push(call.op);
      return onRequest(call);
    },
    onAnswer: (call, answer) => onAnswer(call, answer),
  });
  client = await SeqrClient.create({
    endpoint: proxy.url,
    terminal: sim.terminal,
    deadlineMs: 5_000,
  });
});

afterEach(async () => {
  client.close();
  await proxy.close();
  await sim.close();
});

describe('kill-point relay', () => {
  it('passes calls through unchanged and names each operation', async () => {
    const { invoiceReference } = await client.sendInvoice(cola);
    sim.control.pay(invoiceReference);
    const status = await client.getPaymentStatus(invoiceReference, 0);
    expect(status.status).toBe('PAID');
    expect(sim.control.invoice(invoiceReference)?.committed).toBe(true);
    expect(seen).toEqual(['sendInvoice', 'getPaymentStatus']);
    expect(proxy.url.startsWith('http://127.0.0.1:')).toBe(true);
    expect(new URL(proxy.url).pathname).toBe(new URL(sim.soapUrl).pathname);
  });

  it('beforeSend: the kill runs and SEQR never sees the call', async () => {
    const { invoiceReference } = await client.sendInvoice(cola);
    onRequest = (call) =>
      call.op === 'cancelInvoice'
        ? () => {
            killed.push(call.op);
          }
        : undefined;
    await expect(client.cancelInvoice(invoiceReference)).rejects.toThrow();
    expect(killed).toEqual(['cancelInvoice']);
    expect(sim.control.invoice(invoiceReference)?.status).toBe('ISSUED');
    expect(sim.control.calls().map((c) => c.op)).toEqual(['sendInvoice']);
  });

  it('answerLost: SEQR carries the call out, the client never gets the answer', async () => {
    const { invoiceReference } = await client.sendInvoice(cola);
    sim.control.pay(invoiceReference);
    onAnswer = (call, answer) =>
      call.op === 'getPaymentStatus'
        ? {
            action: 'answerLost',
            kill: () => {
              killed.push(answer.includes('PAID') ? 'PAID' : 'other');
            },
          }
        : { action: 'pass' };
    await expect(client.getPaymentStatus(invoiceReference, 0)).rejects.toThrow();
    expect(killed).toEqual(['PAID']);
    expect(sim.control.invoice(invoiceReference)?.committed).toBe(true);
  });

  it('afterAnswer: the client has the answer before the kill runs', async () => {
    let answered = false;
    onAnswer = (call) =>
      call.op === 'sendInvoice'
        ? {
            action: 'afterAnswer',
            delayMs: 20,
            kill: () => {
              killed.push(answered ? 'after' : 'before');
            },
          }
        : { action: 'pass' };
    const sent = await client.sendInvoice(cola);
    answered = true;
    expect(sim.control.invoice(sent.invoiceReference)?.status).toBe('ISSUED');
    await expect.poll(() => killed).toEqual(['after']);
  });
});
