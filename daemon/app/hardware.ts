/**
 * The machine's hardware from the configuration: virtual (demo mode, or `gpio.backend: fake`) or
 * GPIO buttons and dispenser with the configured printer. Usable without the daemon (a hardware
 * test opens, drives and closes it on its own).
 */
import type { Config } from '../../config/schema.js';
import { openGpioButtons, type GpioButtonsOptions } from '../../hardware/buttons/gpio-buttons.js';
import {
  openGpioDispenser,
  type GpioDispenserOptions,
} from '../../hardware/dispenser/gpio-dispenser.js';
import type { Level } from '../../hardware/gpio/gpio.js';
import { openGpio, type GpioConfig } from '../../hardware/gpio/open-gpio.js';
import { EscPosPrinter } from '../../hardware/printer/escpos-printer.js';
import { NoPrinter } from '../../hardware/printer/no-printer.js';
import { RECEIPT_LABELS } from '../../hardware/printer/receipt-encoder.js';
import type { VirtualHardware } from '../../hardware/virtual/index.js';
import type { SqliteLedger } from '../ledger/sqlite-ledger.js';
import type { Logger } from '../log.js';
import type { Buttons } from '../ports/buttons.js';
import type { Clock } from '../ports/clock.js';
import type { Dispenser } from '../ports/dispenser.js';
import type { Ledger } from '../ports/ledger.js';
import type { Printer } from '../ports/printer.js';
import type { StopOrder } from './stop-order.js';

export type { VirtualHardware } from '../../hardware/virtual/index.js';

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
    const virtual = await openVirtualHardware(config, clock);
    const { buttons, dispenser, printer } = virtual;
    return {
      buttons,
      dispenser,
      printer,
      virtual,
      close: () => closeEach([buttons, dispenser, printer]),
    };
  }
  const gpio = await openGpio(gpioConfig(config), {
    clock,
    onError: (err) => {
      log.error({ code: err.code, err }, 'GPIO failure');
    },
  });
  const buttons = await openGpioButtons({ gpio, clock, ...buttonWiring(config) });
  const dispenser = await openGpioDispenser({ gpio, clock, ...dispenserWiring(config) }).catch(
    async (err: unknown) => {
      await buttons.close().catch(() => undefined);
      throw err;
    },
  );
  const printer = configuredPrinter(config, clock);
  return {
    buttons,
    dispenser,
    printer,
    virtual: undefined,
    close: () => closeEach([buttons, dispenser, printer]),
  };
}

/*
 * The configuration read as device wiring, one function per device: the daemon (openHardware) and
 * `seqr-vend hw-test` drive the same pins at the same levels through them.
 */

const level = (l: 'high' | 'low'): Level => (l === 'high' ? 1 : 0);

/** The GPIO backend to open. */
export function gpioConfig(config: Config): GpioConfig {
  return {
    backend: config.gpio.backend,
    ...(config.gpio.sysfsBase === undefined ? {} : { sysfsBase: config.gpio.sysfsBase }),
    ...(config.gpio.chip === undefined ? {} : { chip: config.gpio.chip }),
  };
}

/** The product buttons and the cancel button, with their debounce and stuck limit. */
export function buttonWiring(
  config: Config,
): Pick<GpioButtonsOptions, 'debounceMs' | 'stuckMs' | 'buttons'> {
  const b = config.buttons;
  const bias = ({ up: 'pull-up', down: 'pull-down', none: 'disable' } as const)[b.pull];
  return {
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
  };
}

/** The relays (one per slot), sold-out switches and the drop sensor. */
export function dispenserWiring(
  config: Config,
): Pick<GpioDispenserOptions, 'relayActiveLevel' | 'slots' | 'dropSensor'> {
  const drop = config.products.find((p) => p.dropSensor)?.dropSensor;
  return {
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
  };
}

/** The configured receipt printer (none, USB or TCP). Nothing is opened until it prints. */
export function configuredPrinter(config: Config, clock: Clock): Printer {
  const p = config.printer;
  return p.type === 'none'
    ? new NoPrinter()
    : new EscPosPrinter({
        clock,
        device: p.type === 'usb' ? p.path : `tcp://${p.host}:${String(p.port)}`,
        deadlineMs: p.jobDeadlineMs,
        layout: { paperMm: p.width, qrMode: p.qr, labels: RECEIPT_LABELS[config.locale] },
      });
}

/** The virtual hardware, imported only here: a machine with real hardware never loads it. */
async function openVirtualHardware(config: Config, clock: Clock): Promise<VirtualHardware> {
  const { createVirtualHardware } = await import('../../hardware/virtual/index.js');
  const demo = config.mode === 'demo';
  // The demo machine has a drop sensor, so the kiosk can show a product that does not drop.
  const dropWindowMs =
    config.products.find((p) => p.dropSensor)?.dropSensor?.windowMs ?? (demo ? 1_500 : undefined);
  return createVirtualHardware({
    clock,
    slots: config.products.map((p) => p.slot),
    stock: Object.fromEntries(
      config.products.flatMap((p) => (p.stock === undefined ? [] : [[p.slot, p.stock]])),
    ),
    pulseMs: config.products[0]?.pulseMs ?? 300,
    ...(dropWindowMs === undefined ? {} : { dropWindowMs }),
    stuckMs: config.buttons.stuckMs,
    keepReceipts: 100,
  });
}

/**
 * With `virtual.recordFile` on virtual hardware, starts the crash-torture relay record (closed by
 * the stop order) and returns the ledger the runtime must use so the record names each pulse's
 * transaction; otherwise returns `ledger` unchanged.
 */
export async function recordRelaysIfAsked(
  config: Config,
  hardware: Hardware,
  ledger: SqliteLedger,
  stopOrder: StopOrder,
): Promise<Ledger> {
  const file = config.virtual.recordFile;
  if (hardware.virtual === undefined || file === undefined) return ledger;
  const { recordRelays } = await import('../../hardware/virtual/index.js');
  const record = recordRelays(
    hardware.virtual.dispenser,
    file,
    ledger,
    (txId) => ledger.transaction(txId)?.invoiceReference ?? null,
  );
  stopOrder.add(() => {
    record.close();
  });
  return record.ledger;
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
