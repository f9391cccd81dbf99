import { describe, expect, it } from 'vitest';
import { planRecovery } from '../../daemon/core/recovery.js';
import type { Effect, Event, State, Transition } from '../../daemon/core/types.js';
import type { LedgerEntry, TimedEntry } from '../../daemon/ports/ledger.js';
import { testConfig } from '../support/core-config.js';
import { T0, core } from './fixtures.js';

const price = { minor: 2500, currency: 'SEK' };
const at = (entries: readonly LedgerEntry[], when = T0 - 5_000): TimedEntry[] =>
  entries.map((e, i) => ({ ...e, at: when + i }));
const requested = (txId = 't'): LedgerEntry => ({
  type: 'invoice.requested',
  txId,
  slot: 1,
  productName: 'Cola',
  price,
});
const issued = (txId = 't', ref = 'R1'): LedgerEntry => ({
  type: 'invoice.issued',
  txId,
  invoiceReference: ref,
});
const paid: LedgerEntry = {
  type: 'status.seen',
  txId: 't',
  status: 'PAID',
  version: 2,
  ersReference: 'E1',
};
const started: LedgerEntry = { type: 'dispense.started', txId: 't', slot: 1 };
const notDelivered: LedgerEntry = { type: 'dispense.finished', txId: 't', outcome: 'notDelivered' };
const refundAsked: LedgerEntry = { type: 'refund.requested', txId: 't', amount: price };

const plan = (entries: LedgerEntry[], when?: number) =>
  planRecovery(testConfig, [{ txId: 't', entries: at(entries, when) }], T0);
const recorded = (effects: readonly Effect[]): string[] =>
  effects.flatMap((e) =>
    e.type === 'ledger.record'
      ? [e.entry.type === 'tx.closed' ? `tx.closed:${e.entry.outcome}` : e.entry.type]
      : e.type === 'log' || e.type === 'display.show' || e.type.startsWith('timer')
        ? []
        : [e.type],
  );

/** The core from start, fed `events` in order; every transition kept. */
function run(events: readonly Event[]): Transition[] {
  let state: State = core.start(T0).state;
  return events.map((e) => {
    const t = core.step(state, e);
    state = t.state;
    return t;
  });
}

const loaded = (...transactions: { txId: string; entries: LedgerEntry[]; when?: number }[]) =>
  ({
    type: 'recovery.loaded',
    transactions: transactions.map((t) => ({ txId: t.txId, entries: at(t.entries, t.when) })),
    at: T0,
  }) as const;

/** Fires the settle timer the state asked for. */
const settle = (s: State): Event => ({
  type: 'timer.expired',
  name: 'settle',
  token: `background:settle:${String(s.background.settleAt)}`,
  at: s.background.settleAt ?? T0,
});

describe('start-up recovery plan', () => {
  it('never issued: closed failed', () => {
    expect(recorded(plan([requested()]).effects)).toEqual(['tx.closed:failed']);
  });

  it('paid and delivered: closed sold, its receipt owed to SEQR as a job (none once SEQR has it)', () => {
    const delivered: LedgerEntry = { type: 'dispense.finished', txId: 't', outcome: 'delivered' };
    const p = plan([requested(), issued(), paid, started, delivered]);
    expect(recorded(p.effects)).toEqual(['tx.closed:sold']);
    expect(p.jobs).toMatchObject([
      {
        kind: 'receipt',
        txId: 't',
        ersReference: 'E1',
        attempts: 0,
        dueAt: T0,
        document: { receiptType: 'PAYMENT_RECEIPT' },
      },
    ]);
    expect(p.jobs[0]?.kind === 'receipt' && p.jobs[0].document.text).toContain('Payment E1');
    const submitted: LedgerEntry = { type: 'receipt.submitted', txId: 't' };
    expect(plan([requested(), issued(), paid, started, delivered, submitted]).jobs).toEqual([]);
  });

  it('an uncertain outcome recorded: refunded by default, flagged with dispense.onInterrupted: flag', () => {
    const uncertain: LedgerEntry = { type: 'dispense.finished', txId: 't', outcome: 'uncertain' };
    const p = plan([requested(), issued(), paid, started, uncertain]);
    expect(recorded(p.effects)).toEqual([]);
    expect(p.jobs).toMatchObject([{ kind: 'refund', txId: 't', initiator: 'recovery' }]);
    const flag = planRecovery(
      { ...testConfig, onInterruptedDispense: 'flag' },
      [{ txId: 't', entries: at([requested(), issued(), paid, started, uncertain]) }],
      T0,
    );
    expect(recorded(flag.effects)).toEqual(['tx.closed:flagged']);
    expect(flag.jobs).toEqual([]);
  });

  it.each([
    [
      [refundAsked, { type: 'refund.confirmed', txId: 't', refundReference: 'X' }],
      'tx.closed:refunded',
    ],
    [
      [
        refundAsked,
        { type: 'refund.confirmed', txId: 't', refundReference: '', inferred: 'sumExceeded' },
      ],
      'tx.closed:flagged',
    ],
  ] as [LedgerEntry[], string][])('paid, then %j -> %s', (tail, outcome) => {
    const p = plan([requested(), issued(), paid, started, ...tail]);
    expect(recorded(p.effects)).toEqual([outcome]);
    expect(p.jobs).toEqual([]);
    expect(p.items).toEqual([]);
  });

  it('a final status recorded: closed cancelled or failed, SEQR not asked', () => {
    const canceled: LedgerEntry = {
      type: 'status.seen',
      txId: 't',
      status: 'CANCELED',
      version: 3,
    };
    const failed: LedgerEntry = { type: 'status.seen', txId: 't', status: 'FAILED', version: 3 };
    expect(recorded(plan([requested(), issued(), canceled]).effects)).toEqual([
      'tx.closed:cancelled',
    ]);
    expect(recorded(plan([requested(), issued(), failed]).effects)).toEqual(['tx.closed:failed']);
  });

  it('dispense started without an outcome (flag): uncertain and flagged, never dispensed again, no refund', () => {
    const p = planRecovery(
      { ...testConfig, onInterruptedDispense: 'flag' },
      [{ txId: 't', entries: at([requested(), issued(), paid, started]) }],
      T0,
    );
    expect(recorded(p.effects)).toEqual(['dispense.finished', 'tx.closed:flagged']);
    expect(p.effects[0]).toMatchObject({ entry: { outcome: 'uncertain' } });
    expect(
      p.effects.some((e) => e.type === 'log' && e.fields?.['code'] === 'E_DISPENSE_INTERRUPTED'),
    ).toBe(true);
    expect(p.jobs).toEqual([]);
    expect(p.items).toEqual([]);
  });

  it('dispense started without an outcome (refund, the default): uncertain, never dispensed again, refunded', () => {
    const p = plan([requested(), issued(), paid, started]);
    expect(recorded(p.effects)).toEqual(['dispense.finished']);
    expect(p.effects[0]).toMatchObject({
      entry: { outcome: 'uncertain', detail: 'restarted during the dispense' },
    });
    expect(
      p.effects.some((e) => e.type === 'log' && e.fields?.['code'] === 'E_DISPENSE_INTERRUPTED'),
    ).toBe(true);
    expect(p.jobs).toMatchObject([
      { kind: 'refund', txId: 't', initiator: 'recovery', facts: { ersReference: 'E1' } },
    ]);
    expect(p.items).toEqual([]);
  });

  it('dispense started and the drop sensor recorded a drop: delivered, sold, the receipt owed (either policy)', () => {
    for (const policy of ['refund', 'flag'] as const) {
      const p = planRecovery(
        { ...testConfig, onInterruptedDispense: policy },
        [
          {
            txId: 't',
            entries: at([
              requested(),
              issued(),
              paid,
              started,
              { type: 'dispense.dropped', txId: 't' },
            ]),
          },
        ],
        T0,
      );
      expect(recorded(p.effects)).toEqual(['dispense.finished', 'tx.closed:sold']);
      expect(p.effects[0]).toMatchObject({ entry: { outcome: 'delivered' } });
      expect(p.jobs).toMatchObject([{ kind: 'receipt', txId: 't' }]);
    }
  });

  it('receipts owed by sales closed before the restart become jobs, their failed attempts counted', () => {
    const sale = (txId: string, ...tail: LedgerEntry[]) => ({
      txId,
      entries: at([
        requested(txId),
        issued(txId, `R-${txId}`),
        { ...paid, txId, ersReference: `E-${txId}` },
        { type: 'dispense.started', txId, slot: 1 },
        { type: 'dispense.finished', txId, outcome: 'delivered' },
        { type: 'tx.closed', txId, outcome: 'sold' },
        ...tail,
      ]),
    });
    const failure = { code: 'E_SEQR_TIMEOUT' } as const;
    const p = planRecovery(testConfig, [], T0, [
      sale('a'),
      sale('b', { type: 'receipt.submitFailed', txId: 'b', failure }),
    ]);
    expect(p.effects).toEqual([]);
    expect(p.jobs).toMatchObject([
      { kind: 'receipt', txId: 'a', ersReference: 'E-a', attempts: 0 },
      { kind: 'receipt', txId: 'b', ersReference: 'E-b', attempts: 1 },
    ]);
  });

  it('PAID with nothing dispensed: dispensed while the customer may still be there, refunded after', () => {
    const recent = plan([requested(), issued(), paid], T0 - testConfig.maxCustomerAgeMs + 5_000);
    expect(recent.items).toMatchObject([{ kind: 'dispense', paid: { ersReference: 'E1' } }]);
    expect(recent.jobs).toEqual([]);
    const old = plan([requested(), issued(), paid], T0 - testConfig.maxCustomerAgeMs - 10);
    expect(old.items).toEqual([]);
    expect(old.jobs).toMatchObject([{ txId: 't', initiator: 'recovery', dueAt: T0, attempts: 0 }]);
  });

  it('not delivered, or a refund requested / failed: a refund job, due at once, its attempts counted', () => {
    const failedOnce: LedgerEntry = {
      type: 'refund.failed',
      txId: 't',
      failure: { code: 'E_SEQR_TIMEOUT' },
    };
    for (const [tail, attempts] of [
      [[notDelivered], 0],
      [[notDelivered, refundAsked], 1],
      [[notDelivered, refundAsked, failedOnce], 1],
    ] as const) {
      const p = plan([requested(), issued(), paid, started, ...tail]);
      expect(p.effects.filter((e) => e.type === 'ledger.record')).toEqual([]);
      expect(p.jobs).toMatchObject([
        { txId: 't', dueAt: T0, attempts, facts: { ersReference: 'E1', refundedMinor: 0 } },
      ]);
    }
  });

  it('every open invoice is resolved, one at a time, newest first; none is closed blind', () => {
    const p = planRecovery(
      testConfig,
      [
        { txId: 'a', entries: at([requested('a'), issued('a', 'RA')]) },
        { txId: 'b', entries: at([requested('b'), issued('b', 'RB')]) },
        { txId: 'c', entries: at([requested('c'), issued('c', 'RC')]) },
      ],
      T0,
    );
    expect(p.effects).toEqual([]);
    expect(p.items.map((i) => (i.kind === 'resolve' ? i.invoice.reference : i.kind))).toEqual([
      'RC',
      'RB',
      'RA',
    ]);
    expect(p.items[0]).toMatchObject({ invoice: { qrPayload: 'HTTP://SEQR.SE/RRC' } });
  });
});

describe('start-up recovery in the core', () => {
  it('an open invoice: cancel and poll at once, before any recovery record (a failed write cannot strand it)', () => {
    const [t] = run([
      loaded(
        {
          txId: 'p',
          entries: [requested('p'), issued('p', 'RP'), { ...paid, txId: 'p' }],
          when: T0 - 600_000,
        },
        { txId: 't', entries: [requested(), issued()] },
      ),
    ]);
    expect(t!.state.kind).toBe('cancelling');
    const types = t!.effects.map((e) => e.type);
    const firstRecord = types.indexOf('ledger.record');
    expect(types.indexOf('payment.cancel')).toBeLessThan(firstRecord);
    expect(types.indexOf('payment.poll')).toBeLessThan(firstRecord);
    // The old payment is a refund job: its attempt goes out on the settle timer, in a step of its own.
    expect(types).not.toContain('payment.refund');
    expect(t!.state.background.jobs.map((j) => j.txId)).toEqual(['p']);
  });

  it('two open invoices: the second is cancelled once the first has its final status, then idle', () => {
    const [first, final, ended, second, final2, ended2] = run([
      loaded(
        { txId: 'a', entries: [requested('a'), issued('a', 'RA')] },
        { txId: 'b', entries: [requested('b'), issued('b', 'RB')] },
      ),
      {
        type: 'payment.statusReceived',
        txId: 'b',
        status: { status: 'CANCELED', version: 2 },
        at: T0 + 100,
      },
      { type: 'button.pressed', button: { kind: 'product', slot: 1 }, txId: 'x', at: T0 + 200 },
      {
        type: 'timer.expired',
        name: 'deadline',
        token: `notice:deadline:${T0 + 100 + testConfig.messageMs}`,
        at: T0 + 100 + testConfig.messageMs,
      },
      {
        type: 'payment.statusReceived',
        txId: 'a',
        status: { status: 'CANCELED', version: 2 },
        at: T0 + 6_000,
      },
      {
        type: 'timer.expired',
        name: 'deadline',
        token: `notice:deadline:${T0 + 6_000 + testConfig.messageMs}`,
        at: T0 + 6_000 + testConfig.messageMs,
      },
    ]);
    expect(first!.effects).toContainEqual({ type: 'payment.cancel', txId: 'b', reference: 'RB' });
    expect(recorded(final!.effects)).toEqual(['status.seen', 'tx.closed:cancelled']);
    // A customer's button waits: the older invoice is not resolved yet.
    expect(ended!.state.kind).toBe('notice');
    expect(ended!.effects).toEqual([]);
    expect(second!.state).toMatchObject({ kind: 'cancelling', invoice: { reference: 'RA' } });
    expect(second!.effects).toContainEqual({ type: 'payment.cancel', txId: 'a', reference: 'RA' });
    expect(recorded(final2!.effects)).toEqual(['status.seen', 'tx.closed:cancelled']);
    expect(ended2!.state.kind).toBe('idle');
  });

  it('PAID recorded recently: dispensed once dispense.started is durable, then the receipt', () => {
    const [t, rec] = run([
      loaded({ txId: 't', entries: [requested(), issued(), paid], when: T0 - 10_000 }),
      { type: 'ledger.recorded', entry: started, at: T0 + 5 },
    ]);
    expect(t!.state).toMatchObject({ kind: 'dispensing', step: 'recordingStart' });
    expect(recorded(t!.effects)).toEqual(['dispense.started']);
    expect(rec!.effects).toEqual([{ type: 'dispenser.dispense', txId: 't', slot: 1 }]);
  });

  it('an open invoice SEQR answers PAID: dispensed when paid recently, refunded when paid long ago', () => {
    const answer = (paidAt: string): Event => ({
      type: 'payment.statusReceived',
      txId: 't',
      status: { status: 'PAID', version: 3, ersReference: 'E9', paidAt },
      at: T0 + 500,
    });
    const recent = run([
      loaded({ txId: 't', entries: [requested(), issued()] }),
      answer('2099-01-01T00:00:00Z'),
    ]);
    expect(recent[1]!.state.kind).toBe('dispensing');

    const paidAt = new Date(T0 - testConfig.maxCustomerAgeMs - 60_000)
      .toISOString()
      .replace('Z', '+00:00');
    const opened = { txId: 't', entries: [requested(), issued()], when: T0 - 600_000 };
    const [, long] = run([loaded(opened), answer(paidAt)]);
    expect(long!.state).toMatchObject({ kind: 'refunding', late: true });
    expect(long!.effects.find((e) => e.type === 'display.show')).toMatchObject({
      screen: { kind: 'notDelivered', late: true, refund: 'refunding' },
    });
    expect(recorded(long!.effects)).toEqual(['status.seen']);
    expect(long!.effects.map((e) => e.type)).not.toContain('dispenser.dispense');
    expect(long!.state.background.jobs).toMatchObject([
      { txId: 't', initiator: 'recovery', facts: { ersReference: 'E9' } },
    ]);

    // SEQR's clock far behind this one: the payment cannot be older than the invoice.
    const [, skewed] = run([
      loaded({ txId: 't', entries: [requested(), issued()] }),
      answer(paidAt),
    ]);
    expect(skewed!.state.kind).toBe('dispensing');
  });

  it('an invoice found PAID long ago, with another still to resolve: refunded, and the next one polled', () => {
    const [, long, shown, next] = run([
      loaded(
        { txId: 'a', entries: [requested('a'), issued('a', 'RA')], when: T0 - 600_000 },
        { txId: 't', entries: [requested(), issued()], when: T0 - 600_000 },
      ),
      {
        type: 'payment.statusReceived',
        txId: 't',
        status: {
          status: 'PAID',
          version: 3,
          ersReference: 'E9',
          paidAt: new Date(T0 - testConfig.maxCustomerAgeMs - 60_000).toISOString(),
        },
        at: T0 + 500,
      },
      {
        type: 'timer.expired',
        name: 'deadline',
        token: `t:deadline:${T0 + 500 + testConfig.refundDeadlineMs}`,
        at: T0 + 500 + testConfig.refundDeadlineMs,
      },
      {
        type: 'timer.expired',
        name: 'deadline',
        token: `notice:deadline:${T0 + 500 + testConfig.refundDeadlineMs + testConfig.messageMs}`,
        at: T0 + 500 + testConfig.refundDeadlineMs + testConfig.messageMs,
      },
    ]);
    expect(long!.state).toMatchObject({ kind: 'refunding', late: true });
    // The refunded invoice's poll timer stops.
    expect(long!.effects).toContainEqual({ type: 'timer.cancel', name: 'poll' });
    expect(long!.state.background.jobs.map((j) => j.txId)).toEqual(['t']);
    expect(shown!.state.kind).toBe('notice');
    expect(next!.state).toMatchObject({ kind: 'cancelling', invoice: { reference: 'RA' } });
    expect(next!.effects).toContainEqual({ type: 'payment.cancel', txId: 'a', reference: 'RA' });
  });

  it('a refund failed before the restart is attempted again at once: refund.requested, then refundPayment', () => {
    const failedOnce: LedgerEntry = {
      type: 'refund.failed',
      txId: 't',
      failure: { code: 'E_SEQR_TIMEOUT' },
    };
    const [t] = run([
      loaded({
        txId: 't',
        entries: [requested(), issued(), paid, started, notDelivered, refundAsked, failedOnce],
      }),
    ]);
    expect(t!.state.kind).toBe('idle');
    const fired = core.step(t!.state, settle(t!.state));
    expect(fired.effects.slice(0, 2)).toMatchObject([
      {
        type: 'ledger.record',
        entry: { type: 'refund.requested', txId: 't', amount: price, initiator: 'recovery' },
      },
      { type: 'payment.refund', txId: 't', request: { ersReference: 'E1', amount: price } },
    ]);
    expect(fired.state.background.jobs[0]).toMatchObject({
      attempt: { afterUnknown: true },
      attempts: 2,
    });
  });

  it('a refund SEQR refused for good before the restart (typed, or a legacy 97) is flagged, never sent', () => {
    const refused: LedgerEntry = {
      type: 'refund.failed',
      txId: 't',
      failure: { code: 'E_REFUND_REFUSED', resultCode: 97 },
    };
    const [t] = run([
      loaded({
        txId: 't',
        entries: [requested(), issued(), paid, started, notDelivered, refundAsked, refused],
      }),
    ]);
    const fired = core.step(t!.state, settle(t!.state));
    expect(recorded(fired.effects)).toEqual(['tx.closed:flagged']);
    expect(fired.state.background.jobs).toEqual([]);
  });

  it('the ledger read late (out of service at start): planned when it arrives, run when SEQR answers', () => {
    const deadline = `starting:deadline:${T0 + testConfig.startingDeadlineMs}`;
    const ts = run([
      {
        type: 'timer.expired',
        name: 'deadline',
        token: deadline,
        at: T0 + testConfig.startingDeadlineMs,
      },
      { ...loaded({ txId: 't', entries: [requested(), issued()] }), at: T0 + 31_000 },
    ]);
    expect(ts[0]!.state.kind).toBe('outOfService');
    expect(ts[1]!.state).toMatchObject({ kind: 'outOfService', recovery: { loaded: true } });
    const s = ts[1]!.state;
    if (s.kind !== 'outOfService') throw new Error(s.kind);
    const probe = core.step(s, {
      type: 'timer.expired',
      name: 'deadline',
      token: s.deadline,
      at: T0 + 40_000,
    });
    const back = core.step(probe.state, { type: 'payment.probed', at: T0 + 40_100 });
    expect(back.state).toMatchObject({ kind: 'cancelling', invoice: { reference: 'R1' } });
  });
});
