import type { Clock } from '../../daemon/ports/clock.js';
import type { Printer, PrinterState, Receipt } from '../../daemon/ports/printer.js';
import { VendError } from '../../daemon/errors.js';
import { checkReceipt } from './receipt-check.js';

export type PrinterFailure = 'E_PRINTER_OFFLINE' | 'E_PRINTER_PAPER_OUT' | 'E_PRINTER_TIMEOUT';

export interface FakePrinterOptions {
  readonly clock: Clock;
  /** Hard deadline per job; a stalled job rejects E_PRINTER_TIMEOUT after it. Default 10000 ms. */
  readonly deadlineMs?: number;
  /** How long a job takes to be accepted. Default 0 ms. */
  readonly printMs?: number;
  /** How many of the latest receipts `receipts` keeps (a long-running demo). Default all. */
  readonly keepReceipts?: number;
}

/**
 * In-process receipt printer with the semantics of the real one: the same receipt validation,
 * one job at a time, the printer's state decides the outcome (`offline` and `paperOut` reject at
 * once), a stalled job rejects at its deadline and never appears later, no retry.
 */
export class FakePrinter implements Printer {
  /** Receipts the "device" accepted, in order (the latest `keepReceipts`). */
  readonly receipts: Receipt[] = [];
  readonly #printListeners = new Set<(receipt: Receipt) => void>();

  readonly #clock: Clock;
  readonly #deadlineMs: number;
  readonly #printMs: number;
  readonly #keep: number;
  readonly #failures: (PrinterFailure | 'stall')[] = [];
  #state: PrinterState = 'ready';
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(options: FakePrinterOptions) {
    this.#clock = options.clock;
    this.#deadlineMs = options.deadlineMs ?? 10_000;
    this.#printMs = options.printMs ?? 0;
    this.#keep = options.keepReceipts ?? Number.POSITIVE_INFINITY;
    if (!Number.isInteger(this.#deadlineMs) || this.#deadlineMs <= 0)
      throw new RangeError(
        `"deadlineMs" must be a positive integer: ${String(options.deadlineMs)}`,
      );
    if (!Number.isInteger(this.#printMs) || this.#printMs < 0 || this.#printMs >= this.#deadlineMs)
      throw new RangeError(
        `"printMs" must be an integer in 0..deadlineMs: ${String(options.printMs)}`,
      );
  }

  /** Calls `listener` with every receipt the "device" accepted. Returns the unsubscribe function. */
  onPrint(listener: (receipt: Receipt) => void): () => void {
    this.#printListeners.add(listener);
    return () => this.#printListeners.delete(listener);
  }

  /** The next job fails with `code`; E_PRINTER_TIMEOUT makes it stall until its deadline. */
  failNext(code: PrinterFailure): void {
    this.#failures.push(code === 'E_PRINTER_TIMEOUT' ? 'stall' : code);
  }

  /** What the printer reports from now on; `offline` and `paperOut` make jobs fail. */
  setState(state: PrinterState): void {
    this.#state = state;
  }

  print(receipt: Receipt): Promise<void> {
    const job = this.#queue.then(() => this.#job(receipt));
    this.#queue = job.catch(() => undefined);
    return job;
  }

  async state(): Promise<PrinterState> {
    await Promise.resolve();
    if (this.#closed) throw new VendError('E_CLOSED', 'printer is closed');
    return this.#state;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#queue;
  }

  async #job(receipt: Receipt): Promise<void> {
    if (this.#closed) throw new VendError('E_CLOSED', 'printer is closed');
    checkReceipt(receipt);
    const failure = this.#failures.shift();
    if (failure === 'E_PRINTER_OFFLINE' || this.#state === 'offline')
      throw new VendError('E_PRINTER_OFFLINE', 'printer is offline', { retryable: true });
    if (failure === 'E_PRINTER_PAPER_OUT' || this.#state === 'paperOut')
      throw new VendError('E_PRINTER_PAPER_OUT', 'printer is out of paper', { retryable: true });
    const stalled = failure === 'stall';
    await new Promise<void>((resolve) => {
      this.#clock.setTimeout(resolve, stalled ? this.#deadlineMs : this.#printMs);
    });
    if (stalled)
      throw new VendError('E_PRINTER_TIMEOUT', `job not accepted within ${this.#deadlineMs} ms`, {
        retryable: true,
      });
    this.receipts.push(receipt);
    if (this.receipts.length > this.#keep) this.receipts.shift();
    for (const listener of this.#printListeners) listener(receipt);
  }
}
