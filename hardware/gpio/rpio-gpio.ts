import type { Clock } from '../../daemon/ports/clock.js';
import { systemClock } from '../../daemon/ports/clock.js';
import { VendError } from '../../daemon/errors.js';
import { detectBoard, isPi5, type BoardInfo } from './board.js';
import {
  checkLevel,
  checkPin,
  edgeMatches,
  type EdgeEvent,
  type GpioBackend,
  type InputLine,
  type InputOptions,
  type Level,
  type OutputLine,
  type OutputOptions,
} from './gpio.js';

/** The part of the rpio module this backend uses (injectable for tests). */
export interface RpioModule {
  readonly INPUT: number;
  readonly OUTPUT: number;
  readonly PULL_OFF: number;
  readonly PULL_DOWN: number;
  readonly PULL_UP: number;
  readonly POLL_BOTH: number;
  readonly PIN_PRESERVE: number;
  on(event: 'warn', listener: (message: string) => void): unknown;
  removeListener(event: 'warn', listener: (message: string) => void): unknown;
  init(options: { mapping: 'gpio'; gpiomem: boolean; close_on_exit: boolean }): void;
  open(pin: number, mode: number, init?: number): void;
  mode(pin: number, mode: number, init?: number): void;
  read(pin: number): number;
  write(pin: number, value: number): void;
  poll(pin: number, callback: ((pin: number) => void) | null, direction?: number): void;
  close(pin: number, reset?: number): void;
}

export interface RpioGpioOptions {
  readonly clock?: Clock;
  /** Board identity; default: read from the device tree. */
  readonly board?: BoardInfo;
  /** Loads rpio; default: a dynamic import, so the native addon loads only when chosen. */
  readonly load?: () => Promise<RpioModule>;
}

async function loadRpio(): Promise<RpioModule> {
  // A variable specifier: rpio ships no types, and the addon must load only when chosen.
  const specifier = 'rpio';
  const mod = (await import(specifier)) as { default: RpioModule };
  return mod.default;
}

/**
 * The rpio backend, for Raspberry Pi 4 and older only: refused on a Pi 5 (rpio maps BCM2835-family
 * registers; the Pi 5 header lives on RP1) and refused when rpio cannot detect the board and
 * silently falls back to its mock mode. Always BCM numbering (`mapping: 'gpio'`), /dev/gpiomem,
 * no exit hook (our safe-state code decides what happens to outputs).
 */
export async function openRpioGpio(options: RpioGpioOptions = {}): Promise<RpioGpio> {
  const board = options.board ?? (await detectBoard());
  if (isPi5(board))
    throw new VendError(
      'E_GPIO_UNSUPPORTED',
      `rpio does not support ${board.model || 'a Raspberry Pi 5'}; use gpio.backend gpiod`,
    );
  let rpio: RpioModule;
  try {
    rpio = await (options.load ?? loadRpio)();
  } catch (err) {
    throw new VendError('E_GPIO_UNAVAILABLE', 'the rpio module cannot be loaded', { cause: err });
  }
  const warnings: string[] = [];
  const onWarn = (message: string): void => {
    warnings.push(message);
  };
  rpio.on('warn', onWarn);
  try {
    rpio.init({ mapping: 'gpio', gpiomem: true, close_on_exit: false });
  } catch (err) {
    throw new VendError('E_GPIO_UNAVAILABLE', 'rpio could not open /dev/gpiomem', { cause: err });
  } finally {
    rpio.removeListener('warn', onWarn);
  }
  const mock = warnings.find((w) => /mock/i.test(w));
  if (mock)
    throw new VendError(
      'E_GPIO_UNSUPPORTED',
      `rpio did not recognise this board and fell back to mock mode (${mock}); refusing to run without GPIO`,
    );
  return new RpioGpio(rpio, options.clock ?? systemClock);
}

export class RpioGpio implements GpioBackend {
  readonly name = 'rpio';
  readonly #lines = new Map<number, { release(): Promise<void> }>();
  #closed = false;

  constructor(
    private readonly rpio: RpioModule,
    private readonly clock: Clock,
  ) {}

  async claimInput(pin: number, options: InputOptions = {}): Promise<InputLine> {
    await Promise.resolve();
    this.#claimable(pin);
    const pull =
      options.bias === 'pull-up'
        ? this.rpio.PULL_UP
        : options.bias === 'pull-down'
          ? this.rpio.PULL_DOWN
          : options.bias === 'disable'
            ? this.rpio.PULL_OFF
            : undefined;
    this.#call(pin, () => {
      this.rpio.open(pin, this.rpio.INPUT, pull);
    });
    const kind = options.edge ?? 'both';
    const listeners = new Set<(event: EdgeEvent) => void>();
    let polling = false;
    let last: Level | undefined;
    let released = false;
    const read = (): Level => (this.#call(pin, () => this.rpio.read(pin)) === 1 ? 1 : 0);
    const line: InputLine = {
      pin,
      read: () => {
        if (released) return Promise.reject(new VendError('E_CLOSED', `GPIO${pin} was released`));
        return Promise.resolve().then(read);
      },
      watch: (listener) => {
        listeners.add(listener);
        if (!polling) {
          polling = true;
          last = read();
          this.rpio.poll(
            pin,
            () => {
              const level = read();
              if (level === last) return;
              last = level;
              if (!edgeMatches(kind, level)) return;
              const event = { pin, level, at: this.clock.now() };
              queueMicrotask(() => {
                for (const l of [...listeners]) l(event);
              });
            },
            this.rpio.POLL_BOTH,
          );
        }
        return () => listeners.delete(listener);
      },
      release: () => {
        if (!released) {
          released = true;
          listeners.clear();
          if (polling) this.rpio.poll(pin, null);
          this.rpio.close(pin, this.rpio.PIN_PRESERVE);
          this.#lines.delete(pin);
        }
        return Promise.resolve();
      },
    };
    this.#lines.set(pin, line);
    return line;
  }

  async claimOutput(pin: number, options: OutputOptions): Promise<OutputLine> {
    await Promise.resolve();
    checkLevel(options.initial);
    this.#claimable(pin);
    // rpio writes the level before switching the function to output: no glitch.
    this.#call(pin, () => {
      this.rpio.open(pin, this.rpio.OUTPUT, options.initial);
    });
    let level: Level = options.initial;
    let released = false;
    const line: OutputLine = {
      pin,
      write: async (next) => {
        await Promise.resolve();
        checkLevel(next);
        if (released) throw new VendError('E_CLOSED', `GPIO${pin} was released`);
        this.#call(pin, () => {
          this.rpio.write(pin, next);
        });
        level = next;
      },
      read: () => Promise.resolve(level),
      release: () => {
        if (!released) {
          released = true;
          this.rpio.close(pin, this.rpio.PIN_PRESERVE);
          this.#lines.delete(pin);
        }
        return Promise.resolve();
      },
    };
    this.#lines.set(pin, line);
    return line;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#lines.values()].map((line) => line.release()));
  }

  #claimable(pin: number): void {
    if (this.#closed) throw new VendError('E_CLOSED', 'rpio GPIO is closed');
    checkPin(pin);
    if (pin > 53) throw new VendError('E_GPIO_LINE', `GPIO${pin} does not exist on this board`);
    if (this.#lines.has(pin)) throw new VendError('E_GPIO_LINE', `GPIO${pin} is already claimed`);
  }

  #call<T>(pin: number, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw new VendError('E_GPIO_IO', `rpio failed on GPIO${pin}`, { cause: err });
    }
  }
}
