import type { Money } from './money.js';

/** A customer receipt, as content. The printer adapter lays it out (58 or 80 mm, code page). */
export interface Receipt {
  readonly merchantName: string;
  readonly merchantAddress?: readonly string[];
  readonly terminalId: string;
  /** ISO 8601 local date and time of the payment. */
  readonly date: string;
  readonly productName: string;
  readonly amount: Money;
  readonly vat?: { readonly ratePercent: number; readonly amount: Money };
  readonly invoiceReference: string;
  readonly ersReference: string;
  /** Optional QR on the receipt (e.g. the payment reference). */
  readonly qrPayload?: string;
}

/** What the printer says about itself, where it answers status queries. */
export type PrinterState = 'ready' | 'paperLow' | 'paperOut' | 'offline' | 'unknown';

/**
 * The receipt printer. One job at a time (a second `print` waits its turn); each job has a hard
 * deadline; never retried automatically; a job reported failed never comes out later.
 * `print` resolves when the bytes were accepted by the device, and rejects with
 * `E_PRINTER_OFFLINE`, `E_PRINTER_PAPER_OUT` or `E_PRINTER_TIMEOUT`. A failed print never undoes
 * a sale: the caller records the receipt as unprinted.
 */
export interface Printer {
  print(receipt: Receipt): Promise<void>;
  state(): Promise<PrinterState>;
  /** Idempotent; a running job finishes or fails first. */
  close(): Promise<void>;
}
