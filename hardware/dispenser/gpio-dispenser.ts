import type { Clock } from '../../daemon/ports/clock.js';
import type { DispenseObserver, DispenseResult, Dispenser } from '../../daemon/ports/dispenser.js';
import { VendError } from '../../daemon/errors.js';
import { checkStock } from './stock.js';
import type { Bias, GpioBackend, InputLine, Level, OutputLine } from '../gpio/gpio.js';

/** One product slot's wiring. */
export interface SlotWiring {
  readonly slot: number;
  /** BCM pin of the slot's relay input. */
  readonly relayPin: number;
  /** Pulse length for this slot; default the dispenser's `pulseMs`. */
  readonly pulseMs?: number;
  /** Optional sold-out switch. */
  readonly soldOut?: { readonly pin: number; readonly activeLevel: Level; readonly bias?: Bias };
  /** Optional stock counter start value, decremented on each delivery. */
  readonly stock?: number;
}

/** Optional IR beam across the delivery bin. */
export interface DropSensorWiring {
  readonly pin: number;
  /** The level while the beam is broken. */
  readonly activeLevel: Level;
  readonly bias?: Bias;
  /** Window from relay on in which the beam must break; at least the longest pulse. */
  readonly windowMs: number;
}

export interface GpioDispenserOptions {
  readonly gpio: GpioBackend;
  readonly clock: Clock;
  readonly slots: readonly SlotWiring[];
  /** The level that energises a relay. Default 0 (most opto-isolated relay boards are active-low). */
  readonly relayActiveLevel?: Level;
  /** Default pulse length. Default 300 ms. */
  readonly pulseMs?: number;
  readonly dropSensor?: DropSensorWiring;
}

interface Slot {
  readonly wiring: SlotWiring;
  readonly relay: OutputLine;
  readonly pulseMs: number;
  soldOut: InputLine | undefined;
  soldOutNow: boolean;
  stock: number | undefined;
}

function positiveInt(value: number, name: string): void {
  if (!Number.isInteger(value) || value <= 0)
    throw new RangeError(`"${name}" must be a positive integer: ${String(value)}`);
}

/**
 * Dispense relays on GPIO outputs (one per slot), with optional sold-out inputs, stock counters
 * and a drop sensor. Every relay is claimed at its inactive level (no glitch at start, also after
 * a crash left one energised); one relay at most is ever energised; `safeState` drives all of them
 * inactive at once and cuts a running pulse short (that dispense then rejects E_DISPENSER_FAULT).
 */
export async function openGpioDispenser(options: GpioDispenserOptions): Promise<GpioDispenser> {
  const active: Level = options.relayActiveLevel ?? 0;
  const inactive: Level = active === 1 ? 0 : 1;
  const pulseMs = options.pulseMs ?? 300;
  positiveInt(pulseMs, 'pulseMs');
  const seenSlots = new Set<number>();
  for (const w of options.slots) {
    positiveInt(w.slot, 'slot');
    if (seenSlots.has(w.slot)) throw new RangeError(`slot ${w.slot} is configured twice`);
    seenSlots.add(w.slot);
    if (w.pulseMs !== undefined) positiveInt(w.pulseMs, `slots[${w.slot}].pulseMs`);
    if (w.stock !== undefined && (!Number.isInteger(w.stock) || w.stock < 0))
      throw new RangeError(`"slots[${w.slot}].stock" must be an integer >= 0: ${String(w.stock)}`);
  }
  const longest = Math.max(pulseMs, ...options.slots.map((w) => w.pulseMs ?? pulseMs));
  if (options.dropSensor && !(options.dropSensor.windowMs >= longest))
    throw new RangeError(`"dropSensor.windowMs" must be >= the longest pulse (${longest} ms)`);

  const claimed: { release(): Promise<void> }[] = [];
  try {
    const slots = new Map<number, Slot>();
    for (const w of options.slots) {
      const relay = await options.gpio.claimOutput(w.relayPin, { initial: inactive });
      claimed.push(relay);
      slots.set(w.slot, {
        wiring: w,
        relay,
        pulseMs: w.pulseMs ?? pulseMs,
        soldOut: undefined,
        soldOutNow: false,
        stock: w.stock,
      });
    }
    for (const slot of slots.values()) {
      const so = slot.wiring.soldOut;
      if (!so) continue;
      const line = await options.gpio.claimInput(so.pin, {
        bias: so.bias ?? (so.activeLevel === 0 ? 'pull-up' : 'pull-down'),
        edge: 'both',
      });
      claimed.push(line);
      slot.soldOut = line;
      slot.soldOutNow = (await line.read()) === so.activeLevel;
      line.watch((e) => {
        slot.soldOutNow = e.level === so.activeLevel;
      });
    }
    let drop: InputLine | undefined;
    if (options.dropSensor) {
      const d = options.dropSensor;
      drop = await options.gpio.claimInput(d.pin, {
        bias: d.bias ?? 'as-is',
        edge: d.activeLevel === 1 ? 'rising' : 'falling',
      });
      claimed.push(drop);
    }
    return new GpioDispenser(options.clock, slots, active, inactive, drop, options.dropSensor);
  } catch (err) {
    await Promise.allSettled(claimed.map((l) => l.release()));
    throw err;
  }
}

export class GpioDispenser implements Dispenser {
  #running: Promise<DispenseResult> | undefined;
  #abort: (() => void) | undefined;
  #closed = false;

  constructor(
    private readonly clock: Clock,
    private readonly slots: ReadonlyMap<number, Slot>,
    private readonly active: Level,
    private readonly inactive: Level,
    private readonly drop: InputLine | undefined,
    private readonly dropWiring: DropSensorWiring | undefined,
  ) {}

  stock(slot: number): number | undefined {
    const s = this.slots.get(slot);
    if (!s) return undefined;
    return s.soldOutNow ? 0 : s.stock;
  }

  refill(slot: number, count: number): void {
    const s = this.slots.get(slot);
    if (!s)
      throw new RangeError(
        `slot ${String(slot)} is not configured (slots: ${[...this.slots.keys()].join(', ')})`,
      );
    if (s.wiring.soldOut)
      throw new RangeError(`slot ${String(slot)} has a sold-out switch, not a stock counter`);
    checkStock(count);
    s.stock = count;
  }

  async dispense(slot: number, observer: DispenseObserver = {}): Promise<DispenseResult> {
    await Promise.resolve();
    if (this.#closed) throw new VendError('E_CLOSED', 'dispenser is closed');
    const s = this.slots.get(slot);
    if (!s)
      throw new RangeError(
        `slot ${String(slot)} is not configured (slots: ${[...this.slots.keys()].join(', ')})`,
      );
    if (this.#running)
      throw new VendError('E_DISPENSER_BUSY', `slot ${slot} requested while a dispense runs`, {
        retryable: true,
      });
    const run = this.#run(s, observer);
    this.#running = run;
    try {
      return await run;
    } finally {
      this.#running = undefined;
    }
  }

  async safeState(): Promise<void> {
    this.#abort?.();
    const results = await Promise.allSettled(
      [...this.slots.values()].map((s) => s.relay.write(this.inactive)),
    );
    const failed = [...this.slots.values()].filter((_, i) => results[i]?.status === 'rejected');
    if (failed.length > 0)
      throw new VendError(
        'E_GPIO_IO',
        `could not drive relay pins ${failed.map((s) => s.wiring.relayPin).join(', ')} to their safe level`,
        { cause: results.find((r) => r.status === 'rejected')?.reason },
      );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#running?.catch(() => undefined);
    try {
      await this.safeState();
    } finally {
      const lines = [...this.slots.values()].flatMap((s) =>
        s.soldOut ? [s.relay, s.soldOut] : [s.relay],
      );
      await Promise.allSettled(
        [...lines, ...(this.drop ? [this.drop] : [])].map((l) => l.release()),
      );
    }
  }

  async #run(s: Slot, observer: DispenseObserver): Promise<DispenseResult> {
    if (s.stock === 0) return { outcome: 'notDelivered', reason: 'soldOut' };
    if (s.soldOut) {
      try {
        if ((await s.soldOut.read()) === s.wiring.soldOut?.activeLevel)
          return { outcome: 'notDelivered', reason: 'soldOut' };
      } catch {
        return { outcome: 'notDelivered', reason: 'slotFault' };
      }
    }
    const beam = { broke: false };
    let onBreak = (): void => undefined;
    const beamBroken = new Promise<void>((resolve) => (onBreak = resolve));
    const unwatch = this.drop?.watch(() => {
      if (beam.broke) return;
      beam.broke = true;
      observer.onDrop?.();
      onBreak();
    });
    const start = this.clock.now();
    try {
      try {
        await s.relay.write(this.active);
      } catch (err) {
        await this.#forceSafe(s);
        throw new VendError('E_DISPENSER_FAULT', `slot ${s.wiring.slot}: relay did not switch on`, {
          cause: err,
        });
      }
      try {
        await this.#wait(s.pulseMs);
      } catch (err) {
        await this.#forceSafe(s);
        throw err;
      }
      try {
        await s.relay.write(this.inactive);
      } catch (err) {
        await this.#forceSafe(s);
        throw new VendError(
          'E_DISPENSER_FAULT',
          `slot ${s.wiring.slot}: relay did not switch off`,
          {
            cause: err,
          },
        );
      }
      if (this.dropWiring) {
        const left = start + this.dropWiring.windowMs - this.clock.now();
        if (!beam.broke && left > 0) await this.#wait(left, beamBroken);
        if (!beam.broke) return { outcome: 'notDelivered', reason: 'noDrop' };
      }
      if (s.stock !== undefined) s.stock -= 1;
      return { outcome: 'delivered' };
    } finally {
      unwatch?.();
    }
  }

  /** Second attempt at the safe level after a failure; the fault is reported either way. */
  async #forceSafe(s: Slot): Promise<void> {
    await s.relay.write(this.inactive).catch(() => undefined);
  }

  /** Waits `ms` on the clock or until `early` settles; rejects E_DISPENSER_FAULT when safeState cuts it short. */
  #wait(ms: number, early?: Promise<void>): Promise<void> {
    return new Promise((resolve, reject) => {
      const finish = (): void => {
        if (this.#abort !== abort) return;
        this.#abort = undefined;
        this.clock.clearTimeout(timer);
        resolve();
      };
      const abort = (): void => {
        this.#abort = undefined;
        this.clock.clearTimeout(timer);
        reject(new VendError('E_DISPENSER_FAULT', 'dispense cut short by safe state'));
      };
      const timer = this.clock.setTimeout(finish, ms);
      this.#abort = abort;
      void early?.then(finish);
    });
  }
}
