// The runtime with the real SOAP gateway against the SEQR simulator over loopback, fake hardware,
// and one ManualClock shared by the runtime and the simulator (reversal, delays).
import { afterEach, describe, expect, it } from 'vitest';
import type { CallRecord, Fault } from '../../simulator/index.js';
import { stepsOf } from '../support/harness.js';
import { startSimHarness, type SimHarness } from '../support/sim-harness.js';

let h: SimHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const statusCalls = (h: SimHarness): CallRecord[] =>
  h.sim.control.calls().filter((c) => c.op === 'getPaymentStatus');

/** The call did not bring a status: a fault other than a slow answer, or a resultCode. */
const failedCall = (c: CallRecord): boolean =>
  (c.fault !== undefined && c.fault !== 'delay' && c.fault !== 'drip') ||
  (c.resultCode !== undefined && c.resultCode !== 0);

/**
 * Invariant 5 on the simulator's own record of calls (its clock is the runtime's): no overlap;
 * a second apart, except one call at once after a failed one (never more than two in a second).
 */
function expectCadence(calls: readonly CallRecord[], maxGapMs: number): void {
  for (let i = 1; i < calls.length; i++) {
    const prev = calls[i - 1]!;
    const cur = calls[i]!;
    expect(cur.at).toBeGreaterThanOrEqual(prev.endedAt ?? prev.at);
    if (!failedCall(prev)) expect(cur.at - prev.at).toBeGreaterThanOrEqual(1000);
    expect(cur.at - prev.at).toBeLessThanOrEqual(maxGapMs);
    const before = calls[i - 2];
    if (before) expect(cur.at - before.at).toBeGreaterThanOrEqual(1000);
  }
}

describe('runtime + SOAP gateway + simulator', () => {
  it('happy path: sendInvoice, polls, PAID committed, one dispense, receipt submitted, idle', async () => {
    h = await startSimHarness();
    await h.pressProduct(1);
    await h.advanceIo(100);
    const ref = h.activeRef();
    expect(h.display.current).toMatchObject({ kind: 'pay', qrPayload: `HTTP://SEQR.SE/R${ref}` });
    await h.advanceIo(3000);
    h.sim.control.pay(ref);
    await h.advanceIo(2000);
    expect(h.sim.control.invoice(ref)).toMatchObject({
      status: 'PAID',
      committed: true,
      reversed: false,
    });
    expect(h.dispenser.dispenses).toHaveLength(1);
    expect(
      h.sim.control.calls().some((c) => c.op === 'submitPaymentReceipt' && c.resultCode === 0),
    ).toBe(true);
    expect(stepsOf(h.ledger, 'tx-1')).toEqual(
      expect.arrayContaining(['receipt.printed', 'receipt.submitted', 'tx.closed:sold']),
    );
    await h.advanceIo(6000, 500);
    expect(h.state().kind).toBe('idle');
    expect(h.sim.control.maxConcurrentCalls('getPaymentStatus')).toBe(1);
    expectCadence(statusCalls(h), 1000);
  });

  it('cancel button: cancelInvoice, then a confirming status call, cancelled, idle', async () => {
    h = await startSimHarness();
    await h.pressProduct(2);
    await h.advanceIo(2000);
    const ref = h.activeRef();
    await h.pressCancel();
    await h.advanceIo(1000);
    const cancel = h.sim.control.calls().find((c) => c.op === 'cancelInvoice')!;
    expect(cancel.resultCode).toBe(0);
    expect(statusCalls(h).some((c) => c.at >= cancel.endedAt!)).toBe(true);
    expect(h.sim.control.invoice(ref)?.status).toBe('CANCELED');
    expect(h.display.screens.some((s) => s.kind === 'cancelled')).toBe(true);
    await h.advanceIo(5000, 500);
    expect(h.state().kind).toBe('idle');
  });

  it('timeout: still paying? at 30 s, cancelled at 60 s, polled each second throughout', async () => {
    h = await startSimHarness();
    await h.pressProduct(1);
    await h.advanceIo(31_000, 500);
    expect(h.display.current?.kind).toBe('stillPaying');
    const ref = h.activeRef();
    await h.advanceIo(30_000, 500);
    expect(h.sim.control.invoice(ref)?.status).toBe('CANCELED');
    expect(statusCalls(h).length).toBeGreaterThanOrEqual(60);
    expectCadence(statusCalls(h), 1000);
  });

  it('still paying: a product button continues with the same invoice, the payment sells', async () => {
    h = await startSimHarness();
    await h.pressProduct(3);
    await h.advanceIo(31_000, 500);
    const ref = h.activeRef();
    await h.pressProduct(1);
    await h.advanceIo(100);
    expect(h.display.current).toMatchObject({ kind: 'pay', qrPayload: `HTTP://SEQR.SE/R${ref}` });
    await h.advanceIo(25_000, 500);
    h.sim.control.pay(ref);
    await h.advanceIo(2000);
    expect(h.dispenser.dispenses.map((d) => d.slot)).toEqual([3]);
    expect(h.sim.control.calls().filter((c) => c.op === 'sendInvoice')).toHaveLength(1);
  });

  it('cancel racing a payment: 51 keeps polling, PAID sells', async () => {
    h = await startSimHarness();
    await h.pressProduct(1);
    await h.advanceIo(1000);
    const ref = h.activeRef();
    h.sim.control.startPaying(ref);
    await h.pressCancel();
    await h.advanceIo(2000);
    expect(h.sim.control.calls().find((c) => c.op === 'cancelInvoice')?.resultCode).toBe(51);
    h.sim.control.pay(ref);
    await h.advanceIo(2000);
    expect(h.dispenser.dispenses).toHaveLength(1);
    expect(h.sim.control.invoice(ref)).toMatchObject({ committed: true, reversed: false });
  });

  it('paid in the same second as the cancel (50): a sale', async () => {
    h = await startSimHarness();
    await h.pressProduct(1);
    await h.advanceIo(1500);
    const ref = h.activeRef();
    h.sim.control.pay(ref);
    await h.pressCancel();
    await h.advanceIo(2000);
    expect(h.dispenser.dispenses).toHaveLength(1);
    expect(h.sim.control.invoice(ref)).toMatchObject({ committed: true });
  });

  it('payment cancelled in the app: problem screen, closed, idle', async () => {
    h = await startSimHarness();
    await h.pressProduct(1);
    await h.advanceIo(1000);
    h.sim.control.cancelInApp(h.activeRef());
    await h.advanceIo(1000);
    expect(h.display.current).toEqual({ kind: 'problem', problem: 'cancelledInApp' });
    await h.advanceIo(5000, 500);
    expect(h.state().kind).toBe('idle');
    expect(stepsOf(h.ledger, 'tx-1').at(-1)).toBe('tx.closed:cancelled');
  });

  const faults: Fault[] = [
    { kind: 'delay', ms: 300 },
    { kind: 'drip', totalMs: 400 },
    { kind: 'http', status: 502, body: '<html>bad gateway</html>' },
    { kind: 'malformed' },
    { kind: 'soapFault' },
    { kind: 'reset' },
    { kind: 'result', resultCode: 90 },
  ];
  it.each(faults)(
    'status calls failing with $kind: polling goes on, no overlap, the payment sells',
    async (fault) => {
      h = await startSimHarness();
      await h.pressProduct(1);
      await h.advanceIo(1000);
      const ref = h.activeRef();
      h.sim.control.injectFault('getPaymentStatus', fault, { times: 3 });
      h.sim.control.pay(ref);
      // Delayed and dripped answers are held in manual time: waiting for them in real time
      // between steps would only sleep, so the real waits per step are short.
      const held = fault.kind === 'delay' || fault.kind === 'drip';
      await h.advanceIo(6000, 100, held ? 20 : 500);
      expect(h.dispenser.dispenses).toHaveLength(1);
      expect(h.sim.control.invoice(ref)).toMatchObject({ committed: true, reversed: false });
      expect(h.sim.control.maxConcurrentCalls('getPaymentStatus')).toBe(1);
      expectCadence(statusCalls(h), 1000);
    },
  );

  it('slow status answers (1.8 s): the next call starts when one returns, never two in flight', async () => {
    h = await startSimHarness();
    await h.pressProduct(1);
    await h.advanceIo(1000);
    h.sim.control.injectFault('getPaymentStatus', { kind: 'delay', ms: 1800 }, { times: 3 });
    // Short real waits per manual step: the held answers come back in manual time.
    await h.advanceIo(8000, 100, 20);
    expect(h.sim.control.maxConcurrentCalls('getPaymentStatus')).toBe(1);
    const calls = statusCalls(h);
    const slow = calls.filter((c) => c.endedAt! - c.at >= 1800);
    expect(slow).toHaveLength(3);
    for (const s of slow) expect(calls[calls.indexOf(s) + 1]?.at).toBe(s.endedAt);
    expectCadence(calls, 1800);
  });

  it('a hanging status call while the customer pays: no overlap, no gap of 20 s, no reversal', async () => {
    h = await startSimHarness({ deadlineMs: 300 });
    await h.pressProduct(1);
    await h.advanceIo(1000);
    const ref = h.activeRef();
    h.sim.control.injectFault('getPaymentStatus', { kind: 'hang' }, { times: 1 });
    await h.advanceIo(1000);
    h.sim.control.pay(ref);
    // Manual time runs on while the real 300 ms client deadline passes.
    await h.advanceIo(12_000, 1000, 40);
    expect(h.sim.control.maxConcurrentCalls('getPaymentStatus')).toBe(1);
    expect(h.dispenser.dispenses).toHaveLength(1);
    expect(h.sim.control.invoice(ref)).toMatchObject({ committed: true, reversed: false });
    const calls = statusCalls(h);
    for (let i = 1; i < calls.length; i++)
      expect(calls[i]!.at - calls[i - 1]!.at).toBeLessThan(20_000);
  });

  it('SEQR unreachable (HTTP 503 on every call): out of service, buttons ignored, back when it answers', async () => {
    h = await startSimHarness();
    h.sim.control.injectFault('*', { kind: 'http', status: 503 });
    await h.pressProduct(1);
    await h.advanceIo(200);
    expect(h.display.current).toMatchObject({ kind: 'outOfService', reason: 'seqrUnreachable' });
    await h.pressProduct(2);
    await h.advanceIo(10_000, 500);
    // The probe exercises what failed: sendInvoice, with an invoice nobody sees.
    const sent = () => h!.sim.control.calls().filter((c) => c.op === 'sendInvoice');
    expect(sent().length).toBeGreaterThanOrEqual(3);
    expect(h.sim.control.calls().filter((c) => c.op === 'getPaymentStatus')).toHaveLength(0);
    h.sim.control.clearFaults();
    await h.advanceIo(20_000, 1000);
    expect(h.state().kind).toBe('idle');
    expect(h.display.current?.kind).toBe('idle');
    // The probe's invoice was cancelled and confirmed: nothing open at SEQR.
    const probe = sent().at(-1)!.reference!;
    expect(h.sim.control.invoice(probe)?.status).toBe('CANCELED');
    expect(h.sim.control.activeInvoice()).toBeUndefined();
    expect(h.display.screens.map((x) => x.kind)).not.toContain('pay');
    await h.pressProduct(2);
    await h.advanceIo(200);
    expect(h.state().kind).toBe('awaitingPayment');
  });

  it('credentials refused (20): out of service for credentials, never trading', async () => {
    h = await startSimHarness({ password: 'wrong-password' });
    await h.pressProduct(1);
    await h.advanceIo(200);
    expect(h.display.current).toMatchObject({ kind: 'outOfService', reason: 'seqrCredentials' });
    await h.advanceIo(10_000, 1000);
    expect(h.state().kind).toBe('outOfService');
    expect(JSON.stringify(h.lines)).not.toContain('wrong-password');
  });
});
