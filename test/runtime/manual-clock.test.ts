import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../daemon/runtime/manual-clock.js';

describe('ManualClock', () => {
  it('fires due timers in deadline order (ties in set order), each at its own time', () => {
    const clock = new ManualClock(100);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push(`b@${clock.now()}`), 20);
    clock.setTimeout(() => fired.push(`a@${clock.now()}`), 10);
    clock.setTimeout(() => fired.push(`c@${clock.now()}`), 20);
    clock.advance(15);
    expect(fired).toEqual(['a@110']);
    clock.advance(100);
    expect(fired).toEqual(['a@110', 'b@120', 'c@120']);
    expect(clock.now()).toBe(215);
  });

  it('fires timers set by timers when they fall due within the same advance', () => {
    const clock = new ManualClock();
    const fired: number[] = [];
    const tick = (): void => {
      fired.push(clock.now());
      clock.setTimeout(tick, 1000);
    };
    clock.setTimeout(tick, 1000);
    clock.advance(3500);
    expect(fired).toEqual([1000, 2000, 3000]);
  });

  it('never runs a callback inside setTimeout, honours clearTimeout, never goes back', () => {
    const clock = new ManualClock();
    let ran = false;
    const h = clock.setTimeout(() => (ran = true), 0);
    expect(ran).toBe(false);
    clock.clearTimeout(h);
    clock.advance(10);
    expect(ran).toBe(false);
    expect(() => {
      clock.advanceTo(5);
    }).toThrow(RangeError);
    expect(() => {
      clock.advance(-1);
    }).toThrow(RangeError);
  });

  it('runAll stops at the limit for periodic timers; advanceAsync lets promise chains run', async () => {
    const clock = new ManualClock();
    const tick = (): void => {
      clock.setTimeout(tick, 10);
    };
    clock.setTimeout(tick, 10);
    expect(clock.runAll(50)).toBe(50);
    const seen: number[] = [];
    clock.setTimeout(() => {
      void Promise.resolve()
        .then(() => Promise.resolve())
        .then(() => seen.push(clock.now()));
    }, 5);
    const before = clock.now();
    await clock.advanceAsync(7);
    expect(seen).toContain(before + 5);
  });
});
