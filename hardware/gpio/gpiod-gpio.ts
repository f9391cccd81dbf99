import { spawn as nodeSpawn } from 'node:child_process';
import type { Clock } from '../../daemon/ports/clock.js';
import { systemClock } from '../../daemon/ports/clock.js';
import { VendError } from '../../daemon/errors.js';
import {
  checkLevel,
  checkPin,
  type EdgeEvent,
  type GpioBackend,
  type InputLine,
  type InputOptions,
  type Level,
  type OutputLine,
  type OutputOptions,
} from './gpio.js';
import {
  gpiogetArgs,
  gpiomonArgs,
  gpiosetArgs,
  parseGpiodetect,
  parseGpiodVersion,
  parseGpioget,
  parseGpiomonLine,
  pickHeaderChip,
  type GpiodChip,
  type GpiodVersion,
} from './gpiod-cli.js';

/** The part of a child process this backend uses. */
export interface GpiodProcess {
  readonly stdout: NodeJS.ReadableStream;
  readonly stderr: NodeJS.ReadableStream;
  kill(signal?: NodeJS.Signals): boolean;
  once(event: 'exit', listener: (code: number | null, signal: string | null) => void): unknown;
  once(event: 'error', listener: (err: Error) => void): unknown;
}

/** Starts a libgpiod tool; injectable so tests check argument building and output parsing. */
export type GpiodSpawn = (command: string, args: readonly string[]) => GpiodProcess;

export const nodeGpiodSpawn: GpiodSpawn = (command, args) =>
  nodeSpawn(command, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });

export interface GpiodGpioOptions {
  readonly spawn?: GpiodSpawn;
  readonly clock?: Clock;
  /** Chip label or name from the config; default: the header chip found by label. */
  readonly chip?: string;
  /** CLOCK_MONOTONIC now, in ns (the clock of gpiomon's timestamps). Default process.hrtime. */
  readonly monotonicNs?: () => bigint;
  /** How long a holder (gpioset) or monitor must stay up to count as started when it prints no banner. Default 100 ms. */
  readonly settleMs?: number;
  /** Deadline for one-shot commands (gpiodetect, gpioget). Default 5000 ms. */
  readonly commandTimeoutMs?: number;
  /** Called when a monitor or holder process dies while its line is claimed. */
  readonly onError?: (err: VendError) => void;
}

interface Context {
  readonly spawn: GpiodSpawn;
  readonly clock: Clock;
  readonly settleMs: number;
  readonly commandTimeoutMs: number;
}

function exited(proc: GpiodProcess): Promise<void> {
  return new Promise((resolve) => {
    proc.once('exit', () => {
      resolve();
    });
    proc.once('error', () => {
      resolve();
    });
  });
}

/** Runs a one-shot tool; resolves its stdout, rejects E_GPIO_UNAVAILABLE / E_GPIO_IO. */
function run(ctx: Context, command: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    let proc: GpiodProcess;
    try {
      proc = ctx.spawn(command, args);
    } catch (cause) {
      reject(new VendError('E_GPIO_UNAVAILABLE', `cannot run ${command}`, { cause }));
      return;
    }
    const timer = ctx.clock.setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new VendError('E_GPIO_IO', `${command} did not finish in ${ctx.commandTimeoutMs} ms`));
    }, ctx.commandTimeoutMs);
    proc.stdout.on('data', (chunk: Buffer | string) => (out += chunk.toString()));
    proc.stderr.on('data', (chunk: Buffer | string) => (err += chunk.toString()));
    proc.once('error', (cause) => {
      ctx.clock.clearTimeout(timer);
      reject(
        new VendError('E_GPIO_UNAVAILABLE', `cannot run ${command}: install the gpiod package`, {
          cause,
        }),
      );
    });
    proc.once('exit', (code) => {
      ctx.clock.clearTimeout(timer);
      if (code === 0) resolve(out);
      else
        reject(
          new VendError(
            'E_GPIO_IO',
            `${command} ${args.join(' ')} failed (${String(code)}): ${err.trim()}`,
          ),
        );
    });
  });
}

/**
 * Starts a long-running tool (gpiomon, gpioset) and resolves once it is up: it printed something
 * (a v2 banner, or gpiomon's first event) or stayed alive `settleMs`. Rejects E_GPIO_LINE with
 * the tool's stderr when it exits first (line busy, bad offset).
 */
function startHolder(
  ctx: Context,
  command: string,
  args: readonly string[],
  onStdout?: (text: string) => void,
): Promise<GpiodProcess> {
  return new Promise((resolve, reject) => {
    let err = '';
    let settled = false;
    let proc: GpiodProcess;
    try {
      proc = ctx.spawn(command, args);
    } catch (cause) {
      reject(new VendError('E_GPIO_UNAVAILABLE', `cannot run ${command}`, { cause }));
      return;
    }
    const up = (): void => {
      if (settled) return;
      settled = true;
      ctx.clock.clearTimeout(timer);
      resolve(proc);
    };
    const timer = ctx.clock.setTimeout(up, ctx.settleMs);
    proc.stdout.on('data', (chunk: Buffer | string) => {
      onStdout?.(chunk.toString());
      up();
    });
    proc.stderr.on('data', (chunk: Buffer | string) => (err += chunk.toString()));
    const fail = (cause?: unknown): void => {
      if (settled) return;
      settled = true;
      ctx.clock.clearTimeout(timer);
      reject(
        new VendError('E_GPIO_LINE', `${command} ${args.join(' ')} exited: ${err.trim()}`, {
          cause,
        }),
      );
    };
    proc.once('exit', () => {
      fail();
    });
    proc.once('error', fail);
  });
}

/**
 * The libgpiod command-line backend (package `gpiod`), for the Pi 5 and for kernels where sysfs
 * is gone. The chip is found by label via `gpiodetect`; the tools' major version is read from
 * `gpiodetect --version` and v1 or v2 command lines are built accordingly. No native code.
 * Inputs: one `gpioget` for the initial level, then a `gpiomon` per line whose kernel timestamps
 * become the edges' `at`. Outputs: a `gpioset` per line holds the level; a write replaces it
 * with a new `gpioset` (the line keeps its level in between on Raspberry Pi pin controllers).
 */
export async function openGpiodGpio(options: GpiodGpioOptions = {}): Promise<GpiodGpio> {
  const ctx: Context = {
    spawn: options.spawn ?? nodeGpiodSpawn,
    clock: options.clock ?? systemClock,
    settleMs: options.settleMs ?? 100,
    commandTimeoutMs: options.commandTimeoutMs ?? 5000,
  };
  const versionText = await run(ctx, 'gpiodetect', ['--version']);
  const version = parseGpiodVersion(versionText);
  if (version === undefined)
    throw new VendError('E_GPIO_UNAVAILABLE', `unsupported libgpiod tools: ${versionText.trim()}`);
  const chips = parseGpiodetect(await run(ctx, 'gpiodetect', []));
  const chip = pickHeaderChip(chips, options.chip);
  if (!chip)
    throw new VendError(
      'E_GPIO_CHIP_NOT_FOUND',
      `no GPIO chip ${options.chip ?? 'with a Raspberry Pi header label'}; chips seen: ${
        chips.map((c) => `${c.name} [${c.label}]`).join(', ') || 'none'
      }`,
    );
  return new GpiodGpio(ctx, version, chip, options);
}

export class GpiodGpio implements GpioBackend {
  readonly name = 'gpiod';
  readonly #lines = new Map<number, { release(): Promise<void> }>();
  readonly #monotonicNs: () => bigint;
  readonly #onError: (err: VendError) => void;
  #closed = false;

  constructor(
    private readonly ctx: Context,
    readonly version: GpiodVersion,
    readonly chip: GpiodChip,
    options: GpiodGpioOptions,
  ) {
    this.#monotonicNs = options.monotonicNs ?? (() => process.hrtime.bigint());
    this.#onError =
      options.onError ??
      (() => {
        /* the composition root passes a logger; without one a dead line shows as E_GPIO_IO */
      });
  }

  async claimInput(pin: number, options: InputOptions = {}): Promise<InputLine> {
    this.#reserve(pin);
    const bias = options.bias ?? 'as-is';
    try {
      const text = await run(
        this.ctx,
        'gpioget',
        gpiogetArgs(this.version, this.chip.name, pin, bias),
      );
      let level = parseGpioget(text);
      if (level === undefined)
        throw new VendError('E_GPIO_IO', `unexpected gpioget output: ${text.trim()}`);
      const listeners = new Set<(event: EdgeEvent) => void>();
      let released = false;
      let failed: VendError | undefined;
      let partial = '';
      const onStdout = (text: string): void => {
        partial += text;
        const lines = partial.split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          const ev = parseGpiomonLine(this.version, line);
          if (!ev || ev.offset !== pin || released) continue;
          level = ev.level;
          const ageMs = Number(this.#monotonicNs() - ev.monotonicNs) / 1e6;
          const event: EdgeEvent = {
            pin,
            level: ev.level,
            at: this.ctx.clock.now() - Math.max(0, ageMs),
          };
          queueMicrotask(() => {
            for (const l of [...listeners]) l(event);
          });
        }
      };
      const proc = await startHolder(
        this.ctx,
        'gpiomon',
        gpiomonArgs(this.version, this.chip.name, pin, bias, options.edge ?? 'both'),
        onStdout,
      );
      const done = exited(proc);
      void done.then(() => {
        if (released) return;
        failed = new VendError('E_GPIO_IO', `gpiomon for GPIO${pin} exited`);
        this.#onError(failed);
      });
      const line: InputLine = {
        pin,
        read: () => {
          if (released) return Promise.reject(new VendError('E_CLOSED', `GPIO${pin} was released`));
          return failed ? Promise.reject(failed) : Promise.resolve(level ?? 0);
        },
        watch: (listener) => {
          listeners.add(listener);
          return () => listeners.delete(listener);
        },
        release: async () => {
          if (released) return;
          released = true;
          listeners.clear();
          proc.kill('SIGTERM');
          await done;
          this.#lines.delete(pin);
        },
      };
      this.#lines.set(pin, line);
      return line;
    } catch (err) {
      this.#lines.delete(pin);
      throw err;
    }
  }

  async claimOutput(pin: number, options: OutputOptions): Promise<OutputLine> {
    checkLevel(options.initial);
    this.#reserve(pin);
    const hold = async (level: Level): Promise<GpiodProcess> => {
      const proc = await startHolder(
        this.ctx,
        'gpioset',
        gpiosetArgs(this.version, this.chip.name, pin, level),
      );
      void exited(proc).then(() => {
        if (holder === proc && !released) {
          holder = undefined;
          this.#onError(new VendError('E_GPIO_IO', `gpioset for GPIO${pin} exited`));
        }
      });
      return proc;
    };
    let holder: GpiodProcess | undefined;
    let released = false;
    let level: Level = options.initial;
    try {
      holder = await hold(options.initial);
    } catch (err) {
      this.#lines.delete(pin);
      throw err;
    }
    const stop = async (): Promise<void> => {
      const old = holder;
      holder = undefined;
      if (!old) return;
      const done = exited(old);
      old.kill('SIGTERM');
      await done;
    };
    const line: OutputLine = {
      pin,
      write: async (next) => {
        checkLevel(next);
        if (released) throw new VendError('E_CLOSED', `GPIO${pin} was released`);
        if (next === level && holder) return;
        await stop();
        try {
          holder = await hold(next);
        } catch (err) {
          throw new VendError('E_GPIO_IO', `cannot drive GPIO${pin} to ${next}`, { cause: err });
        }
        level = next;
      },
      read: () => Promise.resolve(level),
      release: async () => {
        if (released) return;
        released = true;
        await stop();
        this.#lines.delete(pin);
      },
    };
    this.#lines.set(pin, line);
    return line;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#lines.values()].map((line) => line.release()));
  }

  #reserve(pin: number): void {
    if (this.#closed) throw new VendError('E_CLOSED', 'gpiod GPIO is closed');
    checkPin(pin);
    if (pin >= this.chip.lines)
      throw new VendError(
        'E_GPIO_LINE',
        `GPIO${pin} is outside ${this.chip.label} (${this.chip.lines} lines)`,
      );
    if (this.#lines.has(pin)) throw new VendError('E_GPIO_LINE', `GPIO${pin} is already claimed`);
    this.#lines.set(pin, { release: () => Promise.resolve() });
  }
}
