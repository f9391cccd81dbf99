import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isLoopback } from '../../simulator/server.js';
import { startSimulator, type InvoiceSnapshot, type SeqrSimulator } from '../../simulator/index.js';
import { childText } from '../../simulator/xml.js';
import { ManualClock } from '../../daemon/runtime/manual-clock.js';
import { issue, poll } from './helpers.js';

let sim: SeqrSimulator;
let clock: ManualClock;

beforeEach(async () => {
  clock = new ManualClock(Date.UTC(2026, 10, 22, 9, 0, 0));
  sim = await startSimulator({ clock });
});
afterEach(async () => {
  await sim.close();
});

async function control(
  method: string,
  route: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(sim.controlUrl + route, {
    method,
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  return { status: res.status, json: await res.json() };
}

describe('control API over HTTP (loopback)', () => {
  it('acts as the payer: scan, start-paying, pay; lists invoices, the active one and the calls', async () => {
    const ref = await issue(sim, '12.50');
    const active = await control('GET', '/active');
    expect(active).toMatchObject({
      status: 200,
      json: { invoice: { reference: ref, status: 'ISSUED' } },
    });
    expect((await control('POST', `/invoices/${ref}/scan`)).status).toBe(200);
    expect((await control('POST', `/invoices/${ref}/start-paying`)).status).toBe(200);
    const paid = await control('POST', `/invoices/${ref}/pay`);
    expect(paid).toMatchObject({
      status: 200,
      json: { invoice: { status: 'PAID', committed: false } },
    });
    expect(childText((await poll(sim, ref)).ret, 'status')).toBe('PAID');
    const one = (await control('GET', `/invoices/${ref}`)).json as InvoiceSnapshot;
    expect(one).toMatchObject({
      reference: ref,
      committed: true,
      polls: 1,
      amount: { currency: 'SEK', value: '12.50' },
    });
    const all = (await control('GET', '/invoices')).json as InvoiceSnapshot[];
    expect(all.map((i) => i.reference)).toEqual([ref]);
    const calls = (await control('GET', '/calls')).json as {
      op: string;
      resultCode: number;
      terminalId: string;
    }[];
    expect(calls.map((c) => c.op)).toEqual(['sendInvoice', 'getPaymentStatus']);
    expect(calls[1]).toMatchObject({ resultCode: 0, terminalId: sim.terminal.id });
    expect((await control('GET', '/active')).json).toEqual({ invoice: null });
  });

  it('answers 404 for an unknown invoice and 409 for an action that does not apply', async () => {
    expect((await control('POST', '/invoices/123/pay')).status).toBe(404);
    expect((await control('GET', '/invoices/123')).status).toBe(404);
    const ref = await issue(sim);
    expect((await control('POST', `/invoices/${ref}/cancel`)).status).toBe(200);
    const again = await control('POST', `/invoices/${ref}/pay`);
    expect(again.status).toBe(409);
    expect((again.json as { error: string }).error).toContain('CANCELED');
    expect((await control('POST', `/invoices/${ref}/fail`)).status).toBe(409);
    expect((await control('GET', '/nothing-here')).status).toBe(404);
  });

  it('injects and clears faults', async () => {
    const ref = await issue(sim);
    expect(
      (
        await control('POST', '/faults', {
          op: 'getPaymentStatus',
          fault: { kind: 'result', resultCode: 90 },
          times: 1,
        })
      ).status,
    ).toBe(200);
    expect((await poll(sim, ref)).code).toBe(90);
    expect((await poll(sim, ref)).code).toBe(0);
    await control('POST', '/faults', { op: '*', fault: { kind: 'http', status: 503 } });
    expect((await fetch(sim.soapUrl, { method: 'POST', body: '<x/>' })).status).toBe(503);
    expect((await control('DELETE', '/faults')).status).toBe(200);
    expect((await poll(sim, ref)).code).toBe(0);
    const bad = await control('POST', '/faults', {
      op: 'getPaymentStatus',
      fault: { kind: 'nope' },
    });
    expect(bad.status).toBe(400);
  });

  it('adds terminals and reports the highest concurrency', async () => {
    expect(
      (
        await control('POST', '/terminals', {
          id: 'abcdefabcdefabcdefabcdefabcdef12',
          password: 'pw12',
        })
      ).status,
    ).toBe(200);
    expect(
      (await poll(sim, '1', 0, { id: 'abcdefabcdefabcdefabcdefabcdef12', password: 'pw12' })).code,
    ).toBe(54);
    expect((await control('GET', '/max-concurrent?op=getPaymentStatus')).json).toEqual({ max: 1 });
  });

  it('recognises loopback peers only', () => {
    expect(['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1'].every(isLoopback)).toBe(true);
    expect(
      ['10.0.0.1', '192.168.1.2', '::ffff:10.0.0.1', 'fe80::1', undefined].some(isLoopback),
    ).toBe(false);
  });
});
