import { describe, expect, it } from 'vitest';
import { planRecovery } from '../../daemon/core/recovery.js';
import type { Effect } from '../../daemon/core/types.js';
import type { LedgerEntry } from '../../daemon/ports/ledger.js';
import { testConfig } from '../support/core-config.js';
import { T0, core } from './fixtures.js';

const price = { minor: 2500, currency: 'SEK' };
const requested: LedgerEntry = {
  type: 'invoice.requested',
  txId: 't',
  slot: 1,
  productName: 'Cola',
  price,
};
const issued: LedgerEntry = { type: 'invoice.issued', txId: 't', invoiceReference: 'R1' };
const paid: LedgerEntry = {
  type: 'status.seen',
  txId: 't',
  status: 'PAID',
  version: 2,
  ersReference: 'E1',
};
const started: LedgerEntry = { type: 'dispense.started', txId: 't', slot: 1 };

const plan = (...entries: LedgerEntry[]) => planRecovery(testConfig, [{ txId: 't', entries }], T0);
const recorded = (effects: readonly Effect[]): string[] =>
  effects.flatMap((e) =>
    e.type === 'ledger.record'
      ? [e.entry.type === 'tx.closed' ? `tx.closed:${e.entry.outcome}` : e.entry.type]
      : e.type === 'log'
        ? []
        : [e.type],
  );

describe('start-up recovery plan', () => {
  it('never issued: closed failed', () => {
    expect(recorded(plan(requested).effects)).toEqual(['tx.closed:failed']);
  });

  it('issued, no final status: resolved first (cancel and confirm)', () => {
    const p = plan(requested, issued);
    expect(p.resolve).toMatchObject({ purchase: { txId: 't' }, invoice: { reference: 'R1' } });
    const t = core.step(core.start(T0).state, {
      type: 'recovery.loaded',
      transactions: [{ txId: 't', entries: [requested, issued] }],
      at: T0,
    });
    expect(t.state.kind).toBe('cancelling');
    expect(t.effects.map((e) => e.type)).toContain('payment.cancel');
    expect(t.effects.map((e) => e.type)).toContain('payment.poll');
  });

  it('only the newest open invoice is resolved; older ones were superseded', () => {
    const older = [requested, issued];
    const newer = older.map((e) => ({ ...e, txId: 'u' }));
    const p = planRecovery(
      testConfig,
      [
        { txId: 't', entries: older },
        { txId: 'u', entries: newer },
      ],
      T0,
    );
    expect(p.resolve?.purchase.txId).toBe('u');
    expect(p.effects).toContainEqual({
      type: 'ledger.record',
      entry: { type: 'tx.closed', txId: 't', outcome: 'cancelled' },
    });
  });

  it('PAID but no dispense started: refunded (never dispensed after a restart)', () => {
    const p = plan(requested, issued, paid);
    expect(recorded(p.effects)).toEqual(['refund.requested', 'payment.refund']);
    expect(p.effects.at(-1)).toMatchObject({ request: { ersReference: 'E1', amount: price } });
  });

  it('dispense started without an outcome: uncertain and flagged, no dispense, no refund', () => {
    expect(recorded(plan(requested, issued, paid, started).effects)).toEqual([
      'dispense.finished',
      'tx.closed:flagged',
    ]);
  });

  it('a failed refund is retried without a second refund.requested', () => {
    const p = plan(
      requested,
      issued,
      paid,
      started,
      { type: 'dispense.finished', txId: 't', outcome: 'notDelivered' },
      { type: 'refund.requested', txId: 't', amount: price },
      { type: 'refund.failed', txId: 't', code: 'E_SEQR_TIMEOUT' },
    );
    expect(recorded(p.effects)).toEqual(['payment.refund']);
  });

  it.each([
    [[{ type: 'dispense.finished', txId: 't', outcome: 'delivered' }], 'tx.closed:sold'],
    [[{ type: 'dispense.finished', txId: 't', outcome: 'uncertain' }], 'tx.closed:flagged'],
    [[{ type: 'refund.confirmed', txId: 't', refundReference: 'X' }], 'tx.closed:refunded'],
    [[{ type: 'status.seen', txId: 't', status: 'CANCELED', version: 3 }], 'tx.closed:cancelled'],
  ] as [LedgerEntry[], string][])('%j -> %s', (tail, outcome) => {
    expect(recorded(plan(requested, issued, ...tail).effects)).toEqual([outcome]);
  });

  it('the open invoice is cancelled and polled before any recovery record (a failed write cannot strand it)', () => {
    const paidTx = [requested, issued, paid].map((e) => ({ ...e, txId: 'p' }));
    const t = core.step(core.start(T0).state, {
      type: 'recovery.loaded',
      transactions: [
        { txId: 'p', entries: paidTx },
        { txId: 't', entries: [requested, issued] },
      ],
      at: T0,
    });
    const types = t.effects.map((e) => e.type);
    const firstRecord = types.indexOf('ledger.record');
    expect(types.indexOf('payment.cancel')).toBeLessThan(firstRecord);
    expect(types.indexOf('payment.poll')).toBeLessThan(firstRecord);
    expect(types.indexOf('payment.refund')).toBeGreaterThan(firstRecord);
  });
});
