import { failureFields, type Failure } from '../errors.js';
import type { OutOfServiceReason, PurchaseProblem, Screen } from '../ports/display.js';
import type { LedgerEntry, SettledRow } from '../ports/ledger.js';
import type { Money } from '../ports/money.js';
import type {
  InvoiceRequest,
  InvoiceStatus,
  IssuedInvoice,
  PaymentStatus,
} from '../ports/payment-gateway.js';
import { invoiceQrPayload } from '../ports/payment-gateway.js';
import type { Receipt } from '../ports/printer.js';
import { addJobs, refundJob } from './background.js';
import {
  DEFAULT_UPS_TIMINGS,
  type CoreConfig,
  type ProductConfig,
  type UpsCoreConfig,
  type UpsTimings,
} from './config.js';
import { includedVat, isoFromEpochMs, onSale, productView, receiptDocument } from './documents.js';
import {
  freshRefundFacts,
  rowsText,
  type ClosedOutcome,
  type TransactionView,
  type VendFacts,
} from './projection.js';
import type {
  Effect,
  Phase,
  ReservationEvent,
  RequestAnswer,
  State,
  TimerName,
  Transition,
  UpsRefusal,
  VendEvent,
} from './types.js';

/*
 * Pay first, then choose: SEQR's unattended payment (UPS, API.md §9.6) as one phase, `session`.
 *
 * idle/notice  ups.requested -> reserving (DEVICE_IN_USE whenever busy; DEVICE_UNAVAILABLE when
 *              starting, out of service or not in UPS mode; INSUFFICIENT_FUNDS below the cheapest
 *              product in stock). The machine reserves min(offer, ups.maxCredit).
 * reserving    reservation.requested durable -> sendInvoice (a reservation) -> issued
 *              -> reservation.issued durable -> createPurchase answered -> confirming
 * confirming   polled each second (a notification polls at once, never two calls out);
 *              RESERVED -> reservation.reserved -> choosing; CANCELED/FAILED/EXPIRED -> ended;
 *              cancel button or the window's end -> cancelling
 * choosing     a product button (price within the credit, in stock) -> vend.started durable ->
 *              relay -> vend.finished; "done" (the cancel button), credit below the cheapest
 *              product in stock, no press for idleTimeoutMs, sessionMaxMs after the reservation,
 *              a dispenser fault, or SEQR reporting the reservation gone -> settling
 * settling     reservation.settling {total, rows} durable before any call (never recomputed);
 *              total 0 -> cancelling; else updateInvoice (failure tolerated) -> commitReservation
 *              of exactly the total. 96 or an unknown outcome -> status: PAID = committed (never
 *              again), RESERVED -> commit again after a backoff, gone -> flagged. Retried until the
 *              reservation lapses (reserved + commitTimeoutMs), then flagged (E_RESERVATION_UNCOMMITTED).
 * paid         reservation.committed durable; a status call names the payment; receipt printed
 *              and submitted under the thank-you screen
 * cancelling   cancelInvoice, polled until a final status (RESERVED is cancelled again): nothing
 *              was delivered, nothing is charged
 *
 * Start-up recovery (planned by recoverReservation): requested without a reference -> closed;
 * nothing delivered -> cancelled (also when RESERVED); delivered -> settled for the confirmed
 * deliveries (a recorded settling total is reused exactly); a vend started without an outcome is
 * never charged, never dispensed again, and flags the session; committed -> closed.
 */

/** The status polling of a reservation's invoice: never two calls out (see `Polling`). */
export interface SessionPoll {
  readonly inFlight: boolean;
  /** The poll timer fired (or a notification came) while a call was out: poll when it returns. */
  readonly overdue: boolean;
  readonly dueAt: number;
  readonly version: number;
  readonly status: InvoiceStatus;
}

/** A press being served: its vend.started is being recorded, or the relay runs. */
export interface RunningVend {
  readonly seq: number;
  readonly product: ProductConfig;
  readonly step: 'recording' | 'running';
  /** The drop sensor fired: delivered whatever the dispense reports (recorded already). */
  readonly dropped?: true;
}

/** Why a cancel was sent: the payer's window ended, the cancel button, a restart, nothing bought. */
export type SessionCancelReason = 'timeout' | 'button' | 'recovery' | 'notRecorded' | 'nothing';

/** Where a reservation is (see the table above). Every step keeps the transaction id. */
export type Session =
  | {
      readonly kind: 'reserving';
      readonly txId: string;
      readonly requestId: string;
      readonly offered: Money;
      readonly amount: Money;
      readonly step: 'recording' | 'issuing';
    }
  | {
      readonly kind: 'confirming';
      readonly txId: string;
      readonly requestId: string;
      readonly invoice: IssuedInvoice;
      readonly amount: Money;
      /** reservation.issued is durable: createPurchase was answered, polling runs. */
      readonly recorded: boolean;
      readonly poll: SessionPoll;
    }
  | {
      readonly kind: 'choosing';
      readonly txId: string;
      readonly invoice: IssuedInvoice;
      readonly reserved: Money;
      readonly reservedAt: number;
      /** reservation.reserved is durable: presses are served. */
      readonly recorded: boolean;
      readonly vends: readonly VendFacts[];
      readonly running: RunningVend | undefined;
      readonly lastPressAt: number;
      /** Settle as soon as the running vend ends. */
      readonly ending: boolean;
      /** A status call (after a notification) is out, and the last version seen. */
      readonly checking: boolean;
      readonly version: number;
    }
  | {
      readonly kind: 'settling';
      readonly txId: string;
      readonly invoice: IssuedInvoice;
      readonly amount: Money;
      readonly total: Money;
      readonly rows: readonly SettledRow[];
      /** When the reservation lapses at SEQR: retries stop, the session is flagged. */
      readonly lapseAt: number;
      /** When settling began (the out-of-service screen after cancelDeadlineMs of trying). */
      readonly since: number;
      /** recording / updating / committing / checking: that step's record or call is out;
       *  waiting: `next` runs when the poll timer fires. */
      readonly step: 'recording' | 'updating' | 'committing' | 'checking' | 'waiting';
      readonly next: 'record' | 'commit' | 'check';
      /** Failed attempts so far: the retry delay doubles with each. */
      readonly failures: number;
      /** When `next` runs, while waiting (the poll timer). */
      readonly retryAt: number;
      readonly version: number;
      /** The lapse time passed while a call was out: its failure ends the trying. */
      readonly lapsed: boolean;
      readonly overdueScreen: boolean;
      /** A vend's outcome is unknown: the session is flagged once settled. */
      readonly uncertain: boolean;
    }
  | {
      readonly kind: 'paid';
      readonly txId: string;
      readonly invoice: IssuedInvoice;
      readonly total: Money;
      readonly rows: readonly SettledRow[];
      readonly ersReference?: string;
      readonly step: 'confirming' | 'printing' | 'submitting';
      readonly thankYouUntil: number;
      readonly uncertain: boolean;
    }
  | {
      readonly kind: 'cancelling';
      readonly txId: string;
      readonly invoice: IssuedInvoice;
      readonly amount: Money;
      readonly poll: SessionPoll;
      readonly reason: SessionCancelReason;
      /** inFlight: the call is out; done: cancelled, a status call confirms it; paying: SEQR said
       *  51, polling goes on; failed: sent again at the deadline. */
      readonly cancel: 'inFlight' | 'done' | 'paying' | 'failed';
      readonly overdueScreen: boolean;
      readonly uncertain: boolean;
    };

/** A reservation start-up recovery found open, run as a phase before the machine sells. */
export type RecoveredReservation =
  /** Nothing delivered: cancel it and poll until SEQR confirms a final status. */
  | {
      readonly kind: 'cancel';
      readonly txId: string;
      readonly invoice: IssuedInvoice;
      readonly amount: Money;
      readonly version: number;
      readonly status: InvoiceStatus;
      readonly uncertain: boolean;
    }
  /** Delivered: commit exactly `total` (recording the settling first unless it is durable). */
  | {
      readonly kind: 'settle';
      readonly txId: string;
      readonly invoice: IssuedInvoice;
      readonly amount: Money;
      readonly total: Money;
      readonly rows: readonly SettledRow[];
      readonly lapseAt: number;
      readonly settled: boolean;
      readonly uncertain: boolean;
    };

/** What the purchase phases (daemon/core/step.ts) lend a reservation. */
export interface PhaseKit {
  /** The next start-up recovery item, or idle. */
  toNext(c: CoreConfig, s: State, at: number, effects?: readonly Effect[]): Transition;
  /** Shows `screen` (if given) until `at + messageMs` (or `until`), then idle. */
  notice(
    c: CoreConfig,
    s: State,
    screen: Screen | undefined,
    at: number,
    effects: readonly Effect[],
    until?: number,
  ): Transition;
  outOfService(
    c: CoreConfig,
    s: State,
    reason: OutOfServiceReason,
    failures: number,
    at: number,
    effects?: readonly Effect[],
  ): Transition;
  /** A notification about the per-press purchase on screen: poll it now; undefined if not its. */
  notified(c: CoreConfig, s: State, reference: string, at: number): Transition | undefined;
}

type InSession = Extract<State, { kind: 'session' }>;
type Step<K extends Session['kind']> = Extract<Session, { kind: K }>;
type Fields = Readonly<Record<string, string | number | boolean>>;

// --- small helpers ---------------------------------------------------------------------------------

const same = (s: State): Transition => ({ state: s, effects: [] });
const show = (screen: Screen): Effect => ({ type: 'display.show', screen });
const record = (entry: LedgerEntry): Effect => ({ type: 'ledger.record', entry });
const closeTx = (txId: string, outcome: ClosedOutcome): Effect =>
  record({ type: 'tx.closed', txId, outcome });
const answer = (requestId: string, a: RequestAnswer): Effect => ({
  type: 'request.answer',
  requestId,
  answer: a,
});
const log = (level: 'info' | 'warn' | 'error', msg: string, fields: Fields): Effect => ({
  type: 'log',
  level,
  msg,
  fields,
});
const token = (txId: string, name: TimerName, at: number): string => `${txId}:${name}:${at}`;
const timer = (name: TimerName, tok: string, at: number): Effect => ({
  type: 'timer.start',
  name,
  token: tok,
  at,
});
const isTimer = (e: VendEvent, name: TimerName, tok: string): boolean =>
  e.type === 'timer.expired' && e.name === name && e.token === tok;
const failed = (f: Failure, fields: Fields): Fields => ({ ...fields, ...failureFields(f) });
const money = (minor: number, currency: string): Money => ({ minor, currency });

function go(s: State, next: Phase, effects: readonly Effect[]): Transition {
  return {
    state: {
      ...next,
      products: s.products,
      maintenance: s.maintenance,
      soldOut: s.soldOut,
      background: s.background,
      recovery: s.recovery,
    },
    effects,
  };
}

/** The session phase at `session`, its deadline timer due at `due`. */
function enter(s: State, session: Session, due: number, effects: readonly Effect[]): Transition {
  const deadline = token(session.txId, 'deadline', due);
  return go(s, { kind: 'session', session, deadline }, [
    ...effects,
    timer('deadline', deadline, due),
  ]);
}

/** The same step with new fields, the running deadline kept. */
function update(s: InSession, session: Session, effects: readonly Effect[]): Transition {
  return go(s, { kind: 'session', session, deadline: s.deadline }, effects);
}

/** The UPS timings, also for a reservation recovered after UPS mode was switched off. */
function upsTimings(c: CoreConfig): UpsTimings {
  return c.ups ?? DEFAULT_UPS_TIMINGS;
}

function backoff(ups: UpsTimings, failures: number): number {
  return Math.min(
    ups.commitRetryMaxMs,
    ups.commitRetryMinMs * 2 ** Math.min(Math.max(0, failures - 1), 30),
  );
}

/** Products on sale and in stock the payer could still take with `credit`. */
function affordable(s: State, soldOut: readonly number[], credit: number): ProductConfig[] {
  return s.products.filter((p) => onSale(p, soldOut) && p.price.minor <= credit);
}

function delivered(vends: readonly VendFacts[]): VendFacts[] {
  return vends.filter((v) => v.outcome === 'delivered');
}

function sum(vends: readonly VendFacts[]): number {
  return vends.reduce((n, v) => n + v.price.minor, 0);
}

/** What a session charges: the delivered vends, one row per product and price. */
export function settledRows(vends: readonly VendFacts[]): SettledRow[] {
  const rows: SettledRow[] = [];
  for (const v of delivered(vends)) {
    const i = rows.findIndex(
      (r) =>
        r.slot === v.slot && r.productName === v.productName && r.unitPrice.minor === v.price.minor,
    );
    const row = rows[i];
    if (row) rows[i] = { ...row, quantity: row.quantity + 1 };
    else rows.push({ slot: v.slot, productName: v.productName, unitPrice: v.price, quantity: 1 });
  }
  return rows;
}

const countOf = (rows: readonly SettledRow[]): number => rows.reduce((n, r) => n + r.quantity, 0);

/** The sendInvoice request of a reservation of `amount`. */
export function reservationRequest(c: CoreConfig, txId: string, amount: Money): InvoiceRequest {
  return {
    clientInvoiceId: txId,
    title: c.merchant.name,
    itemDescription: `${c.machineName}: pay first, then choose`,
    price: amount,
    cashierId: c.machineName,
    ...(c.merchant.invoiceFooter === undefined ? {} : { footer: c.merchant.invoiceFooter }),
    ...(c.notificationUrl === undefined ? {} : { notificationUrl: c.notificationUrl }),
    reservation: { commitTimeoutS: Math.floor(upsTimings(c).commitTimeoutMs / 1000) },
  };
}

function chooseScreen(
  c: CoreConfig,
  s: State,
  credit: number,
  currency: string,
  vending?: ProductConfig,
): Screen {
  return {
    kind: 'upsChoose',
    credit: money(credit, currency),
    products: s.products.map((p) => productView(p, s.soldOut)),
    ...(vending ? { vending: productView(vending, s.soldOut) } : {}),
  };
}

function settleScreen(
  state: Extract<Screen, { kind: 'upsSettle' }>['state'],
  total: Money,
  rows: readonly SettledRow[],
  paymentRef?: string,
): Screen {
  return {
    kind: 'upsSettle',
    state,
    total,
    count: countOf(rows),
    ...(paymentRef === undefined ? {} : { paymentRef }),
  };
}

// --- requests from outside -----------------------------------------------------------------------

/** A reservation's own events, in any state. */
export function reservationEvent(
  c: CoreConfig,
  s: State,
  e: ReservationEvent,
  kit: PhaseKit,
): Transition {
  switch (e.type) {
    case 'ups.requested':
      return requested(c, s, e);
    case 'payment.notified':
      return notified(c, s, e, kit);
    case 'payment.updated':
      if (s.kind !== 'session' || s.session.txId !== e.txId) return same(s);
      return onUpdated(s, undefined);
    case 'payment.committed':
      if (s.kind === 'session' && s.session.kind === 'settling' && s.session.txId === e.txId)
        return onCommitted(c, s, s.session, e.at);
      // Nobody waits for this commit any more: it still moved money.
      return {
        state: s,
        effects: [
          record({ type: 'reservation.committed', txId: e.txId }),
          log('warn', 'reservation commit confirmed late', { txId: e.txId }),
        ],
      };
  }
}

function requested(
  c: CoreConfig,
  s: State,
  e: Extract<ReservationEvent, { type: 'ups.requested' }>,
): Transition {
  const refuse = (errorCode: UpsRefusal, why: string): Transition => ({
    state: s,
    effects: [
      answer(e.requestId, { errorCode }),
      log('info', `createPurchase refused: ${why}`, { requestId: e.requestId, errorCode }),
    ],
  });
  const { ups } = c;
  if (!ups) return refuse('DEVICE_UNAVAILABLE', 'not in UPS mode');
  if (s.kind === 'starting' || s.kind === 'outOfService' || s.maintenance)
    return refuse('DEVICE_UNAVAILABLE', 'out of service');
  const free =
    s.kind === 'idle' ||
    (s.kind === 'notice' && s.recovery.loaded && s.recovery.items.length === 0);
  if (!free) return refuse('DEVICE_IN_USE', `busy (${s.kind})`);
  const { currency } = ups.maxCredit;
  if (e.offered.currency !== currency)
    return refuse(
      'SYSTEM_ERROR',
      `offer in ${e.offered.currency}, the machine sells in ${currency}`,
    );
  const amount = money(Math.min(e.offered.minor, ups.maxCredit.minor), currency);
  const inStock = affordable(s, s.soldOut, Number.MAX_SAFE_INTEGER);
  if (inStock.length === 0) return refuse('DEVICE_UNAVAILABLE', 'nothing in stock');
  if (affordable(s, s.soldOut, amount.minor).length === 0)
    return refuse('INSUFFICIENT_FUNDS', 'the offer buys nothing in stock');
  return enter(
    s,
    {
      kind: 'reserving',
      txId: e.txId,
      requestId: e.requestId,
      offered: e.offered,
      amount,
      step: 'recording',
    },
    e.at + c.invoicingDeadlineMs,
    [
      show({ kind: 'upsConfirm', amount }),
      record({ type: 'reservation.requested', txId: e.txId, offered: e.offered, amount }),
    ],
  );
}

function notified(
  c: CoreConfig,
  s: State,
  e: Extract<ReservationEvent, { type: 'payment.notified' }>,
  kit: PhaseKit,
): Transition {
  const known = (t: Transition, isKnown: boolean): Transition => ({
    state: t.state,
    effects: [...t.effects, answer(e.requestId, { known: isKnown })],
  });
  if (s.kind !== 'session') {
    const t = kit.notified(c, s, e.reference, e.at);
    return known(t ?? same(s), t !== undefined);
  }
  const session = s.session;
  if (!('invoice' in session) || session.invoice.reference !== e.reference)
    return known(same(s), false);
  switch (session.kind) {
    case 'confirming':
    case 'cancelling':
      if (session.kind === 'confirming' && !session.recorded) return known(same(s), true);
      return known(pollNow(c, s, session, e.at), true);
    case 'choosing':
      // The payer may have cancelled the reservation in the app: ask SEQR once.
      if (session.checking) return known(same(s), true);
      return known(
        update(s, { ...session, checking: true }, [
          {
            type: 'payment.poll',
            txId: session.txId,
            reference: session.invoice.reference,
            lastVersion: session.version,
          },
        ]),
        true,
      );
    case 'settling':
    case 'paid':
      return known(same(s), true);
  }
}

// --- polling -------------------------------------------------------------------------------------

type Polled = Step<'confirming'> | Step<'cancelling'>;

function startPoll(
  c: CoreConfig,
  session: Polled,
  at: number,
  nominal = at,
): { poll: SessionPoll; effects: Effect[] } {
  const grid = nominal + c.pollIntervalMs;
  const dueAt = grid > at ? grid : at + c.pollIntervalMs;
  const { txId } = session;
  return {
    poll: { ...session.poll, inFlight: true, overdue: false, dueAt },
    effects: [
      {
        type: 'payment.poll',
        txId,
        reference: session.invoice.reference,
        lastVersion: session.poll.version,
      },
      timer('poll', token(txId, 'poll', dueAt), dueAt),
    ],
  };
}

/** A call now, or as soon as the one out returns (never two out). */
function pollNow(c: CoreConfig, s: InSession, session: Polled, at: number): Transition {
  if (session.poll.inFlight)
    return update(s, { ...session, poll: { ...session.poll, overdue: true } }, []);
  const next = startPoll(c, session, at);
  return update(s, { ...session, poll: next.poll }, next.effects);
}

function onPollTimer(c: CoreConfig, s: InSession, session: Polled, at: number): Transition {
  if (session.poll.inFlight)
    return update(s, { ...session, poll: { ...session.poll, overdue: true } }, []);
  const next = startPoll(c, session, at, session.poll.dueAt);
  return update(s, { ...session, poll: next.poll }, next.effects);
}

function afterAnswer(
  c: CoreConfig,
  s: InSession,
  session: Polled,
  poll: SessionPoll,
  at: number,
  effects: readonly Effect[],
): Transition {
  if (!poll.overdue) return update(s, { ...session, poll }, effects);
  const next = startPoll(c, { ...session, poll }, at);
  return update(s, { ...session, poll: next.poll }, [...next.effects, ...effects]);
}

const FINAL: ReadonlySet<InvoiceStatus> = new Set(['CANCELED', 'FAILED', 'EXPIRED']);

// --- the phase -------------------------------------------------------------------------------------

/**
 * The session phase's part of a purchase-flow event; undefined when it is not the session's (the
 * any-state rules take it: stock, display failures, background refunds).
 */
export function sessionStep(
  c: CoreConfig,
  s: InSession,
  e: VendEvent,
  kit: PhaseKit,
): Transition | undefined {
  const session = s.session;
  switch (session.kind) {
    case 'reserving':
      return reserving(c, s, session, e, kit);
    case 'confirming':
      return confirming(c, s, session, e, kit);
    case 'choosing':
      return choosing(c, s, session, e, kit);
    case 'settling':
      return settling(c, s, session, e, kit);
    case 'paid':
      return paid(c, s, session, e, kit);
    case 'cancelling':
      return cancelling(c, s, session, e, kit);
  }
}

// --- reserving -------------------------------------------------------------------------------------

function reserving(
  c: CoreConfig,
  s: InSession,
  r: Step<'reserving'>,
  e: VendEvent,
  kit: PhaseKit,
): Transition | undefined {
  const { txId, requestId } = r;
  if (e.type === 'ledger.recorded' && e.entry.txId === txId) {
    if (e.entry.type !== 'reservation.requested' || r.step !== 'recording') return same(s);
    return update(s, { ...r, step: 'issuing' }, [
      { type: 'payment.issue', txId, request: reservationRequest(c, txId, r.amount) },
    ]);
  }
  if (e.type === 'ledger.failed' && e.entry.txId === txId) {
    if (e.entry.type !== 'reservation.requested') return same(s);
    return kit.notice(c, s, { kind: 'problem', problem: 'invoiceFailed' }, e.at, [
      answer(requestId, { errorCode: 'SYSTEM_ERROR' }),
      log('error', 'reservation not recorded: no invoice sent', failed(e.failure, { txId })),
    ]);
  }
  if (e.type === 'payment.issued' && e.txId === txId && r.step === 'issuing') {
    const confirming: Step<'confirming'> = {
      kind: 'confirming',
      txId,
      requestId,
      invoice: e.invoice,
      amount: r.amount,
      recorded: false,
      poll: { inFlight: false, overdue: false, dueAt: e.at, version: 0, status: 'ISSUED' },
    };
    // createPurchase is answered only once the invoice is durable (a crash after the answer
    // finds it and cancels it).
    return enter(s, confirming, e.at + c.invoicingDeadlineMs, [
      record({ type: 'reservation.issued', txId, invoiceReference: e.invoice.reference }),
    ]);
  }
  if (e.type === 'payment.failed' && e.op === 'issue' && e.txId === txId) {
    const effects = [
      answer(requestId, { errorCode: 'INVOICING_ERROR' }),
      closeTx(txId, 'failed'),
      log('error', 'sendInvoice of a reservation failed', failed(e.failure, { txId })),
    ];
    if (e.failure.code === 'E_SEQR_AUTH')
      return kit.outOfService(c, s, 'seqrCredentials', 0, e.at, effects);
    if (e.retryable) return kit.outOfService(c, s, 'seqrUnreachable', 0, e.at, effects);
    return kit.notice(c, s, { kind: 'problem', problem: 'invoiceFailed' }, e.at, effects);
  }
  if (isTimer(e, 'deadline', s.deadline))
    return kit.outOfService(c, s, 'seqrUnreachable', 0, e.at, [
      answer(requestId, { errorCode: 'DEVICE_UNAVAILABLE' }),
      closeTx(txId, 'failed'),
      log('warn', 'reservation not issued in time', { txId, step: r.step }),
    ]);
  return undefined;
}

// --- confirming ------------------------------------------------------------------------------------

function confirming(
  c: CoreConfig,
  s: InSession,
  r: Step<'confirming'>,
  e: VendEvent,
  kit: PhaseKit,
): Transition | undefined {
  const { txId } = r;
  const ups = c.ups;
  if (e.type === 'ledger.recorded' && e.entry.txId === txId) {
    if (e.entry.type !== 'reservation.issued' || r.recorded || !ups) return same(s);
    const next = { ...r, recorded: true };
    const first = startPoll(c, next, e.at);
    return enter(s, { ...next, poll: first.poll }, e.at + ups.confirmWindowMs, [
      answer(r.requestId, { invoiceReferenceId: r.invoice.reference }),
      show({ kind: 'upsConfirm', amount: r.amount }),
      ...first.effects,
    ]);
  }
  if (e.type === 'ledger.failed' && e.entry.txId === txId) {
    if (e.entry.type !== 'reservation.issued' || r.recorded) return same(s);
    const t = enterCancelling(c, s, r, 'notRecorded', r.poll, e.at, false);
    return {
      state: t.state,
      effects: [
        answer(r.requestId, { errorCode: 'SYSTEM_ERROR' }),
        log(
          'error',
          'reservation not recorded: cancelled before the payer saw it',
          failed(e.failure, { txId }),
        ),
        ...t.effects,
      ],
    };
  }
  if (!r.recorded) {
    if (!isTimer(e, 'deadline', s.deadline)) return undefined;
    // Its record never came back: the payer was never answered; cancel it.
    const t = enterCancelling(c, s, r, 'notRecorded', r.poll, e.at, false);
    return {
      state: t.state,
      effects: [answer(r.requestId, { errorCode: 'SYSTEM_ERROR' }), ...t.effects],
    };
  }
  if (e.type === 'timer.expired' && isTimer(e, 'poll', token(txId, 'poll', r.poll.dueAt)))
    return onPollTimer(c, s, r, e.at);
  if (e.type === 'payment.statusReceived' && e.txId === txId && r.poll.inFlight)
    return confirmingStatus(c, s, r, e.status, e.at, kit);
  if (e.type === 'payment.failed' && e.op === 'poll' && e.txId === txId && r.poll.inFlight)
    return pollFailed(c, s, r, e.failure, e.at, kit);
  if (e.type === 'button.pressed' && e.button.kind === 'cancel')
    return enterCancelling(c, s, r, 'button', r.poll, e.at, false);
  if (isTimer(e, 'deadline', s.deadline))
    return enterCancelling(c, s, r, 'timeout', r.poll, e.at, false);
  return undefined;
}

function seenEntry(txId: string, status: PaymentStatus): Effect {
  return record({
    type: 'status.seen',
    txId,
    status: status.status,
    version: status.version,
    ...(status.ersReference === undefined ? {} : { ersReference: status.ersReference }),
  });
}

function confirmingStatus(
  c: CoreConfig,
  s: InSession,
  r: Step<'confirming'>,
  status: PaymentStatus,
  at: number,
  kit: PhaseKit,
): Transition {
  const { txId } = r;
  const ups = c.ups;
  const poll: SessionPoll = {
    ...r.poll,
    inFlight: false,
    version: status.version,
    status: status.status,
  };
  if (status.status === 'RESERVED' && ups) {
    const choosing: Step<'choosing'> = {
      kind: 'choosing',
      txId,
      invoice: r.invoice,
      reserved: r.amount,
      reservedAt: at,
      recorded: false,
      vends: [],
      running: undefined,
      lastPressAt: at,
      ending: false,
      checking: false,
      version: status.version,
    };
    return enter(s, choosing, choosingDeadline(ups, choosing, at), [
      { type: 'timer.cancel', name: 'poll' },
      show(chooseScreen(c, s, r.amount.minor, r.amount.currency)),
      record({ type: 'reservation.reserved', txId, amount: r.amount }),
      log('info', 'reservation confirmed: choosing', {
        txId,
        reserved: r.amount.minor,
        invoiceReference: r.invoice.reference,
      }),
    ]);
  }
  if (status.status === 'PAID') return paidWithoutCommit(c, s, r, status, at, kit);
  if (FINAL.has(status.status)) {
    const problem: PurchaseProblem =
      status.status === 'CANCELED' ? 'cancelledInApp' : 'paymentFailed';
    return kit.notice(c, s, { kind: 'problem', problem }, at, [
      { type: 'timer.cancel', name: 'poll' },
      seenEntry(txId, status),
      closeTx(txId, status.status === 'FAILED' ? 'failed' : 'cancelled'),
    ]);
  }
  return afterAnswer(
    c,
    s,
    r,
    poll,
    at,
    status.status === r.poll.status ? [] : [seenEntry(txId, status)],
  );
}

/**
 * SEQR reports a reservation PAID that the machine never committed (not in SEQR's documented
 * flow): the payer was debited and nothing was delivered, so the money goes back (a refund job).
 */
function paidWithoutCommit(
  c: CoreConfig,
  s: InSession,
  r: Polled,
  status: PaymentStatus,
  at: number,
  kit: PhaseKit,
): Transition {
  const { txId } = r;
  const facts = freshRefundFacts(r.amount, status.ersReference);
  const jobs = addJobs(s.background, [refundJob(txId, 'Reservation', facts, at)], at);
  return kit.notice(
    c,
    { ...s, background: jobs.background },
    { kind: 'problem', problem: 'paymentFailed' },
    at,
    [
      { type: 'timer.cancel', name: 'poll' },
      seenEntry(txId, status),
      log('error', 'reservation reported PAID without a commit: refunding it', {
        txId,
        invoiceReference: r.invoice.reference,
      }),
      ...jobs.effects,
    ],
  );
}

function pollFailed(
  c: CoreConfig,
  s: InSession,
  r: Polled,
  f: Failure,
  at: number,
  kit: PhaseKit,
): Transition {
  const poll = { ...r.poll, inFlight: false };
  if (f.code === 'E_SEQR_UNKNOWN_INVOICE')
    return kit.notice(c, s, { kind: 'problem', problem: 'connectionLost' }, at, [
      { type: 'timer.cancel', name: 'poll' },
      log('error', 'SEQR does not know the reservation', failed(f, { txId: r.txId })),
      closeTx(r.txId, 'failed'),
    ]);
  return afterAnswer(c, s, r, poll, at, [
    log('warn', 'status poll failed', failed(f, { txId: r.txId })),
  ]);
}

// --- cancelling ------------------------------------------------------------------------------------

function enterCancelling(
  c: CoreConfig,
  s: State,
  r: { readonly txId: string; readonly invoice: IssuedInvoice; readonly amount: Money },
  reason: SessionCancelReason,
  poll: SessionPoll,
  at: number,
  uncertain: boolean,
): Transition {
  const { txId, invoice } = r;
  const cancelling: Step<'cancelling'> = {
    kind: 'cancelling',
    txId,
    invoice,
    amount: r.amount,
    poll,
    reason,
    cancel: 'inFlight',
    overdueScreen: false,
    uncertain,
  };
  const polls = poll.inFlight ? { poll, effects: [] } : startPoll(c, cancelling, at);
  return enter(s, { ...cancelling, poll: polls.poll }, at + c.cancelDeadlineMs, [
    show(settleScreen('cancelling', money(0, r.amount.currency), [])),
    { type: 'payment.cancel', txId, reference: invoice.reference },
    ...polls.effects,
    record({ type: 'cancel.requested', txId }),
  ]);
}

function cancelling(
  c: CoreConfig,
  s: InSession,
  r: Step<'cancelling'>,
  e: VendEvent,
  kit: PhaseKit,
): Transition | undefined {
  const { txId } = r;
  if (e.type === 'payment.cancelAnswered' && e.txId === txId && r.cancel === 'inFlight') {
    if (e.outcome === 'paid' || e.outcome === 'inProgress')
      return update(s, { ...r, cancel: 'paying' }, []);
    return pollNow(c, s, { ...r, cancel: 'done' }, e.at);
  }
  if (
    e.type === 'payment.failed' &&
    e.txId === txId &&
    e.op === 'cancel' &&
    r.cancel === 'inFlight'
  )
    return update(s, { ...r, cancel: 'failed' }, [
      log('warn', 'cancelInvoice of a reservation failed', failed(e.failure, { txId })),
    ]);
  if (e.type === 'payment.failed' && e.txId === txId && e.op === 'poll' && r.poll.inFlight)
    return pollFailed(c, s, r, e.failure, e.at, kit);
  if (e.type === 'timer.expired' && isTimer(e, 'poll', token(txId, 'poll', r.poll.dueAt)))
    return onPollTimer(c, s, r, e.at);
  if (e.type === 'payment.statusReceived' && e.txId === txId && r.poll.inFlight) {
    const status = e.status;
    const poll: SessionPoll = {
      ...r.poll,
      inFlight: false,
      version: status.version,
      status: status.status,
    };
    const seen = status.status === r.poll.status ? [] : [seenEntry(txId, status)];
    if (FINAL.has(status.status)) {
      const outcome: ClosedOutcome = r.uncertain ? 'flagged' : 'cancelled';
      return kit.notice(
        c,
        s,
        r.reason === 'recovery'
          ? undefined
          : settleScreen('nothing', money(0, r.amount.currency), []),
        e.at,
        [{ type: 'timer.cancel', name: 'poll' }, ...seen, closeTx(txId, outcome)],
      );
    }
    if (status.status === 'PAID') return paidWithoutCommit(c, s, r, status, e.at, kit);
    // Still RESERVED (or issued) after SEQR accepted the cancel: cancel it again.
    if (r.cancel === 'done' && status.status !== 'ISSUED')
      return afterAnswer(c, s, { ...r, cancel: 'inFlight' }, poll, e.at, [
        ...seen,
        { type: 'payment.cancel', txId, reference: r.invoice.reference },
      ]);
    return afterAnswer(c, s, r, poll, e.at, seen);
  }
  if (isTimer(e, 'deadline', s.deadline)) {
    const due = e.at + c.cancelDeadlineMs;
    const resend = r.cancel === 'failed' || r.cancel === 'paying';
    const next: Step<'cancelling'> = {
      ...r,
      overdueScreen: true,
      cancel: resend ? 'inFlight' : r.cancel,
    };
    return enter(s, next, due, [
      ...(r.overdueScreen
        ? []
        : [show({ kind: 'outOfService', reason: 'seqrUnreachable', machineName: c.machineName })]),
      ...(resend
        ? [{ type: 'payment.cancel', txId, reference: r.invoice.reference } as const]
        : []),
      log(
        r.reason === 'recovery' ? 'error' : 'warn',
        'reservation still not cancelled: still cancelling and polling',
        {
          txId,
          invoiceReference: r.invoice.reference,
          ...(r.reason === 'recovery' ? { code: 'E_RECOVERY_UNRESOLVED' } : {}),
        },
      ),
    ]);
  }
  return undefined;
}

// --- choosing --------------------------------------------------------------------------------------

function choosingDeadline(ups: UpsCoreConfig, r: Step<'choosing'>, at: number): number {
  return Math.max(at, Math.min(r.lastPressAt + ups.idleTimeoutMs, r.reservedAt + ups.sessionMaxMs));
}

function credit(r: Step<'choosing'>): number {
  const held = r.running ? r.running.product.price.minor : 0;
  return r.reserved.minor - sum(delivered(r.vends)) - held;
}

function choosing(
  c: CoreConfig,
  s: InSession,
  r: Step<'choosing'>,
  e: VendEvent,
  kit: PhaseKit,
): Transition | undefined {
  const { txId } = r;
  const ups = c.ups;
  if (!ups) return undefined;
  const running = r.running;
  switch (e.type) {
    case 'ledger.recorded':
      if (e.entry.txId !== txId) return undefined;
      if (e.entry.type === 'reservation.reserved' && !r.recorded)
        return update(s, { ...r, recorded: true }, []);
      if (
        e.entry.type === 'vend.started' &&
        running?.step === 'recording' &&
        e.entry.vend === running.seq
      )
        return update(s, { ...r, running: { ...running, step: 'running' } }, [
          { type: 'dispenser.dispense', txId, slot: running.product.slot },
        ]);
      return same(s);
    case 'ledger.failed':
      if (e.entry.txId !== txId) return undefined;
      if (e.entry.type === 'reservation.reserved' && !r.recorded) {
        // Nothing was delivered (no press is served before this record): the reservation goes.
        const t = enterCancelling(
          c,
          s,
          { ...r, amount: r.reserved },
          'notRecorded',
          idlePoll(r),
          e.at,
          false,
        );
        return {
          state: t.state,
          effects: [
            log('error', 'reservation not recorded: cancelled', failed(e.failure, { txId })),
            ...t.effects,
          ],
        };
      }
      if (
        e.entry.type === 'vend.started' &&
        running?.step === 'recording' &&
        e.entry.vend === running.seq
      )
        // The relay did not move; a ledger that cannot record ends the session.
        return settle(c, s, { ...r, running: undefined }, e.at, [
          log(
            'error',
            'vend not recorded: nothing dispensed, the session ends',
            failed(e.failure, { txId }),
          ),
        ]);
      return same(s);
    case 'button.pressed': {
      if (e.button.kind === 'cancel') {
        if (running) return update(s, { ...r, ending: true }, []);
        return settle(c, s, r, e.at, []);
      }
      const { slot } = e.button;
      const product = s.products.find((p) => p.slot === slot);
      if (!r.recorded || running || r.ending || !product || !onSale(product, s.soldOut))
        return same(s);
      if (product.price.minor > credit(r)) return same(s);
      const seq = r.vends.length + 1;
      const next: Step<'choosing'> = {
        ...r,
        running: { seq, product, step: 'recording' },
        lastPressAt: e.at,
      };
      return enter(s, next, e.at + c.dispenseDeadlineMs, [
        show(chooseScreen(c, s, credit(next), r.reserved.currency, product)),
        record({
          type: 'vend.started',
          txId,
          vend: seq,
          slot,
          productName: product.name,
          price: product.price,
        }),
      ]);
    }
    case 'dispense.dropped': {
      // The drop sensor saw it fall: delivered, recorded now (a restart before the dispense ends
      // charges it, never dispenses it again).
      if (e.txId !== txId || running?.step !== 'running' || running.dropped) return same(s);
      return update(s, { ...r, running: { ...running, dropped: true } }, [
        record({ type: 'vend.finished', txId, vend: running.seq, outcome: 'delivered' }),
      ]);
    }
    case 'dispense.finished': {
      if (e.txId !== txId || running?.step !== 'running') return same(s);
      if (running.dropped) return afterVend(c, s, r, running, 'delivered', e.at, kit, []);
      const outcome = e.result.outcome;
      return afterVend(c, s, r, running, outcome, e.at, kit, [
        record({
          type: 'vend.finished',
          txId,
          vend: running.seq,
          outcome,
          ...(e.result.outcome === 'notDelivered' ? { detail: e.result.reason } : {}),
        }),
      ]);
    }
    case 'dispense.failed': {
      if (e.txId !== txId || running?.step !== 'running') return same(s);
      if (running.dropped) return afterVend(c, s, r, running, 'delivered', e.at, kit, []);
      // BUSY: nothing was driven. Anything else: the outcome is unknown; never charged.
      const busy = e.failure.code === 'E_DISPENSER_BUSY';
      const outcome = busy ? 'notDelivered' : 'uncertain';
      return afterVend(c, s, r, running, outcome, e.at, kit, [
        record({ type: 'vend.finished', txId, vend: running.seq, outcome, failure: e.failure }),
        ...(busy
          ? []
          : [
              log('error', 'vend outcome uncertain: not charged, flagged for the operator', {
                ...failed(e.failure, { txId, slot: running.product.slot }),
                code: e.failure.code,
              }),
            ]),
      ]);
    }
    case 'stock.updated': {
      const next: InSession = { ...s, soldOut: [...e.soldOut] };
      if (!running && r.recorded && affordable(next, next.soldOut, credit(r)).length === 0)
        return settle(c, next, r, e.at, []);
      return update(next, r, [
        show(chooseScreen(c, next, credit(r), r.reserved.currency, running?.product)),
      ]);
    }
    case 'payment.statusReceived':
      if (e.txId !== txId || !r.checking) return same(s);
      if (e.status.status === 'RESERVED')
        return update(s, { ...r, checking: false, version: e.status.version }, []);
      // The reservation is gone at SEQR (cancelled in the app, lapsed): nothing more is served.
      if (running)
        return update(s, { ...r, checking: false, ending: true, version: e.status.version }, [
          log('warn', 'reservation no longer RESERVED: the session ends', {
            txId,
            status: e.status.status,
          }),
        ]);
      return settle(c, s, { ...r, checking: false, version: e.status.version }, e.at, [
        log('warn', 'reservation no longer RESERVED: the session ends', {
          txId,
          status: e.status.status,
        }),
      ]);
    case 'payment.failed':
      if (e.txId !== txId || e.op !== 'poll' || !r.checking) return undefined;
      return update(s, { ...r, checking: false }, []);
    case 'timer.expired':
      if (!isTimer(e, 'deadline', s.deadline)) return same(s);
      if (running?.dropped) return afterVend(c, s, r, running, 'delivered', e.at, kit, []);
      if (running?.step === 'running')
        return afterVend(c, s, r, running, 'uncertain', e.at, kit, [
          record({
            type: 'vend.finished',
            txId,
            vend: running.seq,
            outcome: 'uncertain',
            detail: 'no outcome within the dispense deadline',
          }),
          log('error', 'vend outcome uncertain: not charged, flagged for the operator', {
            txId,
            slot: running.product.slot,
            code: 'E_DISPENSER_FAULT',
          }),
        ]);
      if (running)
        // vend.started never came back: the relay was not driven.
        return settle(c, s, { ...r, running: undefined }, e.at, [
          record({
            type: 'vend.finished',
            txId,
            vend: running.seq,
            outcome: 'notDelivered',
            detail: 'not driven: vend.started was not durable in time',
          }),
        ]);
      return settle(c, s, r, e.at, []);
    case 'catalog.updated':
    case 'maintenance.changed':
    case 'recovery.loaded':
    case 'payment.issued':
    case 'payment.cancelAnswered':
    case 'payment.refunded':
    case 'payment.receiptSubmitted':
    case 'payment.probed':
    case 'printer.printed':
    case 'printer.failed':
    case 'display.failed':
      return undefined;
  }
}

function idlePoll(r: Step<'choosing'>): SessionPoll {
  return { inFlight: false, overdue: false, dueAt: 0, version: r.version, status: 'RESERVED' };
}

/** A vend ended: its outcome recorded (in `effects`); go on choosing, or settle. */
function afterVend(
  c: CoreConfig,
  s: InSession,
  r: Step<'choosing'>,
  running: RunningVend,
  outcome: VendFacts['outcome'],
  at: number,
  kit: PhaseKit,
  effects: readonly Effect[],
): Transition {
  const ups = c.ups;
  const vend: VendFacts = {
    seq: running.seq,
    slot: running.product.slot,
    productName: running.product.name,
    price: running.product.price,
    outcome,
  };
  const next: Step<'choosing'> = { ...r, vends: [...r.vends, vend], running: undefined };
  // A fault ends the session: the dispenser may be broken.
  if (!ups || next.ending || outcome === 'uncertain' || at >= r.reservedAt + ups.sessionMaxMs)
    return settle(c, s, next, at, effects);
  const left = credit(next);
  if (affordable(s, s.soldOut, left).length === 0) return settle(c, s, next, at, effects);
  return enter(
    s,
    { ...next, lastPressAt: at },
    choosingDeadline(ups, { ...next, lastPressAt: at }, at),
    [...effects, show(chooseScreen(c, s, left, r.reserved.currency))],
  );
}

// --- settling --------------------------------------------------------------------------------------

function settle(
  c: CoreConfig,
  s: InSession,
  r: Step<'choosing'>,
  at: number,
  effects: readonly Effect[],
): Transition {
  const rows = settledRows(r.vends);
  const total = money(sum(delivered(r.vends)), r.reserved.currency);
  const lapseAt = r.reservedAt + upsTimings(c).commitTimeoutMs;
  return enterSettling(
    c,
    s,
    {
      txId: r.txId,
      invoice: r.invoice,
      amount: r.reserved,
      total,
      rows,
      lapseAt,
      uncertain: r.vends.some((v) => v.outcome === 'uncertain'),
      version: r.version,
    },
    false,
    at,
    [
      { type: 'timer.cancel', name: 'poll' },
      ...effects,
      log('info', 'session ends: settling', {
        txId: r.txId,
        total: total.minor,
        products: countOf(rows),
      }),
    ],
  );
}

interface SettleFacts {
  readonly txId: string;
  readonly invoice: IssuedInvoice;
  readonly amount: Money;
  readonly total: Money;
  readonly rows: readonly SettledRow[];
  readonly lapseAt: number;
  readonly uncertain: boolean;
  readonly version: number;
}

/**
 * Settling: the settling record first (unless `settled`: it is durable already), then the calls.
 * Its deadline is the lapse, or (after a restart past it) one attempt's time.
 */
function enterSettling(
  c: CoreConfig,
  s: State,
  f: SettleFacts,
  settled: boolean,
  at: number,
  effects: readonly Effect[],
): Transition {
  const session: Step<'settling'> = {
    kind: 'settling',
    ...f,
    since: at,
    step: settled ? 'updating' : 'recording',
    next: 'record',
    failures: 0,
    retryAt: 0,
    lapsed: false,
    overdueScreen: false,
  };
  const due = Math.max(f.lapseAt, at + c.cancelDeadlineMs);
  const screen = show(
    settleScreen(f.total.minor === 0 ? 'cancelling' : 'settling', f.total, f.rows),
  );
  if (settled) {
    if (f.total.minor === 0) {
      const t = enterCancelling(c, s, f, 'nothing', idleFromVersion(f.version), at, f.uncertain);
      return { state: t.state, effects: [...effects, ...t.effects] };
    }
    return enter(s, session, due, [...effects, screen, updateEffect(c, session)]);
  }
  return enter(s, session, due, [
    ...effects,
    screen,
    record({ type: 'reservation.settling', txId: f.txId, total: f.total, rows: f.rows }),
  ]);
}

function idleFromVersion(version: number): SessionPoll {
  return { inFlight: false, overdue: false, dueAt: 0, version, status: 'RESERVED' };
}

function updateEffect(c: CoreConfig, r: Step<'settling'>): Effect {
  const request = reservationRequest(c, r.txId, r.amount);
  return {
    type: 'payment.update',
    txId: r.txId,
    reference: r.invoice.reference,
    content: {
      invoice: request,
      rows: r.rows.map((row) => {
        const product = c.products.find((p) => p.slot === row.slot);
        return {
          description: row.productName,
          quantity: row.quantity,
          unitPrice: row.unitPrice,
          ...(product?.taxRatePercent === undefined
            ? {}
            : { taxRatePercent: product.taxRatePercent }),
        };
      }),
      total: r.total,
    },
  };
}

const commitEffect = (r: Step<'settling'>): Effect => ({
  type: 'payment.commit',
  txId: r.txId,
  reference: r.invoice.reference,
  amount: r.total,
});

const checkEffect = (r: Step<'settling'>): Effect => ({
  type: 'payment.poll',
  txId: r.txId,
  reference: r.invoice.reference,
  lastVersion: r.version,
});

function onUpdated(s: InSession, f: Failure | undefined): Transition {
  const r = s.session;
  if (r.kind !== 'settling' || r.step !== 'updating') return same(s);
  return update(s, { ...r, step: 'committing' }, [
    commitEffect(r),
    ...(f === undefined
      ? []
      : [
          log(
            'warn',
            'updateInvoice of a reservation failed: committing the total anyway',
            failed(f, { txId: r.txId }),
          ),
        ]),
  ]);
}

/** After a failure: try `next` again after the backoff, unless the reservation has lapsed. */
function retryLater(
  c: CoreConfig,
  s: InSession,
  r: Step<'settling'>,
  next: Step<'settling'>['next'],
  at: number,
  kit: PhaseKit,
  effects: readonly Effect[],
): Transition {
  if (r.lapsed)
    return flag(c, s, r, at, kit, 'the reservation lapsed while SEQR did not answer', effects);
  const failures = r.failures + 1;
  const dueAt = at + backoff(upsTimings(c), failures);
  const waiting: Step<'settling'> = { ...r, step: 'waiting', next, failures, retryAt: dueAt };
  return update(s, waiting, [...effects, timer('poll', token(r.txId, 'poll', dueAt), dueAt)]);
}

/** The retry timer: run the step that waits; out of service once it takes long. */
function resume(c: CoreConfig, s: InSession, r: Step<'settling'>, at: number): Transition {
  const overdue = !r.overdueScreen && at - r.since >= c.cancelDeadlineMs;
  const screen: Effect[] = overdue
    ? [show({ kind: 'outOfService', reason: 'seqrUnreachable', machineName: c.machineName })]
    : [];
  const base = { ...r, overdueScreen: r.overdueScreen || overdue };
  switch (r.next) {
    case 'record':
      return update(s, { ...base, step: 'recording' }, [
        ...screen,
        record({ type: 'reservation.settling', txId: r.txId, total: r.total, rows: r.rows }),
      ]);
    case 'commit':
      return update(s, { ...base, step: 'committing' }, [...screen, commitEffect(r)]);
    case 'check':
      return update(s, { ...base, step: 'checking' }, [...screen, checkEffect(r)]);
  }
}

function settling(
  c: CoreConfig,
  s: InSession,
  r: Step<'settling'>,
  e: VendEvent,
  kit: PhaseKit,
): Transition | undefined {
  const { txId } = r;
  if (e.type === 'ledger.recorded' && e.entry.txId === txId) {
    if (e.entry.type !== 'reservation.settling' || r.step !== 'recording') return same(s);
    if (r.total.minor === 0)
      return enterCancelling(c, s, r, 'nothing', idleFromVersion(r.version), e.at, r.uncertain);
    return update(s, { ...r, step: 'updating' }, [updateEffect(c, r)]);
  }
  if (e.type === 'ledger.failed' && e.entry.txId === txId) {
    if (e.entry.type !== 'reservation.settling' || r.step !== 'recording') return same(s);
    // No call ends a reservation before its total is durable: record it again later.
    return retryLater(c, s, r, 'record', e.at, kit, [
      log('error', 'reservation total not recorded: retried', failed(e.failure, { txId })),
    ]);
  }
  if (e.type === 'payment.failed' && e.txId === txId) {
    if (e.op === 'update') return onUpdated(s, e.failure);
    if (e.op === 'commit' && r.step === 'committing')
      return commitFailed(c, s, r, e.failure, e.retryable, e.at, kit);
    if (e.op === 'poll' && r.step === 'checking')
      return retryLater(c, s, r, 'check', e.at, kit, [
        log('warn', 'status of a reservation not known', failed(e.failure, { txId })),
      ]);
    return same(s);
  }
  if (e.type === 'payment.statusReceived' && e.txId === txId && r.step === 'checking') {
    const { status } = e;
    const next = { ...r, version: status.version };
    if (status.status === 'PAID')
      return enterPaid(c, s, next, e.at, status.ersReference, [
        record({
          type: 'reservation.committed',
          txId,
          inferred: 'statusPaid',
          ...(status.ersReference === undefined ? {} : { ersReference: status.ersReference }),
        }),
        log('info', 'reservation found PAID: an earlier commit went through', { txId }),
      ]);
    if (status.status === 'RESERVED') return retryLater(c, s, next, 'commit', e.at, kit, []);
    if (FINAL.has(status.status))
      return flag(c, s, next, e.at, kit, `the reservation is ${status.status}`, [
        seenEntry(txId, status),
      ]);
    return retryLater(c, s, next, 'check', e.at, kit, []);
  }
  if (r.step === 'waiting' && isTimer(e, 'poll', token(txId, 'poll', r.retryAt)))
    return resume(c, s, r, e.at);
  if (isTimer(e, 'deadline', s.deadline)) {
    if (r.step === 'waiting' || r.lapsed)
      return flag(c, s, r, e.at, kit, 'not committed before the reservation lapsed', [
        { type: 'timer.cancel', name: 'poll' },
      ]);
    // A call (or the record) is out: its answer decides (within its own deadline); a failure
    // ends the trying.
    return enter(s, { ...r, lapsed: true }, e.at + c.cancelDeadlineMs, []);
  }
  return undefined;
}

function commitFailed(
  c: CoreConfig,
  s: InSession,
  r: Step<'settling'>,
  f: Failure,
  retryable: boolean,
  at: number,
  kit: PhaseKit,
): Transition {
  const { txId } = r;
  // 96, or no answer at all: whether a commit went through is for the status to tell.
  if (f.code === 'E_RESERVATION_NOT_RESERVED' || (retryable && f.code !== 'E_SEQR_RESULT'))
    return update(s, { ...r, step: 'checking' }, [
      checkEffect(r),
      log(
        'warn',
        'commitReservation not confirmed: asking SEQR for the status',
        failed(f, { txId }),
      ),
    ]);
  if (retryable || f.code === 'E_SEQR_AUTH')
    return retryLater(c, s, r, 'commit', at, kit, [
      log('warn', 'commitReservation failed: retried', failed(f, { txId })),
    ]);
  return flag(c, s, r, at, kit, 'SEQR refused the commit', [
    log('error', 'commitReservation refused', failed(f, { txId })),
  ]);
}

/** Delivered goods that cannot be charged: closed flagged for the operator. */
function flag(
  c: CoreConfig,
  s: InSession,
  r: Step<'settling'>,
  at: number,
  kit: PhaseKit,
  why: string,
  effects: readonly Effect[],
): Transition {
  return kit.toNext(c, s, at, [
    ...effects,
    log('error', `reservation not committed: ${why}; flagged for the operator`, {
      txId: r.txId,
      code: 'E_RESERVATION_UNCOMMITTED',
      invoiceReference: r.invoice.reference,
      deliveredTotal: r.total.minor,
    }),
    closeTx(r.txId, 'flagged'),
  ]);
}

// --- paid ----------------------------------------------------------------------------------------------

function onCommitted(c: CoreConfig, s: InSession, r: Step<'settling'>, at: number): Transition {
  if (r.step !== 'committing') return same(s);
  return enterPaid(c, s, r, at, undefined, [
    record({ type: 'reservation.committed', txId: r.txId }),
    log('info', 'reservation committed', {
      txId: r.txId,
      total: r.total.minor,
      invoiceReference: r.invoice.reference,
    }),
  ]);
}

function enterPaid(
  c: CoreConfig,
  s: InSession,
  r: Step<'settling'>,
  at: number,
  ersReference: string | undefined,
  effects: readonly Effect[],
): Transition {
  const session: Step<'paid'> = {
    kind: 'paid',
    txId: r.txId,
    invoice: r.invoice,
    total: r.total,
    rows: r.rows,
    ...(ersReference === undefined ? {} : { ersReference }),
    step: ersReference === undefined ? 'confirming' : 'printing',
    thankYouUntil: at + c.thankYouMs,
    uncertain: r.uncertain,
  };
  // A status call names the payment for the receipt; listed first so no record holds it back.
  const next =
    ersReference === undefined ? [checkEffect(r)] : [printEffect(c, session, ersReference, at)];
  return enter(s, session, at + c.finishingDeadlineMs, [
    { type: 'timer.cancel', name: 'poll' },
    ...next,
    show(settleScreen('paid', r.total, r.rows, shortRef(ersReference))),
    ...effects,
  ]);
}

function shortRef(ersReference: string | undefined): string | undefined {
  return ersReference === undefined || ersReference === '' ? undefined : ersReference.slice(-6);
}

function sessionReceipt(c: CoreConfig, r: Step<'paid'>, ersReference: string, at: number): Receipt {
  const rates = new Set(
    r.rows.map((row) => c.products.find((p) => p.slot === row.slot)?.taxRatePercent),
  );
  const [rate] = [...rates];
  return {
    merchantName: c.merchant.name,
    ...(c.merchant.address === undefined ? {} : { merchantAddress: c.merchant.address }),
    terminalId: c.merchant.terminalId,
    date: isoFromEpochMs(at),
    productName: rowsText(r.rows),
    amount: r.total,
    ...(rates.size === 1 && rate !== undefined
      ? { vat: { ratePercent: rate, amount: includedVat(r.total, rate) } }
      : {}),
    invoiceReference: r.invoice.reference,
    ersReference,
  };
}

function printEffect(c: CoreConfig, r: Step<'paid'>, ersReference: string, at: number): Effect {
  return { type: 'printer.print', txId: r.txId, receipt: sessionReceipt(c, r, ersReference, at) };
}

function paid(
  c: CoreConfig,
  s: InSession,
  r: Step<'paid'>,
  e: VendEvent,
  kit: PhaseKit,
): Transition | undefined {
  const { txId } = r;
  const outcome: ClosedOutcome = r.uncertain ? 'flagged' : 'sold';
  const done = (at: number, effects: readonly Effect[]): Transition =>
    kit.notice(c, s, undefined, at, [...effects, closeTx(txId, outcome)], r.thankYouUntil);
  if (e.type === 'payment.statusReceived' && e.txId === txId && r.step === 'confirming') {
    const ers = e.status.ersReference;
    if (e.status.status !== 'PAID' || ers === undefined) return done(e.at, []);
    const next: Step<'paid'> = { ...r, ersReference: ers, step: 'printing' };
    return update(s, next, [
      printEffect(c, next, ers, e.at),
      show(settleScreen('paid', r.total, r.rows, shortRef(ers))),
      seenEntry(txId, e.status),
    ]);
  }
  if (e.type === 'payment.failed' && e.txId === txId) {
    if (e.op === 'poll' && r.step === 'confirming') return done(e.at, []);
    if (e.op === 'submitReceipt' && r.step === 'submitting')
      return done(e.at, [log('warn', 'submitPaymentReceipt failed', failed(e.failure, { txId }))]);
    return same(s);
  }
  if ((e.type === 'printer.printed' || e.type === 'printer.failed') && e.txId === txId) {
    if (r.step !== 'printing' || r.ersReference === undefined) return same(s);
    const receipt = sessionReceipt(c, r, r.ersReference, e.at);
    return update(s, { ...r, step: 'submitting' }, [
      {
        type: 'payment.submitReceipt',
        txId,
        ersReference: r.ersReference,
        document: receiptDocument(receipt),
      },
      e.type === 'printer.printed'
        ? record({ type: 'receipt.printed', txId })
        : record({ type: 'receipt.unprinted', txId, failure: e.failure }),
    ]);
  }
  if (e.type === 'payment.receiptSubmitted' && e.txId === txId && r.step === 'submitting')
    return done(e.at, [record({ type: 'receipt.submitted', txId })]);
  if (isTimer(e, 'deadline', s.deadline))
    return kit.toNext(c, s, e.at, [
      closeTx(txId, outcome),
      log('warn', 'receipt steps of a reservation timed out', { txId, step: r.step }),
    ]);
  return undefined;
}

// --- start-up recovery -------------------------------------------------------------------------------

/** What start-up recovery does with a reservation left open. */
export interface ReservationPlan {
  readonly effects: readonly Effect[];
  readonly item?: RecoveredReservation;
  /** Money was taken without a commit (a PAID never committed): refund it. */
  readonly refund: boolean;
}

/** Decides, from the ledger alone, how a reservation left open by a crash ends (see the table). */
export function recoverReservation(c: CoreConfig, view: TransactionView): ReservationPlan {
  const r = view.reservation;
  const { txId } = view;
  if (!r) return { effects: [], refund: false };
  if (view.refund !== 'none') return { effects: [], refund: true };
  const effects: Effect[] = [];
  const outcome = (uncertain: boolean, committed: ClosedOutcome): ClosedOutcome =>
    uncertain ? 'flagged' : committed;
  // Vends a restart interrupted: never charged, never dispensed again.
  let uncertain = r.vends.some((v) => v.outcome === 'uncertain');
  for (const v of r.vends.filter((x) => x.outcome === 'started')) {
    uncertain = true;
    effects.push(
      record({
        type: 'vend.finished',
        txId,
        vend: v.seq,
        outcome: 'uncertain',
        detail: 'restarted during the dispense',
      }),
      log('error', 'vend interrupted by a restart: not charged, never dispensed again, flagged', {
        txId,
        code: 'E_DISPENSE_INTERRUPTED',
        slot: v.slot,
        seq: v.seq,
      }),
    );
  }
  if (r.committed)
    return { effects: [...effects, closeTx(txId, outcome(uncertain, 'sold'))], refund: false };
  const reference = view.invoiceReference;
  if (reference === undefined)
    // createPurchase was never answered with it: nobody can reserve it.
    return { effects: [...effects, closeTx(txId, 'failed')], refund: false };
  if (view.status === 'PAID') return { effects, refund: true };
  const invoice = { reference, qrPayload: invoiceQrPayload(reference) };
  const amount = r.reserved ?? view.price;
  const total = r.settling?.total ?? money(sum(delivered(r.vends)), amount.currency);
  const rows = r.settling?.rows ?? settledRows(r.vends);
  if (total.minor === 0) {
    if (FINAL.has(view.status ?? 'ISSUED'))
      return {
        effects: [...effects, closeTx(txId, outcome(uncertain, 'cancelled'))],
        refund: false,
      };
    return {
      effects,
      item: {
        kind: 'cancel',
        txId,
        invoice,
        amount,
        version: view.statusVersion ?? 0,
        status: view.status ?? 'ISSUED',
        uncertain,
      },
      refund: false,
    };
  }
  const reservedAt = r.reservedAt ?? view.openedAt;
  return {
    effects,
    item: {
      kind: 'settle',
      txId,
      invoice,
      amount,
      total,
      rows,
      lapseAt: reservedAt + upsTimings(c).commitTimeoutMs,
      settled: r.settling !== undefined,
      uncertain,
    },
    refund: false,
  };
}

/** Runs a recovered reservation as the session phase. */
export function startRecoveredReservation(
  c: CoreConfig,
  s: State,
  item: RecoveredReservation,
  at: number,
): Transition {
  if (item.kind === 'cancel')
    return enterCancelling(
      c,
      s,
      item,
      'recovery',
      { inFlight: false, overdue: false, dueAt: at, version: item.version, status: item.status },
      at,
      item.uncertain,
    );
  const facts: SettleFacts = {
    txId: item.txId,
    invoice: item.invoice,
    amount: item.amount,
    total: item.total,
    rows: item.rows,
    lapseAt: item.lapseAt,
    uncertain: item.uncertain,
    version: 0,
  };
  return enterSettling(c, s, facts, item.settled, at, [
    log('info', 'reservation left open by a restart: committing what was delivered', {
      txId: item.txId,
      total: item.total.minor,
    }),
  ]);
}
