import { describe, expect, it } from 'vitest';
import { FakeDispenser, type RelayEdge } from '../../hardware/dispenser/fake-dispenser.js';
import { ManualClock } from '../../daemon/runtime/manual-clock.js';

describe('FakeDispenser history', () => {
  it('keeps only the latest dispenses and relay edges, however many there were', async () => {
    const clock = new ManualClock();
    const dispenser = new FakeDispenser({ clock, slots: [1, 2, 3], pulseMs: 10 });
    const heard: RelayEdge[] = [];
    dispenser.onRelay((edge) => heard.push(edge));
    const total = 1_000;
    for (let i = 0; i < total; i++) {
      const run = dispenser.dispense((i % 3) + 1);
      await clock.advanceAsync(10);
      await expect(run).resolves.toEqual({ outcome: 'delivered' });
    }
    expect(dispenser.dispenseCount).toBe(total);
    expect(dispenser.dispenses).toHaveLength(100);
    expect(dispenser.relayLog).toHaveLength(200);
    // The newest are kept, in order: dispense i ran at start + 10 i.
    const start = heard[0]!.at;
    expect(dispenser.dispenses.map((d) => d.at)).toEqual(
      Array.from({ length: 100 }, (_, k) => start + 10 * (total - 100 + k)),
    );
    expect(dispenser.relayLog).toEqual(heard.slice(-200));
    expect(heard).toHaveLength(2 * total);
  });

  it('takes a smaller or larger history, and refuses one that keeps nothing', async () => {
    const clock = new ManualClock();
    const dispenser = new FakeDispenser({ clock, slots: [1], pulseMs: 10, history: 2 });
    for (let i = 0; i < 5; i++) {
      const run = dispenser.dispense(1);
      await clock.advanceAsync(10);
      await run;
    }
    expect(dispenser.dispenses).toHaveLength(2);
    expect(dispenser.relayLog.map((e) => e.energised)).toEqual([true, false, true, false]);
    for (const history of [0, 1.5, -1])
      expect(() => new FakeDispenser({ clock, history })).toThrow(/history/);
  });
});

describe('FakeDispenser drop sensor', () => {
  it('reports the drop to the observer before a delivery settles, only with a drop sensor', async () => {
    const clock = new ManualClock();
    for (const [dropWindowMs, drops] of [
      [1_000, 1],
      [undefined, 0],
    ] as const) {
      const d = new FakeDispenser({
        clock,
        slots: [1],
        ...(dropWindowMs === undefined ? {} : { dropWindowMs }),
      });
      let seen = 0;
      const r = d.dispense(1, { onDrop: () => (seen += 1) });
      await clock.advanceAsync(300);
      expect(await r).toEqual({ outcome: 'delivered' });
      expect(seen).toBe(drops);
      if (dropWindowMs !== undefined) {
        d.nextResult(1, { outcome: 'notDelivered', reason: 'noDrop' });
        const none = d.dispense(1, { onDrop: () => (seen += 1) });
        await clock.advanceAsync(1_000);
        expect(await none).toEqual({ outcome: 'notDelivered', reason: 'noDrop' });
        expect(seen).toBe(1);
      }
    }
  });
});
