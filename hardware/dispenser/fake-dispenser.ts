import type { Clock, TimerHandle } from '../../daemon/ports/clock.js';
import type { DispenseObserver, DispenseResult, Dispenser } from '../../daemon/ports/dispenser.js';
import { VendError } from '../../daemon/errors.js';
import { checkStock } from './stock.js';

export interface FakeDispenserOptions {
  readonly clock: Clock;
  /** Relay pulse length. Default 300 ms. */
  readonly pulseMs?: number;
  /** Configured slots. Default 1..6. */
  readonly slots?: readonly number[];
  /** Initial stock per slot; slots not listed are not tracked. */
  readonly stock?: Readonly<Record<number, number>>;
  /** Simulates a drop sensor: the window, from relay on, in which the beam must break. */
  readonly dropWindowMs?: number;
  /** Dispenses kept in `dispenses` (and twice as many edges in `relayLog`). Default 100. */
  readonly history?: number;
}

/** One relay edge, as the real adapter would drive it. */
export interface RelayEdge {
  readonly slot: number;
  readonly energised: boolean;
  readonly at: number;
}

type Scripted =
  | { readonly kind: 'result'; readonly result: DispenseResult }
  | { readonly kind: 'fail' }
  | { readonly kind: 'hang' };

/**
 * In-process dispenser with the semantics of the GPIO adapter, driven by the injected clock:
 * validation, busy rejection, sold-out handling, one relay at a time, the drop window, stock
 * counting, and the unknown-outcome fault. The control surface scripts what the next dispense
 * does; `relayLog` is the recent relay timeline for invariant checks. The history is bounded (a
 * demo machine left running must not grow): listeners of `onRelay` see every edge.
 */
export class FakeDispenser implements Dispenser {
  /** The latest dispenses that energised a relay (at most `history`), oldest first. */
  readonly dispenses: { readonly slot: number; readonly at: number }[] = [];
  /** The latest relay on/off edges (at most twice `history`), oldest first. */
  readonly relayLog: RelayEdge[] = [];
  readonly #relayListeners = new Set<(edge: RelayEdge) => void>();
  readonly #history: number;
  #dispenseCount = 0;

  readonly #clock: Clock;
  readonly #pulseMs: number;
  readonly #slots: readonly number[];
  readonly #stock = new Map<number, number>();
  readonly #dropWindowMs: number | undefined;
  readonly #scripts: { slot: number | undefined; script: Scripted }[] = [];
  #energised: number | undefined;
  #running: Promise<unknown> | undefined;
  #abort: (() => void) | undefined;
  #closed = false;
  #hanging = false;

  constructor(options: FakeDispenserOptions) {
    this.#clock = options.clock;
    this.#pulseMs = options.pulseMs ?? 300;
    this.#slots = options.slots ?? [1, 2, 3, 4, 5, 6];
    this.#dropWindowMs = options.dropWindowMs;
    this.#history = options.history ?? 100;
    if (!Number.isInteger(this.#history) || this.#history < 1)
      throw new RangeError(`"history" must be a positive integer: ${String(options.history)}`);
    if (!Number.isInteger(this.#pulseMs) || this.#pulseMs <= 0)
      throw new RangeError(`"pulseMs" must be a positive integer: ${String(options.pulseMs)}`);
    if (this.#dropWindowMs !== undefined && !(this.#dropWindowMs >= this.#pulseMs))
      throw new RangeError(`"dropWindowMs" must be >= pulseMs: ${String(this.#dropWindowMs)}`);
    for (const [slot, count] of Object.entries(options.stock ?? {}))
      this.refill(Number(slot), count);
  }

  /**
   * Calls `listener` synchronously with every relay edge, before the pulse goes on (the virtual
   * kiosk's indicator, a recording of pulses). Returns the unsubscribe function.
   */
  onRelay(listener: (edge: RelayEdge) => void): () => void {
    this.#relayListeners.add(listener);
    return () => this.#relayListeners.delete(listener);
  }

  /** The slot whose relay is energised now, if any. */
  get energised(): number | undefined {
    return this.#energised;
  }

  /** Dispenses that energised a relay since construction (not bounded like `dispenses`). */
  get dispenseCount(): number {
    return this.#dispenseCount;
  }

  /** True while a dispense is running. */
  get busy(): boolean {
    return this.#running !== undefined;
  }

  /** The next dispense (of `slot`, or of any slot) ends with `result`. */
  nextResult(slot: number | undefined, result: DispenseResult): void {
    if (slot !== undefined) this.#checkSlot(slot);
    if (
      result.outcome === 'notDelivered' &&
      result.reason === 'noDrop' &&
      this.#dropWindowMs === undefined
    )
      throw new RangeError('noDrop needs a drop sensor (dropWindowMs)');
    this.#scripts.push({ slot, script: { kind: 'result', result } });
  }

  /** The next dispense energises its relay, then a GPIO write fails: rejects E_DISPENSER_FAULT. */
  failNext(slot?: number): void {
    if (slot !== undefined) this.#checkSlot(slot);
    this.#scripts.push({ slot, script: { kind: 'fail' } });
  }

  /** The next dispense energises its relay and never finishes until `safeState()` or `close()`. */
  hangNext(slot?: number): void {
    if (slot !== undefined) this.#checkSlot(slot);
    this.#scripts.push({ slot, script: { kind: 'hang' } });
  }

  refill(slot: number, count: number): void {
    this.#checkSlot(slot);
    checkStock(count);
    this.#stock.set(slot, count);
  }

  stock(slot: number): number | undefined {
    return this.#stock.get(slot);
  }

  async dispense(slot: number, observer: DispenseObserver = {}): Promise<DispenseResult> {
    await Promise.resolve();
    if (this.#closed) throw new VendError('E_CLOSED', 'dispenser is closed');
    this.#checkSlot(slot);
    if (this.#running)
      throw new VendError('E_DISPENSER_BUSY', `slot ${slot} requested while a dispense runs`, {
        retryable: true,
      });
    const run = this.#run(slot, observer);
    this.#running = run;
    try {
      return await run;
    } finally {
      this.#running = undefined;
    }
  }

  async safeState(): Promise<void> {
    await Promise.resolve();
    this.#abort?.();
    this.#release();
  }

  async close(): Promise<void> {
    this.#closed = true;
    const running = this.#running;
    if (this.#hanging) this.#abort?.();
    if (running) await running.catch(() => undefined);
    await this.safeState();
  }

  async #run(slot: number, observer: DispenseObserver): Promise<DispenseResult> {
    const script = this.#takeScript(slot);
    if (this.#stock.get(slot) === 0) return { outcome: 'notDelivered', reason: 'soldOut' };
    if (
      script?.kind === 'result' &&
      script.result.outcome === 'notDelivered' &&
      script.result.reason !== 'noDrop'
    )
      return script.result;

    this.#energise(slot);
    this.#hanging = script?.kind === 'hang';
    await this.#wait(this.#hanging ? Number.POSITIVE_INFINITY : this.#pulseMs);
    this.#release();
    if (script?.kind === 'fail')
      throw new VendError('E_DISPENSER_FAULT', `slot ${slot}: relay write failed mid-pulse`);
    if (script?.kind === 'result' && script.result.outcome === 'notDelivered') {
      await this.#wait((this.#dropWindowMs ?? this.#pulseMs) - this.#pulseMs);
      return script.result;
    }
    // With a drop sensor, the beam breaks as the product falls at the end of the pulse.
    if (this.#dropWindowMs !== undefined) observer.onDrop?.();
    const left = this.#stock.get(slot);
    if (left !== undefined) this.#stock.set(slot, left - 1);
    return { outcome: 'delivered' };
  }

  /** Resolves after `ms` on the clock, or rejects E_DISPENSER_FAULT when safeState cuts it short. */
  #wait(ms: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let timer: TimerHandle | undefined;
      if (Number.isFinite(ms))
        timer = this.#clock.setTimeout(() => {
          this.#abort = undefined;
          resolve();
        }, ms);
      this.#abort = () => {
        if (timer !== undefined) this.#clock.clearTimeout(timer);
        this.#abort = undefined;
        this.#hanging = false;
        reject(new VendError('E_DISPENSER_FAULT', 'dispense interrupted by safe state'));
      };
    });
  }

  #takeScript(slot: number): Scripted | undefined {
    const index = this.#scripts.findIndex((s) => s.slot === undefined || s.slot === slot);
    if (index < 0) return undefined;
    return this.#scripts.splice(index, 1)[0]?.script;
  }

  #energise(slot: number): void {
    const at = this.#clock.now();
    this.#energised = slot;
    this.#dispenseCount++;
    keepLast(this.dispenses, { slot, at }, this.#history);
    this.#edge({ slot, energised: true, at });
  }

  #edge(edge: RelayEdge): void {
    keepLast(this.relayLog, edge, 2 * this.#history);
    for (const listener of this.#relayListeners) listener(edge);
  }

  #release(): void {
    if (this.#energised === undefined) return;
    this.#edge({ slot: this.#energised, energised: false, at: this.#clock.now() });
    this.#energised = undefined;
  }

  #checkSlot(slot: number): void {
    if (!Number.isInteger(slot) || !this.#slots.includes(slot))
      throw new RangeError(
        `slot ${String(slot)} is not configured (slots: ${this.#slots.join(', ')})`,
      );
  }
}

/** Appends `item`, dropping the oldest entries beyond `limit`. */
function keepLast<T>(list: T[], item: T, limit: number): void {
  list.push(item);
  if (list.length > limit) list.splice(0, list.length - limit);
}
