import { VendError } from '../../daemon/errors.js';
import type { Printer, PrinterState } from '../../daemon/ports/printer.js';

/**
 * The printer of a machine without one (`printer.type: none`): every job is refused with
 * E_PRINTER_NONE, so the ledger records the receipt as not printed (the customer has the digital
 * one in the app) instead of claiming a print that never happened.
 */
export class NoPrinter implements Printer {
  print(): Promise<void> {
    return Promise.reject(
      new VendError('E_PRINTER_NONE', 'no receipt printer is configured (printer.type none)'),
    );
  }

  state(): Promise<PrinterState> {
    return Promise.resolve('offline');
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
