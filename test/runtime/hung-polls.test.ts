// Issue 14: with the example configuration's deadline, one hung status poll used half of SEQR's
// 20 s reversal window, and two in a row let SEQR reverse a payment the customer made. The
// configuration and the core as shipped, the fake SEQR holding each hung call until the example's
// poll deadline, a ManualClock.
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/load.js';
import { coreConfig } from '../../daemon/app.js';
import { ManualClock } from '../../daemon/runtime/manual-clock.js';
import { FakePaymentGateway } from '../../daemon/seqr/fake-gateway.js';
import { startHarness, type Harness } from '../support/harness.js';

const EXAMPLE = path.join(import.meta.dirname, '../../config/example.config.yaml');

/** The hard deadline of a status poll as the example configuration sets it. */
const examplePollDeadlineMs = (): number => loadConfig(EXAMPLE, {}).seqr.deadlines.getPaymentStatus;

let h: Harness | undefined;
afterEach(async () => {
  await h?.runtime.stop().catch(() => undefined);
  h = undefined;
});

describe('hung status polls', () => {
  it('two hung polls in a row (the example configuration) no longer let SEQR reverse a payment', async () => {
    const example = loadConfig(EXAMPLE, {});
    const clock = new ManualClock(1_763_800_000_000);
    // SEQR reverses a payment no poll saw within 20 s; a hung call ends at the poll deadline.
    const fake = new FakePaymentGateway({
      clock,
      reversalMs: 20_000,
      deadlineMs: examplePollDeadlineMs(),
    });
    h = await startHarness({ clock, gateway: fake, config: coreConfig(example, 'terminal-1') });
    const slot = example.products[0]!.slot;
    await h.pressProduct(slot);
    await h.advance(1_500);
    const reference = fake.activeReference!;
    expect(fake.status(reference)).toBe('ISSUED');
    // The customer pays just after a poll answered; the next two polls hang.
    fake.pay(reference);
    fake.hangNext('getStatus');
    fake.hangNext('getStatus');
    await h.advance(40_000);
    const timedOut = fake.calls.filter(
      (c) => c.method === 'getStatus' && c.outcome === 'E_SEQR_TIMEOUT',
    );
    expect(timedOut).toHaveLength(2);
    expect(fake.committed(reference)).toBe(true);
    expect(fake.status(reference)).toBe('PAID');
    expect(h.dispenser.dispenses).toHaveLength(1);
    expect(fake.refunded(reference)).toBe(0);
  });
});
