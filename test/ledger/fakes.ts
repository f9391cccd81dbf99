import { VendError } from '../../daemon/errors.js';
import { SeqrResultError } from '../../daemon/seqr/call-errors.js';
import type { Clock, TimerHandle } from '../../daemon/ports/clock.js';
import type { DispenseResult, Dispenser } from '../../daemon/ports/dispenser.js';
import type {
  CancelOutcome,
  InvoiceRequest,
  InvoiceStatus,
  IssuedInvoice,
  PaymentGateway,
  PaymentStatus,
  RefundRequest,
} from '../../daemon/ports/payment-gateway.js';
import type { OpsLogger } from '../../daemon/ledger/refunds.js';

/**
 * A clock whose timers fire on the next macrotask with time advanced to their due moment, so
 * loops that sleep run at full speed with deterministic time.
 */
export class AutoClock implements Clock {
  #now: number;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();
  #next = 1;
  #pumping = false;

  constructor(start: number) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  advance(ms: number): void {
    this.#now += ms;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.#next++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    this.#pump();
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle as number);
  }

  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    setImmediate(() => {
      this.#pumping = false;
      let first: [number, { at: number; fn: () => void }] | undefined;
      for (const t of this.#timers) if (!first || t[1].at < first[1].at) first = t;
      if (!first) return;
      this.#timers.delete(first[0]);
      this.#now = Math.max(this.#now, first[1].at);
      first[1].fn();
      if (this.#timers.size > 0) this.#pump();
    });
  }
}

/** A logger that keeps every line. */
export class MemoryLogger implements OpsLogger {
  readonly lines: { level: string; fields: Record<string, unknown>; msg: string }[] = [];
  info(fields: object, msg: string): void {
    this.lines.push({ level: 'info', fields: fields as Record<string, unknown>, msg });
  }
  warn(fields: object, msg: string): void {
    this.lines.push({ level: 'warn', fields: fields as Record<string, unknown>, msg });
  }
  error(fields: object, msg: string): void {
    this.lines.push({ level: 'error', fields: fields as Record<string, unknown>, msg });
  }
  codes(level = 'error'): unknown[] {
    return this.lines.filter((l) => l.level === level).map((l) => l.fields['code']);
  }
}

interface Invoice {
  status: InvoiceStatus;
  version: number;
  amount: number;
  ersReference?: string;
  paidAt?: string;
  paying: boolean;
  /** A PAID answer was given (the payment is committed, API.md §9.3). */
  committed?: boolean;
  /** After this many more polls, the customer's in-progress payment ends. */
  pollsLeft?: number;
  then?: 'pay' | 'abandon';
}

export type RefundScript = 'ok' | 'lostAnswer' | 'notSent' | number;

/**
 * SEQR in memory, with the rules recovery depends on: one active invoice per terminal, cancel
 * answers (0, 95, 50, 51), status versions, 54 for unknown references, and refunds capped at the
 * original amount (98). `executedRefunds` is the ground truth of money returned.
 */
export class FakeSeqr implements PaymentGateway {
  readonly invoices = new Map<string, Invoice>();
  readonly payments = new Map<string, { amount: number; refunded: number }>();
  readonly executedRefunds: { ersReference: string; amount: number }[] = [];
  readonly calls: string[] = [];
  /** What the next refund calls do, in order; 'ok' once empty. */
  readonly refundScript: RefundScript[] = [];
  down = false;
  #n = 0;

  constructor(readonly clock: Pick<Clock, 'now'>) {}

  #reach(op: string): void {
    this.calls.push(op);
    if (this.down)
      throw new VendError('E_SEQR_UNREACHABLE', 'SEQR unreachable', { retryable: true });
  }

  issueInvoice(request: InvoiceRequest): Promise<IssuedInvoice> {
    return Promise.resolve().then(() => {
      this.#reach('issueInvoice');
      for (const inv of this.invoices.values())
        if (inv.status === 'ISSUED' && !inv.paying) {
          inv.status = 'CANCELED';
          inv.version++;
        }
      const reference = `R${++this.#n}`;
      this.invoices.set(reference, {
        status: 'ISSUED',
        version: 1,
        amount: request.price.minor,
        paying: false,
      });
      return { reference, qrPayload: `HTTP://SEQR.SE/R${reference}` };
    });
  }

  getStatus(reference: string): Promise<PaymentStatus> {
    return Promise.resolve().then(() => {
      this.#reach('getStatus');
      const inv = this.invoices.get(reference);
      if (!inv) throw new SeqrResultError('getPaymentStatus', 54);
      if (inv.paying && inv.pollsLeft !== undefined && --inv.pollsLeft <= 0) {
        if (inv.then === 'pay') this.pay(reference, 0);
        else {
          inv.paying = false;
          inv.status = 'CANCELED';
          inv.version++;
        }
      }
      if (inv.status === 'PAID') inv.committed = true;
      return {
        status: inv.status,
        version: inv.version,
        ...(inv.ersReference === undefined ? {} : { ersReference: inv.ersReference }),
        ...(inv.paidAt === undefined ? {} : { paidAt: inv.paidAt }),
      };
    });
  }

  cancelInvoice(reference: string): Promise<CancelOutcome> {
    return Promise.resolve().then(() => {
      this.#reach('cancelInvoice');
      const inv = this.invoices.get(reference);
      if (!inv) throw new SeqrResultError('cancelInvoice', 54);
      if (inv.paying) return 'inProgress';
      if (inv.status === 'PAID') return 'paid';
      if (inv.status !== 'ISSUED') return 'alreadyCancelled';
      inv.status = 'CANCELED';
      inv.version++;
      return 'cancelled';
    });
  }

  submitReceipt(): Promise<void> {
    return Promise.resolve().then(() => {
      this.#reach('submitReceipt');
    });
  }

  refund(request: RefundRequest): Promise<{ readonly refundReference: string }> {
    return Promise.resolve().then(() => {
      this.#reach('refund');
      const script = this.refundScript.shift() ?? 'ok';
      if (script === 'notSent')
        throw new VendError('E_SEQR_UNREACHABLE', 'connection refused', { retryable: true });
      if (typeof script === 'number') throw new SeqrResultError('refundPayment', script);
      const payment = this.payments.get(request.ersReference);
      if (!payment) throw new SeqrResultError('refundPayment', 23);
      if (payment.refunded + request.amount.minor > payment.amount)
        throw new SeqrResultError('refundPayment', 98);
      payment.refunded += request.amount.minor;
      this.executedRefunds.push({
        ersReference: request.ersReference,
        amount: request.amount.minor,
      });
      if (script === 'lostAnswer')
        throw new VendError('E_SEQR_TIMEOUT', 'no answer in time', { retryable: true });
      return { refundReference: `RF${this.executedRefunds.length}` };
    });
  }

  // --- the customer's side ---

  /** The customer pays `reference`, `agoMs` before now. */
  pay(reference: string, agoMs: number): string {
    const inv = this.invoices.get(reference)!;
    const ersReference = `ERS-${reference}`;
    inv.status = 'PAID';
    inv.paying = false;
    inv.version++;
    inv.ersReference = ersReference;
    inv.paidAt = new Date(this.clock.now() - agoMs).toISOString();
    this.payments.set(ersReference, { amount: inv.amount, refunded: 0 });
    return ersReference;
  }

  /** The customer is in the middle of paying; after `polls` status polls it pays or gives up. */
  paying(reference: string, polls: number, then: 'pay' | 'abandon'): void {
    const inv = this.invoices.get(reference)!;
    inv.paying = true;
    inv.pollsLeft = polls;
    inv.then = then;
  }

  /** SEQR's reversal: payments nobody polled within 20 s are cancelled (API.md §9.3). */
  reverseUncommitted(): void {
    for (const inv of this.invoices.values())
      if (inv.status === 'PAID' && inv.committed !== true) {
        inv.status = 'CANCELED';
        inv.version++;
        if (inv.ersReference !== undefined) this.payments.delete(inv.ersReference);
      }
  }

  /** Adds an invoice directly (as if issued before the crash). */
  addInvoice(reference: string, amount: number): void {
    this.invoices.set(reference, { status: 'ISSUED', version: 1, amount, paying: false });
  }
}

/**
 * A dispenser that counts calls per slot and can be told how the next dispense ends.
 * `onDispense` sees each call before it happens (for invariant checks against the ledger).
 */
export class CountingDispenser implements Dispenser {
  readonly dispensed: number[] = [];
  next: DispenseResult | 'fail' = { outcome: 'delivered' };
  onDispense: (slot: number) => void = () => undefined;

  dispense(slot: number): Promise<DispenseResult> {
    this.onDispense(slot);
    this.dispensed.push(slot);
    const next = this.next;
    if (next === 'fail') throw new VendError('E_DISPENSER_FAULT', 'relay write failed mid-pulse');
    return Promise.resolve(next);
  }
  safeState(): Promise<void> {
    return Promise.resolve();
  }
  stock(): number | undefined {
    return undefined;
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A clock that moves only when told; `advance` fires the timers that fall due, in order. */
export class ManualClock implements Clock {
  #now: number;
  readonly timers = new Map<number, { at: number; fn: () => void }>();
  #next = 1;

  constructor(start: number) {
    this.#now = start;
  }
  now(): number {
    return this.#now;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.#next++;
    this.timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return id;
  }
  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle as number);
  }
  /** The earliest pending timer's due time. */
  nextDue(): number | undefined {
    let due: number | undefined;
    for (const t of this.timers.values()) if (due === undefined || t.at < due) due = t.at;
    return due;
  }
  advance(ms: number): void {
    const until = this.#now + ms;
    for (;;) {
      let first: [number, { at: number; fn: () => void }] | undefined;
      for (const t of this.timers)
        if (t[1].at <= until && (!first || t[1].at < first[1].at)) first = t;
      if (!first) break;
      this.timers.delete(first[0]);
      this.#now = first[1].at;
      first[1].fn();
    }
    this.#now = until;
  }
}
