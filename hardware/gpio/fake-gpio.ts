import type { Clock } from '../../daemon/ports/clock.js';
import { systemClock } from '../../daemon/ports/clock.js';
import { VendError } from '../../daemon/errors.js';
import {
  checkLevel,
  checkPin,
  edgeMatches,
  type EdgeEvent,
  type EdgeKind,
  type GpioBackend,
  type InputLine,
  type InputOptions,
  type Level,
  type OutputLine,
  type OutputOptions,
} from './gpio.js';

/** One level driven on an output, as the fake's wire saw it. */
export interface WireWrite {
  readonly pin: number;
  readonly level: Level;
  readonly at: number;
}

/**
 * In-process GPIO: a set of wires with levels that outlive claims (as real pins keep their level
 * after a process exits). Tests and the demo mode inject input edges with timestamps and read
 * what outputs drive. Same validation and asynchrony as the real backends.
 */
export class FakeGpio implements GpioBackend {
  readonly name = 'fake';
  /** Every level driven on an output (including the initial level at claim), in order. */
  readonly writes: WireWrite[] = [];

  readonly #clock: Clock;
  readonly #wire = new Map<number, Level>();
  readonly #inputs = new Map<number, FakeInput>();
  readonly #outputs = new Map<number, FakeOutput>();
  readonly #failWrites = new Map<number, number>();
  #closed = false;

  constructor(options: { clock?: Clock } = {}) {
    this.#clock = options.clock ?? systemClock;
  }

  /** The level on a pin's wire now (0 for a pin never driven or injected). */
  level(pin: number): Level {
    return this.#wire.get(pin) ?? 0;
  }

  /** Whether the pin is claimed now, and how. */
  claimed(pin: number): 'input' | 'output' | undefined {
    if (this.#inputs.has(pin)) return 'input';
    return this.#outputs.has(pin) ? 'output' : undefined;
  }

  /**
   * Sets an input wire's level, as the outside world would. When the level changes and a claimed
   * input watches that edge kind, listeners get `{ pin, level, at }` (default `at`: clock now).
   */
  inject(pin: number, level: Level, at: number = this.#clock.now()): void {
    checkPin(pin);
    checkLevel(level);
    if (this.#outputs.has(pin)) throw new Error(`pin ${pin} is an output; cannot inject`);
    const before = this.level(pin);
    this.#wire.set(pin, level);
    if (before !== level) this.#inputs.get(pin)?.edge({ pin, level, at });
  }

  /** The next `count` writes to `pin` fail with E_GPIO_IO and leave the wire unchanged. */
  failWrites(pin: number, count = 1): void {
    this.#failWrites.set(pin, count);
  }

  async claimInput(pin: number, options: InputOptions = {}): Promise<InputLine> {
    await Promise.resolve();
    this.#claimable(pin);
    if (options.bias === 'pull-up' && !this.#wire.has(pin)) this.#wire.set(pin, 1);
    const input = new FakeInput(pin, options.edge ?? 'both', {
      read: () => this.level(pin),
      release: () => this.#inputs.delete(pin),
    });
    this.#inputs.set(pin, input);
    return input;
  }

  async claimOutput(pin: number, options: OutputOptions): Promise<OutputLine> {
    await Promise.resolve();
    checkLevel(options.initial);
    this.#claimable(pin);
    this.#drive(pin, options.initial);
    const output = new FakeOutput(pin, {
      write: (level) => {
        const left = this.#failWrites.get(pin) ?? 0;
        if (left > 0) {
          this.#failWrites.set(pin, left - 1);
          throw new VendError('E_GPIO_IO', `fake write failure on pin ${pin}`);
        }
        this.#drive(pin, level);
      },
      read: () => this.level(pin),
      release: () => this.#outputs.delete(pin),
    });
    this.#outputs.set(pin, output);
    return output;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const lines = [...this.#inputs.values(), ...this.#outputs.values()];
    await Promise.all(lines.map((line) => line.release()));
  }

  #claimable(pin: number): void {
    if (this.#closed) throw new VendError('E_CLOSED', 'fake GPIO is closed');
    checkPin(pin);
    if (this.claimed(pin)) throw new VendError('E_GPIO_LINE', `pin ${pin} is already claimed`);
  }

  #drive(pin: number, level: Level): void {
    this.#wire.set(pin, level);
    this.writes.push({ pin, level, at: this.#clock.now() });
  }
}

class FakeInput implements InputLine {
  readonly #listeners = new Set<(event: EdgeEvent) => void>();
  #queue: Promise<void> = Promise.resolve();
  #released = false;

  constructor(
    readonly pin: number,
    private readonly kind: EdgeKind,
    private readonly wire: { read: () => Level; release: () => void },
  ) {}

  edge(event: EdgeEvent): void {
    if (!edgeMatches(this.kind, event.level)) return;
    this.#queue = this.#queue.then(() => {
      for (const listener of [...this.#listeners]) if (!this.#released) listener(event);
    });
  }

  async read(): Promise<Level> {
    await Promise.resolve();
    if (this.#released) throw new VendError('E_CLOSED', `pin ${this.pin} was released`);
    return this.wire.read();
  }

  watch(listener: (event: EdgeEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async release(): Promise<void> {
    await Promise.resolve();
    if (this.#released) return;
    this.#released = true;
    this.#listeners.clear();
    this.wire.release();
  }
}

class FakeOutput implements OutputLine {
  #released = false;

  constructor(
    readonly pin: number,
    private readonly wire: {
      write: (level: Level) => void;
      read: () => Level;
      release: () => void;
    },
  ) {}

  async write(level: Level): Promise<void> {
    await Promise.resolve();
    checkLevel(level);
    if (this.#released) throw new VendError('E_CLOSED', `pin ${this.pin} was released`);
    this.wire.write(level);
  }

  async read(): Promise<Level> {
    await Promise.resolve();
    if (this.#released) throw new VendError('E_CLOSED', `pin ${this.pin} was released`);
    return this.wire.read();
  }

  async release(): Promise<void> {
    await Promise.resolve();
    if (this.#released) return;
    this.#released = true;
    this.wire.release();
  }
}
