// The callback chain over loopback, every hop real: the simulated SEQR calls createPurchase over
// HTTPS on one gateway replica, the request crosses Mosquitto to a machine that sends a
// reservation invoice with the project's SOAP client; the payer confirms; SEQR POSTs the
// notificationUrl (another replica), the machine polls at once and sees RESERVED, then commits
// what it delivered. A plain invoice's PAID notification reaches the machine the same way.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEQR_NOTIFY, UPS_PURCHASE } from '../../daemon/gateway/protocol.js';
import type { SeqrClient } from '../../daemon/seqr/client.js';
import type { SeqrInvoice } from '../../daemon/seqr/wire.js';
import type { SeqrSimulator } from '../../simulator/index.js';
import { startSimulator } from '../../simulator/index.js';
import { clientFor, RESELLER_PASSWORD, TERMINAL_PASSWORD } from '../seqr/support.js';
import { startBroker, type Broker } from '../../bench/broker.js';
import { makeTestCa, startMachine, startReplica, until, type Replica } from './support.js';

let broker: Broker;
let sim: SeqrSimulator;
let client: SeqrClient;
let replicas: Replica[];
let machine: Awaited<ReturnType<typeof startMachine>>;
const polled: { ref: string; status: string; at: number }[] = [];

const sek = (minor: number) => ({ minor, currency: 'SEK' });

beforeAll(async () => {
  const tls = makeTestCa();
  broker = await startBroker();
  replicas = await Promise.all([startReplica(broker.url, tls), startReplica(broker.url, tls)]);
  const [a, b] = replicas as [Replica, Replica];
  sim = await startSimulator({
    terminal: { id: '87e791f9e24148a6892c52aa85bb0331', password: TERMINAL_PASSWORD },
    reseller: { id: 'public_test_shop', userId: '9900', password: RESELLER_PASSWORD },
    missingAckMode: 'NO_ACKNOWLEDGMENT',
    ups: { createPurchaseUrl: `${a.base}/createPurchase` },
    callbackCa: tls.ca,
  });
  client = await clientFor(sim);
  const notificationUrl = `${b.base}/notify/vm-1`;
  machine = await startMachine(broker.url, 'vm-1', async (request) => {
    if (request.name === UPS_PURCHASE) {
      const max = Math.round(Number(request.body['amount']) * 100);
      const invoice: SeqrInvoice = {
        paymentMode: 'RESERVATION_REQUIRED_PRELIMINARY_AMOUNT',
        acknowledgmentMode: 'NO_ACKNOWLEDGMENT',
        title: 'Vending 1',
        clientInvoiceId: 'vm-1-ups-1',
        totalAmount: sek(Math.min(max, 5000)),
        cashierId: 'ups',
        notificationUrl,
        commitReservationTimeout: 300,
      };
      const sent = await client.sendInvoice(invoice);
      return { status: 'ok', data: { invoiceReferenceId: sent.invoiceReference } };
    }
    if (request.name === SEQR_NOTIFY) {
      const ref = String(request.body['invoiceReference']);
      const status = await client.getPaymentStatus(ref, 0);
      polled.push({ ref, status: status.status, at: Date.now() });
      return { status: 'ok', data: { known: true } };
    }
    return { status: 'error', code: 'E_FLEET_COMMAND_INVALID', error: 'unknown command' };
  });
  await until(() => replicas.every((r) => r.gateway.relay.status().connected));
});

afterAll(async () => {
  await machine.close();
  client.close();
  await sim.close();
  await Promise.all(replicas.map((r) => r.gateway.stop()));
  await broker.close();
});

describe('SEQR -> gateway -> broker -> machine', () => {
  it('scan, createPurchase, confirm, notification, RESERVED, commit of what was delivered', async () => {
    const scanned = await sim.control.scanUps({
      code: sim.control.upsCode('vm-1'),
      amount: '80.00',
    });
    expect(scanned).toMatchObject({
      outcome: 'invoice',
      invoice: { amount: { value: '50.00' }, status: 'ISSUED' },
    });
    if (scanned.outcome !== 'invoice') throw new Error('unreachable');
    const ref = scanned.invoiceReference;
    expect(machine.requests.filter((r) => r.name === UPS_PURCHASE)).toMatchObject([
      { body: { amount: '80.00', currency: 'SEK' } },
    ]);

    sim.control.pay(ref);
    await until(() => polled.some((p) => p.ref === ref), 5_000, 'the notification to be polled');
    expect(polled.find((p) => p.ref === ref)?.status).toBe('RESERVED');
    await sim.control.callbacksSettled();
    expect(sim.control.notifications()).toMatchObject([
      { invoiceReference: ref, status: 'RESERVED', httpStatus: 200 },
    ]);

    await client.updateInvoice(ref, {
      paymentMode: 'RESERVATION_REQUIRED_PRELIMINARY_AMOUNT',
      acknowledgmentMode: 'NO_ACKNOWLEDGMENT',
      title: 'Vending 1',
      clientInvoiceId: 'vm-1-ups-1',
      rows: [{ itemDescription: 'Cola', itemQuantity: 1, itemTotalAmount: sek(2500) }],
      totalAmount: sek(2500),
      cashierId: 'ups',
    });
    await client.commitReservation(ref, sek(2500));
    expect(sim.control.invoice(ref)).toMatchObject({
      status: 'PAID',
      committed: true,
      amount: { value: '25.00' },
    });
  });

  it('a plain invoice: PAID reaches the machine through the notification, ahead of any poll', async () => {
    const [, b] = replicas as [Replica, Replica];
    const sent = await client.sendInvoice({
      paymentMode: 'IMMEDIATE_DEBIT',
      acknowledgmentMode: 'NO_ACKNOWLEDGMENT',
      title: 'Vending 1',
      clientInvoiceId: 'vm-1-tx-2',
      totalAmount: sek(2500),
      cashierId: 'slot-1',
      notificationUrl: `${b.base}/notify/vm-1`,
    });
    const paidAt = Date.now();
    sim.control.pay(sent.invoiceReference);
    await until(() => polled.some((p) => p.ref === sent.invoiceReference), 5_000, 'the poll');
    const poll = polled.find((p) => p.ref === sent.invoiceReference)!;
    expect(poll.status).toBe('PAID');
    // The poll that committed the payment came from the notification, not from a 1 s timer.
    expect(poll.at - paidAt).toBeLessThan(1_000);
    expect(sim.control.invoice(sent.invoiceReference)).toMatchObject({ committed: true, polls: 1 });
  });
});
