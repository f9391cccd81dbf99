import { afterEach, describe, expect, it } from 'vitest';
import { upsConfig } from '../core/reservation-world.js';
import { testConfig } from '../support/core-config.js';
import { startHarness, type Harness } from '../support/harness.js';

/** The runtime carries a reservation out through the ports: ManualClock, fake SEQR, fake hardware. */
describe('pay first, then choose through the runtime', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.runtime.stop();
    h = undefined;
  });

  it('createPurchase -> reserved -> two presses -> done: committed exactly the delivered total, receipt printed', async () => {
    h = await startHarness({ config: upsConfig });
    expect(h.display.current?.kind).toBe('upsIdle');
    const answer = await h.runtime.createPurchase({ minor: 50_000, currency: 'SEK' });
    if (!('invoiceReferenceId' in answer)) throw new Error(JSON.stringify(answer));
    const reference = answer.invoiceReferenceId;
    expect(h.display.current?.kind).toBe('upsConfirm');
    h.fake.pay(reference);
    // SEQR's notification: polled at once, no poll interval waited.
    expect(await h.runtime.notify(reference)).toEqual({ known: true });
    await h.settle();
    expect(h.display.current).toMatchObject({ kind: 'upsChoose', credit: { minor: 10_000 } });
    await h.pressProduct(1);
    await h.advance(2_000);
    await h.pressProduct(2);
    await h.advance(2_000);
    expect(h.display.current).toMatchObject({ kind: 'upsChoose', credit: { minor: 6_000 } });
    await h.pressCancel();
    await h.advance(3_000);
    expect(h.fake.charged(reference)).toBe(4_000);
    expect(h.fake.reservationContent(reference)?.total.minor).toBe(4_000);
    expect(h.printer.receipts.at(-1)?.amount.minor).toBe(4_000);
    await h.advance(10_000);
    expect(h.display.current?.kind).toBe('upsIdle');
    expect(await h.runtime.notify('123')).toEqual({ known: false });
  });

  it('busy: a second createPurchase is DEVICE_IN_USE; a stopped runtime answers DEVICE_UNAVAILABLE', async () => {
    h = await startHarness({ config: upsConfig });
    const first = await h.runtime.createPurchase({ minor: 5_000, currency: 'SEK' });
    expect(first).toHaveProperty('invoiceReferenceId');
    expect(await h.runtime.createPurchase({ minor: 5_000, currency: 'SEK' })).toEqual({
      errorCode: 'DEVICE_IN_USE',
    });
    await h.runtime.stop();
    expect(await h.runtime.createPurchase({ minor: 5_000, currency: 'SEK' })).toEqual({
      errorCode: 'DEVICE_UNAVAILABLE',
    });
    h = undefined;
  });

  it('per-press purchase with a gateway: the invoice carries the notificationUrl, and a notification polls at once', async () => {
    h = await startHarness({
      config: { ...testConfig, notificationUrl: 'https://gw.example/seqr/notify/m-1' },
    });
    await h.pressProduct(1);
    await h.settle();
    const reference = h.fake.activeReference!;
    expect(h.fake.requestOf(reference)?.notificationUrl).toBe('https://gw.example/seqr/notify/m-1');
    await h.advance(1_000); // past the first poll: only a notification makes the next one now
    h.fake.pay(reference);
    expect(await h.runtime.notify(reference)).toEqual({ known: true });
    await h.settle();
    await h.settle();
    expect(h.state().kind).toBe('dispensing');
    await h.advance(10_000);
    expect(h.dispenser.dispenses).toHaveLength(1);
  });
});
