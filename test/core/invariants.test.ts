import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Effect, Event, State, TimerName } from '../../daemon/core/types.js';
import type { InvoiceStatus } from '../../daemon/ports/payment-gateway.js';
import { EVENTS, STATES, core, invoice } from './fixtures.js';

/**
 * Random runs of the pure core. A driver plays the world: at each step it picks (from a random
 * choice) one event among the answers to the effects still outstanding (successes, every failure
 * kind, late and duplicate answers), the timers started, button presses and stale noise, and
 * moves time forward by a random amount. Then it checks the money-safety invariants on the trace.
 */
interface Outstanding {
  readonly effect: Effect;
  readonly since: number;
}

const STATUSES: readonly InvoiceStatus[] = [
  'ISSUED',
  'ISSUED',
  'PAID',
  'CANCELED',
  'FAILED',
  'PENDING_ISSUER_ACKNOWLEDGE',
];
const CODES = ['E_SEQR_UNREACHABLE', 'E_SEQR_TIMEOUT', 'E_SEQR_AUTH', 'E_SEQR_RESULT'] as const;

function answers(o: Outstanding, at: number, pick: number): Event[] {
  const e = o.effect;
  const fail = (op: Extract<Event, { type: 'payment.failed' }>['op'], txId?: string): Event => {
    const code = CODES[pick % CODES.length]!;
    return {
      type: 'payment.failed',
      op,
      ...(txId === undefined ? {} : { txId }),
      code,
      retryable: code !== 'E_SEQR_AUTH' && code !== 'E_SEQR_RESULT',
      ...(code === 'E_SEQR_RESULT' ? { resultCode: pick % 3 === 0 ? 54 : 49 } : {}),
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
            ...(status === 'PAID' ? { ersReference: `ers-${e.txId}` } : {}),
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
    case 'ledger.record':
      return [
        { type: 'ledger.recorded', entry: e.entry, at },
        { type: 'ledger.failed', entry: e.entry, code: 'E_LEDGER_WRITE', at },
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
          code: pick % 2 ? 'E_DISPENSER_FAULT' : 'E_DISPENSER_BUSY',
          at,
        },
      ];
    case 'printer.print':
      return [
        { type: 'printer.printed', txId: e.txId, at },
        { type: 'printer.failed', txId: e.txId, code: 'E_PRINTER_OFFLINE', at },
      ];
    case 'display.show':
    case 'timer.start':
    case 'timer.cancel':
    case 'log':
      return [];
  }
}

interface Trace {
  readonly steps: {
    readonly from: State;
    readonly event: Event;
    readonly to: State;
    readonly effects: readonly Effect[];
  }[];
}

function simulate(choices: readonly [number, number, number, number][]): Trace {
  let at = 1_000_000;
  let tx = 0;
  const first = core.start(at);
  let state = first.state;
  let outstanding: Outstanding[] = [];
  const timers = new Map<TimerName, { token: string; at: number }>();
  const steps: Trace['steps'] = [];
  const absorb = (effects: readonly Effect[]): void => {
    for (const effect of effects) {
      if (effect.type === 'timer.start')
        timers.set(effect.name, { token: effect.token, at: effect.at });
      else if (effect.type === 'timer.cancel') timers.delete(effect.name);
      else if (answers({ effect, since: at }, at, 0).length > 0)
        outstanding.push({ effect, since: at });
    }
  };
  absorb(first.effects);
  const apply = (event: Event): void => {
    const t = core.step(state, event);
    steps.push({ from: state, event, to: t.state, effects: t.effects });
    state = t.state;
    absorb(t.effects);
  };
  apply({ type: 'recovery.loaded', transactions: [], at });
  for (const [kind, which, pick, dt] of choices) {
    at += dt;
    const category = kind % 10;
    const timerList = [...timers];
    if (category < 6 && outstanding.length > 0) {
      // Mostly the newest effects, mostly successes: runs get far into purchases.
      const o =
        outstanding[
          outstanding.length - 1 - (which < 70 ? 0 : which % Math.min(3, outstanding.length))
        ]!;
      outstanding = outstanding.filter((x) => x !== o);
      const options = answers(o, at, pick);
      const success = pick % 4 !== 0;
      apply(
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
      apply(
        pick % 2
          ? { type: 'timer.expired', name: 'poll', token: 'stale', at }
          : { type: 'stock.updated', soldOut: pick % 5 === 0 ? [2] : [], at },
      );
    }
  }
  return { steps };
}

const runs = fc.array(
  fc.tuple(fc.nat(99), fc.nat(99), fc.nat(99), fc.integer({ min: 0, max: 3000 })),
  { minLength: 20, maxLength: 250, size: 'max' },
);

const holdsInvoice = (s: State): string | undefined =>
  s.kind === 'awaitingPayment' || s.kind === 'cancelling' ? s.invoice.reference : undefined;

describe('core invariants over random runs', () => {
  it('1: the relay is driven only after PAID was seen and both PAID and dispense.started are durable', () => {
    fc.assert(
      fc.property(runs, (choices) => {
        const paidSeen = new Set<string>();
        const durable = new Set<string>();
        for (const { event, effects } of simulate(choices).steps) {
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

  it('2: at most one dispense per transaction (and so per paid invoice)', () => {
    fc.assert(
      fc.property(runs, (choices) => {
        const dispensed = new Map<string, number>();
        for (const { effects } of simulate(choices).steps)
          for (const effect of effects)
            if (effect.type === 'dispenser.dispense')
              dispensed.set(effect.txId, (dispensed.get(effect.txId) ?? 0) + 1);
        for (const count of dispensed.values()) expect(count).toBe(1);
      }),
      { numRuns: 400 },
    );
  });

  it('4: an open invoice is left only on a final status from SEQR (or SEQR not knowing it)', () => {
    fc.assert(
      fc.property(runs, (choices) => {
        for (const { from, event, to } of simulate(choices).steps) {
          const open = holdsInvoice(from);
          if (open === undefined || holdsInvoice(to) === open) continue;
          const final =
            (event.type === 'payment.statusReceived' &&
              ['PAID', 'CANCELED', 'FAILED', 'EXPIRED'].includes(event.status.status)) ||
            (event.type === 'payment.failed' && event.op === 'poll' && event.resultCode === 54);
          expect(final, `${from.kind} left on ${event.type}`).toBe(true);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('5: while an invoice is open, never two status calls out at once, and the poll timer keeps running', () => {
    fc.assert(
      fc.property(runs, (choices) => {
        let inFlight = 0;
        for (const { from, event, to, effects } of simulate(choices).steps) {
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

  it('every state but idle has a deadline timer running', () => {
    fc.assert(
      fc.property(runs, (choices) => {
        let deadline: string | undefined;
        for (const { to, effects, event } of simulate(choices).steps) {
          for (const e of effects)
            if (e.type === 'timer.start' && e.name === 'deadline') deadline = e.token;
          if (
            event.type === 'timer.expired' &&
            event.name === 'deadline' &&
            event.token === deadline
          )
            deadline = undefined;
          if (to.kind !== 'idle')
            expect(deadline, `${to.kind} after ${event.type}`).toBe(to.deadline);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('the random runs reach every state and dispense (so the properties above are not vacuous)', () => {
    const seen = new Set<string>();
    let dispenses = 0;
    fc.assert(
      fc.property(runs, (choices) => {
        for (const { to, effects } of simulate(choices).steps) {
          seen.add(to.kind);
          dispenses += effects.filter((e) => e.type === 'dispenser.dispense').length;
        }
      }),
      { numRuns: 300, seed: 42 },
    );
    expect([...seen].sort()).toEqual(
      [
        'awaitingPayment',
        'cancelling',
        'dispensing',
        'finishing',
        'idle',
        'invoicing',
        'notice',
        'outOfService',
        'refunding',
      ].sort(),
    );
    expect(dispenses).toBeGreaterThan(10);
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
      fc.property(runs, (choices) => {
        for (const { event, effects } of simulate(choices).steps) {
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
      code: 'E_LEDGER_WRITE',
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
