import { describe, expect, it } from 'vitest';
import type { ButtonEvent } from '../../daemon/ports/buttons.js';
import { openGpioButtons } from '../../hardware/buttons/gpio-buttons.js';
import { openGpioDispenser } from '../../hardware/dispenser/gpio-dispenser.js';
import { runSafeState } from '../../hardware/dispenser/safe-state.js';
import { FakeGpio } from '../../hardware/gpio/fake-gpio.js';
import { ManualClock } from '../../daemon/runtime/manual-clock.js';

describe('GPIO buttons debounce (leading edge)', () => {
  it('acts on the first edge, ignores chatter, and keeps a tap shorter than the window', async () => {
    const clock = new ManualClock();
    const gpio = new FakeGpio({ clock });
    const buttons = await openGpioButtons({
      gpio,
      clock,
      debounceMs: 30,
      buttons: [{ button: { kind: 'product', slot: 1 }, pin: 5 }],
    });
    const events: ButtonEvent[] = [];
    buttons.subscribe((e) => events.push(e));
    const t0 = clock.now();
    for (const [dt, level] of [
      [0, 0],
      [2, 1],
      [3, 0],
      [5, 1],
      [6, 0],
    ] as const)
      gpio.inject(5, level, t0 + dt);
    await clock.advanceAsync(1);
    expect(events).toEqual([{ type: 'pressed', button: { kind: 'product', slot: 1 }, at: t0 }]);
    // A 10 ms tap: the release inside the window is caught up after it, so the next press counts.
    await clock.advanceAsync(100);
    const t1 = clock.now();
    gpio.inject(5, 1, t1);
    await clock.advanceAsync(100);
    gpio.inject(5, 0, clock.now());
    gpio.inject(5, 1, clock.now() + 10);
    await clock.advanceAsync(100);
    gpio.inject(5, 0, clock.now());
    await clock.advanceAsync(100);
    expect(events.filter((e) => e.type === 'pressed')).toHaveLength(3);
    await buttons.close();
  });
});

describe('GPIO dispenser drop sensor and stock', () => {
  const setup = async () => {
    const clock = new ManualClock();
    const gpio = new FakeGpio({ clock });
    gpio.inject(4, 1);
    const dispenser = await openGpioDispenser({
      gpio,
      clock,
      pulseMs: 300,
      slots: [{ slot: 1, relayPin: 17, stock: 2 }],
      dropSensor: { pin: 4, activeLevel: 0, windowMs: 1500 },
    });
    return { clock, gpio, dispenser };
  };

  it('delivered when the beam breaks within the window; stock counts down to sold out', async () => {
    const { clock, gpio, dispenser } = await setup();
    const r = dispenser.dispense(1);
    await clock.advanceAsync(400);
    gpio.inject(4, 0);
    gpio.inject(4, 1, clock.now() + 5);
    await clock.advanceAsync(10);
    expect(await r).toEqual({ outcome: 'delivered' });
    expect(dispenser.stock(1)).toBe(1);
    await dispenser.close();
  });

  it('tells the observer of the drop once, as the beam breaks, before the dispense settles', async () => {
    const { clock, gpio, dispenser } = await setup();
    const seen: string[] = [];
    const r = dispenser.dispense(1, { onDrop: () => seen.push('drop') }).then((result) => {
      seen.push(result.outcome);
    });
    await clock.advanceAsync(100);
    // During the pulse: the relay is still on when the product falls.
    gpio.inject(4, 0);
    gpio.inject(4, 1, clock.now() + 5);
    gpio.inject(4, 0, clock.now() + 10);
    await clock.advanceAsync(20);
    expect(seen).toEqual(['drop']);
    expect(gpio.level(17)).toBe(0);
    await clock.advanceAsync(400);
    await r;
    expect(seen).toEqual(['drop', 'delivered']);
    await dispenser.close();
  });

  it('notDelivered/noDrop when the beam stays whole; stock unchanged; relay off', async () => {
    const { clock, gpio, dispenser } = await setup();
    const onDrop = (): void => {
      throw new Error('no drop was seen');
    };
    const r = dispenser.dispense(1, { onDrop });
    await clock.advanceAsync(1600);
    expect(await r).toEqual({ outcome: 'notDelivered', reason: 'noDrop' });
    expect(dispenser.stock(1)).toBe(2);
    expect(gpio.level(17)).toBe(1);
    await dispenser.close();
  });

  it('a refill of a sold-out slot sells again; out-of-range counts and unknown slots are refused', async () => {
    const { clock, gpio, dispenser } = await setup();
    dispenser.refill(1, 0);
    expect(await dispenser.dispense(1)).toEqual({ outcome: 'notDelivered', reason: 'soldOut' });
    expect(gpio.level(17)).toBe(1);
    dispenser.refill(1, 5);
    const r = dispenser.dispense(1);
    await clock.advanceAsync(400);
    gpio.inject(4, 0);
    gpio.inject(4, 1, clock.now() + 5);
    await clock.advanceAsync(10);
    expect(await r).toEqual({ outcome: 'delivered' });
    expect(dispenser.stock(1)).toBe(4);
    expect(() => {
      dispenser.refill(1, 10_000);
    }).toThrow(RangeError);
    expect(() => {
      dispenser.refill(1, 1.5);
    }).toThrow(RangeError);
    expect(() => {
      dispenser.refill(2, 1);
    }).toThrow(/slot 2 is not configured/);
    expect(dispenser.stock(1)).toBe(4);
    await dispenser.close();
  });

  it('a failing relay write mid-pulse rejects E_DISPENSER_FAULT and the relay ends safe', async () => {
    const { clock, gpio, dispenser } = await setup();
    const r = dispenser.dispense(1).catch((e: unknown) => e);
    await clock.advanceAsync(1);
    gpio.failWrites(17, 1);
    await clock.advanceAsync(400);
    expect(await r).toMatchObject({ code: 'E_DISPENSER_FAULT' });
    expect(gpio.level(17)).toBe(1);
    await dispenser.close();
  });
});

describe('safe-state command', () => {
  it('drives every relay pin inactive with no daemon, even one left energised by a crash', async () => {
    const gpio = new FakeGpio();
    const stale = await gpio.claimOutput(17, { initial: 0 });
    await stale.release();
    const outcomes = await runSafeState({ gpio, relayPins: [17, 27], relayActiveLevel: 0 });
    expect(outcomes).toEqual([
      { pin: 17, ok: true },
      { pin: 27, ok: true },
    ]);
    expect(gpio.level(17)).toBe(1);
    expect(gpio.level(27)).toBe(1);
  });
});
