import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Printer } from '../../daemon/ports/printer.js';
import { errorCodeOf } from '../../daemon/errors.js';
import { RECEIPT } from '../hardware/receipt.js';

/** A Printer plus what came out of the "device". */
export interface PrinterRig {
  readonly printer: Printer;
  /** Jobs that reached the device so far. */
  printed(): Promise<number>;
  /** Makes the device absent or offline. */
  goOffline(): Promise<void>;
  /** Makes the device stop accepting bytes, if the rig can (undefined: cannot). */
  readonly stall: (() => Promise<void>) | undefined;
  /** Lets (clock) time pass. */
  wait(ms: number): Promise<void>;
  readonly deadlineMs: number;
  dispose?(): Promise<void>;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (err: unknown) => err,
  );
}

/**
 * The Printer contract (daemon/ports/printer.ts): jobs print once, in call order; invalid
 * receipts are refused before anything is sent; an absent printer rejects E_PRINTER_OFFLINE
 * promptly; a stalled one rejects E_PRINTER_TIMEOUT at the deadline; a failed job never comes
 * out later; close is idempotent and later calls reject E_CLOSED.
 */
export function describePrinterContract(
  name: string,
  makeRig: () => Promise<PrinterRig>,
  skip: string | false = false,
): void {
  describe.skipIf(skip !== false)(
    `Printer contract: ${name}${skip === false ? '' : ` (${skip})`}`,
    () => {
      let rig: PrinterRig;
      beforeEach(async () => {
        rig = await makeRig();
      });
      afterEach(async () => {
        await rig.printer.close();
        await rig.dispose?.();
      });

      it('prints each job exactly once, concurrent jobs one after the other', async () => {
        const jobs = [
          rig.printer.print(RECEIPT),
          rig.printer.print({ ...RECEIPT, productName: 'Water' }),
        ];
        await rig.wait(10);
        await Promise.all(jobs);
        expect(await rig.printed()).toBe(2);
      });

      it('refuses an invalid receipt with a TypeError and sends nothing', async () => {
        const err = await rejection(
          rig.printer.print({ ...RECEIPT, amount: { minor: -1, currency: 'SEK' } }),
        );
        expect(err).toBeInstanceOf(TypeError);
        expect(await rig.printed()).toBe(0);
      });

      it('rejects E_PRINTER_OFFLINE when the printer is absent, and never prints that job later', async () => {
        await rig.goOffline();
        expect(errorCodeOf(await rejection(rig.printer.print(RECEIPT)))).toBe('E_PRINTER_OFFLINE');
        await rig.wait(rig.deadlineMs);
        expect(await rig.printed()).toBe(0);
      });

      it('rejects E_PRINTER_TIMEOUT at the deadline when the printer stalls; the job never comes out', async (ctx) => {
        if (!rig.stall) {
          ctx.skip();
          return;
        }
        await rig.stall();
        const failed = rejection(rig.printer.print(RECEIPT));
        await rig.wait(rig.deadlineMs + 100);
        expect(errorCodeOf(await failed)).toBe('E_PRINTER_TIMEOUT');
        await rig.wait(rig.deadlineMs);
        expect(await rig.printed()).toBe(0);
      });

      it('close is idempotent; print after close rejects E_CLOSED', async () => {
        await rig.printer.close();
        await rig.printer.close();
        expect(errorCodeOf(await rejection(rig.printer.print(RECEIPT)))).toBe('E_CLOSED');
      });
    },
  );
}
