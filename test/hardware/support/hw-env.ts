import type { GpioConfig } from '../../../hardware/gpio/open-gpio.js';

/**
 * Real-hardware tests run only on a Pi bench rig with SEQR_VEND_HW_TEST=1. The rig needs jumper
 * wires: SEQR_VEND_HW_LOOP="<out>:<in>" (BCM pins) connects an output to an input, standing in
 * for a button or a relay sensed back. SEQR_VEND_HW_BACKEND picks the backend (default gpiod);
 * SEQR_VEND_HW_PRINTER names a printer device (e.g. /dev/usb/lp0 or tcp://10.0.0.9) for the
 * printer suite.
 */
export const HW = process.env['SEQR_VEND_HW_TEST'] === '1';

export const HW_SKIP = HW
  ? false
  : 'real hardware: set SEQR_VEND_HW_TEST=1 and SEQR_VEND_HW_LOOP=<out>:<in> on a Pi bench rig';

export function hwGpioConfig(): GpioConfig {
  const backend = process.env['SEQR_VEND_HW_BACKEND'] ?? 'gpiod';
  if (backend !== 'sysfs' && backend !== 'rpio' && backend !== 'gpiod')
    throw new Error(`SEQR_VEND_HW_BACKEND must be sysfs, rpio or gpiod: ${backend}`);
  return { backend };
}

export function hwLoop(): { out: number; in: number } {
  const [out, inp] = (process.env['SEQR_VEND_HW_LOOP'] ?? '20:21').split(':').map(Number);
  return { out: out ?? 20, in: inp ?? 21 };
}

export const HW_PRINTER = process.env['SEQR_VEND_HW_PRINTER'];
