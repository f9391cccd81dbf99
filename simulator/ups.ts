// SEQR's side of the two merchant callbacks: the notificationUrl POST (API.md §9.8: form-encoded
// invoiceReference and clientInvoiceId, fire and forget, no retry) and the Unattended Payment
// Service (API.md §9.6, "UPS"): the payer scans the machine's static code, SEQR calls the
// merchant's createPurchase with the most the payer may spend, and shows the reservation invoice
// the merchant answers with.
import type { Clock } from '../daemon/ports/clock.js';
import { parseAmount } from './decimal.js';
import { postCallback } from './callbacks.js';
import type { Amount, InvoiceSnapshot, PayerOutcome, Reseller, SimulatorState } from './state.js';

/** The error codes createPurchase may answer (SEQR's UPS documentation). */
export const UPS_ERROR_CODES = [
  'INSUFFICIENT_FUNDS',
  'DEVICE_IN_USE',
  'DEVICE_UNAVAILABLE',
  'INVOICING_ERROR',
  'SYSTEM_ERROR',
] as const;
export type UpsErrorCode = (typeof UPS_ERROR_CODES)[number];

/** One notificationUrl POST. `httpStatus` or `error` is set once it ended. */
export interface NotificationRecord {
  readonly at: number;
  endedAt?: number;
  readonly url: string;
  readonly invoiceReference: string;
  readonly clientInvoiceId?: string;
  /** What the payer did: paid, confirmed a reservation, or cancelled one. */
  readonly status: PayerOutcome['status'];
  httpStatus?: number;
  error?: string;
}

/** The payer scanning a UPS code: the code as printed, or just the machine token. */
export interface UpsScan {
  /** `HTTP://SEQR.SE/000/ups?w=<merchantId>&t=<token>`. */
  readonly code?: string;
  /** The `t` of the code, when `code` is not given (the merchant is then the simulator's). */
  readonly token?: string;
  /** The most the payer may spend (decimal text); default the simulator's `ups.maxAmount`. */
  readonly amount?: string;
  /** Default `SEK`. */
  readonly currency?: string;
  /** The payer's phone number, digits; default a test number. */
  readonly msisdn?: string;
}

/** How a scan ended, as the payer's app would show it. */
export type UpsScanResult =
  /** The merchant answered with a reservation invoice that SEQR accepts: the app asks the payer to confirm. */
  | { outcome: 'invoice'; token: string; invoiceReference: string; invoice: InvoiceSnapshot }
  /** The merchant refused with one of the documented error codes. */
  | { outcome: 'refused'; token: string; errorCode: UpsErrorCode }
  /** No usable answer: unreachable, wrong status, malformed, or an invoice SEQR cannot show. */
  | { outcome: 'failed'; token: string; reason: string };

/** One createPurchase call, for tests and the control API. */
export interface UpsCallRecord {
  readonly at: number;
  readonly endedAt: number;
  readonly url: string;
  /** The JSON body sent. */
  readonly request: {
    readonly token: string;
    readonly amount: string;
    readonly currency: string;
    readonly msisdn: string;
  };
  readonly httpStatus?: number;
  readonly result: UpsScanResult;
}

export interface MerchantCallbacksOptions {
  readonly clock: Clock;
  readonly state: SimulatorState;
  /** The merchant owning the UPS codes (`w`); its terminals' invoices are the ones accepted. */
  readonly merchant: Reseller;
  /** `w` in the code; default the reseller id ("usually the same as resellerId"). */
  readonly merchantId: string;
  readonly createPurchaseUrl?: string;
  readonly maxAmount: Amount;
  /** Deadline of each callback. */
  readonly timeoutMs: number;
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
}

const DEFAULT_MSISDN = '46700000000';

/** `HTTP://SEQR.SE/000/ups?w=...&t=...` -> its merchant id and token; throws when it is not one. */
export function parseUpsCode(code: string): { merchantId: string; token: string } {
  let url: URL;
  try {
    url = new URL(code.trim());
  } catch {
    throw new Error('not a UPS code: not a URL');
  }
  if (url.hostname !== 'seqr.se' || url.pathname.toLowerCase() !== '/000/ups')
    throw new Error('not a UPS code: expected HTTP://SEQR.SE/000/ups?w=<merchantId>&t=<token>');
  const merchantId = url.searchParams.get('w') ?? '';
  const token = url.searchParams.get('t') ?? '';
  if (merchantId === '' || token === '') throw new Error('not a UPS code: w and t are required');
  return { merchantId, token };
}

export class MerchantCallbacks {
  readonly #options: MerchantCallbacksOptions;
  readonly #notifications: NotificationRecord[] = [];
  readonly #upsCalls: UpsCallRecord[] = [];
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #abort = new AbortController();
  #createPurchaseUrl: string | undefined;

  constructor(options: MerchantCallbacksOptions) {
    this.#options = options;
    this.#createPurchaseUrl = options.createPurchaseUrl;
  }

  /** The static code of machine `token`, as printed on its sticker. */
  code(token: string): string {
    return `HTTP://SEQR.SE/000/ups?w=${encodeURIComponent(this.#options.merchantId)}&t=${encodeURIComponent(token)}`;
  }

  setCreatePurchaseUrl(url: string | undefined): void {
    if (url !== undefined) {
      const parsed = new URL(url);
      if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
        throw new Error('createPurchaseUrl must be an http(s) URL');
    }
    this.#createPurchaseUrl = url;
  }

  /** POSTs the invoice's notificationUrl once, in the background (no retry, as SEQR does). */
  notify(outcome: PayerOutcome): void {
    const record: NotificationRecord = {
      at: this.#options.clock.now(),
      url: outcome.url,
      invoiceReference: outcome.invoiceReference,
      ...(outcome.clientInvoiceId === undefined
        ? {}
        : { clientInvoiceId: outcome.clientInvoiceId }),
      status: outcome.status,
    };
    this.#notifications.push(record);
    const form = new URLSearchParams({ invoiceReference: outcome.invoiceReference });
    if (outcome.clientInvoiceId !== undefined) form.set('clientInvoiceId', outcome.clientInvoiceId);
    void this.#track(
      postCallback(outcome.url, form.toString(), 'application/x-www-form-urlencoded', {
        timeoutMs: this.#options.timeoutMs,
        signal: this.#abort.signal,
        ...(this.#options.ca === undefined ? {} : { ca: this.#options.ca }),
      }).then(
        (answer) => {
          record.httpStatus = answer.status;
          record.endedAt = this.#options.clock.now();
        },
        (err: unknown) => {
          record.error = (err as Error).message;
          record.endedAt = this.#options.clock.now();
        },
      ),
    );
  }

  /**
   * The payer scanned a UPS code: createPurchase is called with the payer's maximum, and its
   * answer checked as SEQR would before showing the reservation. Rejects only for a code that is
   * not a UPS code of this merchant or bad scan input (the app would not get that far).
   */
  async scan(scan: UpsScan): Promise<UpsScanResult> {
    let token: string;
    if (scan.code !== undefined) {
      const parsed = parseUpsCode(scan.code);
      if (parsed.merchantId !== this.#options.merchantId)
        throw new Error(`unknown UPS merchant ${parsed.merchantId}`);
      token = parsed.token;
    } else if (scan.token !== undefined && scan.token !== '') token = scan.token;
    else throw new Error('give the scanned code or the machine token');
    const amount = (scan.amount ?? this.#options.maxAmount.value).trim();
    const amountValue = parseAmount(amount);
    if (amountValue === undefined || amountValue <= 0n)
      throw new Error('amount must be a positive decimal');
    const currency = scan.currency ?? this.#options.maxAmount.currency;
    if (!/^[A-Z]{3}$/.test(currency)) throw new Error('currency must be three capital letters');
    const msisdn = scan.msisdn ?? DEFAULT_MSISDN;
    if (!/^\d{5,15}$/.test(msisdn)) throw new Error('msisdn must be 5-15 digits');
    const request = { token, amount, currency, msisdn };
    const url = this.#createPurchaseUrl;
    const at = this.#options.clock.now();
    const finish = (result: UpsScanResult, httpStatus?: number): UpsScanResult => {
      this.#upsCalls.push({
        at,
        endedAt: this.#options.clock.now(),
        url: url ?? '',
        request,
        ...(httpStatus === undefined ? {} : { httpStatus }),
        result,
      });
      return result;
    };
    if (url === undefined)
      return finish({ outcome: 'failed', token, reason: 'no createPurchase URL is configured' });
    let answer: { status: number; body: string };
    try {
      answer = await this.#track(
        postCallback(url, JSON.stringify(request), 'application/json;charset=UTF-8', {
          timeoutMs: this.#options.timeoutMs,
          signal: this.#abort.signal,
          ...(this.#options.ca === undefined ? {} : { ca: this.#options.ca }),
        }),
      );
    } catch (err) {
      return finish({
        outcome: 'failed',
        token,
        reason: `createPurchase failed: ${(err as Error).message}`,
      });
    }
    return finish(
      this.#read(token, answer.status, answer.body, { currency, value: amount }),
      answer.status,
    );
  }

  #read(token: string, status: number, body: string, maximum: Amount): UpsScanResult {
    if (status !== 200)
      return { outcome: 'failed', token, reason: `createPurchase answered HTTP ${status}` };
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      return { outcome: 'failed', token, reason: 'createPurchase answered no JSON' };
    }
    const answer = (typeof json === 'object' && json !== null ? json : {}) as Record<
      string,
      unknown
    >;
    const errorCode = answer['errorCode'];
    if (typeof errorCode === 'string') {
      return (UPS_ERROR_CODES as readonly string[]).includes(errorCode)
        ? { outcome: 'refused', token, errorCode: errorCode as UpsErrorCode }
        : { outcome: 'failed', token, reason: `unknown errorCode ${errorCode.slice(0, 40)}` };
    }
    const ref = answer['invoiceReferenceId'];
    if (typeof ref !== 'string' || ref === '')
      return {
        outcome: 'failed',
        token,
        reason: 'createPurchase answered neither invoiceReferenceId nor errorCode',
      };
    const problem = this.#options.state.reservationProblem(ref, this.#options.merchant, maximum);
    if (problem !== undefined) return { outcome: 'failed', token, reason: problem };
    this.#options.state.scan(ref);
    const invoice = this.#options.state.snapshot(ref);
    if (!invoice) return { outcome: 'failed', token, reason: `no invoice ${ref}` };
    return { outcome: 'invoice', token, invoiceReference: ref, invoice };
  }

  notifications(): NotificationRecord[] {
    return this.#notifications.map((n) => ({ ...n }));
  }

  upsCalls(): UpsCallRecord[] {
    return this.#upsCalls.map((c) => ({ ...c }));
  }

  /** Resolves once every callback started so far has ended. */
  async settled(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  /** Aborts the callbacks in flight. */
  close(): void {
    this.#abort.abort();
  }

  #track<T>(work: Promise<T>): Promise<T> {
    this.#inFlight.add(work);
    const forget = (): void => {
      this.#inFlight.delete(work);
    };
    work.then(forget, forget);
    return work;
  }
}

/** The control surface the HTTP routes below drive (a subset of SimulatorControl). */
export interface UpsControl {
  scanUps(scan: UpsScan): Promise<UpsScanResult>;
  setCreatePurchaseUrl(url: string | undefined): void;
  notifications(): NotificationRecord[];
  upsCalls(): UpsCallRecord[];
}

function optionalText(body: Record<string, unknown>, key: string): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new Error(`${key} must be a string`);
  return value;
}

/**
 * The control API's UPS and notification routes: `POST /ups/scan {code | token, amount?,
 * currency?, msisdn?}` -> UpsScanResult (200 whatever the merchant answered; 400 for bad input),
 * `POST /ups/config {createPurchaseUrl}` -> `{ ok }`, `GET /ups/calls` -> UpsCallRecord[],
 * `GET /notifications` -> NotificationRecord[]. Resolves with `[status, body]`, or undefined when
 * the route is not one of these.
 */
export async function upsRoute(
  control: UpsControl,
  method: string,
  parts: readonly string[],
  body: () => Record<string, unknown>,
): Promise<[number, unknown] | undefined> {
  const [first, second] = parts;
  if (first === 'notifications' && second === undefined && method === 'GET')
    return [200, control.notifications()];
  if (first !== 'ups') return undefined;
  if (second === 'calls' && method === 'GET') return [200, control.upsCalls()];
  if (second === 'config' && method === 'POST') {
    control.setCreatePurchaseUrl(optionalText(body(), 'createPurchaseUrl'));
    return [200, { ok: true }];
  }
  if (second === 'scan' && method === 'POST') {
    const input = body();
    const scan: UpsScan = {};
    for (const key of ['code', 'token', 'amount', 'currency', 'msisdn'] as const) {
      const value = optionalText(input, key);
      if (value !== undefined) Object.assign(scan, { [key]: value });
    }
    return [200, await control.scanUps(scan)];
  }
  return undefined;
}
