/**
 * One GPIO interface for every backend (sysfs via onoff, rpio, the libgpiod tools, the fake).
 *
 * Pins are BCM numbers (GPIO17 = 17) on the 40-pin header, whatever the backend's own numbering
 * (sysfs global numbers, chip offsets). Levels are PHYSICAL levels (1 = 3.3 V): active-low
 * wiring is the device adapter's business, never the backend's, so a log line or a fake's record
 * always says what the wire does.
 */

/** A physical line level. */
export type Level = 0 | 1;

/** Which edges an input reports. */
export type EdgeKind = 'rising' | 'falling' | 'both';

/**
 * Internal bias of an input. `as-is` leaves it unchanged (sysfs and rpio cannot always set it:
 * sysfs never can; use `gpio=<n>=ip,pu` in config.txt). `disable` switches pulls off.
 */
export type Bias = 'pull-up' | 'pull-down' | 'disable' | 'as-is';

/** One observed edge. */
export interface EdgeEvent {
  /** BCM pin. */
  readonly pin: number;
  /** The level after the edge. */
  readonly level: Level;
  /**
   * When the edge happened, epoch ms with sub-ms precision where the backend knows better than
   * "when we noticed" (libgpiod's kernel timestamps); otherwise the time it was noticed.
   */
  readonly at: number;
}

export interface InputOptions {
  readonly bias?: Bias;
  /** Edges to watch; default `both`. */
  readonly edge?: EdgeKind;
}

export interface OutputOptions {
  /**
   * The level the line has from the moment it becomes an output. A backend never drives any
   * other level first (no glitch); if the line is already an output (a restart), it is set to
   * this level without passing through another one.
   */
  readonly initial: Level;
}

/** A claimed input line. */
export interface InputLine {
  readonly pin: number;
  /** The current level. Rejects E_GPIO_IO when the backend cannot read it, E_CLOSED after release. */
  read(): Promise<Level>;
  /**
   * Registers an edge listener; returns the function that removes it. Listeners run
   * asynchronously, in edge order; edges of the configured kind only. No debounce: every edge the
   * backend sees is reported (the device adapters debounce).
   */
  watch(listener: (event: EdgeEvent) => void): () => void;
  /** Stops watching and gives the line back. Idempotent. */
  release(): Promise<void>;
}

/** A claimed output line. */
export interface OutputLine {
  readonly pin: number;
  /** Drives the line; resolves once the level is on the wire. Rejects E_GPIO_IO, E_CLOSED. */
  write(level: Level): Promise<void>;
  /** The level last driven. */
  read(): Promise<Level>;
  /**
   * Gives the line back WITHOUT changing its level (callers drive the safe level first).
   * Idempotent.
   */
  release(): Promise<void>;
}

/**
 * A GPIO backend. Claiming a pin twice (in this process) rejects E_GPIO_LINE; a pin outside the
 * header chip rejects E_GPIO_LINE; a backend that cannot work on this machine rejects
 * E_GPIO_UNAVAILABLE (or E_GPIO_UNSUPPORTED for a board it does not support) from its factory or
 * the first claim. After `close()` (which releases every line) claims reject E_CLOSED.
 */
export interface GpioBackend {
  readonly name: 'sysfs' | 'rpio' | 'gpiod' | 'fake';
  claimInput(pin: number, options?: InputOptions): Promise<InputLine>;
  claimOutput(pin: number, options: OutputOptions): Promise<OutputLine>;
  close(): Promise<void>;
}

/** Throws a TypeError naming the bad value when `pin` is not a BCM number a header could have. */
export function checkPin(pin: number): void {
  if (!Number.isInteger(pin) || pin < 0 || pin > 63)
    throw new TypeError(`"pin" must be a BCM GPIO number 0..63: ${String(pin)}`);
}

/** Throws a TypeError when `level` is not 0 or 1. */
export function checkLevel(level: number): asserts level is Level {
  if (level !== 0 && level !== 1) throw new TypeError(`"level" must be 0 or 1: ${String(level)}`);
}

/** Whether `edge` passes the `kind` filter. */
export function edgeMatches(kind: EdgeKind, level: Level): boolean {
  return kind === 'both' || (kind === 'rising') === (level === 1);
}
