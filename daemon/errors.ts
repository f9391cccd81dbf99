/**
 * The error catalogue. Every error the daemon reports to an operator carries one of these stable
 * codes. The README's operator section lists each code with its meaning and what to do; a test
 * keeps that list and this catalogue identical.
 *
 * Adapters translate library and OS errors (ECONNRESET, SOAP faults, ENODEV, ...) into these codes
 * at the boundary and keep the original as `cause`; nothing above an adapter branches on a library's
 * own error shape.
 */
export const ERROR_CATALOGUE = {
  E_CONFIG_INVALID:
    'The configuration file is invalid; the daemon refuses to start (exit code 78).',
  E_UNEXPECTED:
    'An adapter failed with an error that carries no catalogue code (a bug: the log line has the stack).',
  E_START_FAILED:
    'The daemon could not open something it needs at start (a directory, a socket, a network port), for the system reason the message gives; nothing was traded.',
  E_PRINTER_NONE:
    "No receipt printer is configured (printer.type none): the receipt goes to the customer's app only.",
  E_CLOSED: 'An adapter was used after it was closed (a shutdown was in progress).',
  E_SEQR_RESULT: 'SEQR answered a call with a non-zero resultCode (the log names the code).',
  E_SEQR_AUTH:
    'SEQR refused the terminal credentials (resultCode 20, 21, 29, 33 or 37): wrong password, unknown or blocked terminal.',
  E_SEQR_UNREACHABLE:
    'The SEQR endpoint could not be reached (DNS, refused or reset connection, TLS).',
  E_SEQR_TIMEOUT: 'A SEQR call did not complete within its hard deadline.',
  E_SEQR_HTTP:
    'SEQR (or a proxy in front of it) answered with an HTTP error status and no SOAP body.',
  E_SEQR_FAULT: 'SEQR answered with a SOAP fault.',
  E_SEQR_MALFORMED: 'SEQR answered with XML the client cannot parse or that lacks required fields.',
  E_SEQR_UNKNOWN_INVOICE:
    'SEQR does not know the invoice reference (resultCode 54): nothing can be paid through it.',
  E_GPIO_UNAVAILABLE:
    'The configured GPIO backend cannot be used on this machine (no sysfs GPIO, no libgpiod tools, missing native module or no permission).',
  E_GPIO_CHIP_NOT_FOUND:
    'No GPIO chip with a known Raspberry Pi header label (pinctrl-rp1, pinctrl-bcm2711, pinctrl-bcm2835) was found.',
  E_GPIO_LINE:
    'A configured GPIO pin is outside the header chip, already in use, or could not be claimed.',
  E_GPIO_UNSUPPORTED:
    'The configured GPIO backend does not support this board (rpio on a Raspberry Pi 5, or rpio fell back to mock mode).',
  E_GPIO_IO: 'Reading or writing a claimed GPIO line failed.',
  E_DISPENSER_BUSY:
    'A dispense was requested while another one was still running; nothing was driven.',
  E_DISPENSER_FAULT:
    'A dispense failed part-way (a relay output could not be driven); whether the product came out is unknown.',
  E_PRINTER_OFFLINE:
    'The receipt printer is absent, unplugged, powered off, or reports itself offline (cover open).',
  E_PRINTER_PAPER_OUT: 'The receipt printer reports that it is out of paper.',
  E_PRINTER_TIMEOUT:
    'The receipt printer did not accept a job within its deadline; the job was abandoned and will not print later.',
  E_DISPLAY_WRITE:
    'The customer display could not be written (framebuffer device or its sysfs geometry missing, no permission, write error); the display retries the latest screen by itself.',
  E_DISPLAY_FORMAT:
    'The framebuffer reports a geometry or pixel format the display cannot draw (only 16 bpp RGB565 and 32 bpp XRGB8888 are supported).',
  E_SIM_CONTROL:
    'A SEQR simulator control action (scan, pay, cancel in the app, fail) did not apply: unknown invoice, or the invoice is in the wrong state.',
  E_LEDGER_UNREADABLE:
    'The ledger database cannot be opened or read (missing file for a reader, permissions, disk error); the daemon refuses to trade without a record.',
  E_LEDGER_CORRUPT:
    'The ledger database is damaged or is not a seqr-vend ledger; the daemon refuses to trade without a record.',
  E_LEDGER_SCHEMA_TOO_NEW:
    'The ledger was written by a newer seqr-vend (its schema version is unknown to this one); the daemon refuses to start.',
  E_LEDGER_WRITE:
    'A step could not be made durable in the ledger (disk full, I/O error, locked); the step it would authorise did not happen.',
  E_DISPENSE_INTERRUPTED:
    'The daemon stopped during a dispense; whether the product came out is unknown. It is never dispensed again; the payment is flagged.',
  E_REFUND_FAILED:
    'A refund for a paid purchase has not been confirmed by SEQR yet; it is retried automatically and stays listed until resolved.',
  E_REFUND_REFUSED:
    'SEQR refused a refund for good (resultCode 11, 23, 64, 97 or 99: refunds not allowed for this reseller or receiver, unknown payment, bad amount); it is never sent again automatically and the purchase is flagged.',
  E_REFUND_EXCEEDS_PAYMENT:
    'SEQR refused a refund because the refunds would exceed the payment (resultCode 98): the payment is already refunded.',
  E_REFUND_UNVERIFIED:
    'A refund retry was answered "sum of refunds exceeds the original" (98): an earlier attempt went through, but SEQR gave no refund reference.',
  E_RECEIPT_REFUSED:
    "SEQR refused a sale's payment receipt (submitPaymentReceipt) for good with a resultCode that sending it again cannot change; it is never sent again. The sale stands.",
  E_RECOVERY_UNRESOLVED:
    'At start, an invoice left open by a restart has no final status from SEQR yet; the machine keeps cancelling and polling it and sells nothing meanwhile.',
  E_RESERVATION_NOT_RESERVED:
    'commitReservation was answered 96: the invoice is not RESERVED (already committed, cancelled or lapsed); the machine asks SEQR for its status before anything else.',
  E_RESERVATION_UNCOMMITTED:
    'Products were delivered under a reservation (pay first, then choose) that could not be committed before it lapsed, or SEQR refused the commit or the payer cancelled it: the delivered total is unpaid; flagged for the operator.',
  E_RECONCILIATION_MISMATCH:
    "SEQR's end-of-day report totals (count, sum) differ from the ledger's own sales for the same period.",
  E_RECONCILIATION_REPORT:
    'The end-of-day period was closed but its report could not be fetched or read from SEQR.',
  E_DAEMON_UNREACHABLE:
    "A CLI command could not reach the running daemon's control socket, or the daemon answered it with an error.",
  E_GATEWAY_REQUEST_INVALID:
    'The SEQR callback gateway refused a request: wrong path or method, too large, malformed JSON or form, or a field out of bounds; nothing was relayed.',
  E_GATEWAY_NO_ANSWER:
    'The SEQR callback gateway relayed a request to a machine and got no answer within its deadline (machine offline, busy, or not in UPS mode); createPurchase was answered DEVICE_UNAVAILABLE.',
  E_GATEWAY_BROKER:
    'The SEQR callback gateway has no working link to the MQTT broker (unreachable, login refused, too many requests waiting); nothing was relayed.',
  E_FLEET_UNREACHABLE:
    'The fleet MQTT broker cannot be reached (DNS, refused connection, TLS, no answer); the machine sells as usual and keeps sale events in the ledger until it is back.',
  E_FLEET_REFUSED:
    'The fleet broker refused the machine: its login (user name, password, certificate) or a publish (the ACL); sale events wait in the ledger.',
  E_FLEET_COMMAND_INVALID:
    "A fleet command was malformed or failed validation (unknown command, bad JSON, a value out of range, a reply topic outside the machine's own); nothing was changed.",
  E_FLEET_COMMAND_REFUSED:
    'A valid fleet command the machine must not carry out (unknown slot, not a flagged purchase, nothing left to refund, no reseller credential); nothing was changed.',
  E_FLEET_BUSY:
    'Too many fleet commands at once; this one was not carried out (the sender may send it again).',
  E_FLEET_NO_ANSWER:
    'A `seqr-vend fleet` command got no answer from the machine in time (machine offline, or the broker did not pass the request).',
  E_DAEMON_RUNNING:
    'seqr-vend hw-test found the daemon running: it owns the GPIO lines, the display and the printer, so nothing was tested.',
} as const satisfies Record<`E_${string}`, string>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** Base class of every error the daemon raises on purpose. `code` is stable; `message` is prose. */
export class VendError extends Error {
  readonly code: ErrorCode;
  /** True when the same operation may succeed if tried again later (network, busy device). */
  readonly retryable: boolean;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; retryable?: boolean } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'VendError';
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** The catalogue code of any thrown value: a VendError's own, otherwise undefined. */
export function errorCodeOf(err: unknown): ErrorCode | undefined {
  return err instanceof VendError ? err.code : undefined;
}

/** True when `text` is a code of the catalogue. */
export function isErrorCode(text: string): text is ErrorCode {
  return Object.hasOwn(ERROR_CATALOGUE, text);
}

/**
 * A failure as events and ledger entries carry it: the catalogue code (what the core branches
 * on) and SEQR's resultCode when SEQR answered with one. The other fields are detail for the
 * operator's log line, copied from the error when it had them.
 */
export interface Failure {
  readonly code: ErrorCode;
  readonly resultCode?: number;
  readonly resultName?: string;
  readonly httpStatus?: number;
  readonly faultString?: string;
  /** The SEQR operation (or other call) that failed, e.g. `refundPayment`. */
  readonly operation?: string;
}

/**
 * The {@link Failure} of any thrown value. A VendError gives its code and whichever of the detail
 * fields it carries; anything else is `E_UNEXPECTED` (an adapter let a foreign error through).
 */
export function failureOf(err: unknown): Failure {
  if (!(err instanceof VendError)) return { code: 'E_UNEXPECTED' };
  const fields = err as VendError & Partial<Record<keyof Failure, unknown>>;
  const num = (v: unknown): number | undefined =>
    typeof v === 'number' && Number.isFinite(v) ? v : undefined;
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  const resultCode = num(fields.resultCode);
  const resultName = str(fields.resultName);
  const httpStatus = num(fields.httpStatus);
  const faultString = str(fields.faultString);
  const operation = str(fields.operation);
  return {
    code: err.code,
    ...(resultCode === undefined ? {} : { resultCode }),
    ...(resultName === undefined ? {} : { resultName }),
    ...(httpStatus === undefined ? {} : { httpStatus }),
    ...(faultString === undefined ? {} : { faultString }),
    ...(operation === undefined ? {} : { operation }),
  };
}

/** A failure as log fields: `code` plus whichever details it has. */
export function failureFields(f: Failure): Readonly<Record<string, string | number>> {
  return { ...f };
}

/** One line for an operator: `E_SEQR_RESULT (93 SYSTEM_BUSY)`, or the code alone. */
export function describeFailure(f: Failure): string {
  if (f.resultCode === undefined) return f.code;
  return `${f.code} (${f.resultCode}${f.resultName === undefined ? '' : ` ${f.resultName}`})`;
}
