import type { Clock } from '../ports/clock.js';
import type { Money } from '../ports/money.js';
import {
  invoiceQrPayload,
  type CancelOutcome,
  type InvoiceRequest,
  type InvoiceStatus,
  type IssuedInvoice,
  type PaymentGateway,
  type PaymentStatus,
  type ReceiptDocument,
  type RefundRequest,
  type ReservationContent,
} from '../ports/payment-gateway.js';
import { SeqrCallError, SeqrResultError } from './call-errors.js';
import {
  CANCEL_OUTCOMES,
  OPERATION_OF as OPERATION,
  toDomainError,
  type GatewayMethod,
} from './domain-codes.js';

export type { GatewayMethod } from './domain-codes.js';

/** A failure the fake can inject: a transport code (outcome unknown) or a SEQR resultCode. */
export type FakeFailure =
  | 'E_SEQR_UNREACHABLE'
  | 'E_SEQR_TIMEOUT'
  | 'E_SEQR_HTTP'
  | 'E_SEQR_FAULT'
  | 'E_SEQR_MALFORMED'
  | { readonly resultCode: number };

/** What a customer-side action did to an invoice, as the fake keeps it. */
type FakeState = InvoiceStatus | 'PAYING' | 'PAID_UNCOMMITTED';

interface FakeInvoice {
  readonly reference: string;
  readonly request: InvoiceRequest;
  state: FakeState;
  version: number;
  ersReference?: string;
  paidAt?: string;
  refunded: number;
  /** What a reservation's commit debited (minor units). */
  charged?: number;
  /** A reservation's final content, as the last updateInvoice sent it. */
  content?: ReservationContent;
}

/** One call as the fake saw it: when it started and (once settled) ended. */
export interface FakeCall {
  readonly method: GatewayMethod;
  /** The invoice reference; for submitReceipt and refund, the payment's ersReference. */
  readonly reference?: string;
  readonly startedAt: number;
  endedAt?: number;
  /** `ok` or the error code. */
  outcome?: string;
}

type Script =
  | { readonly kind: 'fail'; readonly failure: FakeFailure }
  | { readonly kind: 'hang' }
  | { readonly kind: 'delay'; readonly ms: number }
  | {
      readonly kind: 'answerLost';
      readonly answer: 'reset' | 'garbled';
      readonly onlyPaid: boolean;
    };

export interface FakePaymentGatewayOptions {
  readonly clock: Clock;
  /** SEQR reverses a payment nobody polled within this time (API.md §9.3). Undefined: never. */
  readonly reversalMs?: number;
  /** Every call takes this long. Default 0. */
  readonly latencyMs?: number;
  /** A hanging call rejects E_SEQR_TIMEOUT after this (the real client's hard deadline). */
  readonly deadlineMs?: number;
}

/**
 * SEQR in memory, with SEQR's rules: one active invoice per terminal (a new invoice cancels the
 * previous unpaid one), versions that move on every status change, commit by polling (the first
 * getStatus after the customer paid returns PAID and commits; unpolled for `reversalMs`, the
 * payment is reversed and the invoice reads CANCELED), cancel answers 0/95/50/51, refunds bounded
 * by the payment (98); reservations (the payer's PIN makes them RESERVED; commitReservation of at
 * most the reserved amount makes them PAID, 96 when not RESERVED; they lapse to EXPIRED after their
 * commit timeout; cancelInvoice cancels them). The control surface plays the customer's app and
 * injects faults (also "done, but the answer lost"); errors
 * are the real client's classes and codes, mapped to their domain meaning by the same table as
 * the SOAP gateway's (daemon/seqr/domain-codes.ts).
 */
export class FakePaymentGateway implements PaymentGateway {
  /** Every call, in start order. */
  readonly calls: FakeCall[] = [];
  readonly receipts: { readonly ersReference: string; readonly document: ReceiptDocument }[] = [];
  /** The `lastVersion` the latest getStatus of each invoice acknowledged. */
  readonly acknowledged = new Map<string, number>();

  readonly #clock: Clock;
  readonly #reversalMs: number | undefined;
  readonly #latencyMs: number;
  readonly #deadlineMs: number;
  readonly #invoices = new Map<string, FakeInvoice>();
  readonly #scripts: { method: GatewayMethod | undefined; script: Script }[] = [];
  #down: FakeFailure | undefined;
  #active: FakeInvoice | undefined;
  #serial = 0;
  #inFlight = new Map<GatewayMethod, number>();
  #maxInFlight = new Map<GatewayMethod, number>();

  constructor(options: FakePaymentGatewayOptions) {
    this.#clock = options.clock;
    this.#reversalMs = options.reversalMs;
    this.#latencyMs = options.latencyMs ?? 0;
    this.#deadlineMs = options.deadlineMs ?? 10_000;
  }

  // --- control surface ---------------------------------------------------------------------------

  /** The invoice customers would pay now (the latest one issued), if any. */
  get activeReference(): string | undefined {
    return this.#active?.reference;
  }

  /** The status as SEQR would report it (uncommitted payments read PAID, in-app payments ISSUED). */
  status(reference: string): InvoiceStatus | undefined {
    const inv = this.#invoices.get(reference);
    return inv ? this.#reported(inv) : undefined;
  }

  /** True once a PAID answer (or a reservation's commit) committed the payment. */
  committed(reference: string): boolean {
    const inv = this.#invoices.get(reference);
    return inv?.state === 'PAID';
  }

  /** What the payer was debited, in minor units: the price, or a reservation's committed amount. */
  charged(reference: string): number {
    const inv = this.#invoices.get(reference);
    if (inv?.state !== 'PAID') return 0;
    return inv.charged ?? inv.request.price.minor;
  }

  /** The request invoice `reference` was issued with. */
  requestOf(reference: string): InvoiceRequest | undefined {
    return this.#invoices.get(reference)?.request;
  }

  /** A reservation's final content as updateInvoice last sent it. */
  reservationContent(reference: string): ReservationContent | undefined {
    return this.#invoices.get(reference)?.content;
  }

  /** Sum refunded for an invoice, in minor units. */
  refunded(reference: string): number {
    return this.#invoices.get(reference)?.refunded ?? 0;
  }

  /** The customer scanned and is confirming: cancelInvoice now answers 51 (in progress). */
  startPaying(reference = this.#requireActive()): void {
    const inv = this.#require(reference, ['ISSUED']);
    inv.state = 'PAYING';
  }

  /**
   * The customer confirmed with the PIN: paid, committed by the next getStatus; a reservation is
   * RESERVED until committed, cancelled, or its commit timeout passes (EXPIRED).
   */
  pay(reference = this.#requireActive()): void {
    const inv = this.#require(reference, ['ISSUED', 'PAYING']);
    this.#serial++;
    inv.version++;
    inv.ersReference = `2026${String(this.#serial).padStart(21, '0')}`;
    inv.paidAt = new Date(this.#clock.now()).toISOString();
    const reservation = inv.request.reservation;
    if (reservation) {
      inv.state = 'RESERVED';
      this.#clock.setTimeout(() => {
        if (inv.state !== 'RESERVED') return;
        inv.state = 'EXPIRED';
        inv.version++;
      }, reservation.commitTimeoutS * 1000);
      return;
    }
    inv.state = 'PAID_UNCOMMITTED';
    if (this.#reversalMs !== undefined)
      this.#clock.setTimeout(() => {
        if (inv.state !== 'PAID_UNCOMMITTED') return;
        inv.state = 'CANCELED';
        inv.version++;
      }, this.#reversalMs);
  }

  /** The customer cancelled in the app (also a reservation they had confirmed). */
  cancelInApp(reference = this.#requireActive()): void {
    const inv = this.#require(reference, ['ISSUED', 'PAYING', 'RESERVED']);
    inv.state = 'CANCELED';
    inv.version++;
  }

  /** The payment failed at SEQR (e.g. the bank declined). */
  fail(reference = this.#requireActive()): void {
    const inv = this.#require(reference, ['ISSUED', 'PAYING']);
    inv.state = 'FAILED';
    inv.version++;
  }

  /** The next call (of `method`, or of any) fails with `failure` before reaching SEQR. */
  failNext(failure: FakeFailure, method?: GatewayMethod): void {
    this.#scripts.push({ method, script: { kind: 'fail', failure } });
  }

  /** The next call (of `method`, or of any) hangs until its deadline: E_SEQR_TIMEOUT. */
  hangNext(method?: GatewayMethod): void {
    this.#scripts.push({ method, script: { kind: 'hang' } });
  }

  /** The next call (of `method`, or of any) takes `ms` longer, then succeeds. */
  delayNext(ms: number, method?: GatewayMethod): void {
    this.#scripts.push({ method, script: { kind: 'delay', ms } });
  }

  /**
   * SEQR carries out the next call (of `method`, or of any), then its answer is lost: the
   * connection is reset (E_SEQR_UNREACHABLE) or the answer arrives cut off (E_SEQR_MALFORMED).
   * `onlyPaid`: only a getStatus answer that reports PAID (the poll that commits the payment);
   * other calls pass untouched until one does.
   */
  loseAnswerNext(
    method?: GatewayMethod,
    options: { readonly answer?: 'reset' | 'garbled'; readonly onlyPaid?: boolean } = {},
  ): void {
    this.#scripts.push({
      method,
      script: {
        kind: 'answerLost',
        answer: options.answer ?? 'reset',
        onlyPaid: options.onlyPaid ?? false,
      },
    });
  }

  /** While set, every call fails with `failure` (SEQR unreachable, credentials refused). */
  setDown(failure: FakeFailure | undefined): void {
    this.#down = failure;
  }

  /** The most calls of `method` (or of any method) that were in flight at once. */
  maxConcurrentCalls(method?: GatewayMethod): number {
    if (method) return this.#maxInFlight.get(method) ?? 0;
    return Math.max(0, ...this.#maxInFlight.values());
  }

  // --- PaymentGateway ----------------------------------------------------------------------------

  issueInvoice(request: InvoiceRequest): Promise<IssuedInvoice> {
    return this.#call('issueInvoice', undefined, () => {
      if (this.#active && ['ISSUED', 'PAYING'].includes(this.#active.state)) {
        this.#active.state = 'CANCELED';
        this.#active.version++;
      }
      this.#serial++;
      const reference = `20261122${String(this.#serial).padStart(9, '0')}`;
      const inv: FakeInvoice = { reference, request, state: 'ISSUED', version: 1, refunded: 0 };
      this.#invoices.set(reference, inv);
      this.#active = inv;
      return { reference, qrPayload: invoiceQrPayload(reference) };
    });
  }

  getStatus(reference: string, lastVersion: number): Promise<PaymentStatus> {
    return this.#call('getStatus', reference, () => {
      this.acknowledged.set(reference, lastVersion);
      const inv = this.#known(reference, 'getStatus', 54);
      if (inv.state === 'PAID_UNCOMMITTED') inv.state = 'PAID';
      const status = this.#reported(inv);
      return {
        status,
        version: inv.version,
        ...(status === 'PAID' && inv.ersReference !== undefined && inv.paidAt !== undefined
          ? { ersReference: inv.ersReference, paidAt: inv.paidAt }
          : {}),
      };
    });
  }

  cancelInvoice(reference: string): Promise<CancelOutcome> {
    return this.#cancel(reference).catch((err: unknown) => {
      // An injected answer that is a cancel outcome (the SOAP gateway reads it the same way).
      const outcome =
        err instanceof SeqrResultError ? CANCEL_OUTCOMES.get(err.resultCode) : undefined;
      if (outcome === undefined) throw err;
      return outcome;
    });
  }

  #cancel(reference: string): Promise<CancelOutcome> {
    return this.#call('cancelInvoice', reference, () => {
      const inv = this.#known(reference, 'cancelInvoice', 54);
      switch (inv.state) {
        case 'ISSUED':
        case 'PENDING_ISSUER_ACKNOWLEDGE':
        case 'RESERVED':
          inv.state = 'CANCELED';
          inv.version++;
          return 'cancelled';
        case 'PAYING':
          return 'inProgress';
        case 'PAID':
        case 'PAID_UNCOMMITTED':
          return 'paid';
        case 'CANCELED':
        case 'FAILED':
        case 'EXPIRED':
          return 'alreadyCancelled';
      }
    });
  }

  submitReceipt(ersReference: string, document: ReceiptDocument): Promise<void> {
    return this.#call('submitReceipt', ersReference, () => {
      this.#byErs(ersReference, 'submitReceipt');
      this.receipts.push({ ersReference, document });
    });
  }

  updateInvoice(reference: string, content: ReservationContent): Promise<void> {
    return this.#call('updateInvoice', reference, () => {
      const inv = this.#known(reference, 'updateInvoice', 54);
      if (inv.state !== 'RESERVED' && inv.state !== 'ISSUED')
        throw new SeqrResultError('updateInvoice', 49);
      if (inv.request.reservation && content.total.minor > inv.request.price.minor)
        throw new SeqrResultError('updateInvoice', 11);
      inv.content = content;
    });
  }

  commitReservation(reference: string, amount: Money): Promise<void> {
    return this.#call('commitReservation', reference, () => {
      const inv = this.#known(reference, 'commitReservation', 54);
      if (inv.state !== 'RESERVED') throw new SeqrResultError('commitReservation', 96);
      if (amount.currency !== inv.request.price.currency)
        throw new SeqrResultError('commitReservation', 49);
      // As the simulator: never above the reservation, never nothing (a cancel ends that).
      if (amount.minor > inv.request.price.minor || amount.minor <= 0)
        throw new SeqrResultError('commitReservation', 11);
      inv.state = 'PAID';
      inv.charged = amount.minor;
      inv.version++;
    });
  }

  refund(request: RefundRequest): Promise<{ readonly refundReference: string }> {
    return this.#call('refund', request.ersReference, () => {
      const inv = this.#byErs(request.ersReference, 'refund');
      const price: Money = { ...inv.request.price, minor: inv.charged ?? inv.request.price.minor };
      if (inv.refunded + request.amount.minor > price.minor)
        throw new SeqrResultError('refundPayment', 98);
      inv.refunded += request.amount.minor;
      this.#serial++;
      return { refundReference: `2026${String(this.#serial).padStart(21, '9')}` };
    });
  }

  // --- internals ---------------------------------------------------------------------------------

  #reported(inv: FakeInvoice): InvoiceStatus {
    if (inv.state === 'PAYING') return 'ISSUED';
    if (inv.state === 'PAID_UNCOMMITTED') return 'PAID';
    return inv.state;
  }

  #requireActive(): string {
    if (!this.#active) throw new Error('no invoice has been issued');
    return this.#active.reference;
  }

  #require(reference: string, states: readonly FakeState[]): FakeInvoice {
    const inv = this.#invoices.get(reference);
    if (!inv) throw new Error(`unknown invoice ${reference}`);
    if (!states.includes(inv.state))
      throw new Error(`invoice ${reference} is ${inv.state}, not ${states.join('/')}`);
    return inv;
  }

  #known(reference: string, method: GatewayMethod, resultCode: number): FakeInvoice {
    const inv = this.#invoices.get(reference);
    if (!inv) throw new SeqrResultError(OPERATION[method], resultCode);
    return inv;
  }

  #byErs(ersReference: string, method: GatewayMethod): FakeInvoice {
    for (const inv of this.#invoices.values())
      if (inv.ersReference === ersReference && inv.state === 'PAID') return inv;
    throw new SeqrResultError(OPERATION[method], 23);
  }

  #takeScript(method: GatewayMethod, reference: string | undefined): Script | undefined {
    const i = this.#scripts.findIndex(
      (s) =>
        (s.method === undefined || s.method === method) &&
        // A lost PAID answer waits for the poll that reports PAID.
        !(s.script.kind === 'answerLost' && s.script.onlyPaid && !this.#reportsPaid(reference)),
    );
    return i < 0 ? undefined : this.#scripts.splice(i, 1)[0]?.script;
  }

  #reportsPaid(reference: string | undefined): boolean {
    const inv = reference === undefined ? undefined : this.#invoices.get(reference);
    return inv !== undefined && (inv.state === 'PAID' || inv.state === 'PAID_UNCOMMITTED');
  }

  #wait(ms: number): Promise<void> {
    return new Promise((resolve) => this.#clock.setTimeout(resolve, ms));
  }

  #failure(method: GatewayMethod, failure: FakeFailure): Error {
    const op = OPERATION[method];
    if (typeof failure === 'object') return new SeqrResultError(op, failure.resultCode);
    return new SeqrCallError(failure, op, `injected ${failure}`);
  }

  async #call<T>(method: GatewayMethod, reference: string | undefined, run: () => T): Promise<T> {
    const call: FakeCall = {
      method,
      startedAt: this.#clock.now(),
      ...(reference === undefined ? {} : { reference }),
    };
    this.calls.push(call);
    const now = (this.#inFlight.get(method) ?? 0) + 1;
    this.#inFlight.set(method, now);
    this.#maxInFlight.set(method, Math.max(now, this.#maxInFlight.get(method) ?? 0));
    try {
      const script = this.#takeScript(method, method === 'getStatus' ? reference : undefined);
      const extra = script?.kind === 'delay' ? script.ms : 0;
      if (script?.kind === 'hang') {
        await this.#wait(this.#deadlineMs);
        throw new SeqrCallError(
          'E_SEQR_TIMEOUT',
          OPERATION[method],
          `no answer in ${this.#deadlineMs} ms`,
        );
      }
      if (this.#latencyMs + extra > 0) await this.#wait(this.#latencyMs + extra);
      else await Promise.resolve();
      if (script?.kind === 'fail') throw this.#failure(method, script.failure);
      if (this.#down !== undefined) throw this.#failure(method, this.#down);
      const result = run();
      if (script?.kind === 'answerLost')
        throw new SeqrCallError(
          script.answer === 'reset' ? 'E_SEQR_UNREACHABLE' : 'E_SEQR_MALFORMED',
          OPERATION[method],
          script.answer === 'reset'
            ? 'connection reset after SEQR carried the call out'
            : 'answer cut off after SEQR carried the call out',
        );
      call.outcome = 'ok';
      return result;
    } catch (err) {
      const mapped = toDomainError(method, err);
      call.outcome = mapped instanceof Error && 'code' in mapped ? String(mapped.code) : 'error';
      throw mapped;
    } finally {
      call.endedAt = this.#clock.now();
      this.#inFlight.set(method, (this.#inFlight.get(method) ?? 1) - 1);
    }
  }
}
