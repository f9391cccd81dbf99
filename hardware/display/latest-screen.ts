import type { Screen } from '../../daemon/ports/display.js';
import { VendError } from '../../daemon/errors.js';

interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * Serialises screen output so that only the latest screen is ever written: `submit` calls made
 * while a write runs (or in the same tick) collapse into one write of the newest screen, and every
 * caller's promise settles with that write's outcome. A superseded screen is never written, so the
 * display cannot go back to a stale picture.
 */
export class LatestScreen {
  readonly #write: (screen: Screen) => Promise<void>;
  #pending: { screen: Screen; waiters: Waiter[] } | undefined;
  #running: Promise<void> | undefined;
  #closed = false;

  constructor(write: (screen: Screen) => Promise<void>) {
    this.#write = write;
  }

  /** Resolves when `screen` or a newer one is out; rejects with that write's error. */
  submit(screen: Screen): Promise<void> {
    if (this.#closed) return Promise.reject(new VendError('E_CLOSED', 'the display was closed'));
    return new Promise<void>((resolve, reject) => {
      const waiters = this.#pending?.waiters ?? [];
      waiters.push({ resolve, reject });
      this.#pending = { screen, waiters };
      this.#running ??= this.#run();
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
    const err = new VendError('E_CLOSED', 'the display was closed before this screen was shown');
    for (const w of pending?.waiters ?? []) w.reject(err);
    await this.#running;
  }

  async #run(): Promise<void> {
    // Let every show() of the current tick arrive first: only the last one is drawn.
    await Promise.resolve();
    while (this.#pending) {
      const { screen, waiters } = this.#pending;
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
}
