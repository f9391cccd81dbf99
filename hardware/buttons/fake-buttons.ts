import type { ButtonEvent, ButtonId, Buttons } from '../../daemon/ports/buttons.js';
import type { Clock, TimerHandle } from '../../daemon/ports/clock.js';
import { VendError } from '../../daemon/errors.js';
import { buttonKey, checkButtonId, deliver } from './button-id.js';

export interface FakeButtonsOptions {
  readonly clock: Clock;
  /** Product slots that have a button; pressing another slot throws. Default: any slot >= 1. */
  readonly slots?: readonly number[];
  /** How long a held button stays down before it is reported `stuck` once. Default 5000 ms. */
  readonly stuckMs?: number;
}

/**
 * In-process buttons with the semantics of the GPIO adapter: a press reports `pressed` at once,
 * a button held past `stuckMs` reports `stuck` once and `released` when let go, a press while a
 * button is already down is ignored (a held button does not repeat). Listeners run in a
 * microtask, in order; nothing is delivered after `close()`.
 */
export class FakeButtons implements Buttons {
  readonly #clock: Clock;
  readonly #slots: ReadonlySet<number> | undefined;
  readonly #stuckMs: number;
  readonly #listeners = new Set<(event: ButtonEvent) => void>();
  readonly #held = new Map<string, { stuck: boolean; timer: TimerHandle }>();
  #queue: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(options: FakeButtonsOptions) {
    this.#clock = options.clock;
    this.#slots = options.slots ? new Set(options.slots) : undefined;
    this.#stuckMs = options.stuckMs ?? 5000;
    if (!Number.isInteger(this.#stuckMs) || this.#stuckMs <= 0)
      throw new RangeError(`"stuckMs" must be a positive integer: ${String(options.stuckMs)}`);
  }

  subscribe(listener: (event: ButtonEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const { timer } of this.#held.values()) this.#clock.clearTimeout(timer);
    this.#held.clear();
    await this.#queue;
  }

  /** A complete short press: `pressed` now (ignored while the button is held). */
  press(button: ButtonId): void {
    this.#check(button);
    if (this.#held.has(buttonKey(button))) return;
    this.#emit({ type: 'pressed', button, at: this.#clock.now() });
  }

  /** Presses and keeps the button down: `pressed` now, `stuck` once after `stuckMs`. */
  hold(button: ButtonId): void {
    this.#check(button);
    const key = buttonKey(button);
    if (this.#held.has(key)) return;
    this.#emit({ type: 'pressed', button, at: this.#clock.now() });
    const timer = this.#clock.setTimeout(() => {
      const entry = this.#held.get(key);
      if (!entry || this.#closed) return;
      entry.stuck = true;
      this.#emit({ type: 'stuck', button, at: this.#clock.now() });
    }, this.#stuckMs);
    this.#held.set(key, { stuck: false, timer });
  }

  /** Lets a held button go; reports `released` only if it had been reported stuck. */
  release(button: ButtonId): void {
    this.#check(button);
    const key = buttonKey(button);
    const entry = this.#held.get(key);
    if (!entry) return;
    this.#held.delete(key);
    this.#clock.clearTimeout(entry.timer);
    if (entry.stuck) this.#emit({ type: 'released', button, at: this.#clock.now() });
  }

  /** Listener count, for tests that check unsubscription. */
  get listenerCount(): number {
    return this.#listeners.size;
  }

  #check(button: ButtonId): void {
    if (this.#closed) throw new VendError('E_CLOSED', 'fake buttons are closed');
    checkButtonId(button);
    if (button.kind === 'product' && this.#slots && !this.#slots.has(button.slot))
      throw new RangeError(`no button for slot ${button.slot}`);
  }

  #emit(event: ButtonEvent): void {
    this.#queue = this.#queue.then(() => {
      if (!this.#closed) deliver(this.#listeners, event);
    });
  }
}
