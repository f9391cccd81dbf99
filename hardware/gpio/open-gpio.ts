import type { Clock } from '../../daemon/ports/clock.js';
import type { VendError } from '../../daemon/errors.js';
import { FakeGpio } from './fake-gpio.js';
import type { GpioBackend } from './gpio.js';
import { openGpiodGpio } from './gpiod-gpio.js';
import { openRpioGpio } from './rpio-gpio.js';
import { openSysfsGpio } from './sysfs-gpio.js';

/** The `gpio` part of the configuration, as the hardware layer reads it. */
export interface GpioConfig {
  readonly backend: 'sysfs' | 'rpio' | 'gpiod' | 'fake';
  /** sysfs: global number of BCM 0, overriding the label lookup. */
  readonly sysfsBase?: number;
  /** sysfs: root of the sysfs GPIO tree (tests). */
  readonly sysfsRoot?: string;
  /** gpiod: chip label or name, overriding the label lookup. */
  readonly chip?: string;
}

/**
 * Opens the configured backend. Backends with native addons (onoff's epoll, rpio) are imported
 * only here, when chosen, so a machine running the fake never loads them.
 */
export async function openGpio(
  config: GpioConfig,
  deps: { clock?: Clock; onError?: (err: VendError) => void } = {},
): Promise<GpioBackend> {
  const clock = deps.clock ? { clock: deps.clock } : {};
  switch (config.backend) {
    case 'fake':
      return new FakeGpio(clock);
    case 'sysfs':
      return openSysfsGpio({
        ...clock,
        ...(config.sysfsRoot === undefined ? {} : { root: config.sysfsRoot }),
        ...(config.sysfsBase === undefined ? {} : { sysfsBase: config.sysfsBase }),
      });
    case 'rpio':
      return openRpioGpio(clock);
    case 'gpiod':
      return openGpiodGpio({
        ...clock,
        ...(config.chip === undefined ? {} : { chip: config.chip }),
        ...(deps.onError ? { onError: deps.onError } : {}),
      });
  }
}
