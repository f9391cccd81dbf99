import { DEFAULT_UPS_TIMINGS, type CoreConfig } from '../../daemon/core/config.js';
import { createCore } from '../../daemon/core/step.js';
import type {
  Effect,
  Event,
  PaymentOp,
  RequestAnswer,
  State,
  TimerName,
} from '../../daemon/core/types.js';
import type { Failure } from '../../daemon/errors.js';
import type { TimedEntry } from '../../daemon/ports/ledger.js';
import type { InvoiceStatus } from '../../daemon/ports/payment-gateway.js';
import { testConfig } from '../support/core-config.js';

/** The test machine in UPS mode: at most 100 SEK per session. */
export const upsConfig: CoreConfig = {
  ...testConfig,
  notificationUrl: 'https://gateway.example/seqr/notify?m=test',
  ups: {
    ...DEFAULT_UPS_TIMINGS,
    code: 'HTTP://SEQR.SE/000/ups?w=CAFE&t=test',
    maxCredit: { minor: 10_000, currency: 'SEK' },
  },
};

/** SEQR's side of one reservation invoice, as the model keeps it. */
export interface SeqrInvoice {
  readonly reference: string;
  readonly txId: string;
  readonly reserved: number;
  status: InvoiceStatus;
  version: number;
  /** When the payer confirmed: the commit window starts here. */
  reservedAt?: number;
  /** What SEQR debited: set once, by the one accepted commit. */
  charged?: number;
  /** Commits SEQR accepted (more than one is a double charge). */
  commits: number;
  /** Commit calls refused because the reservation had lapsed or was cancelled. */
  lateCommits: number;
}

/** How the next call of an operation goes wrong. */
export type CallFault =
  /** Refused in transport before SEQR saw it. */
  | 'unreachable'
  /** SEQR carried it out; the answer was lost. */
  | 'answerLost';

/** An answer on its way to the core; lost with the process at a crash. */
interface Pending {
  readonly event: Event;
  readonly volatile: boolean;
}

/**
 * The pure core in a world that plays everything around it: a ledger that keeps what was
 * recorded (and survives crashes), SEQR's reservations (RESERVED on the payer's PIN, commit at
 * most once and at most the reserved amount, 96 otherwise, EXPIRED after the commit timeout,
 * notifications), a dispenser that counts what physically came out, timers, and the time. Answers
 * queue up and are delivered one at a time, so tests interleave payers, buttons, faults, time and
 * crashes at will.
 */
export class ReservationWorld {
  readonly config: CoreConfig;
  readonly #core;
  state: State;
  now: number;
  readonly ledger: TimedEntry[] = [];
  readonly invoices = new Map<string, SeqrInvoice>();
  /** Products that came out, per transaction (minor units each). */
  readonly out = new Map<string, number[]>();
  /** Relay pulses: transaction id, and the vend the ledger had started for it. */
  readonly pulses: { txId: string; seq: number | undefined }[] = [];
  readonly answers = new Map<string, RequestAnswer>();
  readonly violations: string[] = [];
  /** Every commitReservation the core sent, carried out or not. */
  readonly commitCalls: { txId: string; minor: number }[] = [];
  readonly faults = new Map<PaymentOp, CallFault>();
  /** The dispenser's next outcome: out (and dropped), nothing, or no answer at all. */
  nextDispense: 'delivered' | 'notDelivered' | 'dropThenCrash' = 'delivered';
  #queue: Pending[] = [];
  #timers = new Map<TimerName, { token: string; at: number }>();
  #serial = 0;
  #requests = 0;
  /** Requests made since the last crash, still waiting for an answer. */
  #open = new Set<string>();

  constructor(config: CoreConfig = upsConfig, t0 = 1_000_000) {
    this.config = config;
    this.#core = createCore(config);
    this.now = t0;
    const first = this.#core.start(t0);
    this.state = first.state;
    this.#run(first.effects);
    this.#boot();
  }

  /** SEQR's createPurchase for `amount`: its request id (the answer lands in `answers`). */
  createPurchase(minor: number): string {
    const requestId = `r${++this.#requests}`;
    this.#open.add(requestId);
    this.post({
      type: 'ups.requested',
      requestId,
      txId: `tx-${this.#requests}`,
      offered: { minor, currency: 'SEK' },
      at: this.now,
    });
    return requestId;
  }

  /** The latest reservation invoice SEQR issued. */
  latest(): SeqrInvoice | undefined {
    return [...this.invoices.values()].at(-1);
  }

  /** The newest invoice createPurchase was answered with. */
  answered(): SeqrInvoice | undefined {
    const refs = [...this.answers.values()].flatMap((a) =>
      'invoiceReferenceId' in a ? [a.invoiceReferenceId] : [],
    );
    const ref = refs.at(-1);
    return ref === undefined ? undefined : this.invoices.get(ref);
  }

  /** The payer confirms with the PIN: RESERVED, and SEQR notifies the machine. */
  confirm(reference = this.answered()?.reference): void {
    const inv = reference === undefined ? undefined : this.invoices.get(reference);
    if (inv?.status !== 'ISSUED') return;
    // The payer's app shows the reservation once createPurchase was answered with it.
    const answered = [...this.answers.values()].some(
      (a) => 'invoiceReferenceId' in a && a.invoiceReferenceId === inv.reference,
    );
    if (!answered) return;
    inv.status = 'RESERVED';
    inv.reservedAt = this.now;
    inv.version++;
    this.#notify(inv.reference);
  }

  /** The payer cancels in the app (before or after confirming). */
  cancelInApp(reference = this.answered()?.reference): void {
    const inv = reference === undefined ? undefined : this.invoices.get(reference);
    if (inv?.status !== 'ISSUED' && inv?.status !== 'RESERVED') return;
    inv.status = 'CANCELED';
    inv.version++;
    this.#notify(inv.reference);
  }

  press(slot: number | 'cancel'): void {
    this.post({
      type: 'button.pressed',
      button: slot === 'cancel' ? { kind: 'cancel' } : { kind: 'product', slot },
      txId: `press-${++this.#serial}`,
      at: this.now,
    });
  }

  post(e: Event): void {
    const t = this.#core.step(this.state, e);
    this.state = t.state;
    this.#run(t.effects);
  }

  /** Delivers the oldest queued answer; false when none is queued. */
  deliver(): boolean {
    const next = this.#queue.shift();
    if (!next) return false;
    this.post({ ...next.event, at: this.now });
    return true;
  }

  /** Delivers answers until none is left (bounded: a loop is a failure). */
  settle(limit = 1_000): void {
    for (let i = 0; i < limit; i++) if (!this.deliver()) return;
    throw new Error('answers never stop coming');
  }

  /** Moves time to the next timer (and fires it), at most `maxMs` ahead; false if none is due. */
  tick(maxMs = Number.POSITIVE_INFINITY): boolean {
    const due = [...this.#timers.entries()].sort((a, b) => a[1].at - b[1].at)[0];
    if (!due || due[1].at > this.now + maxMs) {
      this.now += Number.isFinite(maxMs) ? maxMs : 0;
      this.#expire(this.now);
      return false;
    }
    this.now = Math.max(this.now, due[1].at);
    this.#expire(this.now);
    this.#timers.delete(due[0]);
    this.post({ type: 'timer.expired', name: due[0], token: due[1].token, at: this.now });
    return true;
  }

  /** Settles answers and timers until `ms` have passed. */
  run(ms: number): void {
    const end = this.now + ms;
    for (let i = 0; i < 100_000; i++) {
      this.settle();
      if (!this.tick(end - this.now)) return;
    }
    throw new Error('timers never stop');
  }

  /** Power cut: answers in flight and timers are lost; the ledger and SEQR keep what they did. */
  crash(): void {
    this.#queue = [];
    this.#timers.clear();
    this.#open.clear();
    const first = this.#core.start(this.now);
    this.state = first.state;
    this.#run(first.effects);
    this.#boot();
  }

  /** Requests made since the last crash that were never answered. */
  unanswered(): string[] {
    return [...this.#open];
  }

  /** Transactions the ledger has not closed. */
  openTxIds(): string[] {
    const closed = new Set(this.ledger.filter((e) => e.type === 'tx.closed').map((e) => e.txId));
    return [...new Set(this.ledger.map((e) => e.txId))].filter((id) => !closed.has(id));
  }

  /** The delivered vends the ledger recorded for `txId`, in minor units. */
  recordedDelivered(txId: string): number {
    const prices = new Map<number, number>();
    let total = 0;
    for (const e of this.ledger) {
      if (e.txId !== txId) continue;
      if (e.type === 'vend.started') prices.set(e.vend, e.price.minor);
      if (e.type === 'vend.finished' && e.outcome === 'delivered') total += prices.get(e.vend) ?? 0;
    }
    return total;
  }

  closedOutcome(txId: string): string | undefined {
    const closed = this.ledger.filter((e) => e.type === 'tx.closed' && e.txId === txId).at(-1);
    return closed?.type === 'tx.closed' ? closed.outcome : undefined;
  }

  #boot(): void {
    const byTx = new Map<string, TimedEntry[]>();
    for (const txId of this.openTxIds())
      byTx.set(
        txId,
        this.ledger.filter((e) => e.txId === txId),
      );
    this.post({
      type: 'recovery.loaded',
      transactions: [...byTx.entries()].map(([txId, entries]) => ({ txId, entries })),
      at: this.now,
    });
    this.#queue.push({
      event: { type: 'stock.updated', soldOut: [], at: this.now },
      volatile: true,
    });
  }

  #expire(until: number): void {
    for (const inv of this.invoices.values())
      if (
        inv.status === 'RESERVED' &&
        inv.reservedAt !== undefined &&
        until >= inv.reservedAt + (this.config.ups?.commitTimeoutMs ?? 0)
      ) {
        inv.status = 'EXPIRED';
        inv.version++;
      }
  }

  #notify(reference: string): void {
    const requestId = `n${++this.#requests}`;
    this.#open.add(requestId);
    this.#queue.push({
      event: { type: 'payment.notified', requestId, reference, at: this.now },
      volatile: true,
    });
  }

  #answer(event: Event): void {
    this.#queue.push({ event, volatile: true });
  }

  /** Runs `work` at SEQR unless a fault stops it; queues its answer or the failure. */
  #call(op: PaymentOp, txId: string | undefined, work: () => Event | Failure): void {
    const fault = this.faults.get(op);
    this.faults.delete(op);
    const failed = (failure: Failure, retryable: boolean): Event => ({
      type: 'payment.failed',
      op,
      ...(txId === undefined ? {} : { txId }),
      failure,
      retryable,
      at: this.now,
    });
    if (fault === 'unreachable') {
      this.#answer(failed({ code: 'E_SEQR_UNREACHABLE' }, true));
      return;
    }
    const result = work();
    if (fault === 'answerLost') {
      this.#answer(failed({ code: 'E_SEQR_TIMEOUT' }, true));
      return;
    }
    if ('type' in result) this.#answer(result);
    else this.#answer(failed(result, false));
  }

  #run(effects: readonly Effect[]): void {
    for (const e of effects) this.#effect(e);
  }

  #effect(e: Effect): void {
    const at = this.now;
    switch (e.type) {
      case 'ledger.record':
        this.ledger.push({ ...e.entry, at });
        this.#queue.push({
          event: { type: 'ledger.recorded', entry: e.entry, at },
          volatile: true,
        });
        return;
      case 'timer.start':
        this.#timers.set(e.name, { token: e.token, at: e.at });
        return;
      case 'timer.cancel':
        this.#timers.delete(e.name);
        return;
      case 'request.answer':
        if (!this.#open.delete(e.requestId))
          this.violations.push(`request ${e.requestId} answered twice or never asked`);
        this.answers.set(e.requestId, e.answer);
        return;
      case 'display.show':
      case 'log':
        return;
      case 'payment.issue':
        this.#call('issue', e.txId, () => {
          const reference = `9${String(++this.#serial).padStart(12, '0')}`;
          if (!e.request.reservation) return { code: 'E_SEQR_RESULT', resultCode: 49 };
          this.invoices.set(reference, {
            reference,
            txId: e.txId,
            reserved: e.request.price.minor,
            status: 'ISSUED',
            version: 1,
            commits: 0,
            lateCommits: 0,
          });
          return {
            type: 'payment.issued',
            txId: e.txId,
            invoice: { reference, qrPayload: `HTTP://SEQR.SE/R${reference}` },
            at,
          };
        });
        return;
      case 'payment.poll':
        this.#call('poll', e.txId, () => {
          const inv = this.invoices.get(e.reference);
          if (!inv) return { code: 'E_SEQR_UNKNOWN_INVOICE', resultCode: 54 };
          return {
            type: 'payment.statusReceived',
            txId: e.txId,
            status: {
              status: inv.status,
              version: inv.version,
              ...(inv.status === 'PAID' ? { ersReference: `ers-${inv.reference}` } : {}),
            },
            at,
          };
        });
        return;
      case 'payment.cancel':
        this.#call('cancel', e.txId, () => {
          const inv = this.invoices.get(e.reference);
          if (!inv) return { code: 'E_SEQR_UNKNOWN_INVOICE', resultCode: 54 };
          let outcome: 'cancelled' | 'alreadyCancelled' | 'paid' = 'cancelled';
          if (inv.status === 'PAID') outcome = 'paid';
          else if (inv.status === 'CANCELED' || inv.status === 'EXPIRED')
            outcome = 'alreadyCancelled';
          else {
            inv.status = 'CANCELED';
            inv.version++;
          }
          return { type: 'payment.cancelAnswered', txId: e.txId, outcome, at };
        });
        return;
      case 'payment.update':
        this.#call('update', e.txId, () => {
          const inv = this.invoices.get(e.reference);
          if (!inv) return { code: 'E_SEQR_UNKNOWN_INVOICE', resultCode: 54 };
          if (e.content.total.minor > inv.reserved)
            return { code: 'E_SEQR_RESULT', resultCode: 11 };
          return { type: 'payment.updated', txId: e.txId, at };
        });
        return;
      case 'payment.commit':
        this.commitCalls.push({ txId: e.txId, minor: e.amount.minor });
        this.#call('commit', e.txId, () => {
          const inv = this.invoices.get(e.reference);
          if (!inv) return { code: 'E_SEQR_UNKNOWN_INVOICE', resultCode: 54 };
          if (inv.status !== 'RESERVED') {
            if (inv.status === 'EXPIRED' || inv.status === 'CANCELED') inv.lateCommits++;
            return { code: 'E_RESERVATION_NOT_RESERVED', resultCode: 96 };
          }
          if (e.amount.minor > inv.reserved || e.amount.minor <= 0)
            return { code: 'E_SEQR_RESULT', resultCode: 11 };
          inv.status = 'PAID';
          inv.version++;
          inv.charged = e.amount.minor;
          inv.commits++;
          return { type: 'payment.committed', txId: e.txId, at };
        });
        return;
      case 'payment.refund':
        this.violations.push(
          `refund of ${e.txId}: a reservation is never debited before it is committed`,
        );
        return;
      case 'payment.submitReceipt':
        this.#answer({ type: 'payment.receiptSubmitted', txId: e.txId, at });
        return;
      case 'payment.probe':
        this.#answer({ type: 'payment.probed', at });
        return;
      case 'printer.print':
        this.#answer({ type: 'printer.printed', txId: e.txId, at });
        return;
      case 'dispenser.dispense': {
        // Invariant 1 for reservations: the relay moves only for a started vend the ledger holds,
        // of a reservation SEQR reported RESERVED, with no outcome yet.
        const entries = this.ledger.filter((x) => x.txId === e.txId);
        const started = entries.filter((x) => x.type === 'vend.started');
        const finished = new Set(
          entries.flatMap((x) => (x.type === 'vend.finished' ? [x.vend] : [])),
        );
        const open = started.filter((x) => !finished.has(x.vend) && x.slot === e.slot);
        const seq = open.at(-1)?.vend;
        this.pulses.push({ txId: e.txId, seq });
        if (entries.some((x) => x.type === 'reservation.requested')) {
          if (!entries.some((x) => x.type === 'reservation.reserved'))
            this.violations.push(
              `relay for ${e.txId} before the reservation was recorded RESERVED`,
            );
          if (seq === undefined)
            this.violations.push(`relay for ${e.txId} slot ${e.slot} without a started vend`);
          else if (this.pulses.filter((p) => p.txId === e.txId && p.seq === seq).length > 1)
            this.violations.push(`vend ${seq} of ${e.txId} dispensed twice`);
        }
        const price = this.config.products.find((p) => p.slot === e.slot)?.price.minor ?? 0;
        const outcome = this.nextDispense;
        this.nextDispense = 'delivered';
        if (outcome === 'notDelivered') {
          this.#answer({
            type: 'dispense.finished',
            txId: e.txId,
            result: { outcome: 'notDelivered', reason: 'noDrop' },
            at,
          });
          return;
        }
        this.out.set(e.txId, [...(this.out.get(e.txId) ?? []), price]);
        this.#answer({ type: 'dispense.dropped', txId: e.txId, at });
        // dropThenCrash: the finish never comes (the test crashes the process next).
        if (outcome === 'delivered')
          this.#answer({
            type: 'dispense.finished',
            txId: e.txId,
            result: { outcome: 'delivered' },
            at,
          });
        return;
      }
    }
  }
}
