import { describe, expect, it } from 'vitest';
import { refundRetryDelayMs } from '../../daemon/core/background.js';
import { epochMsFromIso, isoFromEpochMs } from '../../daemon/core/documents.js';
import { foldRefund, freshRefundFacts, type RefundFacts } from '../../daemon/core/projection.js';
import { reconcile } from '../../daemon/core/reconciliation.js';
import {
  closingAfterRefund,
  outcomeUnknown,
  refundAnswered,
  refundDecision,
} from '../../daemon/core/refunds.js';
import type { Failure } from '../../daemon/errors.js';
import { testConfig } from '../support/core-config.js';

const price = { minor: 2500, currency: 'SEK' };
const fresh = freshRefundFacts(price, 'E1');
const asked = (facts: RefundFacts, minor = 2500): RefundFacts =>
  foldRefund(facts, { type: 'refund.requested', txId: 't', amount: { minor, currency: 'SEK' } }, 1);
const failed = (facts: RefundFacts, failure: Failure): RefundFacts =>
  foldRefund(facts, { type: 'refund.failed', txId: 't', failure }, 2);

describe('refundDecision', () => {
  it('sends the full remaining amount; nothing once refunded; flagged without a payment reference', () => {
    expect(refundDecision(fresh)).toEqual({ kind: 'send', amount: price, afterUnknown: false });
    const done = foldRefund(
      asked(fresh),
      { type: 'refund.confirmed', txId: 't', refundReference: 'R' },
      3,
    );
    expect(refundDecision(done)).toEqual({ kind: 'nothing' });
    expect(refundDecision(freshRefundFacts(price, undefined))).toMatchObject({ kind: 'flag' });
    expect(refundDecision(freshRefundFacts(price, ''))).toMatchObject({ kind: 'flag' });
  });

  it('after an attempt of unknown outcome: sends the same full amount again (98 protects it)', () => {
    for (const facts of [
      asked(fresh),
      failed(asked(fresh), { code: 'E_SEQR_TIMEOUT' }),
      failed(asked(fresh), { code: 'E_SEQR_UNREACHABLE' }),
      failed(asked(fresh), { code: 'E_UNEXPECTED' }),
    ])
      expect(refundDecision(facts)).toEqual({ kind: 'send', amount: price, afterUnknown: true });
  });

  it('a partial attempt of unknown outcome is flagged (98 cannot protect a different amount)', () => {
    expect(refundDecision(failed(asked(fresh, 1000), { code: 'E_SEQR_TIMEOUT' }))).toMatchObject({
      kind: 'flag',
    });
    expect(refundDecision(asked(fresh), { amountMinor: 1000, operator: true })).toMatchObject({
      kind: 'flag',
    });
  });

  it('after a definite no: retried, unless refused for good; only an operator may insist', () => {
    const busy = failed(asked(fresh), { code: 'E_SEQR_RESULT', resultCode: 93 });
    expect(refundDecision(busy)).toEqual({ kind: 'send', amount: price, afterUnknown: false });
    for (const failure of [
      { code: 'E_REFUND_REFUSED', resultCode: 97 },
      { code: 'E_REFUND_REFUSED', resultCode: 99 },
      { code: 'E_REFUND_EXCEEDS_PAYMENT', resultCode: 98 },
    ] as const) {
      const refused = failed(asked(fresh), failure);
      expect(refundDecision(refused)).toMatchObject({ kind: 'flag' });
      expect(refundDecision(refused, { operator: true })).toMatchObject({ kind: 'send' });
    }
  });

  it('an operator may ask for less, never for more than what is left', () => {
    expect(refundDecision(fresh, { amountMinor: 1000, operator: true })).toEqual({
      kind: 'send',
      amount: { minor: 1000, currency: 'SEK' },
      afterUnknown: false,
    });
    expect(refundDecision(fresh, { amountMinor: 2501, operator: true })).toMatchObject({
      kind: 'flag',
    });
  });

  it('outcomeUnknown: only SEQR answers are definite', () => {
    expect(outcomeUnknown({ code: 'E_SEQR_RESULT', resultCode: 93 })).toBe(false);
    expect(outcomeUnknown({ code: 'E_SEQR_AUTH', resultCode: 20 })).toBe(false);
    expect(outcomeUnknown({ code: 'E_REFUND_REFUSED', resultCode: 97 })).toBe(false);
    for (const code of [
      'E_SEQR_TIMEOUT',
      'E_SEQR_HTTP',
      'E_SEQR_FAULT',
      'E_SEQR_MALFORMED',
      'E_UNEXPECTED',
    ] as const)
      expect(outcomeUnknown({ code })).toBe(true);
  });
});

describe('refundAnswered', () => {
  const attempt = { amount: price, afterUnknown: false };
  it('confirmed: refund.confirmed, closed refunded', () => {
    const r = refundAnswered('t', asked(fresh), attempt, { ok: true, refundReference: 'R9' }, 5);
    expect(r.entries).toEqual([{ type: 'refund.confirmed', txId: 't', refundReference: 'R9' }]);
    expect(r.facts.refundedMinor).toBe(2500);
    expect(closingAfterRefund(r.result, r.facts)).toBe('refunded');
  });

  it('98 after an unknown outcome: inferred confirmed, flagged for the daemon, refunded for an operator', () => {
    const r = refundAnswered(
      't',
      asked(failed(asked(fresh), { code: 'E_SEQR_TIMEOUT' })),
      { amount: price, afterUnknown: true },
      { ok: false, failure: { code: 'E_REFUND_EXCEEDS_PAYMENT', resultCode: 98 } },
      5,
    );
    expect(r.result).toEqual({ kind: 'inferred' });
    expect(r.entries).toEqual([
      { type: 'refund.confirmed', txId: 't', refundReference: '', inferred: 'sumExceeded' },
    ]);
    expect(closingAfterRefund(r.result, r.facts)).toBe('flagged');
    expect(closingAfterRefund(r.result, r.facts, true)).toBe('refunded');
  });

  it('a failure: recorded typed; retried, or flagged when refused for good', () => {
    const transient = refundAnswered(
      't',
      asked(fresh),
      attempt,
      {
        ok: false,
        failure: { code: 'E_SEQR_TIMEOUT', operation: 'refundPayment' },
      },
      5,
    );
    expect(transient.entries).toEqual([
      {
        type: 'refund.failed',
        txId: 't',
        failure: { code: 'E_SEQR_TIMEOUT', operation: 'refundPayment' },
      },
    ]);
    expect(transient.result).toMatchObject({ kind: 'failed', retry: true });
    expect(closingAfterRefund(transient.result, transient.facts)).toBeUndefined();
    const refused = refundAnswered(
      't',
      asked(fresh),
      attempt,
      {
        ok: false,
        failure: { code: 'E_REFUND_REFUSED', resultCode: 97 },
      },
      5,
    );
    expect(refused.result).toMatchObject({ kind: 'failed', retry: false });
    expect(closingAfterRefund(refused.result, refused.facts)).toBe('flagged');
    // 98 to an attempt of known outcome: already refunded; never sent again.
    const over = refundAnswered(
      't',
      asked(fresh),
      attempt,
      {
        ok: false,
        failure: { code: 'E_REFUND_EXCEEDS_PAYMENT', resultCode: 98 },
      },
      5,
    );
    expect(over.result).toMatchObject({ kind: 'failed', retry: false });
  });

  it('retries back off: doubling from the minimum, capped', () => {
    expect([1, 2, 3, 4].map((n) => refundRetryDelayMs(testConfig, n))).toEqual([
      5_000, 10_000, 20_000, 40_000,
    ]);
    expect(refundRetryDelayMs(testConfig, 50)).toBe(testConfig.refundRetryMaxMs);
  });
});

describe('epochMsFromIso', () => {
  it('reads what SEQR sends (zones, fractions) as Date.parse does, without Date', () => {
    for (const text of [
      '2016-03-01T12:00:12.345+01:00',
      '2016-03-01T12:00:12+01:00',
      '2026-11-22T08:00:00.000Z',
      '1999-12-31T23:59:59-05:30',
      '2024-02-29T00:00:00.1Z',
      '2000-01-01T00:00:00Z',
    ])
      expect(epochMsFromIso(text), text).toBe(Date.parse(text));
    expect(epochMsFromIso('2016-03-01T12:00:12')).toBe(Date.parse('2016-03-01T12:00:12Z'));
    for (const ms of [0, 1_763_800_000_123, 951_782_400_000])
      expect(epochMsFromIso(isoFromEpochMs(ms))).toBe(ms);
    for (const bad of ['', 'yesterday', '2016-13-01T00:00:00Z', '2016-03-01 12:00:00'])
      expect(epochMsFromIso(bad)).toBeUndefined();
  });
});

describe('reconcile (end of day)', () => {
  const report = (count: number, total: string): string =>
    `<X><Meta/><Row><SalesCount>${count}</SalesCount><SalesTotal>${total}</SalesTotal></Row></X>`;
  it('matched, mismatch or unreadable', () => {
    expect(reconcile(report(2, '40.50'), { count: 2, totalMinor: 4050 })).toEqual({
      kind: 'matched',
      seqr: { count: 2, totalMinor: 4050 },
    });
    expect(reconcile(report(2, '40.00'), { count: 2, totalMinor: 4050 })).toMatchObject({
      kind: 'mismatch',
    });
    expect(reconcile(report(3, '40.50'), { count: 2, totalMinor: 4050 })).toMatchObject({
      kind: 'mismatch',
    });
    expect(reconcile('<html>error</html>', { count: 0, totalMinor: 0 })).toEqual({
      kind: 'unreadable',
    });
  });
});
