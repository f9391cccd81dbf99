import type { Screen } from '../../daemon/ports/display.js';
import type { Clock, TimerHandle } from '../../daemon/ports/clock.js';
import { VendError } from '../../daemon/errors.js';

interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * How long the display waits before drawing "one moment" (the core shows it on a press, while the
 * invoice is created): when the pay screen follows within this time, as it does whenever SEQR
 * answers promptly, the customer sees one frame instead of two and the pay frame is not queued
 * behind a frame nobody had time to read. A slow invoice still gets its feedback this soon.
 */
export const TRANSIENT_HOLD_MS = 200;

/** Screens only shown while something quick happens: worth drawing only if it is not quick. */
export function isTransient(screen: Screen): boolean {
  return screen.kind === 'preparing';
}

export interface LatestScreenOptions {
  /** Timer for the hold. */
  readonly clock: Clock;
  /** How long a transient screen waits for a newer one before it is written; 0 writes at once. */
  readonly holdMs: number;
}

/**
 * Serialises screen output so that only the latest screen is ever written: `submit` calls made
 * while a write runs (or in the same tick) collapse into one write of the newest screen, and every
 * caller's promise settles with that write's outcome. A superseded screen is never written, so the
 * display cannot go back to a stale picture. A transient screen (`isTransient`) is held up to
 * `holdMs` first, and dropped like any superseded screen when a newer one arrives in that time.
 */
export class LatestScreen {
  readonly #write: (screen: Screen) => Promise<void>;
  readonly #options: LatestScreenOptions | undefined;
  #pending: { screen: Screen; waiters: Waiter[] } | undefined;
  #running: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #closed = false;

  constructor(write: (screen: Screen) => Promise<void>, options?: LatestScreenOptions) {
    this.#write = write;
    this.#options = options;
  }

  /** Resolves when `screen` or a newer one is out; rejects with that write's error. */
  submit(screen: Screen): Promise<void> {
    if (this.#closed) return Promise.reject(new VendError('E_CLOSED', 'the display was closed'));
    return new Promise<void>((resolve, reject) => {
      const waiters = this.#pending?.waiters ?? [];
      waiters.push({ resolve, reject });
      this.#pending = { screen, waiters };
      this.#running ??= this.#run();
      this.#wake?.();
    });
  }

  /** True when a screen waits to be written. */
  get hasPending(): boolean {
    return this.#pending !== undefined;
  }

  /** Rejects screens not yet written with `E_CLOSED`; resolves once the running write is done. */
  async close(): Promise<void> {
    this.#closed = true;
    const pending = this.#pending;
    this.#pending = undefined;
    this.#wake?.();
    const err = new VendError('E_CLOSED', 'the display was closed before this screen was shown');
    for (const w of pending?.waiters ?? []) w.reject(err);
    await this.#running;
  }

  async #run(): Promise<void> {
    // Let every show() of the current tick arrive first: only the last one is drawn.
    await Promise.resolve();
    while (this.#pending) {
      const held = this.#pending;
      if (this.#options && this.#options.holdMs > 0 && isTransient(held.screen)) {
        await this.#hold(this.#options.clock, this.#options.holdMs);
        // Superseded (or closed) while held: take the newer screen, if any.
        if (this.#pending !== held) continue;
      }
      const { screen, waiters } = held;
      this.#pending = undefined;
      try {
        await this.#write(screen);
        for (const w of waiters) w.resolve();
      } catch (err) {
        for (const w of waiters) w.reject(err);
      }
    }
    this.#running = undefined;
  }

  /** Resolves after `ms`, or as soon as a newer screen is submitted or the queue closes. */
  #hold(clock: Clock, ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clock.clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      const timer: TimerHandle = clock.setTimeout(done, ms);
      this.#wake = done;
    });
  }
}
