/** Opaque handle of a timer started through a {@link Clock}. */
export type TimerHandle = object | number;

/**
 * Time, injected. The runtime and every adapter that waits reads time only through this port, so
 * tests drive it with a fake clock and never sleep. The core never sees it: time reaches the core
 * as the `at` stamp on events.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. Monotonic in the fake; wall time in the real clock. */
  now(): number;
  /** Calls `fn` once, `ms` (>= 0) from now. The callback never runs synchronously inside this call. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a pending timer; a no-op for a timer that already fired or was cleared. */
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock: `Date.now` and the global timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};
