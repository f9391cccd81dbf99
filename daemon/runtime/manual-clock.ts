import type { Clock, TimerHandle } from '../ports/clock.js';

interface Pending {
  readonly id: number;
  readonly at: number;
  readonly fn: () => void;
}

/**
 * A {@link Clock} that moves only when told to. Timers fire in deadline order (ties in the order
 * they were set), each with `now()` equal to its deadline; time never goes back. Used by tests and
 * by the benchmarks' fast-clock soaks.
 *
 * `advance` fires callbacks synchronously; `advanceAsync` also lets promise chains (and
 * immediates) run after each timer, which is what code awaiting adapters needs.
 */
export class ManualClock implements Clock {
  #now: number;
  #nextId = 1;
  readonly #timers = new Map<number, Pending>();

  constructor(start = 0) {
    if (!Number.isFinite(start)) throw new RangeError(`"start" must be finite: ${String(start)}`);
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    if (!Number.isFinite(ms)) throw new RangeError(`"ms" must be finite: ${String(ms)}`);
    const id = this.#nextId++;
    this.#timers.set(id, { id, at: this.#now + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    if (typeof handle === 'number') this.#timers.delete(handle);
  }

  /** Timers not yet fired. */
  get pending(): number {
    return this.#timers.size;
  }

  /** When the next timer is due, if any. */
  nextAt(): number | undefined {
    return this.#next()?.at;
  }

  /** Moves time forward by `ms`, firing every timer due on the way (also ones set meanwhile). */
  advance(ms: number): void {
    this.advanceTo(this.#now + this.#checkMs(ms));
  }

  advanceTo(target: number): void {
    if (target < this.#now) throw new RangeError(`time cannot go back (${target} < ${this.#now})`);
    for (let next = this.#next(); next && next.at <= target; next = this.#next()) this.#fire(next);
    this.#now = target;
  }

  /** Like `advance`, yielding to the event loop after each timer so async work can follow. */
  async advanceAsync(ms: number): Promise<void> {
    const target = this.#now + this.#checkMs(ms);
    await yieldToLoop();
    for (let next = this.#next(); next && next.at <= target; next = this.#next()) {
      this.#fire(next);
      await yieldToLoop();
    }
    this.#now = target;
    await yieldToLoop();
  }

  /** Fires timers in order until none is left or `limit` have fired (periodic timers never end). */
  runAll(limit = 10_000): number {
    let fired = 0;
    for (let next = this.#next(); next && fired < limit; next = this.#next()) {
      this.#fire(next);
      fired++;
    }
    return fired;
  }

  #checkMs(ms: number): number {
    if (!Number.isFinite(ms) || ms < 0)
      throw new RangeError(`"ms" must be a finite number >= 0: ${String(ms)}`);
    return ms;
  }

  #next(): Pending | undefined {
    let best: Pending | undefined;
    for (const t of this.#timers.values())
      if (!best || t.at < best.at || (t.at === best.at && t.id < best.id)) best = t;
    return best;
  }

  #fire(timer: Pending): void {
    this.#timers.delete(timer.id);
    this.#now = Math.max(this.#now, timer.at);
    timer.fn();
  }
}

/** Lets pending promise callbacks and immediates run. */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
