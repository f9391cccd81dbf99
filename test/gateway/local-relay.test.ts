// The demo's gateway: the same endpoint in the daemon's process, relaying to handlers of this
// machine without a broker. The simulated SEQR scans, the handler reserves through the SOAP
// client, the payer confirms, and the notification reaches the handler.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { LocalRelay } from '../../daemon/gateway/local-relay.js';
import {
  SEQR_NOTIFY,
  UPS_PURCHASE,
  seqrNotifyRequest,
  upsPurchaseRequest,
} from '../../daemon/gateway/protocol.js';
import { startGatewayServer, type GatewayServer } from '../../daemon/gateway/server.js';
import { VendError } from '../../daemon/errors.js';
import type { SeqrClient } from '../../daemon/seqr/client.js';
import { startSimulator, type SeqrSimulator } from '../../simulator/index.js';
import { clientFor, TERMINAL_PASSWORD } from '../seqr/support.js';
import { until } from './support.js';

let sim: SeqrSimulator;
let client: SeqrClient;
let relay: LocalRelay;
let server: GatewayServer;
const notified: string[] = [];

beforeEach(async () => {
  sim = await startSimulator({
    terminal: { id: '87e791f9e24148a6892c52aa85bb0331', password: TERMINAL_PASSWORD },
    missingAckMode: 'NO_ACKNOWLEDGMENT',
  });
  client = await clientFor(sim);
  relay = new LocalRelay('demo-1');
  server = await startGatewayServer({
    host: '127.0.0.1',
    port: 0,
    basePath: '/seqr',
    relay,
    log: pino({ level: 'silent' }),
    purchaseDeadlineMs: 500,
    notifyDeadlineMs: 500,
    maxInFlight: 8,
  });
  sim.control.setCreatePurchaseUrl(`${server.url}/seqr/createPurchase`);
});

afterEach(async () => {
  await server.close();
  client.close();
  await sim.close();
  notified.length = 0;
});

describe('LocalRelay behind the gateway endpoint', () => {
  it('plays the whole UPS start in one process', async () => {
    relay.handle(UPS_PURCHASE, {
      schema: upsPurchaseRequest,
      run: async (body) => {
        const sent = await client.sendInvoice({
          paymentMode: 'RESERVATION_REQUIRED_PRELIMINARY_AMOUNT',
          acknowledgmentMode: 'NO_ACKNOWLEDGMENT',
          title: 'Demo',
          clientInvoiceId: 'demo-ups-1',
          totalAmount: {
            minor: Math.min(3000, Math.round(Number(body.amount) * 100)),
            currency: body.currency,
          },
          cashierId: 'ups',
          notificationUrl: `${server.url}/seqr/notify/demo-1`,
          commitReservationTimeout: 120,
        });
        return { invoiceReferenceId: sent.invoiceReference };
      },
    });
    relay.handle(SEQR_NOTIFY, {
      schema: seqrNotifyRequest,
      run: (body) => {
        notified.push(body.invoiceReference);
        return Promise.resolve({ known: true });
      },
    });
    const scanned = await sim.control.scanUps({ token: 'demo-1', amount: '100.00' });
    expect(scanned).toMatchObject({ outcome: 'invoice', invoice: { amount: { value: '30.00' } } });
    if (scanned.outcome !== 'invoice') throw new Error('unreachable');
    sim.control.pay(scanned.invoiceReference);
    await until(() => notified.length === 1, 3_000, 'the notification');
    expect(notified).toEqual([scanned.invoiceReference]);
  });

  it('answers like a broker would: other machines silent, refusals and failures coded, slow handlers timed out', async () => {
    const answers: unknown[] = [
      { errorCode: 'DEVICE_IN_USE' },
      new VendError('E_SEQR_UNREACHABLE', 'SEQR down'),
      'slow',
    ];
    relay.handle(UPS_PURCHASE, {
      schema: upsPurchaseRequest,
      run: async () => {
        const next = answers.shift();
        if (next instanceof Error) throw next;
        if (next === 'slow') await new Promise((r) => setTimeout(r, 1_000));
        return next;
      },
    });
    const scan = async (token: string) => {
      const r = await sim.control.scanUps({ token });
      return r.outcome === 'refused' ? r.errorCode : r.outcome;
    };
    expect(await scan('elsewhere')).toBe('DEVICE_UNAVAILABLE');
    expect(await scan('demo-1')).toBe('DEVICE_IN_USE');
    expect(await scan('demo-1')).toBe('SYSTEM_ERROR');
    expect(await scan('demo-1')).toBe('DEVICE_UNAVAILABLE');
    const bad = await relay.request({
      machineId: 'demo-1',
      name: UPS_PURCHASE,
      body: { v: 1, requestId: 'r-123456', amount: '1.00', currency: 'SEK', dispense: true },
      deadlineMs: 100,
      requestId: 'r-123456',
    });
    expect(bad).toMatchObject({ status: 'error', code: 'E_GATEWAY_REQUEST_INVALID' });
    expect(
      await relay.request({
        machineId: 'demo-1',
        name: 'dispense',
        body: {},
        deadlineMs: 100,
        requestId: 'r-123456',
      }),
    ).toMatchObject({ status: 'error', code: 'E_GATEWAY_REQUEST_INVALID' });
  });
});
