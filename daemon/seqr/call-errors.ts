import { VendError } from '../errors.js';
import { AUTH_RESULT_CODES, TRANSIENT_RESULT_CODES, resultName } from './result-codes.js';

/** The SEQR operations this client calls (API.md §3.2, the merchant API). */
export type SeqrOperation =
  | 'sendInvoice'
  | 'updateInvoice'
  | 'getPaymentStatus'
  | 'cancelInvoice'
  | 'commitReservation'
  | 'submitPaymentReceipt'
  | 'refundPayment'
  | 'registerTerminal'
  | 'unregisterTerminal'
  | 'assignSeqrId'
  | 'markTransactionPeriod'
  | 'executeReport'
  | 'benchmarkingNop';

/**
 * What is kept of a library error as `cause`: its name, code and (redacted) message. Never the
 * library error itself: axios errors carry the request config and body, which hold the password.
 */
export interface SafeCause {
  readonly name: string;
  readonly code?: string;
  readonly message: string;
}

/**
 * SEQR answered with a non-zero resultCode. `code` is `E_SEQR_AUTH` for the credential codes
 * (20, 21, 29, 33, 37) and `E_SEQR_RESULT` otherwise. Retryable for 1, 2, 90, 93 and 94.
 */
export class SeqrResultError extends VendError {
  readonly operation: SeqrOperation;
  readonly resultCode: number;
  /** The constant name from API.md §8, e.g. `CANNOT_CANCEL_PAID_INVOICE`; `UNKNOWN_<n>` otherwise. */
  readonly resultName: string;
  /** SEQR's own `resultDescription`, when it sent one (redacted). */
  readonly resultDescription: string | undefined;

  constructor(operation: SeqrOperation, resultCode: number, resultDescription?: string) {
    const name = resultName(resultCode);
    super(
      AUTH_RESULT_CODES.has(resultCode) ? 'E_SEQR_AUTH' : 'E_SEQR_RESULT',
      `SEQR ${operation} answered resultCode ${resultCode} ${name}`,
      { retryable: TRANSIENT_RESULT_CODES.has(resultCode) },
    );
    this.name = 'SeqrResultError';
    this.operation = operation;
    this.resultCode = resultCode;
    this.resultName = name;
    this.resultDescription = resultDescription;
  }
}

/** Details a {@link SeqrCallError} keeps about what came back. */
export interface SeqrCallDetails {
  readonly httpStatus?: number;
  readonly faultCode?: string;
  readonly faultString?: string;
  readonly cause?: SafeCause;
}

/**
 * A call whose outcome at SEQR is unknown: unreachable, timed out, HTTP error, SOAP fault or an
 * answer the client cannot read. Always retryable; whether to retry is the caller's decision.
 */
export class SeqrCallError extends VendError {
  readonly operation: SeqrOperation;
  readonly httpStatus: number | undefined;
  readonly faultCode: string | undefined;
  readonly faultString: string | undefined;

  constructor(
    code:
      'E_SEQR_UNREACHABLE' | 'E_SEQR_TIMEOUT' | 'E_SEQR_HTTP' | 'E_SEQR_FAULT' | 'E_SEQR_MALFORMED',
    operation: SeqrOperation,
    message: string,
    details: SeqrCallDetails = {},
  ) {
    super(code, `SEQR ${operation}: ${message}`, { cause: details.cause, retryable: true });
    this.name = 'SeqrCallError';
    this.operation = operation;
    this.httpStatus = details.httpStatus;
    this.faultCode = details.faultCode;
    this.faultString = details.faultString;
  }
}

/** Replaces every occurrence of each secret (and its XML-escaped form) in `text` with `***`. */
export function redactor(secrets: readonly string[]): (text: string) => string {
  const forms = new Set<string>();
  for (const s of secrets) {
    if (s.length === 0) continue;
    forms.add(s);
    forms.add(escapeXml(s));
  }
  const ordered = [...forms].sort((a, b) => b.length - a.length);
  return (text) => ordered.reduce((t, s) => t.split(s).join('***'), text);
}

function escapeXml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

type Bag = Record<string, unknown>;

function isBag(value: unknown): value is Bag {
  return typeof value === 'object' && value !== null;
}

function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  if (isBag(value)) return text(value['$value']);
  return undefined;
}

function safeCause(err: unknown, redact: (s: string) => string): SafeCause {
  if (!isBag(err)) return { name: typeof err, message: redact(String(err)) };
  const name = typeof err['name'] === 'string' ? err['name'] : 'Error';
  const message = typeof err['message'] === 'string' ? redact(err['message']) : '';
  const code = systemCode(err);
  return code === undefined ? { name, message } : { name, code, message: message };
}

/** The errno-style code of an error or of its (nested) cause, e.g. `ECONNREFUSED`. */
function systemCode(err: Bag): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 4 && isBag(current); depth++) {
    const code = current['code'];
    if (typeof code === 'string' && code !== 'ERR_BAD_RESPONSE' && code !== 'ERR_BAD_REQUEST')
      return code;
    if (current['errors'] instanceof Array && isBag(current['errors'][0]))
      current = current['errors'][0];
    else current = current['cause'];
  }
  return undefined;
}

/** The SOAP 1.1 Fault the `soap` package parsed from an answer, if any. */
function faultOf(err: Bag): Bag | undefined {
  const root = err['root'];
  if (!isBag(root)) return undefined;
  const envelope = root['Envelope'];
  if (!isBag(envelope)) return undefined;
  const body = envelope['Body'];
  if (!isBag(body)) return undefined;
  const fault = body['Fault'];
  return isBag(fault) ? fault : undefined;
}

function httpStatusOf(err: Bag): number | undefined {
  const response = err['response'];
  if (!isBag(response)) return undefined;
  const status = response['status'];
  return typeof status === 'number' ? status : undefined;
}

export interface FailureContext {
  readonly operation: SeqrOperation;
  readonly deadlineMs: number;
  /** True when the call's own hard deadline fired. */
  readonly timedOut: boolean;
  readonly redact: (text: string) => string;
}

/**
 * Translates whatever the `soap` package (or axios under it) rejected with into a
 * {@link SeqrCallError}. Returns undefined for errors that did not come from the exchange with
 * the server (programming errors), which the caller rethrows.
 */
export function classifyFailure(err: unknown, ctx: FailureContext): SeqrCallError | undefined {
  const { operation, redact } = ctx;
  if (ctx.timedOut) {
    return new SeqrCallError(
      'E_SEQR_TIMEOUT',
      operation,
      `no complete answer within the ${ctx.deadlineMs} ms deadline`,
      isBag(err) ? { cause: safeCause(err, redact) } : {},
    );
  }
  if (!isBag(err)) return undefined;
  const cause = safeCause(err, redact);
  const httpStatus = httpStatusOf(err);
  const fault = faultOf(err);
  if (fault) {
    const faultCode = redact(text(fault['faultcode']) ?? '');
    const faultString = redact(text(fault['faultstring']) ?? '');
    return new SeqrCallError('E_SEQR_FAULT', operation, `SOAP fault ${faultCode}: ${faultString}`, {
      ...(httpStatus === undefined ? {} : { httpStatus }),
      faultCode,
      faultString,
      cause,
    });
  }
  if (httpStatus !== undefined) {
    if (httpStatus < 200 || httpStatus > 299) {
      return new SeqrCallError(
        'E_SEQR_HTTP',
        operation,
        `HTTP ${httpStatus} without a SOAP answer`,
        {
          httpStatus,
          cause,
        },
      );
    }
    return new SeqrCallError(
      'E_SEQR_MALFORMED',
      operation,
      'the answer is not a readable SOAP envelope',
      {
        httpStatus,
        cause,
      },
    );
  }
  if (err['isAxiosError'] === true) {
    if (cause.code?.startsWith('HPE_')) {
      return new SeqrCallError(
        'E_SEQR_MALFORMED',
        operation,
        `not an HTTP answer (${cause.code})`,
        {
          cause,
        },
      );
    }
    return new SeqrCallError(
      'E_SEQR_UNREACHABLE',
      operation,
      `cannot reach the endpoint (${cause.code ?? cause.message})`,
      { cause },
    );
  }
  return undefined;
}
