// SEQR's side of "pay first, then choose" and of notifications, driven through the project's
// SOAP client over loopback: reservations (RESERVED on the payer's confirmation, updateInvoice and
// commitReservation never above the reserved amount, 96 when not reserved, EXPIRED after the
// timeout), the notificationUrl POST (form-encoded, once, no retry), and a UPS scan calling the
// merchant's createPurchase (API.md §6.1, §7.2, §7.5, §9.6, §9.8).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SeqrResultError } from '../../daemon/seqr/call-errors.js';
import type { SeqrClient } from '../../daemon/seqr/client.js';
import type { SeqrInvoice } from '../../daemon/seqr/wire.js';
import { startSimulator, type SeqrSimulator } from '../../simulator/index.js';
import { parseUpsCode } from '../../simulator/ups.js';
import { clientFor, rejectionOf, RESELLER_PASSWORD, TERMINAL_PASSWORD } from '../seqr/support.js';
import { ManualClock } from '../../daemon/runtime/manual-clock.js';

interface Received {
  readonly method: string;
  readonly url: string;
  readonly contentType: string;
  readonly body: string;
}

/** A merchant endpoint on loopback: records each request and answers with `respond`. */
async function startMerchant(
  respond: (
    req: Received,
  ) => Promise<{ status: number; body: string }> | { status: number; body: string },
): Promise<{ url: string; received: Received[]; close: () => Promise<void> }> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Received = {
        method: req.method ?? '',
        url: req.url ?? '',
        contentType: req.headers['content-type'] ?? '',
        body: Buffer.concat(chunks).toString('utf8'),
      };
      received.push(r);
      void Promise.resolve(respond(r)).then(({ status, body }) => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(body);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}

let sim: SeqrSimulator;
let client: SeqrClient;
let clock: ManualClock;
const closers: (() => Promise<void>)[] = [];

beforeEach(async () => {
  clock = new ManualClock(Date.UTC(2026, 10, 22, 9, 0, 0));
  sim = await startSimulator({
    clock,
    terminal: { id: '87e791f9e24148a6892c52aa85bb0331', password: TERMINAL_PASSWORD },
    reseller: { id: 'public_test_shop', userId: '9900', password: RESELLER_PASSWORD },
    missingAckMode: 'NO_ACKNOWLEDGMENT',
    reservationTimeoutMs: 600_000,
  });
  client = await clientFor(sim);
});

afterEach(async () => {
  client.close();
  await sim.close();
  for (const close of closers.splice(0)) await close();
});

const sek = (minor: number) => ({ minor, currency: 'SEK' });

function reservation(maxMinor: number, extra: Partial<SeqrInvoice> = {}): SeqrInvoice {
  return {
    paymentMode: 'RESERVATION_REQUIRED_PRELIMINARY_AMOUNT',
    acknowledgmentMode: 'NO_ACKNOWLEDGMENT',
    issueDate: '2026-11-22T08:00:00.000Z',
    title: 'Vending 1',
    clientInvoiceId: 'ups-1',
    rows: [{ itemDescription: 'Credit', itemQuantity: 1, itemTotalAmount: sek(maxMinor) }],
    totalAmount: sek(maxMinor),
    cashierId: 'ups',
    commitReservationTimeout: 120,
    ...extra,
  };
}

function finalRows(...items: [string, number][]): SeqrInvoice {
  const total = items.reduce((sum, [, minor]) => sum + minor, 0);
  return reservation(total, {
    rows: items.map(([name, minor]) => ({
      itemDescription: name,
      itemQuantity: 1,
      itemTotalAmount: sek(minor),
    })),
  });
}

async function resultCode(promise: Promise<unknown>): Promise<number | undefined> {
  const err = await rejectionOf(promise);
  if (!(err instanceof SeqrResultError)) throw err;
  return err.resultCode;
}

describe('reservations (RESERVATION_REQUIRED_PRELIMINARY_AMOUNT)', () => {
  it('reserves on confirmation, takes the final rows, and commits exactly the delivered total once', async () => {
    const { invoiceReference: ref } = await client.sendInvoice(reservation(5000));
    expect(await resultCode(client.commitReservation(ref, sek(2500)))).toBe(96);
    expect((await client.getPaymentStatus(ref, 0)).status).toBe('ISSUED');
    sim.control.pay(ref);
    const reserved = await client.getPaymentStatus(ref, 0);
    expect(reserved.status).toBe('RESERVED');
    expect(reserved.ersReference).toBeUndefined();
    expect(sim.control.invoice(ref)).toMatchObject({
      reserved: { currency: 'SEK', value: '50.00' },
      committed: false,
    });

    // The final rows may not ask more than was reserved.
    expect(
      await resultCode(client.updateInvoice(ref, finalRows(['Cola', 2500], ['Chips', 3000]))),
    ).toBe(11);
    await client.updateInvoice(ref, finalRows(['Cola', 2500], ['Chips', 1500]));
    expect(sim.control.invoice(ref)?.rows).toEqual([
      { description: 'Cola', quantity: '1', total: '25.00' },
      { description: 'Chips', quantity: '1', total: '15.00' },
    ]);
    expect(await resultCode(client.commitReservation(ref, sek(5001)))).toBe(11);
    expect(await resultCode(client.commitReservation(ref, { minor: 4000, currency: 'EUR' }))).toBe(
      49,
    );
    expect(sim.control.invoice(ref)).toMatchObject({ status: 'RESERVED', committed: false });

    await client.commitReservation(ref, sek(4000));
    expect(sim.control.invoice(ref)).toMatchObject({
      status: 'PAID',
      committed: true,
      amount: { currency: 'SEK', value: '40.00' },
      reserved: { currency: 'SEK', value: '50.00' },
    });
    // Committed once: a second commit (a retry after a lost answer) is refused with 96.
    expect(await resultCode(client.commitReservation(ref, sek(4000)))).toBe(96);
    const paid = await client.getPaymentStatus(ref, reserved.version);
    expect(paid.status).toBe('PAID');
    expect(paid.ersReference).toMatch(/^\d{25}$/);
    expect(paid.receipt?.invoice?.totalAmount).toEqual(sek(4000));
  });

  it('refuses a commit of nothing: a reservation that sold nothing is cancelled instead', async () => {
    const { invoiceReference: ref } = await client.sendInvoice(reservation(3000));
    sim.control.pay(ref);
    expect(await resultCode(client.commitReservation(ref, sek(0)))).toBe(11);
    await client.cancelInvoice(ref);
    expect((await client.getPaymentStatus(ref, 0)).status).toBe('CANCELED');
    expect(await resultCode(client.commitReservation(ref, sek(1000)))).toBe(96);
    expect(sim.control.invoice(ref)).toMatchObject({ status: 'CANCELED', committed: false });
  });

  it('expires after commitReservationTimeout seconds, or the default without one; then 96', async () => {
    const { invoiceReference: timed } = await client.sendInvoice(reservation(3000));
    sim.control.pay(timed);
    clock.advance(119_999);
    expect((await client.getPaymentStatus(timed, 0)).status).toBe('RESERVED');
    clock.advance(1);
    expect((await client.getPaymentStatus(timed, 0)).status).toBe('EXPIRED');
    expect(await resultCode(client.commitReservation(timed, sek(1000)))).toBe(96);
    expect(await resultCode(client.updateInvoice(timed, finalRows(['Cola', 1000])))).toBe(49);

    const untimed: SeqrInvoice = { ...reservation(3000) };
    delete (untimed as { commitReservationTimeout?: number }).commitReservationTimeout;
    const { invoiceReference: ref } = await client.sendInvoice(untimed);
    sim.control.pay(ref);
    clock.advance(599_999);
    expect((await client.getPaymentStatus(ref, 0)).status).toBe('RESERVED');
    clock.advance(1);
    expect((await client.getPaymentStatus(ref, 0)).status).toBe('EXPIRED');
    expect(sim.control.invoice(ref)?.committed).toBe(false);
  });
});

describe('notificationUrl', () => {
  it('POSTs the invoice reference form-encoded when paid, reserved or a reservation is cancelled; never for a merchant cancel', async () => {
    const merchant = await startMerchant(() => ({ status: 200, body: '' }));
    closers.push(merchant.close);
    const notificationUrl = `${merchant.url}/seqr/notify/machine-1?order=42`;

    const plain = await client.sendInvoice({
      ...reservation(2500, { paymentMode: 'IMMEDIATE_DEBIT', clientInvoiceId: 'tx-9' }),
      notificationUrl,
    });
    sim.control.pay(plain.invoiceReference);
    const reservedOne = await client.sendInvoice(reservation(5000, { notificationUrl }));
    sim.control.pay(reservedOne.invoiceReference);
    const cancelledOne = await client.sendInvoice(
      reservation(5000, { notificationUrl, clientInvoiceId: 'ups-2' }),
    );
    sim.control.cancelInApp(cancelledOne.invoiceReference);
    const merchantCancel = await client.sendInvoice(reservation(5000, { notificationUrl }));
    await client.cancelInvoice(merchantCancel.invoiceReference);
    const unpaid = await client.sendInvoice({ ...reservation(100), notificationUrl });
    sim.control.cancelInApp(unpaid.invoiceReference);
    await sim.control.callbacksSettled();

    const bodies = merchant.received.map((r) => Object.fromEntries(new URLSearchParams(r.body)));
    expect(merchant.received.every((r) => r.method === 'POST')).toBe(true);
    expect(merchant.received.every((r) => r.url === '/seqr/notify/machine-1?order=42')).toBe(true);
    expect(
      merchant.received.every((r) => r.contentType === 'application/x-www-form-urlencoded'),
    ).toBe(true);
    expect(bodies).toEqual([
      { invoiceReference: plain.invoiceReference, clientInvoiceId: 'tx-9' },
      { invoiceReference: reservedOne.invoiceReference, clientInvoiceId: 'ups-1' },
      { invoiceReference: cancelledOne.invoiceReference, clientInvoiceId: 'ups-2' },
      { invoiceReference: unpaid.invoiceReference, clientInvoiceId: 'ups-1' },
    ]);
    expect(sim.control.notifications().map((n) => [n.status, n.httpStatus])).toEqual([
      ['PAID', 200],
      ['RESERVED', 200],
      ['CANCELED', 200],
      ['CANCELED', 200],
    ]);
  });

  it('sends each notification once: no retry after an error status or a refused connection', async () => {
    const failing = await startMerchant(() => ({ status: 503, body: 'busy' }));
    closers.push(failing.close);
    const { invoiceReference: a } = await client.sendInvoice(
      reservation(1000, { paymentMode: 'IMMEDIATE_DEBIT', notificationUrl: `${failing.url}/n` }),
    );
    sim.control.pay(a);
    const gone = await startMerchant(() => ({ status: 200, body: '' }));
    const goneUrl = `${gone.url}/n`;
    await gone.close();
    const { invoiceReference: b } = await client.sendInvoice(
      reservation(1000, { paymentMode: 'IMMEDIATE_DEBIT', notificationUrl: goneUrl }),
    );
    sim.control.pay(b);
    await sim.control.callbacksSettled();
    clock.advance(60_000);
    await sim.control.callbacksSettled();
    expect(failing.received).toHaveLength(1);
    const records = sim.control.notifications();
    expect(records).toHaveLength(2);
    expect(records[0]).toMatchObject({ invoiceReference: a, httpStatus: 503 });
    expect(records[1]).toMatchObject({ invoiceReference: b });
    expect(records[1]?.error).toMatch(/ECONNREFUSED/);
  });
});

describe('Unattended Payment Service: scanning the static code calls createPurchase', () => {
  /** A merchant that answers createPurchase like the machine would: a reservation of what is offered. */
  async function upsMerchant(answer?: (body: Record<string, string>) => Promise<object>) {
    const merchant = await startMerchant(async (r) => {
      const body = JSON.parse(r.body) as Record<string, string>;
      const reply = answer
        ? await answer(body)
        : {
            invoiceReferenceId: (
              await client.sendInvoice(
                reservation(Math.round(Number(body['amount']) * 100), {
                  notificationUrl: `http://127.0.0.1:1/unused`,
                }),
              )
            ).invoiceReference,
          };
      return { status: 200, body: JSON.stringify(reply) };
    });
    closers.push(merchant.close);
    sim.control.setCreatePurchaseUrl(`${merchant.url}/seqr/createPurchase`);
    return merchant;
  }

  it('sends {token, amount, currency, msisdn} as JSON and shows the reservation to confirm', async () => {
    const merchant = await upsMerchant();
    const code = sim.control.upsCode('machine-7');
    expect(code).toBe('HTTP://SEQR.SE/000/ups?w=public_test_shop&t=machine-7');
    expect(parseUpsCode(code)).toEqual({ merchantId: 'public_test_shop', token: 'machine-7' });

    const result = await sim.control.scanUps({ code, amount: '80.00', msisdn: '46701234567' });
    expect(merchant.received).toHaveLength(1);
    expect(merchant.received[0]).toMatchObject({ method: 'POST', url: '/seqr/createPurchase' });
    expect(merchant.received[0]?.contentType).toMatch(/^application\/json/);
    expect(JSON.parse(merchant.received[0]!.body)).toEqual({
      token: 'machine-7',
      amount: '80.00',
      currency: 'SEK',
      msisdn: '46701234567',
    });
    expect(result).toMatchObject({
      outcome: 'invoice',
      token: 'machine-7',
      invoice: { status: 'ISSUED', paymentMode: 'RESERVATION_REQUIRED_PRELIMINARY_AMOUNT' },
    });
    if (result.outcome !== 'invoice') throw new Error('unreachable');
    sim.control.pay(result.invoiceReference);
    expect((await client.getPaymentStatus(result.invoiceReference, 0)).status).toBe('RESERVED');
    expect(sim.control.upsCalls()).toMatchObject([
      { httpStatus: 200, result: { outcome: 'invoice' } },
    ]);
  });

  it('passes the documented error codes through, and fails what SEQR could not show', async () => {
    const answers: object[] = [
      { errorCode: 'DEVICE_IN_USE' },
      { errorCode: 'PRINTER_ON_FIRE' },
      {},
      { invoiceReferenceId: 'nope' },
    ];
    await upsMerchant(() => Promise.resolve(answers.shift()!));
    const scan = () => sim.control.scanUps({ token: 'm1' });
    expect(await scan()).toEqual({ outcome: 'refused', token: 'm1', errorCode: 'DEVICE_IN_USE' });
    expect(await scan()).toMatchObject({ outcome: 'failed', reason: /unknown errorCode/ });
    expect(await scan()).toMatchObject({ outcome: 'failed', reason: /neither/ });
    expect(await scan()).toMatchObject({ outcome: 'failed', reason: /no invoice nope/ });
  });

  it('accepts only a reservation invoice, ISSUED, within the offered amount and currency', async () => {
    const invoices: SeqrInvoice[] = [
      reservation(2000, { paymentMode: 'IMMEDIATE_DEBIT' }),
      reservation(20_001),
      { ...reservation(2000), totalAmount: { minor: 2000, currency: 'EUR' } },
    ];
    await upsMerchant(async () => ({
      invoiceReferenceId: (await client.sendInvoice(invoices.shift()!)).invoiceReference,
    }));
    expect(await sim.control.scanUps({ token: 'm1' })).toMatchObject({
      outcome: 'failed',
      reason: /IMMEDIATE_DEBIT, not a reservation/,
    });
    expect(await sim.control.scanUps({ token: 'm1' })).toMatchObject({
      outcome: 'failed',
      reason: /more than the 200.00 offered/,
    });
    expect(await sim.control.scanUps({ token: 'm1' })).toMatchObject({
      outcome: 'failed',
      reason: /EUR/,
    });
  });

  it('fails on an unreachable merchant or an HTTP error; refuses codes of other merchants', async () => {
    expect(await sim.control.scanUps({ token: 'm1' })).toMatchObject({
      outcome: 'failed',
      reason: /no createPurchase URL/,
    });
    const merchant = await startMerchant(() => ({ status: 500, body: '{}' }));
    closers.push(merchant.close);
    sim.control.setCreatePurchaseUrl(`${merchant.url}/createPurchase`);
    expect(await sim.control.scanUps({ token: 'm1' })).toMatchObject({
      outcome: 'failed',
      reason: 'createPurchase answered HTTP 500',
    });
    await merchant.close();
    expect(await sim.control.scanUps({ token: 'm1' })).toMatchObject({
      outcome: 'failed',
      reason: /ECONNREFUSED/,
    });
    await expect(
      sim.control.scanUps({ code: 'HTTP://SEQR.SE/000/ups?w=other_shop&t=m1' }),
    ).rejects.toThrow(/unknown UPS merchant other_shop/);
    await expect(sim.control.scanUps({ code: 'HTTP://SEQR.SE/R123' })).rejects.toThrow(
      /not a UPS code/,
    );
    await expect(sim.control.scanUps({ token: 'm1', amount: '-5' })).rejects.toThrow(/positive/);
  });

  it('offers the same through the HTTP control API', async () => {
    await upsMerchant();
    const post = async (route: string, body: unknown) => {
      const res = await fetch(sim.controlUrl + route, {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
      });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    };
    const scanned = await post('/ups/scan', { token: 'machine-7', amount: '30.00' });
    expect(scanned).toMatchObject({ status: 200, json: { outcome: 'invoice' } });
    const ref = scanned.json['invoiceReference'] as string;
    expect((await post(`/invoices/${ref}/pay`, {})).json).toMatchObject({
      invoice: { status: 'RESERVED' },
    });
    await sim.control.callbacksSettled();
    const notes = (await (await fetch(`${sim.controlUrl}/notifications`)).json()) as unknown[];
    expect(notes).toMatchObject([{ invoiceReference: ref, status: 'RESERVED' }]);
    const calls = (await (await fetch(`${sim.controlUrl}/ups/calls`)).json()) as unknown[];
    expect(calls).toMatchObject([{ request: { token: 'machine-7', amount: '30.00' } }]);
    expect(await post('/ups/scan', { amount: 5 })).toMatchObject({
      status: 400,
      json: { error: 'amount must be a string' },
    });
    expect((await post('/ups/config', { createPurchaseUrl: 'ftp://x' })).status).toBe(400);
  });
});
