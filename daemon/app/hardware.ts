/**
 * The machine's hardware from the configuration: virtual (demo mode, or `gpio.backend: fake`) or
 * GPIO buttons and dispenser with the configured printer. Usable without the daemon (a hardware
 * test opens, drives and closes it on its own).
 */
import type { Config } from '../../config/schema.js';
import { FakeButtons } from '../../hardware/buttons/fake-buttons.js';
import { openGpioButtons } from '../../hardware/buttons/gpio-buttons.js';
import { FakeDispenser } from '../../hardware/dispenser/fake-dispenser.js';
import { openGpioDispenser } from '../../hardware/dispenser/gpio-dispenser.js';
import type { Level } from '../../hardware/gpio/gpio.js';
import { openGpio } from '../../hardware/gpio/open-gpio.js';
import { EscPosPrinter } from '../../hardware/printer/escpos-printer.js';
import { FakePrinter } from '../../hardware/printer/fake-printer.js';
import { NoPrinter } from '../../hardware/printer/no-printer.js';
import { RECEIPT_LABELS } from '../../hardware/printer/receipt-encoder.js';
import type { Logger } from '../log.js';
import type { Buttons } from '../ports/buttons.js';
import type { Clock } from '../ports/clock.js';
import type { Dispenser } from '../ports/dispenser.js';
import type { Printer } from '../ports/printer.js';

/** The virtual hardware of demo mode, which the kiosk page and tests drive. */
export interface VirtualHardware {
  readonly buttons: FakeButtons;
  readonly dispenser: FakeDispenser;
  readonly printer: FakePrinter;
}

export interface Hardware {
  readonly buttons: Buttons;
  readonly dispenser: Dispenser;
  readonly printer: Printer;
  /** The same devices with their control surface, when they are virtual. */
  readonly virtual: VirtualHardware | undefined;
  /** Closes buttons, dispenser and printer (outputs safe), each even when another fails. */
  close(): Promise<void>;
}

export interface HardwareDeps {
  readonly clock: Clock;
  /** GPIO failures after opening are logged here. */
  readonly log: Logger;
}

/**
 * Opens the configured hardware. Virtual in demo mode or with `gpio.backend: fake`; else GPIO
 * through the configured backend, and the configured printer (none, USB or TCP). Rejects with the
 * adapter's code (E_GPIO_...) when a line cannot be claimed; nothing is left open then.
 */
export async function openHardware(config: Config, deps: HardwareDeps): Promise<Hardware> {
  const { clock, log } = deps;
  const demo = config.mode === 'demo';
  if (demo || config.gpio.backend === 'fake') {
    const virtual = openVirtualHardware(config, clock);
    const { buttons, dispenser, printer } = virtual;
    return {
      buttons,
      dispenser,
      printer,
      virtual,
      close: () => closeEach([buttons, dispenser, printer]),
    };
  }
  const gpio = await openGpio(
    {
      backend: config.gpio.backend,
      ...(config.gpio.sysfsBase === undefined ? {} : { sysfsBase: config.gpio.sysfsBase }),
      ...(config.gpio.chip === undefined ? {} : { chip: config.gpio.chip }),
    },
    {
      clock,
      onError: (err) => {
        log.error({ code: err.code, err }, 'GPIO failure');
      },
    },
  );
  const level = (l: 'high' | 'low'): Level => (l === 'high' ? 1 : 0);
  const bias = ({ up: 'pull-up', down: 'pull-down', none: 'disable' } as const)[
    config.buttons.pull
  ];
  const b = config.buttons;
  const buttons = await openGpioButtons({
    gpio,
    clock,
    debounceMs: b.debounceMs,
    stuckMs: b.stuckMs,
    buttons: [
      ...config.products.map((p) => ({
        button: { kind: 'product', slot: p.slot } as const,
        pin: p.buttonPin,
        activeLevel: level(b.activeLevel),
        bias,
      })),
      { button: { kind: 'cancel' }, pin: b.cancelPin, activeLevel: level(b.activeLevel), bias },
    ],
  });
  const drop = config.products.find((p) => p.dropSensor)?.dropSensor;
  const dispenser = await openGpioDispenser({
    gpio,
    clock,
    relayActiveLevel: level(config.products[0]?.relayActiveLevel ?? 'high'),
    slots: config.products.map((p) => ({
      slot: p.slot,
      relayPin: p.relayPin,
      pulseMs: p.pulseMs,
      ...(p.stock === undefined ? {} : { stock: p.stock }),
      ...(p.soldOutPin === undefined
        ? {}
        : { soldOut: { pin: p.soldOutPin, activeLevel: level(p.soldOutActiveLevel) } }),
    })),
    ...(drop
      ? {
          dropSensor: {
            pin: drop.pin,
            activeLevel: level(drop.activeLevel),
            windowMs: drop.windowMs,
          },
        }
      : {}),
  }).catch(async (err: unknown) => {
    await buttons.close().catch(() => undefined);
    throw err;
  });
  const p = config.printer;
  const printer =
    p.type === 'none'
      ? new NoPrinter()
      : new EscPosPrinter({
          clock,
          device: p.type === 'usb' ? p.path : `tcp://${p.host}:${String(p.port)}`,
          deadlineMs: p.jobDeadlineMs,
          layout: { paperMm: p.width, qrMode: p.qr, labels: RECEIPT_LABELS[config.locale] },
        });
  return {
    buttons,
    dispenser,
    printer,
    virtual: undefined,
    close: () => closeEach([buttons, dispenser, printer]),
  };
}

function openVirtualHardware(config: Config, clock: Clock): VirtualHardware {
  const demo = config.mode === 'demo';
  const slots = config.products.map((p) => p.slot);
  const stock = Object.fromEntries(
    config.products.flatMap((p) => (p.stock === undefined ? [] : [[p.slot, p.stock]])),
  );
  // The demo machine has a drop sensor, so the kiosk can show a product that does not drop.
  const dropWindowMs =
    config.products.find((p) => p.dropSensor)?.dropSensor?.windowMs ?? (demo ? 1_500 : undefined);
  return {
    buttons: new FakeButtons({ clock, slots, stuckMs: config.buttons.stuckMs }),
    dispenser: new FakeDispenser({
      clock,
      slots,
      stock,
      pulseMs: config.products[0]?.pulseMs ?? 300,
      ...(dropWindowMs === undefined ? {} : { dropWindowMs }),
    }),
    printer: new FakePrinter({ clock, keepReceipts: 100 }),
  };
}

/** Closes each device in order, every one even when an earlier failed; rejects with the first. */
async function closeEach(devices: readonly { close(): Promise<void> }[]): Promise<void> {
  let failure: { err: unknown } | undefined;
  for (const device of devices) {
    try {
      await device.close();
    } catch (err) {
      failure ??= { err };
    }
  }
  if (failure) throw failure.err;
}
