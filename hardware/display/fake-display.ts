import type { Display, Screen } from '../../daemon/ports/display.js';
import { VendError } from '../../daemon/errors.js';

/**
 * In-process display: records every screen shown, in order. `show` resolves asynchronously like
 * a real frame write; `failNext` makes the next write reject with E_DISPLAY_WRITE (the screen is
 * not recorded). Rejects with E_CLOSED after `close()`.
 */
export class FakeDisplay implements Display {
  /** Every screen written, oldest first. */
  readonly screens: Screen[] = [];
  #failures = 0;
  #closed = false;
  readonly #listeners = new Set<(screen: Screen) => void>();

  /** The screen on display now, if any. */
  get current(): Screen | undefined {
    return this.screens.at(-1);
  }

  /** The next `count` writes fail. */
  failNext(count = 1): void {
    this.#failures += count;
  }

  /** Calls `listener` after each screen is written (e.g. a virtual kiosk mirror); returns unsubscribe. */
  onShow(listener: (screen: Screen) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async show(screen: Screen): Promise<void> {
    await Promise.resolve();
    if (this.#closed) throw new VendError('E_CLOSED', 'display is closed');
    if (this.#failures > 0) {
      this.#failures--;
      throw new VendError('E_DISPLAY_WRITE', 'fake display write failed', { retryable: true });
    }
    this.screens.push(screen);
    for (const listener of [...this.#listeners]) listener(screen);
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}
