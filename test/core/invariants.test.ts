import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type {
  Effect,
  Event,
  RecoveredTransaction,
  State,
  TimerName,
} from '../../daemon/core/types.js';
import { isoFromEpochMs } from '../../daemon/core/documents.js';
import type { Failure } from '../../daemon/errors.js';
import type { LedgerEntry, TimedEntry } from '../../daemon/ports/ledger.js';
import type { Money } from '../../daemon/ports/money.js';
import type { InvoiceStatus } from '../../daemon/ports/payment-gateway.js';
import type { ProductConfig } from '../../daemon/core/config.js';
import { testConfig } from '../support/core-config.js';
import { EVENTS, STATES, core, invoice } from './fixtures.js';

/**
 * Random runs of the pure core. Each run starts from a random ledger a crash left behind (open
 * transactions cut at any durable step, refunds failed in every way, payments of any age), so
 * start-up recovery and the background refunds are part of every run. A driver then plays the
 * world: at each step it picks (from a random choice) one event among the answers to the effects
 * still outstanding (successes, every failure kind, late answers), the timers started, button
 * presses and stale noise, and moves time forward by a random amount. It plays the runtime's
 * write-ahead gating faithfully: an effect listed after a `ledger.record` in the same step starts
 * only once that record is answered `ledger.recorded`, and never if it is answered
 * `ledger.failed`. Then it checks the money-safety invariants on the trace.
 */
interface Outstanding {
  readonly effect: Effect;
  /** The records of the same step listed before it that are not answered yet. */
  readonly gates: Set<Effect>;
}

const STATUSES: readonly InvoiceStatus[] = [
  'ISSUED',
  'ISSUED',
  'PAID',
  'CANCELED',
  'FAILED',
  'PENDING_ISSUER_ACKNOWLEDGE',
];

type Op = Extract<Event, { type: 'payment.failed' }>['op'];

/** The domain failures each gateway call can end with (as the gateway maps SEQR's answers). */
const FAILURES: Readonly<Record<Op, readonly Failure[]>> = {
  issue: [
    { code: 'E_SEQR_UNREACHABLE' },
    { code: 'E_SEQR_TIMEOUT' },
    { code: 'E_SEQR_AUTH', resultCode: 20 },
    { code: 'E_SEQR_RESULT', resultCode: 49 },
  ],
  poll: [
    { code: 'E_SEQR_UNREACHABLE' },
    { code: 'E_SEQR_TIMEOUT' },
    { code: 'E_SEQR_UNKNOWN_INVOICE', resultCode: 54 },
    { code: 'E_SEQR_RESULT', resultCode: 93 },
  ],
  cancel: [
    { code: 'E_SEQR_TIMEOUT' },
    { code: 'E_SEQR_UNKNOWN_INVOICE', resultCode: 54 },
    { code: 'E_SEQR_RESULT', resultCode: 90 },
  ],
  refund: [
    { code: 'E_SEQR_TIMEOUT' },
    { code: 'E_SEQR_UNREACHABLE' },
    { code: 'E_SEQR_RESULT', resultCode: 93 },
    { code: 'E_REFUND_REFUSED', resultCode: 97 },
    { code: 'E_REFUND_REFUSED', resultCode: 99 },
    { code: 'E_REFUND_EXCEEDS_PAYMENT', resultCode: 98 },
  ],
  submitReceipt: [
    { code: 'E_SEQR_HTTP', httpStatus: 502 },
    { code: 'E_SEQR_TIMEOUT' },
    { code: 'E_SEQR_RESULT', resultCode: 23 },
  ],
  probe: [
    { code: 'E_SEQR_UNREACHABLE' },
    { code: 'E_SEQR_AUTH', resultCode: 20 },
    { code: 'E_SEQR_UNKNOWN_INVOICE', resultCode: 54 },
  ],
  // Reservations have their own randomized test (reservation.invariants.test.ts).
  update: [{ code: 'E_SEQR_TIMEOUT' }],
  commit: [{ code: 'E_SEQR_TIMEOUT' }],
};

const RETRYABLE = new Set(['E_SEQR_UNREACHABLE', 'E_SEQR_TIMEOUT', 'E_SEQR_HTTP']);
const RETRYABLE_RESULTS = new Set([90, 93]);

function answers(effect: Effect, at: number, pick: number): Event[] {
  const e = effect;
  const fail = (op: Op, txId?: string): Event => {
    const list = FAILURES[op];
    // A failure is drawn when pick % 4 === 0: the failure kind from the rest of pick.
    const failure = list[Math.floor(pick / 4) % list.length]!;
    return {
      type: 'payment.failed',
      op,
      ...(txId === undefined ? {} : { txId }),
      failure,
      retryable:
        RETRYABLE.has(failure.code) ||
        (failure.resultCode !== undefined && RETRYABLE_RESULTS.has(failure.resultCode)),
      at,
    };
  };
  switch (e.type) {
    case 'payment.issue':
      return [
        {
          type: 'payment.issued',
          txId: e.txId,
          invoice: { reference: `ref-${e.txId}`, qrPayload: `HTTP://SEQR.SE/Rref-${e.txId}` },
          at,
        },
        fail('issue', e.txId),
      ];
    case 'payment.poll': {
      const status = STATUSES[pick % STATUSES.length]!;
      return [
        {
          type: 'payment.statusReceived',
          txId: e.txId,
          status: {
            status,
            version: e.lastVersion + 1,
            ...(status === 'PAID'
              ? {
                  ersReference: `ers-${e.txId}`,
                  // A payment made during the outage, or long before (answer lost).
                  ...(Math.floor(pick / 6) % 2 === 0
                    ? { paidAt: isoFromEpochMs(at - 3_600_000) }
                    : {}),
                }
              : {}),
          },
          at,
        },
        fail('poll', e.txId),
      ];
    }
    case 'payment.cancel':
      return [
        {
          type: 'payment.cancelAnswered',
          txId: e.txId,
          outcome: (['cancelled', 'alreadyCancelled', 'paid', 'inProgress'] as const)[pick % 4]!,
          at,
        },
        fail('cancel', e.txId),
      ];
    case 'payment.refund':
      return [
        { type: 'payment.refunded', txId: e.txId, refundReference: 'r', at },
        fail('refund', e.txId),
      ];
    case 'payment.submitReceipt':
      return [
        { type: 'payment.receiptSubmitted', txId: e.txId, at },
        fail('submitReceipt', e.txId),
      ];
    case 'payment.probe':
      return [{ type: 'payment.probed', at }, fail('probe')];
    case 'payment.update':
    case 'payment.commit':
    case 'request.answer':
      return [];
    case 'ledger.record':
      return [
        { type: 'ledger.recorded', entry: e.entry, at },
        { type: 'ledger.failed', entry: e.entry, failure: { code: 'E_LEDGER_WRITE' }, at },
      ];
    case 'dispenser.dispense':
      return [
        { type: 'dispense.finished', txId: e.txId, result: { outcome: 'delivered' }, at },
        {
          type: 'dispense.finished',
          txId: e.txId,
          result: { outcome: 'notDelivered', reason: 'slotFault' },
          at,
        },
        {
          type: 'dispense.failed',
          txId: e.txId,
          failure: { code: pick % 2 ? 'E_DISPENSER_FAULT' : 'E_DISPENSER_BUSY' },
          at,
        },
      ];
    case 'printer.print':
      return [
        { type: 'printer.printed', txId: e.txId, at },
        { type: 'printer.failed', txId: e.txId, failure: { code: 'E_PRINTER_OFFLINE' }, at },
      ];
    case 'display.show':
    case 'timer.start':
    case 'timer.cancel':
    case 'log':
      return [];
  }
}

// --- random ledgers a crash left behind ----------------------------------------------------------

const price = { minor: 2500, currency: 'SEK' };

interface OpenTx {
  /** How many of the transaction's steps were durable when the machine went down. */
  readonly cut: number;
  readonly before: 'final' | 'open' | 'paid';
  readonly outcome: 'delivered' | 'notDelivered' | 'uncertain';
  readonly refundEnd: number;
  /** How long before the restart the payment was recorded. */
  readonly paidAgoMs: number;
}

const REFUND_ENDS: readonly ((txId: string) => LedgerEntry | undefined)[] = [
  () => undefined,
  (txId) => ({ type: 'refund.failed', txId, failure: { code: 'E_SEQR_TIMEOUT' } }),
  (txId) => ({ type: 'refund.failed', txId, failure: { code: 'E_SEQR_RESULT', resultCode: 93 } }),
  (txId) => ({
    type: 'refund.failed',
    txId,
    failure: { code: 'E_REFUND_REFUSED', resultCode: 97 },
  }),
  (txId) => ({ type: 'refund.failed', txId, failure: { code: 'E_UNEXPECTED' } }),
  (txId) => ({ type: 'refund.confirmed', txId, refundReference: 'RF' }),
  (txId) => ({ type: 'refund.confirmed', txId, refundReference: '', inferred: 'sumExceeded' }),
];

function openTransaction(txId: string, t: OpenTx, start: number): RecoveredTransaction {
  const entries: LedgerEntry[] = [
    { type: 'invoice.requested', txId, slot: 1, productName: 'Cola', price },
    { type: 'invoice.issued', txId, invoiceReference: `ref-${txId}` },
    { type: 'status.seen', txId, status: 'ISSUED', version: 1 },
  ];
  if (t.before === 'final')
    entries.push({ type: 'status.seen', txId, status: 'CANCELED', version: 2 });
  else {
    if (t.before === 'open') entries.push({ type: 'cancel.requested', txId });
    entries.push(
      { type: 'status.seen', txId, status: 'PAID', version: 2, ersReference: `ers-${txId}` },
      { type: 'dispense.started', txId, slot: 1 },
      { type: 'dispense.finished', txId, outcome: t.outcome },
    );
    if (t.outcome === 'notDelivered') {
      entries.push({ type: 'refund.requested', txId, amount: price });
      const end = REFUND_ENDS[t.refundEnd % REFUND_ENDS.length]!(txId);
      if (end) entries.push(end);
    }
  }
  const kept = entries.slice(0, Math.max(1, Math.min(t.cut, entries.length)));
  const timed: TimedEntry[] = kept.map((e, i) => ({ ...e, at: start - t.paidAgoMs - 1000 + i }));
  return { txId, entries: timed };
}

const openTxs = fc.array(
  fc.record({
    cut: fc.integer({ min: 1, max: 9 }),
    before: fc.constantFrom('final', 'open', 'paid'),
    outcome: fc.constantFrom('delivered', 'notDelivered', 'uncertain'),
    refundEnd: fc.nat(20),
    paidAgoMs: fc.constantFrom(1_000, 60_000, 200_000, 3_600_000),
  }),
  { maxLength: 4 },
) as fc.Arbitrary<OpenTx[]>;

// --- the driver ----------------------------------------------------------------------------------

interface Step {
  readonly from: State;
  readonly event: Event;
  readonly to: State;
  readonly effects: readonly Effect[];
}

interface Trace {
  readonly recovered: readonly RecoveredTransaction[];
  readonly steps: Step[];
}

const START = 1_000_000_000;

function simulate(
  ledger: readonly OpenTx[],
  choices: readonly [number, number, number, number][],
): Trace {
  let at = START;
  let tx = 0;
  const recovered = ledger.map((t, i) => openTransaction(`r${i}`, t, START));
  const first = core.start(at);
  let state = first.state;
  let outstanding: Outstanding[] = [];
  const timers = new Map<TimerName, { token: string; at: number }>();
  const steps: Step[] = [];
  const absorb = (effects: readonly Effect[]): void => {
    const records: Effect[] = [];
    for (const effect of effects) {
      if (effect.type === 'timer.start')
        timers.set(effect.name, { token: effect.token, at: effect.at });
      else if (effect.type === 'timer.cancel') timers.delete(effect.name);
      else if (answers(effect, at, 0).length > 0) {
        const gated = effect.type !== 'ledger.record' && records.length > 0;
        outstanding.push({ effect, gates: new Set(gated ? records : []) });
      }
      if (effect.type === 'ledger.record') records.push(effect);
    }
  };
  absorb(first.effects);
  const apply = (event: Event): void => {
    const t = core.step(state, event);
    steps.push({ from: state, event, to: t.state, effects: t.effects });
    state = t.state;
    absorb(t.effects);
  };
  const answer = (o: Outstanding, event: Event): void => {
    outstanding = outstanding.filter((x) => x !== o);
    if (event.type === 'ledger.recorded') for (const x of outstanding) x.gates.delete(o.effect);
    // The runtime skips what waited behind a record that failed.
    if (event.type === 'ledger.failed')
      outstanding = outstanding.filter((x) => !x.gates.has(o.effect));
    apply(event);
  };
  apply({ type: 'recovery.loaded', transactions: recovered, at });
  for (const [kind, which, pick, dt] of choices) {
    at += dt;
    const category = kind % 10;
    const timerList = [...timers];
    const ready = outstanding.filter((o) => o.gates.size === 0);
    if (category < 6 && ready.length > 0) {
      // Mostly the newest effects, mostly successes: runs get far into purchases.
      const o = ready[ready.length - 1 - (which < 70 ? 0 : which % Math.min(3, ready.length))]!;
      const options = answers(o.effect, at, pick);
      const success = pick % 4 !== 0;
      answer(
        o,
        options[
          success
            ? o.effect.type === 'dispenser.dispense'
              ? pick % 2
              : 0
            : 1 + (pick % (options.length - 1))
        ]!,
      );
    } else if (category < 8 && timerList.length > 0) {
      const [name, t] = timerList[which % timerList.length]!;
      timers.delete(name);
      at = Math.max(at, t.at);
      apply({ type: 'timer.expired', name, token: t.token, at });
    } else if (category < 9) {
      const button =
        pick % 3 === 0
          ? ({ kind: 'cancel' } as const)
          : ({ kind: 'product', slot: 1 + (which % 3) } as const);
      apply({ type: 'button.pressed', button, txId: `tx-${++tx}`, at });
    } else {
      // Noise, and the operator: a new catalogue (prices, a slot off sale), maintenance mode.
      const noise = pick % 4;
      apply(
        noise === 0
          ? { type: 'timer.expired', name: 'poll', token: 'stale', at }
          : noise === 1
            ? { type: 'stock.updated', soldOut: pick % 5 === 0 ? [2] : [], at }
            : noise === 2
              ? { type: 'catalog.updated', products: catalogue(which), at }
              : { type: 'maintenance.changed', on: which % 3 === 0, at },
      );
    }
  }
  return { recovered, steps };
}

/** The operator's catalogue number `n`: other prices, and now and then a slot off sale. */
function catalogue(n: number): ProductConfig[] {
  return testConfig.products.map((p) => ({
    ...p,
    price: { ...p.price, minor: p.price.minor + 100 * (n % 7) },
    ...(n % 4 === 0 && p.slot === 1 + (n % 3) ? { enabled: false } : {}),
  }));
}

const runs = fc.array(
  fc.tuple(fc.nat(99), fc.nat(99), fc.nat(99), fc.integer({ min: 0, max: 3000 })),
  { minLength: 20, maxLength: 250, size: 'max' },
);

const holdsInvoice = (s: State): string | undefined =>
  s.kind === 'awaitingPayment' || s.kind === 'cancelling' ? s.invoice.reference : undefined;

const hasEntry = (t: RecoveredTransaction, p: (e: LedgerEntry) => boolean): boolean =>
  t.entries.some(p);

const recordedEntries = (effects: readonly Effect[]): LedgerEntry[] =>
  effects.flatMap((e) => (e.type === 'ledger.record' ? [e.entry] : []));

describe('core invariants over random runs from random ledgers', () => {
  it('1: the relay is driven only after PAID was seen and both PAID and dispense.started are durable', () => {
    fc.assert(
      fc.property(openTxs, runs, (ledger, choices) => {
        const { recovered, steps } = simulate(ledger, choices);
        const paidSeen = new Set<string>();
        const durable = new Set<string>();
        for (const t of recovered)
          if (hasEntry(t, (e) => e.type === 'status.seen' && e.status === 'PAID')) {
            paidSeen.add(t.txId);
            durable.add(`${t.txId}:paid`);
          }
        for (const { event, effects } of steps) {
          if (event.type === 'payment.statusReceived' && event.status.status === 'PAID')
            paidSeen.add(event.txId);
          if (event.type === 'ledger.recorded') {
            const e = event.entry;
            if (e.type === 'status.seen' && e.status === 'PAID') durable.add(`${e.txId}:paid`);
            if (e.type === 'dispense.started') durable.add(`${e.txId}:started`);
          }
          for (const effect of effects)
            if (effect.type === 'dispenser.dispense') {
              expect(paidSeen.has(effect.txId)).toBe(true);
              expect(durable.has(`${effect.txId}:paid`)).toBe(true);
              expect(durable.has(`${effect.txId}:started`)).toBe(true);
            }
        }
      }),
      { numRuns: 400 },
    );
  });

  it('2: at most one dispense per transaction; never one for a dispense a restart interrupted or a payment refunded', () => {
    fc.assert(
      fc.property(openTxs, runs, (ledger, choices) => {
        const { recovered, steps } = simulate(ledger, choices);
        const dispensed = new Map<string, number>();
        const refunded = new Set<string>();
        for (const { effects } of steps)
          for (const effect of effects) {
            if (effect.type === 'payment.refund') refunded.add(effect.txId);
            if (effect.type === 'dispenser.dispense') {
              expect(refunded.has(effect.txId), `${effect.txId} dispensed after a refund`).toBe(
                false,
              );
              dispensed.set(effect.txId, (dispensed.get(effect.txId) ?? 0) + 1);
            }
          }
        for (const count of dispensed.values()) expect(count).toBe(1);
        for (const t of recovered)
          if (hasEntry(t, (e) => e.type === 'dispense.started'))
            expect(dispensed.get(t.txId) ?? 0, `${t.txId} dispensed again`).toBe(0);
      }),
      { numRuns: 400 },
    );
  });

  it('3: recovery leaves no open transaction behind: closed, refunded by a job, or run as a purchase phase', () => {
    fc.assert(
      fc.property(openTxs, (ledger) => {
        const { recovered, steps } = simulate(ledger, []);
        const [loaded] = steps;
        if (!loaded) throw new Error('no recovery step');
        const closed = new Set(
          recordedEntries(loaded.effects).flatMap((e) => (e.type === 'tx.closed' ? [e.txId] : [])),
        );
        const to = loaded.to;
        const queued = new Set([
          ...(to.recovery.loaded
            ? to.recovery.items.map((i) =>
                i.kind === 'reservation' ? i.reservation.txId : i.purchase.txId,
              )
            : []),
          ...to.background.jobs.filter((j) => j.kind === 'refund').map((j) => j.txId),
          ...('purchase' in to ? [to.purchase.txId] : []),
        ]);
        const receipts = new Set(
          to.background.jobs.filter((j) => j.kind === 'receipt').map((j) => j.txId),
        );
        for (const t of recovered) {
          const n = (closed.has(t.txId) ? 1 : 0) + (queued.has(t.txId) ? 1 : 0);
          expect(n, `${t.txId}: ${t.entries.map((e) => e.type).join(' ')}`).toBe(1);
          // A payment is never closed without an end: sold, refunded or flagged.
          if (
            closed.has(t.txId) &&
            hasEntry(t, (e) => e.type === 'status.seen' && e.status === 'PAID')
          ) {
            const outcome = recordedEntries(loaded.effects).find(
              (e) => e.type === 'tx.closed' && e.txId === t.txId,
            );
            expect(['sold', 'refunded', 'flagged']).toContain(
              outcome?.type === 'tx.closed' ? outcome.outcome : undefined,
            );
          }
          // An interrupted dispense: recorded uncertain, never dispensed again; refunded (the
          // default dispense.onInterrupted).
          const last = t.entries.at(-1);
          if (last?.type === 'dispense.started') {
            expect(recordedEntries(loaded.effects)).toContainEqual(
              expect.objectContaining({
                type: 'dispense.finished',
                txId: t.txId,
                outcome: 'uncertain',
              }),
            );
            expect(to.background.jobs).toContainEqual(
              expect.objectContaining({ kind: 'refund', txId: t.txId }),
            );
          }
          // A delivery closes as a sale and owes SEQR its receipt.
          const delivered = hasEntry(
            t,
            (e) => e.type === 'dispense.finished' && e.outcome === 'delivered',
          );
          const refundedBefore = hasEntry(t, (e) => e.type === 'refund.confirmed');
          expect(receipts.has(t.txId), `${t.txId} receipt job`).toBe(delivered && !refundedBefore);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('4: an open invoice is left only on a final status from SEQR (or SEQR answering only 54, to poll and cancel, for a while)', () => {
    fc.assert(
      fc.property(openTxs, runs, (ledger, choices) => {
        for (const { from, event, to, effects } of simulate(ledger, choices).steps) {
          const open = holdsInvoice(from);
          if (open === undefined || holdsInvoice(to) === open) continue;
          const final =
            event.type === 'payment.statusReceived' &&
            ['PAID', 'CANCELED', 'FAILED', 'EXPIRED'].includes(event.status.status);
          const givenUp =
            from.kind === 'cancelling' &&
            event.type === 'payment.failed' &&
            event.failure.code === 'E_SEQR_UNKNOWN_INVOICE' &&
            (event.op === 'cancel' || from.unknown?.cancel === true) &&
            from.unknown !== undefined &&
            event.at - from.unknown.since >= testConfig.unknownInvoiceGiveUpMs;
          expect(final || givenUp, `${from.kind} left on ${event.type}`).toBe(true);
          // A payment SEQR may have committed into a lost answer is never closed as failed.
          if (givenUp)
            expect(recordedEntries(effects)).toContainEqual({
              type: 'tx.closed',
              txId: from.purchase.txId,
              outcome: from.polling.paidMayBeMissed ? 'flagged' : 'failed',
            });
        }
      }),
      { numRuns: 400 },
    );
  });

  it('4: every invoice recovery finds open is cancelled and polled before the machine sells', () => {
    fc.assert(
      fc.property(openTxs, runs, (ledger, choices) => {
        const { recovered, steps } = simulate(ledger, choices);
        const open = recovered.filter(
          (t) =>
            !hasEntry(t, (e) => e.type === 'status.seen') ||
            t.entries.every((e) => e.type !== 'status.seen' || e.status === 'ISSUED'),
        );
        const openRefs = new Set(
          open.flatMap((t) =>
            t.entries.flatMap((e) => (e.type === 'invoice.issued' ? [e.invoiceReference] : [])),
          ),
        );
        const resolved = new Set<string>();
        for (const { from, to, effects } of steps) {
          for (const e of effects)
            if (e.type === 'payment.cancel' && openRefs.has(e.reference)) resolved.add(e.reference);
          // A new purchase starts only once every recovered open invoice had its cancel.
          if (to.kind === 'invoicing' && from.kind !== 'invoicing')
            expect([...openRefs].filter((r) => !resolved.has(r))).toEqual([]);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('5: while an invoice is open, never two status calls out at once, and the poll timer keeps running', () => {
    fc.assert(
      fc.property(openTxs, runs, (ledger, choices) => {
        let inFlight = 0;
        const pollTimer: { token?: string } = {};
        for (const { from, event, to, effects } of simulate(ledger, choices).steps) {
          if (
            event.type === 'timer.expired' &&
            event.name === 'poll' &&
            event.token === pollTimer.token
          )
            delete pollTimer.token;
          for (const e of effects)
            if (e.type === 'timer.start' && e.name === 'poll') pollTimer.token = e.token;
            else if (e.type === 'timer.cancel' && e.name === 'poll') delete pollTimer.token;
          // No call out: the next one is due on a running timer.
          if ('polling' in to && !to.polling.inFlight)
            expect(pollTimer.token, `${to.kind} after ${event.type}`).toBe(
              `${to.purchase.txId}:poll:${to.polling.dueAt}`,
            );
          if (
            (event.type === 'payment.statusReceived' ||
              (event.type === 'payment.failed' && event.op === 'poll')) &&
            'polling' in from &&
            from.polling.inFlight &&
            event.txId === from.purchase.txId
          )
            inFlight = 0;
          if (holdsInvoice(from) === undefined) inFlight = 0;
          // The runtime skips what waited behind a failed record: the first poll never went out.
          if (event.type === 'ledger.failed' && event.entry.type === 'invoice.issued') inFlight = 0;
          const polls = effects.filter((e) => e.type === 'payment.poll').length;
          expect(inFlight + polls).toBeLessThanOrEqual(1);
          if (polls > 0) inFlight = 1;
          if ('polling' in to) {
            // Either a call is out, or the next one is scheduled: polling never stops by itself.
            expect(to.polling.inFlight || to.polling.dueAt > 0).toBe(true);
            if (!to.polling.inFlight && to.polling.overdue)
              expect.fail('overdue with nothing in flight');
          }
        }
      }),
      { numRuns: 400 },
    );
  });

  it('5: a failed status call is followed at once by another, unless it was itself sent at once after a failure', () => {
    fc.assert(
      fc.property(openTxs, runs, (ledger, choices) => {
        for (const { from, event, to, effects } of simulate(ledger, choices).steps) {
          if (
            event.type !== 'payment.failed' ||
            event.op !== 'poll' ||
            !('polling' in from) ||
            !from.polling.inFlight ||
            event.txId !== from.purchase.txId ||
            holdsInvoice(to) !== holdsInvoice(from)
          )
            continue;
          const polled = effects.some((e) => e.type === 'payment.poll');
          expect(polled, `after a failed poll (retry ${String(from.polling.retry)})`).toBe(
            from.polling.overdue || !from.polling.retry,
          );
        }
      }),
      { numRuns: 400 },
    );
  });

  it('4: a cancel that failed or met a paying customer goes out again on a running retry timer, after a bounded backoff', () => {
    fc.assert(
      fc.property(openTxs, runs, (ledger, choices) => {
        let retry: string | undefined;
        for (const { from, event, to, effects } of simulate(ledger, choices).steps) {
          if (event.type === 'timer.expired' && event.name === 'retry' && event.token === retry)
            retry = undefined;
          for (const e of effects)
            if (e.type === 'timer.start' && e.name === 'retry') retry = e.token;
            else if (e.type === 'timer.cancel' && e.name === 'retry') retry = undefined;
          if (to.kind !== 'cancelling' || to.cancel !== 'waiting') continue;
          expect(retry, `waiting after ${event.type}`).toBe(
            `${to.purchase.txId}:retry:${String(to.retryAt)}`,
          );
          if (from.kind !== 'cancelling' || from.cancel !== 'waiting') {
            const delay = (to.retryAt ?? 0) - event.at;
            expect(delay).toBeGreaterThanOrEqual(testConfig.cancelRetryMinMs);
            expect(delay).toBeLessThanOrEqual(testConfig.cancelRetryMaxMs);
          }
        }
      }),
      { numRuns: 400 },
    );
  });

  it('receipts: every delivery owes one; one call at a time; never sent again once SEQR took or refused it', () => {
    fc.assert(
      fc.property(openTxs, runs, (ledger, choices) => {
        const { steps } = simulate(ledger, choices);
        let inFlight = 0;
        const settled = new Set<string>();
        for (const { event, to, effects } of steps) {
          if (event.type === 'payment.receiptSubmitted') {
            inFlight = Math.max(0, inFlight - 1);
            settled.add(event.txId);
          }
          if (event.type === 'payment.failed' && event.op === 'submitReceipt') {
            inFlight = Math.max(0, inFlight - 1);
            if (!event.retryable && event.txId !== undefined) settled.add(event.txId);
          }
          for (const e of effects) {
            if (e.type === 'payment.submitReceipt') {
              expect(settled.has(e.txId), `${e.txId} receipt sent again`).toBe(false);
              inFlight += 1;
              expect(inFlight, 'two receipt calls in flight').toBe(1);
            }
          }
          for (const e of recordedEntries(effects))
            if (e.type === 'dispense.finished' && e.outcome === 'delivered')
              expect(to.background.jobs).toContainEqual(
                expect.objectContaining({ kind: 'receipt', txId: e.txId }),
              );
        }
      }),
      { numRuns: 300 },
    );
  });

  it('refunds: one attempt in flight per transaction, each behind its own refund.requested, never after a refusal for good or a delivery', () => {
    fc.assert(
      fc.property(openTxs, runs, (ledger, choices) => {
        const { recovered, steps } = simulate(ledger, choices);
        const inFlight = new Map<string, number>();
        const refused = new Set<string>();
        const delivered = new Set(
          recovered
            .filter((t) =>
              hasEntry(t, (e) => e.type === 'dispense.finished' && e.outcome === 'delivered'),
            )
            .map((t) => t.txId),
        );
        for (const t of recovered) {
          const last = [...t.entries].reverse().find((e) => e.type.startsWith('refund.'));
          if (last?.type === 'refund.failed' && last.failure.code === 'E_REFUND_REFUSED')
            refused.add(t.txId);
        }
        for (const { event, effects } of steps) {
          if (
            (event.type === 'payment.refunded' ||
              (event.type === 'payment.failed' && event.op === 'refund')) &&
            event.txId !== undefined
          )
            inFlight.set(event.txId, Math.max(0, (inFlight.get(event.txId) ?? 0) - 1));
          if (event.type === 'ledger.failed' && event.entry.type === 'refund.requested')
            inFlight.set(event.entry.txId, 0);
          if (
            event.type === 'payment.failed' &&
            event.op === 'refund' &&
            event.txId !== undefined
          ) {
            const from = event.failure.code;
            if (from === 'E_REFUND_REFUSED') refused.add(event.txId);
          }
          for (const e of recordedEntries(effects))
            if (e.type === 'dispense.finished' && e.outcome === 'delivered') delivered.add(e.txId);
          effects.forEach((e, i) => {
            if (e.type !== 'payment.refund') return;
            expect(refused.has(e.txId), `${e.txId} refund re-sent after a refusal`).toBe(false);
            expect(delivered.has(e.txId), `${e.txId} refunded after a delivery`).toBe(false);
            expect(effects[i - 1]).toMatchObject({
              type: 'ledger.record',
              entry: { type: 'refund.requested', txId: e.txId, amount: e.request.amount },
            });
            expect(effects.filter((x) => x.type === 'ledger.record')).toHaveLength(1);
            const n = (inFlight.get(e.txId) ?? 0) + 1;
            expect(n, `${e.txId}: two refund calls in flight`).toBe(1);
            inFlight.set(e.txId, n);
          });
        }
      }),
      { numRuns: 400 },
    );
  });

  it('every state but idle and maintenance has a deadline timer running', () => {
    fc.assert(
      fc.property(openTxs, runs, (ledger, choices) => {
        let deadline: string | undefined;
        for (const { to, effects, event } of simulate(ledger, choices).steps) {
          for (const e of effects)
            if (e.type === 'timer.start' && e.name === 'deadline') deadline = e.token;
          if (
            event.type === 'timer.expired' &&
            event.name === 'deadline' &&
            event.token === deadline
          )
            deadline = undefined;
          if (to.kind !== 'idle' && to.kind !== 'maintenance')
            expect(deadline, `${to.kind} after ${event.type}`).toBe(to.deadline);
        }
      }),
      { numRuns: 400 },
    );
  });

  it("the operator's changes: a purchase starts only outside maintenance mode, for a product on sale in that moment's catalogue, and keeps that price to the receipt; idle is never shown in maintenance mode", () => {
    fc.assert(
      fc.property(openTxs, runs, (ledger, choices) => {
        const prices = new Map<string, Money>();
        for (const { from, event, to, effects } of simulate(ledger, choices).steps) {
          if (to.kind === 'idle') expect(to.maintenance, `idle after ${event.type}`).toBe(false);
          for (const entry of recordedEntries(effects))
            if (entry.type === 'invoice.requested' && entry.probe === true) {
              // The out-of-service probe's invoice: nobody's purchase, never shown, cancelled.
              expect(from.kind).toBe('outOfService');
              prices.set(entry.txId, entry.price);
            } else if (entry.type === 'invoice.requested') {
              expect(event.type).toBe('button.pressed');
              expect(from.maintenance).toBe(false);
              const listed = from.products.find((p) => p.slot === entry.slot);
              expect(listed?.enabled).not.toBe(false);
              expect(entry.price).toEqual(listed?.price);
              prices.set(entry.txId, entry.price);
            }
          for (const e of effects) {
            if (e.type === 'payment.issue') expect(e.request.price).toEqual(prices.get(e.txId));
            if (e.type === 'printer.print' && prices.has(e.txId))
              expect(e.receipt.amount).toEqual(prices.get(e.txId));
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('the random runs reach every state, dispense, refund and retry (so the properties above are not vacuous)', () => {
    const seen = new Set<string>();
    let dispenses = 0;
    let refunds = 0;
    let retries = 0;
    let recoveredPurchases = 0;
    let probes = 0;
    let receipts = 0;
    let cancelRetries = 0;
    let unknownAnswers = 0;
    fc.assert(
      fc.property(openTxs, runs, (ledger, choices) => {
        for (const { to, effects } of simulate(ledger, choices).steps) {
          seen.add(to.kind);
          dispenses += effects.filter((e) => e.type === 'dispenser.dispense').length;
          for (const e of recordedEntries(effects))
            if (e.type === 'refund.requested') {
              refunds++;
              if (e.initiator === 'retry') retries++;
              if (e.initiator === 'recovery') recoveredPurchases++;
            }
          for (const e of recordedEntries(effects))
            if (e.type === 'invoice.requested' && e.probe) probes++;
          receipts += effects.filter((e) => e.type === 'payment.submitReceipt').length;
          if (to.kind === 'cancelling' && to.cancelAttempts > 1) cancelRetries++;
          if (to.kind === 'cancelling' && to.reason === 'unknownAnswer') unknownAnswers++;
        }
      }),
      { numRuns: 300, seed: 42 },
    );
    expect(probes).toBeGreaterThan(0);
    expect(receipts).toBeGreaterThan(10);
    expect(cancelRetries).toBeGreaterThan(0);
    expect(unknownAnswers).toBeGreaterThan(0);
    expect([...seen].sort()).toEqual(
      [
        'awaitingPayment',
        'cancelling',
        'dispensing',
        'finishing',
        'idle',
        'invoicing',
        'maintenance',
        'notice',
        'outOfService',
        'refunding',
      ].sort(),
    );
    expect(dispenses).toBeGreaterThan(10);
    expect(refunds).toBeGreaterThan(10);
    expect(retries).toBeGreaterThan(0);
    expect(recoveredPurchases).toBeGreaterThan(0);
  });

  it('only refunds, and the first poll behind invoice.issued, wait behind a ledger record (nothing else can be stranded by a failed write)', () => {
    // The runtime starts payment, dispenser, printer and display effects listed after a
    // ledger.record only once it is durable, and skips them if it fails: so a poll or cancel placed
    // there could be lost. The one exception is the first poll of an invoice, held back until
    // invoice.issued is durable: the core restarts polling when that record fails (tested below).
    const free = new Set([
      'display.show',
      'timer.start',
      'timer.cancel',
      'log',
      'ledger.record',
      'payment.refund',
    ]);
    fc.assert(
      fc.property(openTxs, runs, (ledger, choices) => {
        for (const { event, effects } of simulate(ledger, choices).steps) {
          const first = effects.findIndex((e) => e.type === 'ledger.record');
          if (first < 0) continue;
          const onlyIssued = effects.every(
            (e) => e.type !== 'ledger.record' || e.entry.type === 'invoice.issued',
          );
          for (const e of effects.slice(first))
            expect(
              free.has(e.type) || (e.type === 'payment.poll' && onlyIssued),
              `${e.type} after a record on ${event.type}`,
            ).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('invoice.issued recorded before the pay screen and the first poll; if it fails, cancelled and polled to a final status', () => {
    const issued = core.step(STATES['invoicing/issuing'], EVENTS['payment.issued']());
    const types = issued.effects.map((e) => e.type);
    const record = types.indexOf('ledger.record');
    expect(issued.effects[record]).toMatchObject({ entry: { type: 'invoice.issued' } });
    expect(record).toBeLessThan(types.indexOf('display.show'));
    expect(record).toBeLessThan(types.indexOf('payment.poll'));

    const failed = core.step(issued.state, {
      type: 'ledger.failed',
      entry: { type: 'invoice.issued', txId: 'tx-1', invoiceReference: invoice.reference },
      failure: { code: 'E_LEDGER_WRITE' },
      at: 0,
    });
    expect(failed.state).toMatchObject({ kind: 'cancelling', polling: { inFlight: true } });
    const after = failed.effects.map((e) => e.type);
    // Neither the cancel nor the new poll waits behind a record (the ledger is failing).
    const firstRecord = after.indexOf('ledger.record');
    expect(after.indexOf('payment.cancel')).toBeLessThan(firstRecord);
    expect(after.indexOf('payment.poll')).toBeLessThan(firstRecord);
  });
});
