import type { ErrorCode, Failure } from '../errors.js';
import type { LedgerEntry } from '../ports/ledger.js';
import type { Money } from '../ports/money.js';
import { foldRefund, type ClosedOutcome, type RefundFacts } from './projection.js';

/**
 * The refund rules, as pure functions of a payment's refund facts (its ledger view, or the core's
 * note of a refund in progress). The core's own refunds (live, recovery, retries) and the
 * operator's `seqr-vend refund` decide with these and record the same entries.
 *
 * SEQR has no refund query. The ledger records `refund.requested` before every refundPayment call,
 * so after a crash or a failed call the last attempt is known, but not always its outcome: a
 * timeout or reset may hide a refund that went through. What keeps retries safe: every automatic
 * attempt asks for the full remaining amount (price minus confirmed refunds). If an earlier
 * attempt of that same amount did go through, SEQR answers a retry with 98 (the refunds would
 * exceed the payment: `E_REFUND_EXCEEDS_PAYMENT`) instead of paying again; the retry then records
 * the refund as confirmed-by-98 (`inferred: 'sumExceeded'`) and flags it for the operator to
 * verify. An unknown-outcome attempt of a different amount (a partial operator refund) cannot be
 * retried this way: it is flagged instead. A refusal for good (`E_REFUND_REFUSED`, or 98 after an
 * attempt of known outcome) is never sent again by the daemon; an operator may insist.
 */

/** Answers that prove SEQR did not execute the refund: it answered, and said no. */
const DEFINITE: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'E_SEQR_RESULT',
  'E_SEQR_AUTH',
  'E_REFUND_REFUSED',
  'E_REFUND_EXCEEDS_PAYMENT',
]);

/**
 * True when a failed refund call may nevertheless have reached SEQR and been executed: anything
 * but a definite answer. Timeouts, resets, HTTP errors, faults, unreadable answers and errors
 * outside the catalogue leave the outcome unknown.
 */
export function outcomeUnknown(failure: Failure | undefined): boolean {
  return failure === undefined || !DEFINITE.has(failure.code);
}

/** SEQR refused for good: the daemon never sends this refund again. */
export function refusedForGood(failure: Failure | undefined): boolean {
  return failure?.code === 'E_REFUND_REFUSED' || failure?.code === 'E_REFUND_EXCEEDS_PAYMENT';
}

/** What may be done about a payment's refund now. */
export type RefundDecision =
  | { readonly kind: 'nothing' }
  | { readonly kind: 'send'; readonly amount: Money; readonly afterUnknown: boolean }
  | { readonly kind: 'flag'; readonly reason: string };

export interface RefundRequestOptions {
  /** Refund less than the remaining amount (operators only). */
  readonly amountMinor?: number;
  /** An operator asks: may insist after a refusal for good. */
  readonly operator?: boolean;
}

/**
 * Decides whether a refund of the payment's remaining amount may be sent now, so that a refund is
 * never issued twice (see the rules above). `nothing`: already refunded in full.
 */
export function refundDecision(
  facts: RefundFacts,
  request: RefundRequestOptions = {},
): RefundDecision {
  if (facts.ersReference === undefined || facts.ersReference === '')
    return { kind: 'flag', reason: 'the payment has no ersReference' };
  const remaining = facts.price.minor - facts.refundedMinor;
  if (remaining <= 0) return { kind: 'nothing' };
  const minor = request.amountMinor ?? remaining;
  if (minor <= 0 || minor > remaining)
    return { kind: 'flag', reason: `at most ${remaining} minor units can be refunded` };
  const amount: Money = { minor, currency: facts.price.currency };
  const lastUnknown =
    facts.refund === 'requested' ||
    (facts.refund === 'failed' && outcomeUnknown(facts.refundFailure));
  if (lastUnknown) {
    if (facts.refundRequestedMinor !== remaining || minor !== remaining)
      return {
        kind: 'flag',
        reason: 'a partial refund attempt has an unknown outcome; verify it before refunding',
      };
    return { kind: 'send', amount, afterUnknown: true };
  }
  if (request.operator !== true && facts.refund === 'failed' && refusedForGood(facts.refundFailure))
    return {
      kind: 'flag',
      reason: `SEQR refused the refund for good (${facts.refundFailure?.code ?? ''})`,
    };
  return { kind: 'send', amount, afterUnknown: false };
}

/** One refundPayment call as decided: its amount, and whether it follows an unknown outcome. */
export interface RefundAttempt {
  readonly amount: Money;
  readonly afterUnknown: boolean;
}

/** SEQR's answer to a refundPayment call. */
export type RefundAnswer =
  | { readonly ok: true; readonly refundReference: string }
  | { readonly ok: false; readonly failure: Failure };

export type RefundResult =
  /** SEQR confirmed this attempt. */
  | { readonly kind: 'confirmed'; readonly refundReference: string }
  /** 98 after an attempt of unknown outcome: that attempt went through; no reference known. */
  | { readonly kind: 'inferred' }
  /** Not confirmed. `retry`: a later attempt may go out (else flagged, `reason` says why). */
  | {
      readonly kind: 'failed';
      readonly failure: Failure;
      readonly retry: boolean;
      readonly reason?: string;
    };

/**
 * What an answer to a refund attempt means, the entries to record for it, and the refund facts
 * after them. `facts` are the facts with the attempt's `refund.requested` already folded in.
 */
export function refundAnswered(
  txId: string,
  facts: RefundFacts,
  attempt: RefundAttempt,
  answer: RefundAnswer,
  at: number,
  operator = false,
): { readonly result: RefundResult; readonly entries: LedgerEntry[]; readonly facts: RefundFacts } {
  const fold = (entry: Extract<LedgerEntry, { type: `refund.${string}` }>) => ({
    entries: [entry],
    facts: foldRefund(facts, entry, at),
  });
  if (answer.ok) {
    const { refundReference } = answer;
    return {
      result: { kind: 'confirmed', refundReference },
      ...fold({ type: 'refund.confirmed', txId, refundReference }),
    };
  }
  const { failure } = answer;
  if (failure.code === 'E_REFUND_EXCEEDS_PAYMENT' && attempt.afterUnknown)
    return {
      result: { kind: 'inferred' },
      ...fold({ type: 'refund.confirmed', txId, refundReference: '', inferred: 'sumExceeded' }),
    };
  const after = fold({ type: 'refund.failed', txId, failure });
  const next = refundDecision(after.facts, { operator });
  return {
    result: {
      kind: 'failed',
      failure,
      retry: next.kind === 'send',
      ...(next.kind === 'flag' ? { reason: next.reason } : {}),
    },
    ...after,
  };
}

/**
 * How the transaction closes after a refund result, if it does: confirmed in full -> refunded;
 * inferred from 98 -> flagged for the daemon (the operator verifies it), refunded for an
 * operator (who asked); failed for good -> flagged; failed and retried -> still open.
 */
export function closingAfterRefund(
  result: RefundResult,
  facts: RefundFacts,
  operator = false,
): ClosedOutcome | undefined {
  const full = facts.refundedMinor >= facts.price.minor;
  switch (result.kind) {
    case 'confirmed':
      return full ? 'refunded' : undefined;
    case 'inferred':
      return operator ? (full ? 'refunded' : undefined) : 'flagged';
    case 'failed':
      return result.retry || operator ? undefined : 'flagged';
  }
}
