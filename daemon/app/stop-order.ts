import { VendError } from '../errors.js';
import type { Logger } from '../log.js';

/** Something opened during start-up, closed at stop. */
export type Closer = () => Promise<void> | void;

/**
 * The stop order of the daemon: what start-up opened, closed in reverse (last opened, first
 * closed). Start-up registers each part as soon as it is open, so a failed start closes exactly
 * what it had opened.
 */
export class StopOrder {
  readonly #log: Logger;
  #closers: Closer[] = [];

  constructor(log: Logger) {
    this.#log = log;
  }

  /** Registers a part to close at stop, after everything registered later. */
  add(close: Closer): void {
    this.#closers.push(close);
  }

  /**
   * Closes every registered part, last registered first, each even when an earlier one failed.
   * Rejects with the first failure once all were tried.
   */
  async closeAll(): Promise<void> {
    const closers = this.#closers.reverse();
    this.#closers = [];
    const failures: unknown[] = [];
    for (const close of closers) {
      try {
        await close();
      } catch (err) {
        failures.push(err);
        this.#log.error({ err }, 'closing failed');
      }
    }
    if (failures.length > 0)
      throw failures[0] instanceof Error
        ? failures[0]
        : new VendError('E_UNEXPECTED', 'closing failed', { cause: failures[0] });
  }
}
