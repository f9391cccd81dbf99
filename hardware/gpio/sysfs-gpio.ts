import { access, readFile, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import path from 'node:path';
import type { Gpio as OnoffGpio } from 'onoff';
import type { Clock } from '../../daemon/ports/clock.js';
import { systemClock } from '../../daemon/ports/clock.js';
import { VendError } from '../../daemon/errors.js';
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
import { findHeaderChip, sysfsNumber, type HeaderChip } from './sysfs-map.js';

export const SYSFS_ROOT = '/sys/class/gpio';

/** The file operations the sysfs backend performs; injectable so tests run on a fake tree. */
export interface SysfsIo {
  readFile(file: string): Promise<string>;
  writeFile(file: string, data: string): Promise<void>;
  /** Resolves true when `file` exists and this process may write it. */
  writable(file: string): Promise<boolean>;
}

export const nodeSysfsIo: SysfsIo = {
  readFile: (file) => readFile(file, 'utf8'),
  writeFile: (file, data) => writeFile(file, data),
  writable: (file) =>
    access(file, constants.W_OK).then(
      () => true,
      () => false,
    ),
};

/**
 * Turns changes of an exported input's value into `onLevel` calls; returns the stop function.
 * `epoll` uses onoff (interrupts via epoll on the real sysfs; cannot work on a regular file, so
 * not on a fake tree); `poll` reads the value file every `pollMs`.
 */
export type EdgeDetection = 'epoll' | 'poll';

export interface SysfsGpioOptions {
  /** Default `/sys/class/gpio`; tests point it at a fake tree. */
  readonly root?: string;
  /** Config override: global number of BCM 0. Skips the label lookup. */
  readonly sysfsBase?: number;
  readonly clock?: Clock;
  readonly io?: SysfsIo;
  /** Default `epoll` on the real root, `poll` elsewhere. */
  readonly edgeDetection?: EdgeDetection;
  /** Poll period for `poll` edge detection. Default 2 ms. */
  readonly pollMs?: number;
  /** How long to wait for udev to hand an exported line to the `gpio` group. Default 2000 ms. */
  readonly exportTimeoutMs?: number;
}

function ioError(code: 'E_GPIO_IO' | 'E_GPIO_LINE', what: string, err: unknown): VendError {
  return new VendError(code, what, { cause: err });
}

/**
 * The sysfs backend. Value, direction and edge files are read and written by this module over an
 * injectable root and file API; onoff is used only to watch edges through epoll on the real tree
 * (loaded lazily, so machines without it never load the native addon). Outputs become outputs by
 * writing `high`/`low` to `direction` (atomic, no glitch); a line already an output (a restart)
 * only gets its value written. Outputs stay exported on release so their level holds; inputs are
 * unexported.
 */
export async function openSysfsGpio(options: SysfsGpioOptions = {}): Promise<SysfsGpio> {
  const root = options.root ?? SYSFS_ROOT;
  const chip = await findHeaderChip(root, options.sysfsBase);
  return new SysfsGpio(root, chip, options);
}

export class SysfsGpio implements GpioBackend {
  readonly name = 'sysfs';
  readonly #root: string;
  readonly #io: SysfsIo;
  readonly #clock: Clock;
  readonly #edgeDetection: EdgeDetection;
  readonly #pollMs: number;
  readonly #exportTimeoutMs: number;
  readonly #lines = new Map<number, { release(): Promise<void> }>();
  #closed = false;

  constructor(
    root: string,
    readonly chip: HeaderChip,
    options: SysfsGpioOptions = {},
  ) {
    this.#root = root;
    this.#io = options.io ?? nodeSysfsIo;
    this.#clock = options.clock ?? systemClock;
    this.#edgeDetection = options.edgeDetection ?? (root === SYSFS_ROOT ? 'epoll' : 'poll');
    this.#pollMs = options.pollMs ?? 2;
    this.#exportTimeoutMs = options.exportTimeoutMs ?? 2000;
  }

  /** Global sysfs number of a BCM pin on this machine. */
  numberOf(pin: number): number {
    checkPin(pin);
    return sysfsNumber(this.chip, pin);
  }

  async claimInput(pin: number, options: InputOptions = {}): Promise<InputLine> {
    const n = this.#reserve(pin);
    try {
      const dir = await this.#export(n);
      await this.#normalise(dir);
      if ((await this.#read(path.join(dir, 'direction'))) !== 'in')
        await this.#write(path.join(dir, 'direction'), 'in');
      await this.#write(path.join(dir, 'edge'), 'both');
      const line = new SysfsInput(pin, n, dir, options.edge ?? 'both', this, () => {
        this.#lines.delete(pin);
      });
      this.#lines.set(pin, line);
      return line;
    } catch (err) {
      this.#lines.delete(pin);
      throw err;
    }
  }

  async claimOutput(pin: number, options: OutputOptions): Promise<OutputLine> {
    checkLevel(options.initial);
    const n = this.#reserve(pin);
    try {
      const dir = await this.#export(n);
      await this.#normalise(dir);
      if ((await this.#read(path.join(dir, 'direction'))) === 'out')
        await this.#write(path.join(dir, 'value'), String(options.initial));
      else await this.#write(path.join(dir, 'direction'), options.initial === 1 ? 'high' : 'low');
      const line = new SysfsOutput(pin, dir, options.initial, this, () => {
        this.#lines.delete(pin);
      });
      this.#lines.set(pin, line);
      return line;
    } catch (err) {
      this.#lines.delete(pin);
      throw err;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#lines.values()].map((line) => line.release()));
  }

  /** @internal shared with the line classes */
  async read(file: string): Promise<string> {
    return this.#read(file);
  }

  /** @internal */
  async write(file: string, data: string): Promise<void> {
    return this.#write(file, data);
  }

  /** @internal */
  async unexport(n: number): Promise<void> {
    await this.#io.writeFile(path.join(this.#root, 'unexport'), String(n)).catch(() => undefined);
  }

  /** @internal */
  watchValue(valueFile: string, n: number, onLevel: (level: Level) => void): Promise<() => void> {
    return this.#edgeDetection === 'epoll'
      ? watchWithOnoff(n, onLevel)
      : Promise.resolve(this.#poll(valueFile, onLevel));
  }

  /** @internal */
  now(): number {
    return this.#clock.now();
  }

  #reserve(pin: number): number {
    if (this.#closed) throw new VendError('E_CLOSED', 'sysfs GPIO is closed');
    const n = this.numberOf(pin);
    if (this.#lines.has(pin)) throw new VendError('E_GPIO_LINE', `GPIO${pin} is already claimed`);
    this.#lines.set(pin, { release: () => Promise.resolve() });
    return n;
  }

  async #export(n: number): Promise<string> {
    const dir = path.join(this.#root, `gpio${n}`);
    if (!(await this.#io.writable(path.join(dir, 'direction')))) {
      try {
        await this.#io.writeFile(path.join(this.#root, 'export'), String(n));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // EBUSY: already exported by someone else, or held by a driver or a chardev user.
        if (code !== 'EBUSY' || !(await this.#exists(dir)))
          throw code === 'EACCES'
            ? new VendError('E_GPIO_UNAVAILABLE', `no permission to export sysfs GPIO ${n}`, {
                cause: err,
              })
            : ioError(
                'E_GPIO_LINE',
                `cannot export sysfs GPIO ${n} (${code ?? 'error'}): wrong number or pin in use`,
                err,
              );
      }
      await this.#waitWritable(path.join(dir, 'direction'));
    }
    return dir;
  }

  async #exists(dir: string): Promise<boolean> {
    return this.#io.readFile(path.join(dir, 'direction')).then(
      () => true,
      () => false,
    );
  }

  /** udev chowns a fresh export asynchronously; wait for it (the race onoff busy-loops on). */
  async #waitWritable(file: string): Promise<void> {
    const deadline = this.#clock.now() + this.#exportTimeoutMs;
    while (!(await this.#io.writable(file))) {
      if (this.#clock.now() >= deadline)
        throw new VendError(
          'E_GPIO_UNAVAILABLE',
          `${file} not writable after ${this.#exportTimeoutMs} ms: is the user in the gpio group?`,
        );
      await new Promise<void>((resolve) => this.#clock.setTimeout(resolve, 10));
    }
  }

  /** A previous process may have left active_low set; we want physical levels. */
  async #normalise(dir: string): Promise<void> {
    const file = path.join(dir, 'active_low');
    if ((await this.#read(file)) !== '0') await this.#write(file, '0');
  }

  async #read(file: string): Promise<string> {
    try {
      return (await this.#io.readFile(file)).trim();
    } catch (err) {
      throw ioError('E_GPIO_IO', `cannot read ${file}`, err);
    }
  }

  async #write(file: string, data: string): Promise<void> {
    try {
      await this.#io.writeFile(file, data);
    } catch (err) {
      throw ioError('E_GPIO_IO', `cannot write ${data} to ${file}`, err);
    }
  }

  #poll(valueFile: string, onLevel: (level: Level) => void): () => void {
    let stopped = false;
    let timer: ReturnType<Clock['setTimeout']> | undefined;
    const tick = (): void => {
      void this.#io.readFile(valueFile).then(
        (text) => {
          if (stopped) return;
          const level = text.trim() === '1' ? 1 : 0;
          onLevel(level);
          timer = this.#clock.setTimeout(tick, this.#pollMs);
        },
        () => {
          if (!stopped) timer = this.#clock.setTimeout(tick, this.#pollMs);
        },
      );
    };
    tick();
    return () => {
      stopped = true;
      if (timer !== undefined) this.#clock.clearTimeout(timer);
    };
  }
}

async function watchWithOnoff(n: number, onLevel: (level: Level) => void): Promise<() => void> {
  let Gpio: typeof OnoffGpio;
  try {
    ({ Gpio } = await import('onoff'));
  } catch (err) {
    throw new VendError('E_GPIO_UNAVAILABLE', 'the onoff module (epoll addon) cannot be loaded', {
      cause: err,
    });
  }
  // The line is exported and configured already; reconfigureDirection false keeps onoff from
  // writing the direction again.
  const gpio = new Gpio(n, 'in', 'both', { reconfigureDirection: false });
  gpio.watch((err, value) => {
    if (!err) onLevel(value);
  });
  return () => {
    gpio.unwatchAll();
  };
}

class SysfsInput implements InputLine {
  readonly #listeners = new Set<(event: EdgeEvent) => void>();
  #last: Level | undefined;
  #stop: Promise<() => void> | undefined;
  #released = false;

  constructor(
    readonly pin: number,
    private readonly n: number,
    private readonly dir: string,
    private readonly kind: 'rising' | 'falling' | 'both',
    private readonly gpio: SysfsGpio,
    private readonly onRelease: () => void,
  ) {}

  async read(): Promise<Level> {
    if (this.#released) throw new VendError('E_CLOSED', `GPIO${this.pin} was released`);
    const level = (await this.gpio.read(path.join(this.dir, 'value'))) === '1' ? 1 : 0;
    // Edges are changes against what the owner last saw, so nothing falls between a read and a watch.
    this.#last ??= level;
    return level;
  }

  watch(listener: (event: EdgeEvent) => void): () => void {
    this.#listeners.add(listener);
    this.#stop ??= this.#start();
    return () => this.#listeners.delete(listener);
  }

  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    this.#listeners.clear();
    if (this.#stop) (await this.#stop.catch(() => () => undefined))();
    await this.gpio.unexport(this.n);
    this.onRelease();
  }

  async #start(): Promise<() => void> {
    if (this.#last === undefined) await this.read().catch(() => undefined);
    return this.gpio.watchValue(path.join(this.dir, 'value'), this.n, (level) => {
      if (level === this.#last || this.#released) return;
      this.#last = level;
      if (!edgeMatches(this.kind, level)) return;
      const event: EdgeEvent = { pin: this.pin, level, at: this.gpio.now() };
      queueMicrotask(() => {
        for (const listener of [...this.#listeners]) listener(event);
      });
    });
  }
}

class SysfsOutput implements OutputLine {
  #released = false;

  constructor(
    readonly pin: number,
    private readonly dir: string,
    private level: Level,
    private readonly gpio: SysfsGpio,
    private readonly onRelease: () => void,
  ) {}

  async write(level: Level): Promise<void> {
    checkLevel(level);
    if (this.#released) throw new VendError('E_CLOSED', `GPIO${this.pin} was released`);
    await this.gpio.write(path.join(this.dir, 'value'), String(level));
    this.level = level;
  }

  read(): Promise<Level> {
    if (this.#released)
      return Promise.reject(new VendError('E_CLOSED', `GPIO${this.pin} was released`));
    return Promise.resolve(this.level);
  }

  release(): Promise<void> {
    if (!this.#released) {
      this.#released = true;
      this.onRelease();
    }
    return Promise.resolve();
  }
}
