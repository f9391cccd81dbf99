/**
 * The virtual machine of demo mode and of tests that run the whole daemon: fake buttons, a fake
 * dispenser (with a drop sensor when asked), a fake printer, and the crash-torture relay record.
 * Loaded only when the configuration asks for virtual hardware.
 */
import type { Clock } from '../../daemon/ports/clock.js';
import { FakeButtons } from '../buttons/fake-buttons.js';
import { FakeDispenser } from '../dispenser/fake-dispenser.js';
import { FakePrinter } from '../printer/fake-printer.js';

export { recordRelays, type RelayRecord } from './relay-record.js';

/** The virtual hardware, with the control surface the kiosk page and tests drive. */
export interface VirtualHardware {
  readonly buttons: FakeButtons;
  readonly dispenser: FakeDispenser;
  readonly printer: FakePrinter;
}

export interface VirtualHardwareOptions {
  readonly clock: Clock;
  readonly slots: readonly number[];
  /** Items per slot; a slot not listed never runs out. */
  readonly stock: Readonly<Record<number, number>>;
  readonly pulseMs: number;
  /** The drop sensor's window; absent: no drop sensor. */
  readonly dropWindowMs?: number;
  /** A button held this long is reported stuck. */
  readonly stuckMs: number;
  /** Receipts the printer keeps (oldest dropped first). */
  readonly keepReceipts: number;
}

export function createVirtualHardware(options: VirtualHardwareOptions): VirtualHardware {
  const { clock, slots } = options;
  return {
    buttons: new FakeButtons({ clock, slots: [...slots], stuckMs: options.stuckMs }),
    dispenser: new FakeDispenser({
      clock,
      slots: [...slots],
      stock: options.stock,
      pulseMs: options.pulseMs,
      ...(options.dropWindowMs === undefined ? {} : { dropWindowMs: options.dropWindowMs }),
    }),
    printer: new FakePrinter({ clock, keepReceipts: options.keepReceipts }),
  };
}
