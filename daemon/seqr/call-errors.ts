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
 * library error itself: soap's errors carry the answer, which may echo the request and its password.
 */
export interface SafeCause {
  readonly name: string;
  readonly code?: string;
  readonly message: string;
}

/** Longest text kept from SEQR (fault strings and codes, result descriptions, causes). */
export const MAX_DETAIL_CHARS = 200;

/** `text` cut to {@link MAX_DETAIL_CHARS}, marked with `…` where it was cut. Redact first. */
export function bounded(text: string): string {
  return text.length <= MAX_DETAIL_CHARS ? text : `${text.slice(0, MAX_DETAIL_CHARS - 1)}…`;
}

/**
 * The failure details every SEQR error carries as properties, for the operator's journal line:
 * which call, and what came back. A detail is undefined when there was none (no HTTP answer, no
 * fault, no resultCode). Texts are redacted (no password) and {@link bounded}.
 */
export interface SeqrFailureDetails {
  readonly operation: SeqrOperation;
  readonly httpStatus: number | undefined;
  readonly faultString: string | undefined;
  /** The resultCode's constant name (API.md §8), when SEQR answered with one. */
  readonly resultName: string | undefined;
}

/**
 * SEQR answered with a non-zero resultCode. `code` is `E_SEQR_AUTH` for the credential codes
 * (20, 21, 29, 33, 37) and `E_SEQR_RESULT` otherwise. Retryable for 1, 2, 90, 93 and 94.
 */
export class SeqrResultError extends VendError implements SeqrFailureDetails {
  readonly operation: SeqrOperation;
  readonly resultCode: number;
  /** The constant name from API.md §8, e.g. `CANNOT_CANCEL_PAID_INVOICE`; `UNKNOWN_<n>` otherwise. */
  readonly resultName: string;
  /** SEQR's own `resultDescription`, when it sent one (redacted, bounded). */
  readonly resultDescription: string | undefined;
  /** The HTTP status the answer came with (200 from SEQR), when known. */
  readonly httpStatus: number | undefined;
  readonly faultString: undefined;

  constructor(
    operation: SeqrOperation,
    resultCode: number,
    resultDescription?: string,
    details: { readonly httpStatus?: number } = {},
  ) {
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
    this.resultDescription =
      resultDescription === undefined ? undefined : bounded(resultDescription);
    this.httpStatus = details.httpStatus;
    this.faultString = undefined;
  }
}

/**
 * A SEQR call's HTTP exchange failed below HTTP: refused, reset, DNS, TLS, cut off, not HTTP
 * (`HPE_*`), or aborted at the deadline. `code` is the system's (or the HTTP parser's) code,
 * when there was one; the system error is the `cause`.
 */
export class ExchangeError extends Error {
  readonly code: string | undefined;

  constructor(message: string, cause?: Error & { code?: unknown }) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'ExchangeError';
    this.code = typeof cause?.code === 'string' ? cause.code : undefined;
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
export class SeqrCallError extends VendError implements SeqrFailureDetails {
  readonly operation: SeqrOperation;
  readonly httpStatus: number | undefined;
  readonly faultCode: string | undefined;
  /** The SOAP fault's faultstring, when the answer was a fault (redacted, bounded). */
  readonly faultString: string | undefined;
  readonly resultName: undefined;

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
    this.faultCode = details.faultCode === undefined ? undefined : bounded(details.faultCode);
    this.faultString = details.faultString === undefined ? undefined : bounded(details.faultString);
    this.resultName = undefined;
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
  const message = typeof err['message'] === 'string' ? bounded(redact(err['message'])) : '';
  const code = systemCode(err);
  return code === undefined ? { name, message } : { name, code, message: message };
}

/** The errno-style code of an error or of its (nested) cause, e.g. `ECONNREFUSED`. */
function systemCode(err: Bag): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 4 && isBag(current); depth++) {
    const code = current['code'];
    if (typeof code === 'string') return code;
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
  /** The HTTP status of the answer's head, when one arrived before the call failed. */
  readonly httpStatus?: number;
}

/**
 * Translates whatever the `soap` package (or the HTTP exchange under it) rejected with into a
 * {@link SeqrCallError}. Returns undefined for errors that did not come from the exchange with
 * the server (programming errors), which the caller rethrows.
 */
export function classifyFailure(err: unknown, ctx: FailureContext): SeqrCallError | undefined {
  const { operation, redact } = ctx;
  const seen = ctx.httpStatus === undefined ? {} : { httpStatus: ctx.httpStatus };
  if (ctx.timedOut) {
    return new SeqrCallError(
      'E_SEQR_TIMEOUT',
      operation,
      `no complete answer within the ${ctx.deadlineMs} ms deadline`,
      isBag(err) ? { ...seen, cause: safeCause(err, redact) } : seen,
    );
  }
  if (!isBag(err)) return undefined;
  const cause = safeCause(err, redact);
  const httpStatus = httpStatusOf(err);
  const fault = faultOf(err);
  if (fault) {
    const faultCode = bounded(redact(text(fault['faultcode']) ?? ''));
    const faultString = bounded(redact(text(fault['faultstring']) ?? ''));
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
  if (err instanceof ExchangeError) {
    if (cause.code?.startsWith('HPE_')) {
      return new SeqrCallError(
        'E_SEQR_MALFORMED',
        operation,
        `not an HTTP answer (${cause.code})`,
        { ...seen, cause },
      );
    }
    // A connection lost after the answer's head arrived keeps that head's status.
    return new SeqrCallError(
      'E_SEQR_UNREACHABLE',
      operation,
      `cannot reach the endpoint (${cause.code ?? cause.message})`,
      { ...seen, cause },
    );
  }
  return undefined;
}
