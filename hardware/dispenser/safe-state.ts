import type { Clock } from '../../daemon/ports/clock.js';
import type { GpioBackend, Level } from '../gpio/gpio.js';
import { openGpio, type GpioConfig } from '../gpio/open-gpio.js';

export interface SafeStateOptions {
  /** The GPIO configuration (the daemon's), or an open backend (tests). */
  readonly gpio: GpioConfig | GpioBackend;
  /** BCM pins of every relay. */
  readonly relayPins: readonly number[];
  /** The level that energises a relay; the safe level is the other one. */
  readonly relayActiveLevel: Level;
  readonly clock?: Clock;
}

export interface SafeStateOutcome {
  readonly pin: number;
  readonly ok: boolean;
  readonly error?: unknown;
}

function isBackend(gpio: GpioConfig | GpioBackend): gpio is GpioBackend {
  return 'claimOutput' in gpio;
}

/**
 * Drives every relay pin to its inactive level with no daemon running: what systemd's
 * `ExecStopPost=` runs after any exit (stop, crash, watchdog kill). Claims each pin as an output
 * whose initial level is the safe one (a line that is already an output only gets its value
 * written, so an inactive relay never blinks), then releases it. Tries every pin even when one
 * fails; resolves the per-pin outcome, and rejects only when the backend itself cannot open.
 */
export async function runSafeState(options: SafeStateOptions): Promise<SafeStateOutcome[]> {
  const safe: Level = options.relayActiveLevel === 1 ? 0 : 1;
  const gpio = isBackend(options.gpio)
    ? options.gpio
    : await openGpio(options.gpio, options.clock ? { clock: options.clock } : {});
  const outcomes: SafeStateOutcome[] = [];
  try {
    for (const pin of options.relayPins) {
      try {
        const line = await gpio.claimOutput(pin, { initial: safe });
        await line.release();
        outcomes.push({ pin, ok: true });
      } catch (error) {
        outcomes.push({ pin, ok: false, error });
      }
    }
  } finally {
    if (!isBackend(options.gpio)) await gpio.close();
  }
  return outcomes;
}
