import { describe, expect, it } from 'vitest';
import { idleScreen } from '../../daemon/core/documents.js';
import { reservationRequest } from '../../daemon/core/reservation.js';
import type { State } from '../../daemon/core/types.js';
import { testConfig } from '../support/core-config.js';
import { ReservationWorld, upsConfig } from './reservation-world.js';

/** A payer scanned and confirmed 100 SEK: the machine shows "choose". */
function reservedWorld(minor = 10_000): { w: ReservationWorld; txId: string; reference: string } {
  const w = new ReservationWorld();
  w.settle();
  const requestId = w.createPurchase(minor);
  w.settle();
  const answer = w.answers.get(requestId);
  if (!answer || !('invoiceReferenceId' in answer))
    throw new Error(`refused: ${JSON.stringify(answer)}`);
  const reference = answer.invoiceReferenceId;
  w.confirm(reference);
  w.settle();
  const inv = w.invoices.get(reference)!;
  return { w, txId: inv.txId, reference };
}

function session(s: State) {
  if (s.kind !== 'session') throw new Error(`not in a session: ${s.kind}`);
  return s.session;
}

describe('pay first, then choose (UPS) in the core', () => {
  it('idle in UPS mode shows the static code beside the products', () => {
    expect(idleScreen(upsConfig, upsConfig.products, [])).toMatchObject({
      kind: 'upsIdle',
      qrPayload: 'HTTP://SEQR.SE/000/ups?w=CAFE&t=test',
      products: [{ slot: 1 }, { slot: 2 }, { slot: 3 }],
    });
    expect(idleScreen(testConfig, testConfig.products, []).kind).toBe('idle');
  });

  it('createPurchase when idle: a RESERVATION_REQUIRED_PRELIMINARY_AMOUNT invoice of min(offer, maxCredit) with the commit timeout and notificationUrl, answered only once recorded', () => {
    const w = new ReservationWorld();
    w.settle();
    const requestId = w.createPurchase(50_000);
    expect(w.ledger.at(-1)).toMatchObject({
      type: 'reservation.requested',
      offered: { minor: 50_000 },
      amount: { minor: 10_000 },
    });
    expect(w.answers.has(requestId)).toBe(false);
    w.deliver(); // reservation.requested durable -> sendInvoice
    w.deliver(); // issued
    expect(w.answers.has(requestId)).toBe(false);
    const inv = w.latest()!;
    expect(inv.reserved).toBe(10_000);
    expect(w.ledger.at(-1)).toMatchObject({
      type: 'reservation.issued',
      invoiceReference: inv.reference,
    });
    w.deliver(); // reservation.issued durable -> answered
    expect(w.answers.get(requestId)).toEqual({ invoiceReferenceId: inv.reference });
  });

  it('the reservation invoice: preliminary amount, commit timeout in seconds, notificationUrl', () => {
    expect(reservationRequest(upsConfig, 'tx-9', { minor: 10_000, currency: 'SEK' })).toMatchObject(
      {
        clientInvoiceId: 'tx-9',
        price: { minor: 10_000, currency: 'SEK' },
        notificationUrl: 'https://gateway.example/seqr/notify?m=test',
        reservation: { commitTimeoutS: upsConfig.ups!.commitTimeoutMs / 1000 },
      },
    );
  });

  it('refuses createPurchase as SEQR expects: busy, too little for anything, not in UPS mode', () => {
    const { w } = reservedWorld();
    const busy = w.createPurchase(5_000);
    expect(w.answers.get(busy)).toEqual({ errorCode: 'DEVICE_IN_USE' });

    const idle = new ReservationWorld();
    idle.settle();
    const poor = idle.createPurchase(1_000); // the cheapest product is 15.00
    expect(idle.answers.get(poor)).toEqual({ errorCode: 'INSUFFICIENT_FUNDS' });

    const plain = new ReservationWorld(testConfig);
    plain.settle();
    const off = plain.createPurchase(5_000);
    expect(plain.answers.get(off)).toEqual({ errorCode: 'DEVICE_UNAVAILABLE' });
  });

  it('RESERVED -> choose with the credit left; each press recorded before the relay; done commits exactly the delivered total', () => {
    const { w, txId, reference } = reservedWorld();
    expect(session(w.state).kind).toBe('choosing');
    w.press(1); // Cola 25.00
    expect(w.ledger.at(-1)).toMatchObject({ type: 'vend.started', vend: 1, slot: 1 });
    expect(w.pulses).toHaveLength(0);
    w.settle();
    expect(w.pulses).toEqual([{ txId, seq: 1 }]);
    w.press(2); // Water 15.00
    w.settle();
    w.press(2);
    w.settle();
    const s = session(w.state);
    expect(s.kind).toBe('choosing');
    w.press('cancel'); // done
    w.settle();
    const inv = w.invoices.get(reference)!;
    expect(inv.charged).toBe(2_500 + 1_500 + 1_500);
    expect(inv.commits).toBe(1);
    expect(w.ledger.find((e) => e.type === 'reservation.settling')).toMatchObject({
      total: { minor: 5_500 },
      rows: [
        { slot: 1, quantity: 1 },
        { slot: 2, quantity: 2 },
      ],
    });
    w.run(10_000);
    expect(w.closedOutcome(txId)).toBe('sold');
    expect(w.state.kind).toBe('idle');
  });

  it('a press above the credit left is ignored; the credit running out ends the session', () => {
    const { w, reference } = reservedWorld(4_000);
    w.press(3); // Crisps 30.00: fits
    w.settle();
    w.press(1); // 25.00 > 10.00 left; nothing else affordable either -> already settled
    w.settle();
    expect(w.pulses).toHaveLength(1);
    expect(w.invoices.get(reference)?.charged).toBe(3_000);
  });

  it('nothing chosen: cancelled, nothing charged', () => {
    const { w, txId, reference } = reservedWorld();
    w.press('cancel');
    w.settle();
    expect(w.invoices.get(reference)?.status).toBe('CANCELED');
    expect(w.invoices.get(reference)?.charged).toBeUndefined();
    w.run(10_000);
    expect(w.closedOutcome(txId)).toBe('cancelled');
  });

  it('no press for the idle timeout ends the session and charges what was taken', () => {
    const { w, reference } = reservedWorld();
    w.press(2);
    w.settle();
    w.run(upsConfig.ups!.idleTimeoutMs + 1_000);
    expect(w.invoices.get(reference)?.charged).toBe(1_500);
  });

  it('the payer never confirms: the reservation is cancelled after the confirm window', () => {
    const w = new ReservationWorld();
    w.settle();
    const requestId = w.createPurchase(10_000);
    w.settle();
    expect(w.answers.get(requestId)).toHaveProperty('invoiceReferenceId');
    w.run(upsConfig.ups!.confirmWindowMs + 5_000);
    expect(w.latest()?.status).toBe('CANCELED');
    expect(w.state.kind).toBe('idle');
  });

  it('a notification polls at once: RESERVED is seen without waiting for the poll timer', () => {
    const w = new ReservationWorld();
    w.settle();
    w.createPurchase(10_000);
    w.settle();
    w.confirm();
    w.settle(); // no time passed: only the notification can have polled
    expect(session(w.state).kind).toBe('choosing');
  });

  it('a commit whose answer was lost is never sent twice: the status (PAID) tells it went through', () => {
    const { w, txId, reference } = reservedWorld();
    w.press(1);
    w.settle();
    w.faults.set('commit', 'answerLost');
    w.press('cancel');
    w.run(30_000);
    const inv = w.invoices.get(reference)!;
    expect(inv.commits).toBe(1);
    expect(inv.charged).toBe(2_500);
    expect(w.closedOutcome(txId)).toBe('sold');
    expect(w.ledger.some((e) => e.type === 'reservation.committed')).toBe(true);
  });

  it('SEQR unreachable at the commit: retried until it answers, within the reservation', () => {
    const { w, reference } = reservedWorld();
    w.press(2);
    w.settle();
    w.faults.set('commit', 'unreachable');
    w.press('cancel');
    w.settle();
    expect(w.invoices.get(reference)?.charged).toBeUndefined();
    w.run(10_000);
    expect(w.invoices.get(reference)?.charged).toBe(1_500);
  });

  it('a crash mid-session commits what was delivered, once, after the restart', () => {
    const { w, txId, reference } = reservedWorld();
    w.press(1);
    w.settle();
    w.press(2);
    w.settle();
    w.crash();
    w.run(30_000);
    const inv = w.invoices.get(reference)!;
    expect(inv.charged).toBe(4_000);
    expect(inv.commits).toBe(1);
    expect(w.closedOutcome(txId)).toBe('sold');
    expect(w.openTxIds()).toEqual([]);
  });

  it('a crash after the drop but before the dispense ended: charged (the drop was recorded), never dispensed again', () => {
    const { w, reference } = reservedWorld();
    w.nextDispense = 'dropThenCrash';
    w.press(1);
    w.settle();
    w.crash();
    w.run(30_000);
    expect(w.invoices.get(reference)?.charged).toBe(2_500);
    expect(w.pulses).toHaveLength(1);
  });

  it('a crash between vend.started and any outcome: not charged, never dispensed again, flagged', () => {
    const { w, txId, reference } = reservedWorld();
    w.press(2);
    w.settle();
    w.press(1);
    w.deliver(); // vend.started durable -> relay
    expect(w.pulses).toHaveLength(2);
    w.crash(); // the drop and the finish are lost
    w.run(30_000);
    expect(w.invoices.get(reference)?.charged).toBe(1_500);
    expect(w.pulses).toHaveLength(2);
    expect(w.closedOutcome(txId)).toBe('flagged');
  });

  it('a crash before anything was delivered cancels the reservation: nothing charged', () => {
    const { w, txId, reference } = reservedWorld();
    w.crash();
    w.run(30_000);
    expect(w.invoices.get(reference)?.status).toBe('CANCELED');
    expect(w.closedOutcome(txId)).toBe('cancelled');
  });

  it('the payer cancels in the app while choosing: the session ends at once', () => {
    const { w, reference } = reservedWorld();
    w.press(2);
    w.settle();
    w.cancelInApp(reference);
    w.settle();
    expect(w.state.kind === 'session' && w.state.session.kind === 'choosing').toBe(false);
    // Delivered but no longer reserved: unpaid, flagged for the operator.
    expect(w.invoices.get(reference)?.charged).toBeUndefined();
    w.run(10_000);
    expect(w.closedOutcome(w.invoices.get(reference)!.txId)).toBe('flagged');
    w.press(1);
    w.settle();
    expect(w.pulses).toHaveLength(1);
  });
});
