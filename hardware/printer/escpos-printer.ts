import type { Clock } from '../../daemon/ports/clock.js';
import type { Printer, PrinterState, Receipt } from '../../daemon/ports/printer.js';
import { VendError } from '../../daemon/errors.js';
import { checkReceipt } from './receipt-check.js';
import { encodeReceipt, type ReceiptLayout } from './receipt-encoder.js';
import { TcpTransport, UsbTransport, type PrinterTransport } from './transports.js';

/** DLE EOT 1 (printer status) and DLE EOT 4 (roll paper sensor), answered in real time. */
export const STATUS_PRINTER = Buffer.from([0x10, 0x04, 0x01]);
export const STATUS_PAPER = Buffer.from([0x10, 0x04, 0x04]);

/** Whether a byte is a DLE EOT reply (fixed bits: 0 at bits 0 and 7, 1 at bits 1 and 4). */
function isStatusByte(b: number): boolean {
  return (b & 0x93) === 0x12;
}

/**
 * Decodes the replies to DLE EOT 1 and DLE EOT 4 (Epson ESC/POS; the clones follow it).
 * Printer status bit 3 = offline. Paper sensor bits 2-3 = near end, bits 5-6 = paper end.
 * Anything that is not a status byte decodes as `unknown`.
 */
export function decodeStatus(printer: number | undefined, paper: number | undefined): PrinterState {
  if (printer === undefined || !isStatusByte(printer)) return 'unknown';
  const paperKnown = paper !== undefined && isStatusByte(paper);
  if (paperKnown && (paper & 0x60) !== 0) return 'paperOut';
  if ((printer & 0x08) !== 0) return 'offline';
  if (!paperKnown) return 'ready';
  return (paper & 0x0c) !== 0 ? 'paperLow' : 'ready';
}

/** The `printer` part of the configuration, as the hardware layer reads it. */
export interface EscPosPrinterOptions {
  readonly clock: Clock;
  /** `/dev/usb/lp0`-style device path, or `tcp://host[:port]` (default port 9100). */
  readonly device?: string;
  /** Or an explicit transport (tests, other links). */
  readonly transport?: PrinterTransport;
  readonly layout?: ReceiptLayout;
  /** Hard deadline per job, status query included. Default 10000 ms. */
  readonly deadlineMs?: number;
  /** How long a status query may take before the state counts as unknown. Default 500 ms. */
  readonly statusTimeoutMs?: number;
  /**
   * Ask the printer for its status before each job and refuse at once when it reports paper out
   * or offline. Printers that do not answer are printed to regardless. Default true.
   */
  readonly checkStatusBeforePrint?: boolean;
}

/** Builds the transport for a configured device string. */
export function transportFor(device: string, clock: Clock): PrinterTransport {
  const tcp = /^tcp:\/\/([^/:]+)(?::(\d+))?\/?$/i.exec(device);
  if (tcp?.[1]) return new TcpTransport(tcp[1], Number(tcp[2] ?? 9100), clock);
  if (!device.startsWith('/'))
    throw new TypeError(
      `"printer.device" must be an absolute device path or tcp://host[:port]: ${device}`,
    );
  return new UsbTransport(device, clock);
}

/**
 * The receipt printer: node-thermal-printer builds the ESC/POS bytes, the project's transport
 * writes them. Jobs run one at a time in call order; each has a hard deadline; nothing is
 * retried; a job that failed never prints later (see {@link PrinterTransport}).
 */
export class EscPosPrinter implements Printer {
  readonly #transport: PrinterTransport;
  readonly #clock: Clock;
  readonly #layout: ReceiptLayout;
  readonly #deadlineMs: number;
  readonly #statusTimeoutMs: number;
  readonly #checkStatus: boolean;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(options: EscPosPrinterOptions) {
    this.#clock = options.clock;
    const transport =
      options.transport ??
      (options.device ? transportFor(options.device, options.clock) : undefined);
    if (!transport) throw new TypeError('"printer.device" or a transport is required');
    this.#transport = transport;
    this.#layout = options.layout ?? {};
    this.#deadlineMs = options.deadlineMs ?? 10_000;
    this.#statusTimeoutMs = options.statusTimeoutMs ?? 500;
    this.#checkStatus = options.checkStatusBeforePrint ?? true;
    if (!Number.isInteger(this.#deadlineMs) || this.#deadlineMs <= this.#statusTimeoutMs)
      throw new RangeError(
        `"deadlineMs" must be an integer > statusTimeoutMs: ${String(options.deadlineMs)}`,
      );
  }

  print(receipt: Receipt): Promise<void> {
    const job = this.#queue.then(() => this.#job(receipt));
    this.#queue = job.catch(() => undefined);
    return job;
  }

  async state(): Promise<PrinterState> {
    if (this.#closed) throw new VendError('E_CLOSED', 'printer is closed');
    const run = this.#queue.then(() => this.#queryState());
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#queue;
  }

  async #job(receipt: Receipt): Promise<void> {
    if (this.#closed) throw new VendError('E_CLOSED', 'printer is closed');
    checkReceipt(receipt);
    const started = this.#clock.now();
    const bytes = await encodeReceipt(receipt, this.#layout);
    if (this.#checkStatus) {
      const state = await this.#queryState();
      if (state === 'paperOut')
        throw new VendError('E_PRINTER_PAPER_OUT', 'printer reports paper out', {
          retryable: true,
        });
      if (state === 'offline')
        throw new VendError('E_PRINTER_OFFLINE', 'printer reports offline (cover open?)', {
          retryable: true,
        });
    }
    const left = this.#deadlineMs - (this.#clock.now() - started);
    if (left <= 0)
      throw new VendError('E_PRINTER_TIMEOUT', `no time left of ${this.#deadlineMs} ms`, {
        retryable: true,
      });
    await this.#transport.send(bytes, left);
  }

  async #queryState(): Promise<PrinterState> {
    try {
      const printer = await this.#transport.query(STATUS_PRINTER, 1, this.#statusTimeoutMs);
      if (!printer) return 'unknown';
      const paper = await this.#transport.query(STATUS_PAPER, 1, this.#statusTimeoutMs);
      return decodeStatus(printer[0], paper?.[0]);
    } catch (err) {
      if (err instanceof VendError && err.code === 'E_PRINTER_OFFLINE') return 'offline';
      if (err instanceof VendError && err.code === 'E_PRINTER_PAPER_OUT') return 'paperOut';
      if (err instanceof VendError && err.code === 'E_PRINTER_TIMEOUT') return 'unknown';
      throw err;
    }
  }
}
