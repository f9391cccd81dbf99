import type { Clock } from '../daemon/ports/clock.js';
import type { Operation } from './soap.js';
import type { InvoiceSnapshot } from './state.js';
import type { NotificationRecord, UpsCallRecord, UpsScan, UpsScanResult } from './ups.js';

export type { Operation } from './soap.js';
export type { InvoiceSnapshot } from './state.js';
export type { NotificationRecord, UpsCallRecord, UpsScan, UpsScanResult } from './ups.js';

/** How to start a simulator. Every member is optional. */
export interface SimulatorOptions {
  /** Interface to bind; default `'127.0.0.1'`. The control API refuses non-loopback peers anyway. */
  host?: string;
  /** TCP port; default 0 = an ephemeral port (read it back from `soapUrl`). */
  port?: number;
  /** Source of every timestamp and timer (reversal, delay and drip faults); default systemClock. */
  clock?: Clock;
  /** A PAID payment not seen by any getPaymentStatus within this time is reversed; default 20_000. */
  reversalMs?: number;
  /** The ready-made test terminal; default a random 32-hex id with the password `12345678`. */
  terminal?: { id: string; password: string };
  /** The reseller user owning the terminals; default `public_test_shop` / `9900` / `1234`. */
  reseller?: { id: string; userId: string; password: string };
  /** How an invoice without acknowledgmentMode behaves (API.md §9.5); default REQUIRE_ACKNOWLEDGMENT. */
  missingAckMode?: 'REQUIRE_ACKNOWLEDGMENT' | 'NO_ACKNOWLEDGMENT';
  /**
   * Beyond the contract: executeReport calls answered REPORT_NOT_READY (2) for each new period
   * before the report is served; default 1.
   */
  reportNotReadyCalls?: number;
  /** Beyond the contract: called once per SOAP call when its connection ends (answered or not). */
  onCall?: (record: Readonly<CallRecord>) => void;
  /**
   * A reservation whose invoice has no commitReservationTimeout becomes EXPIRED after this long
   * without a commit; default 1_800_000 (30 min).
   */
  reservationTimeoutMs?: number;
  /** The Unattended Payment Service (API.md §9.6): where createPurchase goes, and the payer's limit. */
  ups?: {
    /** The merchant's createPurchase endpoint (also settable through the control API). */
    createPurchaseUrl?: string;
    /** `w` in the static codes; default the reseller id. */
    merchantId?: string;
    /** The most a payer may reserve unless a scan says otherwise; default `'200.00'`. */
    maxAmount?: string;
    /** Default `SEK`. */
    currency?: string;
  };
  /** Deadline of each call to the merchant (notificationUrl, createPurchase); default 10_000. */
  callbackTimeoutMs?: number;
  /** Certificates trusted for https callbacks in addition to the system roots (a test CA). */
  callbackCa?: string | Buffer | readonly (string | Buffer)[];
  /** Source of the draws of faults injected with a `share`, in [0, 1); default Math.random. */
  random?: () => number;
}

/** A running simulator: a SOAP endpoint, its WSDL, and a control API, on one loopback server. */
export interface SeqrSimulator {
  /** `http://127.0.0.1:PORT/soap/merchant/cashregister-2` (the query string is ignored on POST). */
  readonly soapUrl: string;
  /** `soapUrl + '?wsdl'`: the project's WSDL with soap:address set to `soapUrl`. */
  readonly wsdlUrl: string;
  /**
   * `http://127.0.0.1:PORT/control`: the HTTP JSON form of {@link SimulatorControl}, for loopback
   * peers only (403 otherwise). Routes: `POST /invoices/:ref/{scan,start-paying,pay,cancel,fail}`
   * -> `{ invoice }` (404 / 409 `{ error }` when it does not apply); `GET /invoices` -> snapshot[];
   * `GET /invoices/:ref` -> snapshot (404); `GET /active[?terminalId=]` -> `{ invoice | null }`;
   * `GET /calls` -> CallRecord[]; `GET /max-concurrent[?op=]` -> `{ max }`;
   * `POST /faults {op, fault, times?, share?}` and `DELETE /faults` -> `{ ok }`;
   * `POST /terminals {id, password}` -> `{ ok }`; the UPS and notification routes of
   * `upsRoute` (simulator/ups.ts). A bad body answers 400 `{ error }`.
   */
  readonly controlUrl: string;
  readonly terminal: { readonly id: string; readonly password: string };
  readonly reseller: { readonly id: string; readonly userId: string; readonly password: string };
  readonly control: SimulatorControl;
  /**
   * Stops listening, cancels every timer, and destroys open connections (hanging, dripping and
   * keep-alive ones). Resolves once the server is closed; idempotent.
   */
  close(): Promise<void>;
}

/**
 * A misbehaviour of the server for matching calls. hang, http, malformed, soapFault, reset and
 * result stop the call before it reaches the simulated back end (nothing changes state); delay
 * and drip carry out the call at once and hold back only the answer, like a slow network on the
 * way back; answerLost carries out the call and then loses its answer: "SEQR did it, but the
 * terminal never heard".
 */
export type Fault =
  | { kind: 'delay'; ms: number }
  | { kind: 'hang' }
  | { kind: 'drip'; totalMs: number }
  | { kind: 'http'; status: number; body?: string }
  | { kind: 'malformed' }
  | { kind: 'soapFault'; faultcode?: string; faultstring?: string }
  | { kind: 'reset' }
  | { kind: 'result'; resultCode: number }
  | {
      kind: 'answerLost';
      /**
       * `reset` (default): the connection is reset instead of the answer. `garbled`: HTTP 200
       * with the answer cut off in the middle, so it does not parse.
       */
      answer?: 'reset' | 'garbled';
      /**
       * Only a getPaymentStatus answer that reports PAID (the first such poll is the one that
       * commits the payment at SEQR). Other calls pass untouched and do not count towards `times`.
       */
      onlyPaid?: boolean;
    };

/** How an injected fault applies to the calls it matches. */
export interface FaultOptions {
  /** Applies this many times, then is removed; default: until cleared. */
  times?: number;
  /**
   * Applies to this share (0..1] of the calls it matches, drawn per call; default 1. A call it
   * does not apply to goes on to the next injected fault.
   */
  share?: number;
}

/** One SOAP call as received. `op` is the wrapper's local name, or `(malformed)`. */
export interface CallRecord {
  op: string;
  /** Clock time of arrival (the whole body read). */
  at: number;
  /** Clock time the answer was fully sent or the connection ended; absent while in flight. */
  endedAt?: number;
  /** The authenticated terminal, when the call was made with valid terminal credentials. */
  terminalId?: string;
  /**
   * The invoice the call named (`invoiceReference`), or the payment or refund (`ersReference`)
   * for receipts and refunds; for a sendInvoice carried out, the invoice it created.
   */
  reference?: string;
  /** The resultCode answered; absent for faults that send no SEQR answer. */
  resultCode?: number;
  fault?: Fault['kind'];
}

/**
 * The customer's app and the test harness. Payer actions throw {@link SimulatorControlError}
 * (status 404 for an unknown reference, 409 for an invoice in the wrong state); over HTTP they
 * answer 404 / 409 with `{ error }`.
 */
export interface SimulatorControl {
  /** Payer scanned the QR: PENDING_ISSUER_ACKNOWLEDGE when acknowledgment is required, else no change. */
  scan(ref: string): void;
  /** Payer is entering the PIN: cancelInvoice answers 51 until pay/cancelInApp/fail. */
  startPaying(ref: string): void;
  /**
   * Payer confirmed: PAID (RESERVED for reservation payment modes), version + 1. A PAID payment is
   * uncommitted until a getPaymentStatus returns it; after `reversalMs` without one it is reversed
   * to CANCELED. Throws 409 unless ISSUED (and acknowledged, where acknowledgment is required).
   */
  pay(ref: string): void;
  /** Payer cancelled in the app: CANCELED. */
  cancelInApp(ref: string): void;
  /** The payment failed: FAILED. */
  fail(ref: string): void;
  /**
   * Applies `fault` to calls of `op` (or every call), after the faults injected before it: each
   * call gets the first that applies to it (see {@link FaultOptions}), or none.
   */
  injectFault(op: Operation | '*', fault: Fault, opts?: FaultOptions): void;
  clearFaults(): void;
  invoice(ref: string): InvoiceSnapshot | undefined;
  invoices(): InvoiceSnapshot[];
  /** The terminal's (default: the test terminal's) current ISSUED or PENDING_ISSUER_ACKNOWLEDGE invoice. */
  activeInvoice(terminalId?: string): InvoiceSnapshot | undefined;
  /** Every SOAP call received, in arrival order (copies). */
  calls(): CallRecord[];
  /** The highest number of SOAP calls (of `op`, or of any operation) in flight at once. */
  maxConcurrentCalls(op?: Operation): number;
  /** Adds or replaces a terminal owned by the simulator's reseller. */
  addTerminal(t: { id: string; password: string }): void;
  /** Beyond the contract: adds or replaces a reseller user (for registerTerminal and reports). */
  addReseller(r: { id: string; userId: string; password: string }): void;
  /** The static UPS code of machine `token`: `HTTP://SEQR.SE/000/ups?w=<merchantId>&t=<token>`. */
  upsCode(token: string): string;
  /**
   * The payer scanned a UPS code: createPurchase is POSTed (JSON `{token, amount, currency,
   * msisdn}`) and its answer checked as SEQR would: a reservation invoice of this merchant, ISSUED,
   * within the payer's amount. Then the payer confirms with {@link pay} (RESERVED) or cancels.
   * Rejects (400 over HTTP) only for a scan that is not of a UPS code of this merchant.
   */
  scanUps(scan: UpsScan): Promise<UpsScanResult>;
  setCreatePurchaseUrl(url: string | undefined): void;
  /**
   * Every notificationUrl POST (when the payer paid, confirmed or cancelled a reservation), sent
   * once each, form-encoded `invoiceReference` and `clientInvoiceId`, never retried.
   */
  notifications(): NotificationRecord[];
  /** Every createPurchase call and how it ended. */
  upsCalls(): UpsCallRecord[];
  /** Resolves once every notification and createPurchase call started so far has ended. */
  callbacksSettled(): Promise<void>;
}
