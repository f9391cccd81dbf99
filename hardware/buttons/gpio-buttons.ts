import type { ButtonEvent, ButtonId, Buttons } from '../../daemon/ports/buttons.js';
import type { Clock, TimerHandle } from '../../daemon/ports/clock.js';
import type { Bias, EdgeEvent, GpioBackend, InputLine, Level } from '../gpio/gpio.js';
import { buttonKey, checkButtonId, deliver } from './button-id.js';

/** One button's wiring. */
export interface ButtonPin {
  readonly button: ButtonId;
  /** BCM pin. */
  readonly pin: number;
  /** The level while pressed. Default 0 (switch to ground, pull-up). */
  readonly activeLevel?: Level;
  /** Default: pull-up for active-low, pull-down for active-high. */
  readonly bias?: Bias;
}

export interface GpioButtonsOptions {
  readonly gpio: GpioBackend;
  readonly clock: Clock;
  readonly buttons: readonly ButtonPin[];
  /** Edges within this window after an accepted change are chatter. Default 30 ms. */
  readonly debounceMs?: number;
  /** A button down this long is reported `stuck` once. Default 5000 ms. */
  readonly stuckMs?: number;
  /**
   * Every debounced change, press and release, with its pin (`seqr-vend hw-test buttons`); called
   * synchronously at the change, before the `pressed` event is delivered.
   */
  readonly onChange?: (change: ButtonChange) => void;
}

/** A debounced press or release of one button. */
export interface ButtonChange {
  readonly button: ButtonId;
  readonly pin: number;
  readonly pressed: boolean;
  /** The edge's time (epoch ms). */
  readonly at: number;
}

interface State {
  readonly config: ButtonPin;
  readonly activeLevel: Level;
  readonly line: InputLine;
  /** Debounced state. */
  down: boolean;
  /** Last raw level seen. */
  raw: Level;
  windowUntil: number;
  windowTimer: TimerHandle | undefined;
  stuckTimer: TimerHandle | undefined;
  stuck: boolean;
}

/**
 * Buttons on GPIO inputs, debounced here (never by the backend or onoff): leading edge, so a
 * press acts at once at the edge's timestamp; edges within `debounceMs` after an accepted change
 * are chatter; when the window ends the debounced state catches up with the wire, so a tap shorter
 * than the window is still one press. A button held for `stuckMs` is reported `stuck` once and
 * never repeats; `released` follows when it is let go. A button already down at start is
 * treated as held (no press) and reported stuck after `stuckMs`.
 */
export async function openGpioButtons(options: GpioButtonsOptions): Promise<GpioButtons> {
  const debounceMs = options.debounceMs ?? 30;
  const stuckMs = options.stuckMs ?? 5000;
  if (!Number.isInteger(debounceMs) || debounceMs < 0)
    throw new RangeError(`"debounceMs" must be an integer >= 0: ${String(options.debounceMs)}`);
  if (!Number.isInteger(stuckMs) || stuckMs <= debounceMs)
    throw new RangeError(`"stuckMs" must be an integer > debounceMs: ${String(options.stuckMs)}`);
  const seen = new Set<string>();
  for (const b of options.buttons) {
    checkButtonId(b.button);
    const key = buttonKey(b.button);
    if (seen.has(key)) throw new RangeError(`button ${key} is configured twice`);
    seen.add(key);
  }
  const buttons = new GpioButtons(options.clock, debounceMs, stuckMs, options.onChange);
  try {
    for (const config of options.buttons) {
      const activeLevel = config.activeLevel ?? 0;
      const line = await options.gpio.claimInput(config.pin, {
        bias: config.bias ?? (activeLevel === 0 ? 'pull-up' : 'pull-down'),
        edge: 'both',
      });
      await buttons.add(config, activeLevel, line);
    }
  } catch (err) {
    await buttons.close();
    throw err;
  }
  return buttons;
}

export class GpioButtons implements Buttons {
  readonly #listeners = new Set<(event: ButtonEvent) => void>();
  readonly #states: State[] = [];
  readonly #unwatch: (() => void)[] = [];
  #queue: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(
    private readonly clock: Clock,
    private readonly debounceMs: number,
    private readonly stuckMs: number,
    private readonly onChange?: (change: ButtonChange) => void,
  ) {}

  /** @internal used by {@link openGpioButtons} */
  async add(config: ButtonPin, activeLevel: Level, line: InputLine): Promise<void> {
    const raw = await line.read();
    const state: State = {
      config,
      activeLevel,
      line,
      down: raw === activeLevel,
      raw,
      windowUntil: Number.NEGATIVE_INFINITY,
      windowTimer: undefined,
      stuckTimer: undefined,
      stuck: false,
    };
    this.#states.push(state);
    if (state.down) this.#armStuck(state);
    this.#unwatch.push(
      line.watch((edge) => {
        this.#edge(state, edge);
      }),
    );
  }

  subscribe(listener: (event: ButtonEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const unwatch of this.#unwatch) unwatch();
    for (const s of this.#states) {
      if (s.windowTimer !== undefined) this.clock.clearTimeout(s.windowTimer);
      if (s.stuckTimer !== undefined) this.clock.clearTimeout(s.stuckTimer);
    }
    await Promise.allSettled(this.#states.map((s) => s.line.release()));
    await this.#queue;
  }

  #edge(state: State, edge: EdgeEvent): void {
    if (this.#closed) return;
    state.raw = edge.level;
    if (edge.at < state.windowUntil) return;
    this.#apply(state, edge.at);
  }

  /** Moves the debounced state to the wire's, if they differ, and opens a chatter window. */
  #apply(state: State, at: number): void {
    const down = state.raw === state.activeLevel;
    if (down === state.down) return;
    state.down = down;
    state.windowUntil = at + this.debounceMs;
    if (state.windowTimer !== undefined) this.clock.clearTimeout(state.windowTimer);
    state.windowTimer = this.clock.setTimeout(
      () => {
        state.windowTimer = undefined;
        if (!this.#closed) this.#apply(state, Math.max(this.clock.now(), state.windowUntil));
      },
      Math.max(0, state.windowUntil - this.clock.now()),
    );
    const button = state.config.button;
    this.onChange?.({ button, pin: state.config.pin, pressed: down, at });
    if (down) {
      this.#emit({ type: 'pressed', button, at });
      this.#armStuck(state);
      return;
    }
    if (state.stuckTimer !== undefined) this.clock.clearTimeout(state.stuckTimer);
    state.stuckTimer = undefined;
    if (state.stuck) {
      state.stuck = false;
      this.#emit({ type: 'released', button, at });
    }
  }

  #armStuck(state: State): void {
    state.stuckTimer = this.clock.setTimeout(() => {
      state.stuckTimer = undefined;
      if (this.#closed || !state.down) return;
      state.stuck = true;
      this.#emit({ type: 'stuck', button: state.config.button, at: this.clock.now() });
    }, this.stuckMs);
  }

  #emit(event: ButtonEvent): void {
    this.#queue = this.#queue.then(() => {
      if (!this.#closed) deliver(this.#listeners, event);
    });
  }
}
