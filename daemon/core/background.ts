import type { Failure } from '../errors.js';
import type { LedgerEntry, RefundInitiator } from '../ports/ledger.js';
import type { ReceiptDocument, RefundRequest } from '../ports/payment-gateway.js';
import type { CoreConfig } from './config.js';
import { foldRefund, type ClosedOutcome, type RefundFacts } from './projection.js';
import {
  closingAfterRefund,
  refundAnswered,
  refundDecision,
  type RefundAnswer,
  type RefundAttempt,
} from './refunds.js';
import type { Background, Effect, Job, ReceiptJob, RefundJob, VendEvent } from './types.js';

/*
 * The background jobs (see `Job` in types.ts): refunds and receipts the core owes beside the
 * purchase on screen. One `settle` timer, due at the earliest job; each expiry starts at most one
 * due attempt, so a refund attempt's `refund.requested` record is the only record its
 * refundPayment waits behind. Answers come back as `payment.refunded` /
 * `payment.failed{op:'refund'}` and `payment.receiptSubmitted` / `payment.failed{op:'submitReceipt'}`
 * for the job's txId. Receipts go out one at a time (a backlog after an outage, or the receipts
 * of an upgraded ledger, never floods SEQR).
 */

export const NO_JOBS: Background = { jobs: [] };

/** What became of a refund in this step, for the `refunding` screen of that purchase. */
export interface RefundNews {
  readonly txId: string;
  /** refunded: SEQR confirmed it; pending: not yet (retried later, or left to the operator). */
  readonly refund: 'refunded' | 'pending';
}

export interface BackgroundStep {
  readonly background: Background;
  readonly effects: readonly Effect[];
  readonly news?: RefundNews;
}

/** The delay before the attempt after `attempts` attempts: doubling from the min, up to the max. */
export function refundRetryDelayMs(c: CoreConfig, attempts: number): number {
  return Math.min(
    c.refundRetryMaxMs,
    c.refundRetryMinMs * 2 ** Math.min(Math.max(0, attempts - 1), 30),
  );
}

/** The delay before a receipt's next attempt after `attempts` attempts: doubling, bounded. */
export function receiptRetryDelayMs(c: CoreConfig, attempts: number): number {
  return Math.min(
    c.receiptRetryMaxMs,
    c.receiptRetryMinMs * 2 ** Math.min(Math.max(0, attempts - 1), 30),
  );
}

/** A receipt job for a sale, due at `at`; `attempts` failed ones before (from the ledger). */
export function receiptJob(
  txId: string,
  ersReference: string,
  document: ReceiptDocument,
  at: number,
  attempts = 0,
): ReceiptJob {
  return { kind: 'receipt', txId, ersReference, document, attempts, dueAt: at, inFlight: false };
}

/** A new refund job for `txId`, due at `at`. */
export function refundJob(
  txId: string,
  productName: string,
  facts: RefundFacts,
  at: number,
  initiator?: RefundInitiator,
): RefundJob {
  return {
    kind: 'refund',
    txId,
    productName,
    facts,
    attempts: facts.refundAttempts,
    dueAt: at,
    ...(initiator === undefined ? {} : { initiator }),
  };
}

/** The refund job of a transaction, if any. */
export function jobOf(bg: Background, txId: string): RefundJob | undefined {
  return bg.jobs.find((j): j is RefundJob => j.kind === 'refund' && j.txId === txId);
}

function receiptJobOf(bg: Background, txId: string): ReceiptJob | undefined {
  return bg.jobs.find((j): j is ReceiptJob => j.kind === 'receipt' && j.txId === txId);
}

/** Adds jobs (a transaction's existing job of the same kind is kept: at most one). */
export function addJobs(bg: Background, jobs: readonly Job[], at: number): BackgroundStep {
  const next = [...bg.jobs];
  for (const job of jobs)
    if (!next.some((j) => j.kind === job.kind && j.txId === job.txId)) next.push(job);
  return rearm({ ...bg, jobs: next }, at, []);
}

/** The refundPayment request of a job's attempt. */
function requestOf(c: CoreConfig, job: RefundJob, attempt: RefundAttempt): RefundRequest {
  return {
    ersReference: job.facts.ersReference ?? '',
    amount: attempt.amount,
    title: `Refund: ${job.productName} (not delivered)`,
    cashierId: c.machineName,
  };
}

type Requested = Extract<LedgerEntry, { type: 'refund.requested' }>;

/** The `refund.requested` entry of a job's attempt. */
function requestedEntry(job: RefundJob, attempt: RefundAttempt): Requested {
  return {
    type: 'refund.requested',
    txId: job.txId,
    amount: attempt.amount,
    ...(job.initiator === undefined ? {} : { initiator: job.initiator }),
  };
}

const settleToken = (at: number): string => `background:settle:${at}`;

/** True when the job has an attempt out. */
function busy(job: Job): boolean {
  return job.kind === 'refund' ? job.attempt !== undefined : job.inFlight;
}

/** True when the job may start an attempt (receipts: one at a time across all jobs). */
function startable(bg: Background, job: Job): boolean {
  if (busy(job)) return false;
  return job.kind === 'refund' || !bg.jobs.some((j) => j.kind === 'receipt' && j.inFlight);
}

/** Keeps the settle timer at the earliest job that may start (or stops it). */
function rearm(bg: Background, at: number, effects: readonly Effect[]): BackgroundStep {
  let due: number | undefined;
  for (const job of bg.jobs)
    if (startable(bg, job) && (due === undefined || job.dueAt < due)) due = job.dueAt;
  if (due === undefined) {
    if (bg.settleAt === undefined) return { background: bg, effects };
    return {
      background: { jobs: bg.jobs },
      effects: [...effects, { type: 'timer.cancel', name: 'settle' }],
    };
  }
  const fireAt = Math.max(due, at);
  if (bg.settleAt === fireAt) return { background: bg, effects };
  return {
    background: { ...bg, settleAt: fireAt },
    effects: [
      ...effects,
      { type: 'timer.start', name: 'settle', token: settleToken(fireAt), at: fireAt },
    ],
  };
}

function without(bg: Background, job: Job): Background {
  return { ...bg, jobs: bg.jobs.filter((j) => !(j.kind === job.kind && j.txId === job.txId)) };
}

/** The job with nothing out, due at `dueAt`. */
function resting(job: RefundJob, dueAt: number, patch: Partial<RefundJob> = {}): RefundJob {
  const initiator = patch.initiator ?? job.initiator;
  return {
    kind: 'refund',
    txId: job.txId,
    productName: job.productName,
    facts: patch.facts ?? job.facts,
    attempts: job.attempts,
    dueAt,
    ...(initiator === undefined ? {} : { initiator }),
  };
}

function withJob(bg: Background, job: Job): Background {
  return {
    ...bg,
    jobs: bg.jobs.map((j) => (j.kind === job.kind && j.txId === job.txId ? job : j)),
  };
}

const record = (entry: LedgerEntry): Effect => ({ type: 'ledger.record', entry });
const close = (txId: string, outcome: ClosedOutcome): Effect =>
  record({ type: 'tx.closed', txId, outcome });

/** The background's part of an event; undefined when the event is not about a job. */
export function background(
  c: CoreConfig,
  bg: Background,
  e: VendEvent,
): BackgroundStep | undefined {
  switch (e.type) {
    case 'timer.expired':
      if (e.name !== 'settle' || bg.settleAt === undefined || e.token !== settleToken(bg.settleAt))
        return undefined;
      return startDue(c, { jobs: bg.jobs }, e.at);
    case 'payment.receiptSubmitted': {
      const job = receiptJobOf(bg, e.txId);
      if (!job?.inFlight) return undefined;
      return rearm(without(bg, job), e.at, [record({ type: 'receipt.submitted', txId: job.txId })]);
    }
    case 'payment.refunded':
    case 'payment.failed': {
      if (e.type === 'payment.failed' && e.op === 'submitReceipt') {
        const job = e.txId === undefined ? undefined : receiptJobOf(bg, e.txId);
        if (!job?.inFlight) return undefined;
        return receiptFailed(c, bg, job, e.failure, e.retryable, e.at);
      }
      if (e.type === 'payment.failed' && e.op !== 'refund') return undefined;
      const job = e.txId === undefined ? undefined : jobOf(bg, e.txId);
      if (!job?.attempt) return undefined;
      const answer: RefundAnswer =
        e.type === 'payment.refunded'
          ? { ok: true, refundReference: e.refundReference }
          : { ok: false, failure: e.failure };
      return answered(c, bg, job, job.attempt, answer, e.at);
    }
    case 'ledger.failed': {
      const { entry } = e;
      const job = jobOf(bg, entry.txId);
      if (entry.type !== 'refund.requested' || !job?.attempt) return undefined;
      // The refund call waited for this record and was skipped: nothing went out.
      const dueAt = e.at + refundRetryDelayMs(c, job.attempts);
      return {
        ...rearm(withJob(bg, resting(job, dueAt)), e.at, [
          {
            type: 'log',
            level: 'error',
            msg: 'refund not sent: its refund.requested could not be recorded; retried later',
            fields: { txId: job.txId, code: e.failure.code, retryInS: (dueAt - e.at) / 1000 },
          },
        ]),
        news: { txId: job.txId, refund: 'pending' },
      };
    }
    case 'button.pressed':
    case 'dispense.failed':
    case 'dispense.finished':
    case 'display.failed':
    case 'ledger.recorded':
    case 'payment.cancelAnswered':
    case 'payment.issued':
    case 'payment.probed':
    case 'payment.statusReceived':
    case 'printer.failed':
    case 'printer.printed':
    case 'recovery.loaded':
    case 'stock.updated':
    case 'dispense.dropped':
    case 'catalog.updated':
    case 'maintenance.changed':
      return undefined;
  }
}

/**
 * A refusal for good of a receipt: SEQR answered with a resultCode that sending the same receipt
 * again cannot change (not one of its transient ones, not the credentials).
 */
export function receiptRefused(failure: Failure, retryable: boolean): boolean {
  return failure.code === 'E_SEQR_RESULT' && !retryable;
}

/** A receipt attempt failed: recorded; retried with backoff, or never again after a refusal. */
function receiptFailed(
  c: CoreConfig,
  bg: Background,
  job: ReceiptJob,
  failure: Failure,
  retryable: boolean,
  at: number,
): BackgroundStep {
  const { txId, ersReference } = job;
  if (receiptRefused(failure, retryable))
    return rearm(without(bg, job), at, [
      record({ type: 'receipt.submitFailed', txId, failure, refused: true }),
      {
        type: 'log',
        level: 'error',
        msg: 'SEQR refused the receipt for good: never sent again (the sale stands)',
        fields: { txId, ersReference, ...failureLog(failure), code: 'E_RECEIPT_REFUSED' },
      },
    ]);
  const attempts = job.attempts + 1;
  const dueAt = at + receiptRetryDelayMs(c, attempts);
  return rearm(withJob(bg, { ...job, attempts, dueAt, inFlight: false }), at, [
    record({ type: 'receipt.submitFailed', txId, failure }),
    {
      type: 'log',
      level: 'warn',
      msg: 'submitPaymentReceipt failed: retried with backoff (seqr-vend pending lists it)',
      fields: {
        txId,
        ersReference,
        ...failureLog(failure),
        code: failure.code,
        retryInS: (dueAt - at) / 1000,
      },
    },
  ]);
}

/** The settle timer fired: start the first due job's attempt (one per step), re-arm. */
function startDue(c: CoreConfig, bg: Background, at: number): BackgroundStep {
  let job: Job | undefined;
  for (const j of bg.jobs)
    if (startable(bg, j) && j.dueAt <= at && (!job || j.dueAt < job.dueAt)) job = j;
  if (!job) return rearm(bg, at, []);
  if (job.kind === 'receipt')
    return rearm(withJob(bg, { ...job, inFlight: true }), at, [
      {
        type: 'payment.submitReceipt',
        txId: job.txId,
        ersReference: job.ersReference,
        document: job.document,
      },
    ]);
  const { txId } = job;
  const decision = refundDecision(job.facts);
  switch (decision.kind) {
    case 'nothing':
      return {
        ...rearm(without(bg, job), at, [close(txId, 'refunded')]),
        news: { txId, refund: 'refunded' },
      };
    case 'flag':
      return {
        ...rearm(without(bg, job), at, [
          {
            type: 'log',
            level: 'error',
            msg: `refund needs the operator: ${decision.reason}`,
            fields: { txId, code: 'E_REFUND_FAILED', ersReference: job.facts.ersReference ?? '' },
          },
          close(txId, 'flagged'),
        ]),
        news: { txId, refund: 'pending' },
      };
    case 'send': {
      const attempt: RefundAttempt = {
        amount: decision.amount,
        afterUnknown: decision.afterUnknown,
      };
      const out: RefundJob = { ...job, attempts: job.attempts + 1, attempt };
      return rearm(withJob(bg, out), at, [
        record(requestedEntry(job, attempt)),
        { type: 'payment.refund', txId, request: requestOf(c, job, attempt) },
      ]);
    }
  }
}

/** A failure as log fields beside the line's own `code`: its code as `failure`, its details. */
function failureLog(f: Failure): Readonly<Record<string, string | number>> {
  const { code: failure, ...detail } = f;
  return { ...detail, failure };
}

/** SEQR answered a job's attempt (or its call failed). */
function answered(
  c: CoreConfig,
  bg: Background,
  job: RefundJob,
  attempt: RefundAttempt,
  answer: RefundAnswer,
  at: number,
): BackgroundStep {
  const { txId } = job;
  const before = foldRefund(job.facts, requestedEntry(job, attempt), at);
  const { result, entries, facts } = refundAnswered(txId, before, attempt, answer, at);
  const closing = closingAfterRefund(result, facts);
  const ers = facts.ersReference ?? '';
  const effects: Effect[] = entries.map(record);
  switch (result.kind) {
    case 'confirmed':
      effects.push({
        type: 'log',
        level: 'info',
        msg: 'refund confirmed',
        fields: { txId, ersReference: ers, refundReference: result.refundReference },
      });
      break;
    case 'inferred':
      effects.push({
        type: 'log',
        level: 'error',
        msg: 'refund retry answered 98: the earlier attempt went through; verify it in the SEQR report',
        fields: { txId, code: 'E_REFUND_UNVERIFIED', ersReference: ers },
      });
      break;
    case 'failed':
      effects.push({
        type: 'log',
        level: 'error',
        msg: result.retry
          ? 'refund not confirmed: retried with backoff (seqr-vend pending lists it)'
          : `refund not confirmed and never sent again: ${result.reason ?? ''}; flagged for the operator`,
        fields: {
          txId,
          ersReference: ers,
          ...failureLog(result.failure),
          code: result.retry ? 'E_REFUND_FAILED' : result.failure.code,
        },
      });
      break;
  }
  if (closing !== undefined) effects.push(close(txId, closing));
  if (result.kind === 'failed' && result.retry) {
    const next = resting(job, at + refundRetryDelayMs(c, job.attempts), {
      facts,
      initiator: 'retry',
    });
    return { ...rearm(withJob(bg, next), at, effects), news: { txId, refund: 'pending' } };
  }
  return {
    ...rearm(without(bg, job), at, effects),
    news: { txId, refund: result.kind === 'failed' ? 'pending' : 'refunded' },
  };
}
