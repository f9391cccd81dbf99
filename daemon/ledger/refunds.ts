import { VendError } from '../errors.js';
import type { Clock, TimerHandle } from '../ports/clock.js';
import type { Ledger, LedgerEntry } from '../ports/ledger.js';
import type { Money } from '../ports/money.js';
import type { PaymentGateway } from '../ports/payment-gateway.js';
import { applyEntry, type TransactionView } from './projection.js';

/** The logging the ledger's components need; a pino logger fits. */
export interface OpsLogger {
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
}

/** SEQR result codes after which retrying a refund cannot help (API.md §7.7, §8). */
const PERMANENT_REFUND_RESULTS: ReadonlySet<number> = new Set([11, 23, 64, 97, 99]);

/** resultCode 98: the sum of refunds would exceed the original payment. */
const SUM_EXCEEDED = 98;

/**
 * How a refund failure is written in `refund.failed.code`: the catalogue code, plus `:<resultCode>`
 * when SEQR answered with one (`E_SEQR_RESULT:93`).
 */
export function refundFailureCode(err: unknown): string {
  if (!(err instanceof VendError)) return 'E_UNKNOWN';
  const result = resultCodeOf(err);
  return result === undefined ? err.code : `${err.code}:${result}`;
}

function resultCodeOf(err: unknown): number | undefined {
  return err instanceof VendError && 'resultCode' in err && typeof err.resultCode === 'number'
    ? err.resultCode
    : undefined;
}

/**
 * True when a failed refund call may nevertheless have reached SEQR and been executed: anything
 * but a definite answer (a resultCode). Timeouts, resets, HTTP errors, faults and unparseable
 * answers leave the outcome unknown.
 */
export function outcomeUnknown(failureCode: string): boolean {
  return !failureCode.startsWith('E_SEQR_RESULT') && !failureCode.startsWith('E_SEQR_AUTH');
}

function permanent(failureCode: string): boolean {
  const m = /^E_SEQR_RESULT:(\d+)$/.exec(failureCode);
  return m !== null && PERMANENT_REFUND_RESULTS.has(Number(m[1]));
}

/** What may be done about a transaction's refund, from its ledger state alone. */
export type RefundDecision =
  | { readonly kind: 'nothing' }
  | { readonly kind: 'send'; readonly amount: Money; readonly afterUnknown: boolean }
  | { readonly kind: 'flag'; readonly reason: string };

/**
 * Decides whether a refund of the payment's remaining amount may be sent now, so that a refund is
 * never issued twice.
 *
 * SEQR has no refund query. The ledger records `refund.requested` before every refundPayment call,
 * so after a crash or a failed call the last attempt is known, but not always its outcome: a
 * timeout or reset may hide a refund that went through. The design that keeps retries safe:
 * every automatic attempt asks for the full remaining amount (price minus confirmed refunds).
 * If an earlier attempt of that same amount did go through, SEQR answers a retry with resultCode
 * 98 (the sum of refunds would exceed the original) instead of paying again; the retry then
 * records the refund as confirmed-by-98 (`inferred: 'sumExceeded'`) and flags it for the operator
 * to verify. An unknown-outcome attempt of a different amount (a partial operator refund) cannot
 * be retried this way: it is flagged instead. Permanent refusals (codes 11, 23, 64, 97, 99) and a
 * payment without reference are flagged too. An operator may ask for a smaller amount
 * (`amountMinor`) and may retry after a permanent refusal.
 */
export function refundDecision(
  view: TransactionView,
  request: { readonly amountMinor?: number; readonly operator?: boolean } = {},
): RefundDecision {
  if (view.ersReference === undefined)
    return { kind: 'flag', reason: 'the payment has no ersReference' };
  const remaining = view.price.minor - view.refundedMinor;
  if (remaining <= 0) return { kind: 'nothing' };
  const minor = request.amountMinor ?? remaining;
  if (minor <= 0 || minor > remaining)
    return { kind: 'flag', reason: `at most ${remaining} minor units can be refunded` };
  const amount: Money = { minor, currency: view.price.currency };
  const lastUnknown =
    view.refund === 'requested' ||
    (view.refund === 'failed' && outcomeUnknown(view.refundError ?? ''));
  if (lastUnknown) {
    if (view.refundRequestedMinor !== remaining || minor !== remaining)
      return {
        kind: 'flag',
        reason: 'a partial refund attempt has an unknown outcome; verify it before refunding',
      };
    return { kind: 'send', amount, afterUnknown: true };
  }
  // The operator may insist after a refusal (e.g. once SEQR enabled refunds); the daemon may not.
  if (request.operator !== true && view.refund === 'failed' && permanent(view.refundError ?? ''))
    return { kind: 'flag', reason: `SEQR refused the refund (${view.refundError ?? ''})` };
  return { kind: 'send', amount, afterUnknown: false };
}

export type RefundOutcome =
  | { readonly kind: 'confirmed'; readonly refundReference: string }
  /** A retry was answered 98: the earlier attempt went through. The operator should verify. */
  | { readonly kind: 'confirmedBy98' }
  | { readonly kind: 'nothing' }
  | { readonly kind: 'failed'; readonly code: string }
  | { readonly kind: 'flag'; readonly reason: string };

export interface RefundDeps {
  readonly ledger: Ledger;
  readonly gateway: Pick<PaymentGateway, 'refund'>;
  readonly clock: Pick<Clock, 'now'>;
  readonly logger: OpsLogger;
  /** SEQR cashierId on the refund (the machine name). */
  readonly cashierId: string;
}

/**
 * Sends one refund attempt if {@link refundDecision} allows it: records `refund.requested` (durable
 * before refundPayment goes out), calls SEQR, and records the outcome (`refund.confirmed` or
 * `refund.failed`). Ledger failures reject (nothing is sent without its record). The
 * transaction is not closed here; the caller does that from the outcome.
 */
export async function attemptRefund(
  deps: RefundDeps,
  view: TransactionView,
  initiator: 'recovery' | 'refundWorker' | 'operator',
  reason = 'not delivered',
  amountMinor?: number,
): Promise<RefundOutcome> {
  const decision = refundDecision(view, {
    ...(amountMinor === undefined ? {} : { amountMinor }),
    operator: initiator === 'operator',
  });
  if (decision.kind === 'nothing') return decision;
  const { txId } = view;
  if (decision.kind === 'flag') {
    deps.logger.error(
      { code: 'E_REFUND_FAILED', txId, ersReference: view.ersReference },
      `refund needs the operator: ${decision.reason}`,
    );
    return decision;
  }
  const record = (entry: LedgerEntry): Promise<void> => deps.ledger.record(entry, deps.clock.now());
  await record({ type: 'refund.requested', txId, amount: decision.amount, initiator });
  const ersReference = view.ersReference ?? '';
  try {
    const { refundReference } = await deps.gateway.refund({
      ersReference,
      amount: decision.amount,
      title: `Refund: ${view.productName} (${reason})`,
      cashierId: deps.cashierId,
    });
    await record({ type: 'refund.confirmed', txId, refundReference });
    deps.logger.info({ txId, ersReference, refundReference }, 'refund confirmed');
    return { kind: 'confirmed', refundReference };
  } catch (err) {
    if (err instanceof VendError && err.code === 'E_LEDGER_WRITE') throw err;
    const code = refundFailureCode(err);
    if (resultCodeOf(err) === SUM_EXCEEDED && decision.afterUnknown) {
      await record({
        type: 'refund.confirmed',
        txId,
        refundReference: '',
        inferred: 'sumExceeded',
      });
      deps.logger.error(
        { code: 'E_REFUND_UNVERIFIED', txId, ersReference },
        'refund retry answered 98: the earlier attempt went through; verify it in the SEQR report',
      );
      return { kind: 'confirmedBy98' };
    }
    await record({ type: 'refund.failed', txId, code });
    deps.logger.error(
      { code: 'E_REFUND_FAILED', txId, ersReference, failure: code, err },
      'refund not confirmed',
    );
    if (resultCodeOf(err) === SUM_EXCEEDED)
      return { kind: 'flag', reason: 'SEQR says the payment is already refunded (98)' };
    if (permanent(code)) return { kind: 'flag', reason: `SEQR refused the refund (${code})` };
    return { kind: 'failed', code };
  }
}

/** Folds stored entries into a view (undefined when the entries are not a valid transaction). */
export function viewOf(
  entries: readonly (LedgerEntry & { readonly at: number })[],
): TransactionView | undefined {
  let view: TransactionView | undefined;
  for (const e of entries) {
    const next = applyEntry(view, e, e.at);
    if (typeof next === 'string') return undefined;
    view = next;
  }
  return view;
}

export interface RefundWorkerOptions extends RefundDeps {
  readonly clock: Clock;
  /** Delay after the first failure; doubles per attempt. Default 30 s. */
  readonly baseDelayMs?: number;
  /** Longest delay between attempts. Default 30 min. */
  readonly maxDelayMs?: number;
}

export interface RefundPass {
  readonly confirmed: readonly string[];
  readonly failed: readonly string[];
  readonly flagged: readonly string[];
  /** Transactions still waiting for their next attempt (not due yet, or just failed). */
  readonly waiting: readonly string[];
}

/**
 * Retries refunds that failed (`refund.failed` as the last refund step of an open transaction)
 * with exponential backoff on the injected clock, until SEQR confirms them or they must be
 * flagged. Each failure stays visible: in the ledger (`seqr-vend pending`) and as an error log
 * line (`E_REFUND_FAILED`). A confirmed refund closes the transaction `refunded`; one confirmed
 * by a 98 answer, or refused for good, closes it `flagged`.
 *
 * It leaves alone transactions whose refund is in flight (`refund.requested` last: the core is
 * waiting for the answer, or start-up recovery owns it after a crash). One pass at a time.
 */
export class RefundWorker {
  readonly #options: RefundWorkerOptions;
  readonly #base: number;
  readonly #max: number;
  #timer: TimerHandle | undefined;
  #running: Promise<RefundPass> | undefined;
  #stopped = true;

  constructor(options: RefundWorkerOptions) {
    this.#options = options;
    this.#base = options.baseDelayMs ?? 30_000;
    this.#max = options.maxDelayMs ?? 30 * 60_000;
  }

  /** When the next attempt of this transaction's refund is due (epoch ms). */
  dueAt(view: TransactionView): number {
    const delay = Math.min(this.#max, this.#base * 2 ** Math.max(0, view.refundAttempts - 1));
    return (view.lastRefundAt ?? 0) + delay;
  }

  /** Starts scanning: a pass now, then one whenever an attempt falls due (at least every base delay). */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#schedule(0);
  }

  /** Stops scheduling; resolves once a pass in progress has finished. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#options.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#running) await this.#running.catch(() => undefined);
  }

  /** One pass over the open transactions: attempts every due refund. */
  runOnce(): Promise<RefundPass> {
    this.#running ??= this.#pass().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #pass(): Promise<RefundPass> {
    const { ledger, clock } = this.#options;
    const confirmed: string[] = [];
    const failed: string[] = [];
    const flagged: string[] = [];
    const waiting: string[] = [];
    for (const entries of (await ledger.openTransactions()).values()) {
      const view = viewOf(entries);
      if (view?.refund !== 'failed') continue;
      if (this.dueAt(view) > clock.now()) {
        waiting.push(view.txId);
        continue;
      }
      const outcome = await attemptRefund(this.#options, view, 'refundWorker');
      const close = (outcome: 'refunded' | 'flagged'): Promise<void> =>
        ledger.record({ type: 'tx.closed', txId: view.txId, outcome }, clock.now());
      switch (outcome.kind) {
        case 'confirmed':
        case 'nothing':
          await close('refunded');
          confirmed.push(view.txId);
          break;
        case 'confirmedBy98':
        case 'flag':
          await close('flagged');
          flagged.push(view.txId);
          break;
        case 'failed':
          failed.push(view.txId);
          waiting.push(view.txId);
          break;
      }
    }
    return { confirmed, failed, flagged, waiting };
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = this.#options.clock.setTimeout(() => {
      this.#timer = undefined;
      void this.runOnce()
        .then(() => this.#nextDelay())
        .catch((err: unknown) => {
          this.#options.logger.error({ err }, 'refund worker pass failed');
          return this.#base;
        })
        .then((delay) => {
          this.#schedule(delay);
        });
    }, ms);
  }

  async #nextDelay(): Promise<number> {
    let next = this.#base;
    const now = this.#options.clock.now();
    for (const entries of (await this.#options.ledger.openTransactions()).values()) {
      const view = viewOf(entries);
      if (view?.refund === 'failed') next = Math.min(next, Math.max(0, this.dueAt(view) - now));
    }
    return next;
  }
}
