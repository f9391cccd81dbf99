import { failureFields, type Failure } from '../errors.js';
import type { OutOfServiceReason, PurchaseProblem, Screen } from '../ports/display.js';
import type { LedgerEntry } from '../ports/ledger.js';
import type { InvoiceStatus, IssuedInvoice, PaymentStatus } from '../ports/payment-gateway.js';
import {
  NO_JOBS,
  addJobs,
  background,
  refundJob,
  type BackgroundStep,
  type RefundNews,
} from './background.js';
import { customerMayStillBeThere, type CoreConfig } from './config.js';
import {
  epochMsFromIso,
  idleScreen,
  invoiceRequest,
  isoFromEpochMs,
  productView,
  receipt,
  receiptDocument,
  shortPaymentRef,
} from './documents.js';
import { freshRefundFacts } from './projection.js';
import { planRecovery } from './recovery.js';
import type {
  CancelReason,
  Effect,
  Event,
  Paid,
  Phase,
  Polling,
  Purchase,
  RecoveryItem,
  State,
  TimerName,
  Transition,
} from './types.js';

/*
 * The vending core as one table. Rows are states, columns the events each state acts on; every
 * other (state, event) pair is an explicit no-op: same state, no effects.
 *
 * background   settle timer -> one due refund attempt (refund.requested, then refundPayment)
 *                refund answered / failed / its record failed -> confirmed | retry | flagged
 *                (daemon/core/background.ts; the `refunding` phase shows its purchase's refund)
 * any state      stock.updated -> remember sold-out slots (idle re-shows its screen)
 *                payment.issued (not ours) -> cancelInvoice it (never leave an invoice open)
 *                ledger.failed (not awaited) / display.failed -> log
 *                recovery.loaded (not yet planned: out of service at start) -> plan it
 * starting       recovery.loaded -> plan: records, refund jobs, then each recovery item
 *                (cancelling for an open invoice, dispensing for a recent payment) -> idle
 *                deadline -> outOfService
 * (to idle)      with recovery items left, the next item runs instead
 * idle           product button -> invoicing
 * invoicing      ledger.recorded(invoice.requested) -> sendInvoice      payment.issued -> awaitingPayment
 *                issue failed -> outOfService (transport, auth) | notice (SEQR refused)
 *                ledger.failed -> notice                                 deadline -> outOfService
 * awaitingPayment  poll/countdown timers; PAID -> dispensing; CANCELED/FAILED/EXPIRED -> notice
 *                cancel button -> cancelling; deadline: paying -> stillPaying -> cancelling
 *                product button in stillPaying -> paying (same invoice)
 * cancelling     cancel answered; polls go on; PAID -> dispensing; final status -> notice
 *                deadline -> re-send a failed cancel, out-of-service screen, stay
 * cancelling     (recovery) PAID long ago -> recorded, refund job, next
 * dispensing     recorded(PAID) -> record dispense.started -> dispense -> finishing | refunding
 *                ledger.failed / deadline before the relay -> refunding
 *                dispense rejected (unknown outcome) / deadline while running -> flagged notice
 * refunding      refund job's news -> notice (refunded | pending)         deadline -> notice
 * finishing      printed/failed -> submitPaymentReceipt -> notice (thank you)   deadline -> idle
 * notice         deadline -> idle; product button -> invoicing (none while recovery items wait)
 * outOfService   deadline -> probe; probed -> idle; probe failed -> back off
 */

/** The core bound to a configuration: the initial transition and the step function. */
export interface Core {
  /** The first state (`starting`) and its effects: out-of-service screen, deadline timer. */
  start(at: number): Transition;
  /** Pure: the next state and the effects to run. Never throws for any (state, event) pair. */
  step(state: State, event: Event): Transition;
}

export function createCore(config: CoreConfig): Core {
  return {
    start: (at) => begin(config, at),
    step: (state, event) => step(config, state, event),
  };
}

function begin(c: CoreConfig, at: number): Transition {
  const deadline = token('starting', 'deadline', at + c.startingDeadlineMs);
  return {
    state: {
      kind: 'starting',
      deadline,
      soldOut: [],
      background: NO_JOBS,
      recovery: { loaded: false },
    },
    effects: [
      show({ kind: 'outOfService', reason: 'starting', machineName: c.machineName }),
      timer('deadline', deadline, at + c.startingDeadlineMs),
    ],
  };
}

/** See the table above. */
export function step(c: CoreConfig, s: State, e: Event): Transition {
  const bg = background(c, s.background, e);
  if (bg) return withBackground(c, s, bg, e.at);
  const global = anyState(c, s, e);
  if (global) return global;
  switch (s.kind) {
    case 'starting':
      return starting(c, s, e);
    case 'idle':
      return idle(c, s, e);
    case 'invoicing':
      return invoicing(c, s, e);
    case 'awaitingPayment':
      return awaitingPayment(c, s, e);
    case 'cancelling':
      return cancelling(c, s, e);
    case 'dispensing':
      return dispensing(c, s, e);
    case 'refunding':
      return refunding(c, s, e);
    case 'finishing':
      return finishing(c, s, e);
    case 'notice':
      return notice(c, s, e);
    case 'outOfService':
      return outOfService(c, s, e);
  }
}

type In<K extends State['kind']> = Extract<State, { kind: K }>;

const same = (s: State): Transition => ({ state: s, effects: [] });

function go(s: State, next: Phase, effects: readonly Effect[]): Transition {
  return {
    state: { ...next, soldOut: s.soldOut, background: s.background, recovery: s.recovery },
    effects,
  };
}

/** A background step applied; the `refunding` phase of that purchase shows the news. */
function withBackground(c: CoreConfig, s: State, bg: BackgroundStep, at: number): Transition {
  const next: State = { ...s, background: bg.background };
  const shown = bg.news ? refundNews(c, next, bg.news, at) : undefined;
  // The screen first: a display effect listed after a record would wait for it.
  return shown
    ? { state: shown.state, effects: [...shown.effects, ...bg.effects] }
    : { state: next, effects: bg.effects };
}

/** Log fields of a failure, with the line's context. */
function failed(
  f: Failure,
  fields: Readonly<Record<string, string | number | boolean>> = {},
): Readonly<Record<string, string | number | boolean>> {
  return { ...fields, ...failureFields(f) };
}

function token(scope: string, name: TimerName, at: number): string {
  return `${scope}:${name}:${at}`;
}

function timer(name: TimerName, tok: string, at: number): Effect {
  return { type: 'timer.start', name, token: tok, at };
}

const show = (screen: Screen): Effect => ({ type: 'display.show', screen });
const record = (entry: LedgerEntry): Effect => ({ type: 'ledger.record', entry });
const closeTx = (
  txId: string,
  outcome: Extract<LedgerEntry, { type: 'tx.closed' }>['outcome'],
): Effect => record({ type: 'tx.closed', txId, outcome });

function currentTx(s: State): string | undefined {
  return 'purchase' in s ? s.purchase.txId : undefined;
}

function isTimer(e: Event, name: TimerName, tok: string): boolean {
  return e.type === 'timer.expired' && e.name === name && e.token === tok;
}

// --- any state ---------------------------------------------------------------------------------

function anyState(c: CoreConfig, s: State, e: Event): Transition | undefined {
  switch (e.type) {
    case 'stock.updated': {
      const next: State = { ...s, soldOut: [...e.soldOut] };
      return { state: next, effects: s.kind === 'idle' ? [show(idleScreen(c, e.soldOut))] : [] };
    }
    case 'payment.issued':
      if (s.kind === 'invoicing' && s.step === 'issuing' && s.purchase.txId === e.txId) return;
      return {
        state: s,
        effects: [
          { type: 'payment.cancel', txId: e.txId, reference: e.invoice.reference },
          { type: 'log', level: 'warn', msg: 'late invoice cancelled', fields: { txId: e.txId } },
        ],
      };
    case 'payment.refunded':
      // Every refund call belongs to a background job, which takes its answer; a refund nobody
      // waits for still moved money: record it.
      return {
        state: s,
        effects: [
          record({ type: 'refund.confirmed', txId: e.txId, refundReference: e.refundReference }),
          closeTx(e.txId, 'refunded'),
          { type: 'log', level: 'warn', msg: 'refund confirmed late', fields: { txId: e.txId } },
        ],
      };
    case 'payment.failed':
      if (e.op !== 'refund' || e.txId === undefined) return;
      return {
        state: s,
        effects: [record({ type: 'refund.failed', txId: e.txId, failure: e.failure })],
      };
    case 'ledger.failed':
      if (awaitsRecord(s, e.entry)) return;
      return {
        state: s,
        effects: [
          {
            type: 'log',
            level: 'error',
            msg: 'ledger write failed',
            fields: failed(e.failure, { txId: e.entry.txId, entry: e.entry.type }),
          },
        ],
      };
    case 'display.failed':
      return {
        state: s,
        effects: [
          { type: 'log', level: 'warn', msg: 'display write failed', fields: failed(e.failure) },
        ],
      };
    case 'recovery.loaded':
      if (s.recovery.loaded || s.kind === 'starting') return;
      // Out of service at start (the ledger read took long): plan now, run when back.
      return absorbRecovery(c, s, e);
    case 'button.pressed':
    case 'dispense.failed':
    case 'dispense.finished':
    case 'ledger.recorded':
    case 'payment.cancelAnswered':
    case 'payment.probed':
    case 'payment.receiptSubmitted':
    case 'payment.statusReceived':
    case 'printer.failed':
    case 'printer.printed':
    case 'timer.expired':
      return;
  }
}

/** The ledger write a state waits for before its next side effect. */
function awaitsRecord(s: State, entry: LedgerEntry): boolean {
  if (entry.txId !== currentTx(s)) return false;
  switch (s.kind) {
    case 'invoicing':
      return s.step === 'recording' && entry.type === 'invoice.requested';
    case 'dispensing':
      return (
        (s.step === 'recordingPaid' && entry.type === 'status.seen' && entry.status === 'PAID') ||
        (s.step === 'recordingStart' && entry.type === 'dispense.started')
      );
    case 'awaitingPayment':
      return entry.type === 'invoice.issued';
    case 'cancelling':
    case 'finishing':
    case 'idle':
    case 'notice':
    case 'outOfService':
    case 'refunding':
    case 'starting':
      return false;
  }
}

// --- starting ----------------------------------------------------------------------------------

function starting(c: CoreConfig, s: In<'starting'>, e: Event): Transition {
  if (e.type === 'recovery.loaded' && !s.recovery.loaded) {
    const planned = absorbRecovery(c, s, e);
    return toNext(c, planned.state, e.at, planned.effects);
  }
  if (isTimer(e, 'deadline', s.deadline)) return enterOutOfService(c, s, 'starting', 0, e.at);
  return same(s);
}

/** Plans start-up recovery: its records now, its refunds as jobs, its items queued. */
function absorbRecovery(
  c: CoreConfig,
  s: State,
  e: Extract<Event, { type: 'recovery.loaded' }>,
): Transition {
  const plan = planRecovery(c, e.transactions, e.at);
  const jobs = addJobs(s.background, plan.refunds, e.at);
  return {
    state: { ...s, background: jobs.background, recovery: { loaded: true, items: plan.items } },
    effects: [...plan.effects, ...jobs.effects],
  };
}

/**
 * Where the machine goes when a purchase (or a notice) is over: the next start-up recovery item
 * if one is left (its cancel and poll listed before `effects`, so no record holds them back),
 * else idle; before recovery is planned, back to waiting for it.
 */
function toNext(c: CoreConfig, s: State, at: number, effects: readonly Effect[] = []): Transition {
  if (!s.recovery.loaded) {
    const due = at + c.startingDeadlineMs;
    const deadline = token('starting', 'deadline', due);
    return go(s, { kind: 'starting', deadline }, [
      ...effects,
      show({ kind: 'outOfService', reason: 'starting', machineName: c.machineName }),
      timer('deadline', deadline, due),
    ]);
  }
  const [item, ...rest] = s.recovery.items;
  if (!item) return go(s, { kind: 'idle' }, [...effects, show(idleScreen(c, s.soldOut))]);
  const next: State = { ...s, recovery: { loaded: true, items: rest } };
  const started = startRecoveryItem(c, next, item, at);
  return { state: started.state, effects: [...started.effects, ...effects] };
}

function startRecoveryItem(c: CoreConfig, s: State, item: RecoveryItem, at: number): Transition {
  const { purchase, invoice } = item;
  if (item.kind === 'resolve') {
    const polling: Polling = {
      inFlight: false,
      overdue: false,
      dueAt: at,
      version: item.version,
      status: item.status,
    };
    return enterCancelling(c, s, purchase, invoice, polling, 'recovery', at);
  }
  // PAID is durable already: dispense.started, then the relay (as a live purchase goes on).
  const due = at + c.dispenseDeadlineMs;
  const deadline = token(purchase.txId, 'deadline', due);
  return go(
    s,
    { kind: 'dispensing', purchase, invoice, paid: item.paid, step: 'recordingStart', deadline },
    [
      show({ kind: 'dispensing', product: productView(purchase.product, s.soldOut) }),
      timer('deadline', deadline, due),
      record({ type: 'dispense.started', txId: purchase.txId, slot: purchase.product.slot }),
    ],
  );
}

// --- idle --------------------------------------------------------------------------------------

function idle(c: CoreConfig, s: State, e: Event): Transition {
  if (e.type !== 'button.pressed' || e.button.kind !== 'product') return same(s);
  const { slot } = e.button;
  const product = c.products.find((p) => p.slot === slot);
  if (!product || s.soldOut.includes(slot)) return same(s);
  const purchase: Purchase = { txId: e.txId, product };
  const due = e.at + c.invoicingDeadlineMs;
  const deadline = token(purchase.txId, 'deadline', due);
  return go(s, { kind: 'invoicing', purchase, step: 'recording', deadline }, [
    show({ kind: 'preparing', product: productView(product, s.soldOut) }),
    timer('deadline', deadline, due),
    record({
      type: 'invoice.requested',
      txId: purchase.txId,
      slot,
      productName: product.name,
      price: product.price,
    }),
  ]);
}

// --- invoicing ---------------------------------------------------------------------------------

function invoicing(c: CoreConfig, s: In<'invoicing'>, e: Event): Transition {
  const { purchase } = s;
  const txId = purchase.txId;
  switch (e.type) {
    case 'ledger.recorded':
      if (!awaitsRecord(s, e.entry)) return same(s);
      return go(s, { ...s, step: 'issuing' }, [
        { type: 'payment.issue', txId, request: invoiceRequest(c, purchase) },
      ]);
    case 'ledger.failed':
      if (!awaitsRecord(s, e.entry)) return same(s);
      return enterNotice(c, s, { kind: 'problem', problem: 'invoiceFailed' }, e.at, [
        {
          type: 'log',
          level: 'error',
          msg: 'invoice not recorded: no invoice sent',
          fields: failed(e.failure, { txId }),
        },
      ]);
    case 'payment.issued':
      return enterAwaitingPayment(c, s, purchase, e.invoice, e.at);
    case 'payment.failed': {
      if (e.op !== 'issue' || e.txId !== txId) return same(s);
      const closed = closeTx(txId, 'failed');
      const log: Effect = {
        type: 'log',
        level: 'error',
        msg: 'sendInvoice failed',
        fields: failed(e.failure, { txId }),
      };
      if (e.failure.code === 'E_SEQR_AUTH')
        return enterOutOfService(c, s, 'seqrCredentials', 0, e.at, [closed, log]);
      if (e.retryable) return enterOutOfService(c, s, 'seqrUnreachable', 0, e.at, [closed, log]);
      return enterNotice(c, s, { kind: 'problem', problem: 'invoiceFailed' }, e.at, [closed, log]);
    }
    case 'timer.expired':
      if (!isTimer(e, 'deadline', s.deadline)) return same(s);
      return enterOutOfService(c, s, 'seqrUnreachable', 0, e.at, [closeTx(txId, 'failed')]);
    case 'button.pressed':
    case 'dispense.failed':
    case 'dispense.finished':
    case 'display.failed':
    case 'payment.cancelAnswered':
    case 'payment.probed':
    case 'payment.receiptSubmitted':
    case 'payment.refunded':
    case 'payment.statusReceived':
    case 'printer.failed':
    case 'printer.printed':
    case 'recovery.loaded':
    case 'stock.updated':
      return same(s);
  }
}

// --- awaitingPayment ---------------------------------------------------------------------------

function payScreen(
  s: State,
  purchase: Purchase,
  invoice: IssuedInvoice,
  stage: 'paying' | 'stillPaying',
  windowEndsAt: number,
  windowMs: number,
  at: number,
): Screen {
  return {
    kind: stage === 'paying' ? 'pay' : 'stillPaying',
    product: productView(purchase.product, s.soldOut),
    qrPayload: invoice.qrPayload,
    secondsLeft: Math.max(0, Math.ceil((windowEndsAt - at) / 1000)),
    totalSeconds: Math.round(windowMs / 1000),
  };
}

function enterAwaitingPayment(
  c: CoreConfig,
  s: State,
  purchase: Purchase,
  invoice: IssuedInvoice,
  at: number,
): Transition {
  const txId = purchase.txId;
  const windowEndsAt = at + c.paymentWindowMs;
  const deadline = token(txId, 'deadline', windowEndsAt);
  const countdown = token(txId, 'countdown', at + 1000);
  const first = startPoll(
    c,
    txId,
    invoice,
    { inFlight: false, overdue: false, dueAt: at, version: 0, status: 'ISSUED' },
    at,
  );
  return go(
    s,
    {
      kind: 'awaitingPayment',
      purchase,
      invoice,
      polling: first.polling,
      stage: 'paying',
      windowEndsAt,
      windowMs: c.paymentWindowMs,
      deadline,
      countdown,
    },
    [
      // Durable before the QR appears and the first poll goes out: a customer can pay only an
      // invoice the ledger knows, and a payment is never committed by a poll the ledger cannot
      // follow up after a crash.
      record({ type: 'invoice.issued', txId, invoiceReference: invoice.reference }),
      show(payScreen(s, purchase, invoice, 'paying', windowEndsAt, c.paymentWindowMs, at)),
      ...first.effects,
      timer('deadline', deadline, windowEndsAt),
      timer('countdown', countdown, at + 1000),
    ],
  );
}

/** Starts a status call now; the next is due one interval after `nominal` (no drift). */
function startPoll(
  c: CoreConfig,
  txId: string,
  invoice: IssuedInvoice,
  polling: Polling,
  at: number,
  nominal = at,
): { polling: Polling; effects: Effect[] } {
  const grid = nominal + c.pollIntervalMs;
  const dueAt = grid > at ? grid : at + c.pollIntervalMs;
  return {
    polling: { ...polling, inFlight: true, overdue: false, dueAt },
    effects: [
      { type: 'payment.poll', txId, reference: invoice.reference, lastVersion: polling.version },
      timer('poll', token(txId, 'poll', dueAt), dueAt),
    ],
  };
}

type Polled = In<'awaitingPayment'> | In<'cancelling'>;

/** The poll timer: start the next call, or mark it overdue while one is out (never overlap). */
function onPollTimer(c: CoreConfig, s: Polled, at: number): Transition {
  const { polling } = s;
  if (polling.inFlight) return go(s, { ...s, polling: { ...polling, overdue: true } }, []);
  const next = startPoll(c, s.purchase.txId, s.invoice, polling, at, polling.dueAt);
  return go(s, { ...s, polling: next.polling }, next.effects);
}

/** After an answer (or a failure) with the invoice still open: catch up an overdue call. */
function afterAnswer(
  c: CoreConfig,
  s: Polled,
  polling: Polling,
  at: number,
  effects: Effect[],
): Transition {
  if (!polling.overdue) return go(s, { ...s, polling }, effects);
  const next = startPoll(c, s.purchase.txId, s.invoice, polling, at);
  // The poll first: effects after a ledger.record wait for it (and would be skipped if it failed).
  return go(s, { ...s, polling: next.polling }, [...next.effects, ...effects]);
}

const FINAL: ReadonlySet<InvoiceStatus> = new Set(['CANCELED', 'FAILED', 'EXPIRED']);

/** A status answer for the open invoice, in awaitingPayment or cancelling. */
function onStatus(c: CoreConfig, s: Polled, status: PaymentStatus, at: number): Transition {
  const txId = s.purchase.txId;
  const changed = status.status !== s.polling.status;
  const seen: Effect[] = changed
    ? [
        record({
          type: 'status.seen',
          txId,
          status: status.status,
          version: status.version,
          ...(status.ersReference === undefined ? {} : { ersReference: status.ersReference }),
        }),
      ]
    : [];
  const polling: Polling = {
    ...s.polling,
    inFlight: false,
    version: status.version,
    status: status.status,
  };

  if (status.status === 'PAID') {
    const paid: Paid = {
      ersReference: status.ersReference ?? '',
      paidAt: status.paidAt ?? isoFromEpochMs(at),
    };
    if (s.kind === 'cancelling' && s.reason === 'recovery') {
      // SEQR's payment time when it sent one (never later than the answer): the customer rule.
      const paidAt = Math.min(epochMsFromIso(status.paidAt ?? '') ?? at, at);
      if (!customerMayStillBeThere(c, paidAt, at)) return paidLong(c, s, status, paid, paidAt, at);
    }
    const due = at + c.dispenseDeadlineMs;
    const deadline = token(txId, 'deadline', due);
    const paidEntry: Effect = changed
      ? (seen[0] as Effect)
      : record({
          type: 'status.seen',
          txId,
          status: 'PAID',
          version: status.version,
          ersReference: paid.ersReference,
        });
    return go(
      s,
      {
        kind: 'dispensing',
        purchase: s.purchase,
        invoice: s.invoice,
        paid,
        step: 'recordingPaid',
        deadline,
      },
      [
        { type: 'timer.cancel', name: 'poll' },
        { type: 'timer.cancel', name: 'countdown' },
        show({ kind: 'dispensing', product: productView(s.purchase.product, s.soldOut) }),
        timer('deadline', deadline, due),
        paidEntry,
      ],
    );
  }
  if (FINAL.has(status.status)) {
    const cancelledByUs = s.kind === 'cancelling';
    const screen: Screen =
      status.status === 'CANCELED'
        ? cancelledByUs
          ? { kind: 'cancelled', product: productView(s.purchase.product, s.soldOut) }
          : { kind: 'problem', problem: 'cancelledInApp' }
        : { kind: 'problem', problem: 'paymentFailed' };
    return enterNotice(c, s, screen, at, [
      { type: 'timer.cancel', name: 'poll' },
      { type: 'timer.cancel', name: 'countdown' },
      ...seen,
      closeTx(txId, status.status === 'CANCELED' ? 'cancelled' : 'failed'),
    ]);
  }
  return afterAnswer(c, s, polling, at, seen);
}

/**
 * An invoice resolved after a restart turned out PAID long ago: the customer is most likely gone.
 * The payment is recorded and refunded (a background job); the relay never moves for it.
 */
function paidLong(
  c: CoreConfig,
  s: In<'cancelling'>,
  status: PaymentStatus,
  paid: Paid,
  paidAt: number,
  at: number,
): Transition {
  const { txId, product } = s.purchase;
  const facts = freshRefundFacts(product.price, paid.ersReference);
  const jobs = addJobs(s.background, [refundJob(txId, product.name, facts, at, 'recovery')], at);
  const next = toNext(c, { ...s, background: jobs.background }, at, [
    record({
      type: 'status.seen',
      txId,
      status: 'PAID',
      version: status.version,
      ersReference: paid.ersReference,
    }),
    {
      type: 'log',
      level: 'info',
      msg: 'paid while the machine was down, the customer may be gone: refunding instead of dispensing',
      fields: { txId, paidSecondsAgo: Math.round((at - paidAt) / 1000) },
    },
    ...jobs.effects,
  ]);
  // This invoice's timers stop before the next recovery item starts its own.
  return {
    state: next.state,
    effects: [
      { type: 'timer.cancel', name: 'poll' },
      { type: 'timer.cancel', name: 'countdown' },
      ...next.effects,
    ],
  };
}

/** A failed status call: the invoice stays open and polling goes on (invariants 4, 5). */
function onPollFailed(
  c: CoreConfig,
  s: Polled,
  e: Extract<Event, { type: 'payment.failed' }>,
): Transition {
  const polling: Polling = { ...s.polling, inFlight: false };
  // SEQR does not know the invoice: nothing can be paid through it.
  if (e.failure.code === 'E_SEQR_UNKNOWN_INVOICE') {
    const problem: PurchaseProblem = 'connectionLost';
    return enterNotice(c, s, { kind: 'problem', problem }, e.at, [
      { type: 'timer.cancel', name: 'poll' },
      { type: 'timer.cancel', name: 'countdown' },
      {
        type: 'log',
        level: 'error',
        msg: 'SEQR does not know the invoice',
        fields: failed(e.failure, { txId: s.purchase.txId }),
      },
      closeTx(s.purchase.txId, 'failed'),
    ]);
  }
  return afterAnswer(c, s, polling, e.at, [
    {
      type: 'log',
      level: 'warn',
      msg: 'status poll failed',
      fields: failed(e.failure, { txId: s.purchase.txId }),
    },
  ]);
}

function awaitingPayment(c: CoreConfig, s: In<'awaitingPayment'>, e: Event): Transition {
  const txId = s.purchase.txId;
  switch (e.type) {
    case 'payment.statusReceived':
      return e.txId === txId && s.polling.inFlight ? onStatus(c, s, e.status, e.at) : same(s);
    case 'payment.failed':
      return e.op === 'poll' && e.txId === txId && s.polling.inFlight
        ? onPollFailed(c, s, e)
        : same(s);
    case 'button.pressed':
      if (e.button.kind === 'cancel')
        return enterCancelling(c, s, s.purchase, s.invoice, s.polling, 'button', e.at);
      if (s.stage === 'stillPaying') return openWindow(c, s, 'paying', c.paymentWindowMs, e.at);
      return same(s);
    case 'timer.expired':
      if (isTimer(e, 'poll', token(txId, 'poll', s.polling.dueAt))) return onPollTimer(c, s, e.at);
      if (isTimer(e, 'countdown', s.countdown)) {
        const countdown = token(txId, 'countdown', e.at + 1000);
        return go(s, { ...s, countdown }, [
          show(payScreen(s, s.purchase, s.invoice, s.stage, s.windowEndsAt, s.windowMs, e.at)),
          timer('countdown', countdown, e.at + 1000),
        ]);
      }
      if (isTimer(e, 'deadline', s.deadline)) {
        if (s.stage === 'paying')
          return openWindow(c, s, 'stillPaying', c.stillPayingWindowMs, e.at);
        return enterCancelling(c, s, s.purchase, s.invoice, s.polling, 'timeout', e.at);
      }
      return same(s);
    case 'ledger.failed': {
      // invoice.issued could not be made durable: the QR was not shown and the first poll did not
      // go out (both wait for the record). The invoice is cancelled and followed to a final status.
      if (e.entry.type !== 'invoice.issued' || e.entry.txId !== txId) return same(s);
      const idle = { ...s.polling, inFlight: false, overdue: false };
      const next = enterCancelling(c, s, s.purchase, s.invoice, idle, 'recovery', e.at);
      return {
        state: next.state,
        effects: [
          {
            type: 'log',
            level: 'error',
            msg: 'invoice not recorded: cancelled before it was shown',
            fields: failed(e.failure, { txId }),
          },
          ...next.effects,
        ],
      };
    }
    case 'dispense.failed':
    case 'dispense.finished':
    case 'display.failed':
    case 'ledger.recorded':
    case 'payment.cancelAnswered':
    case 'payment.issued':
    case 'payment.probed':
    case 'payment.receiptSubmitted':
    case 'payment.refunded':
    case 'printer.failed':
    case 'printer.printed':
    case 'recovery.loaded':
    case 'stock.updated':
      return same(s);
  }
}

function openWindow(
  c: CoreConfig,
  s: In<'awaitingPayment'>,
  stage: 'paying' | 'stillPaying',
  windowMs: number,
  at: number,
): Transition {
  const windowEndsAt = at + windowMs;
  const deadline = token(s.purchase.txId, 'deadline', windowEndsAt);
  const countdown = token(s.purchase.txId, 'countdown', at + 1000);
  return go(s, { ...s, stage, windowEndsAt, windowMs, deadline, countdown }, [
    show(payScreen(s, s.purchase, s.invoice, stage, windowEndsAt, windowMs, at)),
    timer('deadline', deadline, windowEndsAt),
    timer('countdown', countdown, at + 1000),
  ]);
}

// --- cancelling --------------------------------------------------------------------------------

function enterCancelling(
  c: CoreConfig,
  s: State,
  purchase: Purchase,
  invoice: IssuedInvoice,
  polling: Polling,
  reason: CancelReason,
  at: number,
): Transition {
  const txId = purchase.txId;
  const due = at + c.cancelDeadlineMs;
  const deadline = token(txId, 'deadline', due);
  // In recovery (or when the first poll never went out) no call is out yet: poll now. Otherwise
  // the running poll timer goes on.
  const polls =
    reason === 'recovery' ? startPoll(c, txId, invoice, polling, at) : { polling, effects: [] };
  return go(
    s,
    {
      kind: 'cancelling',
      purchase,
      invoice,
      polling: polls.polling,
      reason,
      cancel: 'inFlight',
      overdueScreen: false,
      deadline,
    },
    [
      { type: 'timer.cancel', name: 'countdown' },
      show({ kind: 'cancelling', product: productView(purchase.product, s.soldOut) }),
      timer('deadline', deadline, due),
      { type: 'payment.cancel', txId, reference: invoice.reference },
      ...polls.effects,
      record({ type: 'cancel.requested', txId }),
    ],
  );
}

function cancelling(c: CoreConfig, s: In<'cancelling'>, e: Event): Transition {
  const txId = s.purchase.txId;
  switch (e.type) {
    case 'payment.cancelAnswered': {
      if (e.txId !== txId || s.cancel !== 'inFlight') return same(s);
      if (e.outcome === 'paid' || e.outcome === 'inProgress')
        return go(s, { ...s, cancel: e.outcome === 'paid' ? 'paid' : 'paying' }, []);
      // Cancelled: one confirming status call, at once (or as soon as the one out returns).
      const confirmed = { ...s, cancel: 'done' as const };
      if (s.polling.inFlight)
        return go(s, { ...confirmed, polling: { ...s.polling, overdue: true } }, []);
      const next = startPoll(c, txId, s.invoice, s.polling, e.at);
      return go(s, { ...confirmed, polling: next.polling }, next.effects);
    }
    case 'payment.statusReceived':
      return e.txId === txId && s.polling.inFlight ? onStatus(c, s, e.status, e.at) : same(s);
    case 'payment.failed':
      if (e.txId !== txId) return same(s);
      if (e.op === 'poll' && s.polling.inFlight) return onPollFailed(c, s, e);
      if (e.op === 'cancel' && s.cancel === 'inFlight')
        return go(s, { ...s, cancel: 'failed' }, [
          {
            type: 'log',
            level: 'warn',
            msg: 'cancelInvoice failed',
            fields: failed(e.failure, { txId }),
          },
        ]);
      return same(s);
    case 'timer.expired': {
      if (isTimer(e, 'poll', token(txId, 'poll', s.polling.dueAt))) return onPollTimer(c, s, e.at);
      if (!isTimer(e, 'deadline', s.deadline)) return same(s);
      const due = e.at + c.cancelDeadlineMs;
      const deadline = token(txId, 'deadline', due);
      const resend = s.cancel === 'failed';
      return go(
        s,
        { ...s, deadline, overdueScreen: true, cancel: resend ? 'inFlight' : s.cancel },
        [
          ...(s.overdueScreen
            ? []
            : [
                show({
                  kind: 'outOfService',
                  reason: 'seqrUnreachable',
                  machineName: c.machineName,
                }),
              ]),
          timer('deadline', deadline, due),
          ...(resend
            ? [{ type: 'payment.cancel', txId, reference: s.invoice.reference } as const]
            : []),
          s.reason === 'recovery'
            ? {
                type: 'log',
                level: 'error',
                msg: 'invoice left open by a restart not resolved with SEQR yet: still cancelling and polling',
                fields: {
                  txId,
                  code: 'E_RECOVERY_UNRESOLVED',
                  invoiceReference: s.invoice.reference,
                },
              }
            : {
                type: 'log',
                level: 'warn',
                msg: 'invoice still open after cancel deadline',
                fields: { txId },
              },
        ],
      );
    }
    case 'button.pressed':
    case 'dispense.failed':
    case 'dispense.finished':
    case 'display.failed':
    case 'ledger.failed':
    case 'ledger.recorded':
    case 'payment.issued':
    case 'payment.probed':
    case 'payment.receiptSubmitted':
    case 'payment.refunded':
    case 'printer.failed':
    case 'printer.printed':
    case 'recovery.loaded':
    case 'stock.updated':
      return same(s);
  }
}

// --- dispensing --------------------------------------------------------------------------------

function dispensing(c: CoreConfig, s: In<'dispensing'>, e: Event): Transition {
  const { purchase, paid } = s;
  const txId = purchase.txId;
  switch (e.type) {
    case 'ledger.recorded':
      if (!awaitsRecord(s, e.entry)) return same(s);
      if (s.step === 'recordingPaid')
        return go(s, { ...s, step: 'recordingStart' }, [
          record({ type: 'dispense.started', txId, slot: purchase.product.slot }),
        ]);
      return go(s, { ...s, step: 'running' }, [
        { type: 'dispenser.dispense', txId, slot: purchase.product.slot },
      ]);
    case 'ledger.failed':
      if (!awaitsRecord(s, e.entry)) return same(s);
      return enterRefunding(c, s, e.at, [
        {
          type: 'log',
          level: 'error',
          msg: 'payment not durable: refunding instead of dispensing',
          fields: failed(e.failure, { txId }),
        },
      ]);
    case 'dispense.finished':
      if (e.txId !== txId || s.step !== 'running') return same(s);
      if (e.result.outcome === 'delivered') {
        const r = receipt(c, purchase, s.invoice.reference, paid);
        const due = e.at + c.finishingDeadlineMs;
        const deadline = token(txId, 'deadline', due);
        return go(
          s,
          {
            kind: 'finishing',
            purchase,
            invoice: s.invoice,
            paid,
            step: 'printing',
            thankYouUntil: e.at + c.thankYouMs,
            deadline,
          },
          [
            show({
              kind: 'thankYou',
              product: productView(purchase.product, s.soldOut),
              paymentRef: shortPaymentRef(paid.ersReference),
            }),
            timer('deadline', deadline, due),
            { type: 'printer.print', txId, receipt: r },
            record({ type: 'dispense.finished', txId, outcome: 'delivered' }),
          ],
        );
      }
      return enterRefunding(c, s, e.at, [
        record({
          type: 'dispense.finished',
          txId,
          outcome: 'notDelivered',
          detail: e.result.reason,
        }),
      ]);
    case 'dispense.failed':
      if (e.txId !== txId || s.step !== 'running') return same(s);
      // BUSY: the adapter drove nothing, so nothing was delivered for certain.
      if (e.failure.code === 'E_DISPENSER_BUSY')
        return enterRefunding(c, s, e.at, [
          record({
            type: 'dispense.finished',
            txId,
            outcome: 'notDelivered',
            failure: e.failure,
          }),
        ]);
      return flagUncertain(c, s, e.at, { failure: e.failure });
    case 'timer.expired':
      if (!isTimer(e, 'deadline', s.deadline)) return same(s);
      if (s.step === 'running')
        return flagUncertain(c, s, e.at, { detail: 'no outcome within the dispense deadline' });
      return enterRefunding(c, s, e.at, [
        {
          type: 'log',
          level: 'error',
          msg: 'payment not recorded in time: refunding instead of dispensing',
          fields: { txId },
        },
      ]);
    case 'button.pressed':
    case 'display.failed':
    case 'payment.cancelAnswered':
    case 'payment.failed':
    case 'payment.issued':
    case 'payment.probed':
    case 'payment.receiptSubmitted':
    case 'payment.refunded':
    case 'payment.statusReceived':
    case 'printer.failed':
    case 'printer.printed':
    case 'recovery.loaded':
    case 'stock.updated':
      return same(s);
  }
}

/** The relay may have pulsed: record uncertain, flag for the operator, never dispense again. */
function flagUncertain(
  c: CoreConfig,
  s: In<'dispensing'>,
  at: number,
  why: { readonly failure: Failure } | { readonly detail: string },
): Transition {
  const txId = s.purchase.txId;
  const fields = 'failure' in why ? failed(why.failure, { txId }) : { txId, detail: why.detail };
  return enterNotice(
    c,
    s,
    {
      kind: 'notDelivered',
      product: productView(s.purchase.product, s.soldOut),
      refund: 'pending',
    },
    at,
    [
      record({ type: 'dispense.finished', txId, outcome: 'uncertain', ...why }),
      closeTx(txId, 'flagged'),
      {
        type: 'log',
        level: 'error',
        msg: 'dispense outcome uncertain: flagged for the operator',
        fields: { ...fields, code: 'failure' in why ? why.failure.code : 'E_DISPENSER_FAULT' },
      },
    ],
  );
}

// --- refunding ---------------------------------------------------------------------------------

/** Nothing was delivered: the refund becomes a background job, its first attempt due now. */
function enterRefunding(
  c: CoreConfig,
  s: In<'dispensing'>,
  at: number,
  before: readonly Effect[],
): Transition {
  const { purchase, paid } = s;
  const txId = purchase.txId;
  const due = at + c.refundDeadlineMs;
  const deadline = token(txId, 'deadline', due);
  const facts = freshRefundFacts(purchase.product.price, paid.ersReference);
  const jobs = addJobs(s.background, [refundJob(txId, purchase.product.name, facts, at)], at);
  return go(
    { ...s, background: jobs.background },
    { kind: 'refunding', purchase, invoice: s.invoice, paid, deadline },
    [
      ...before,
      show({
        kind: 'notDelivered',
        product: productView(purchase.product, s.soldOut),
        refund: 'refunding',
      }),
      timer('deadline', deadline, due),
      ...jobs.effects,
    ],
  );
}

/** What the refund job of the purchase on screen did: the refunding phase shows it. */
function refundNews(c: CoreConfig, s: State, news: RefundNews, at: number): Transition | undefined {
  if (s.kind !== 'refunding' || s.purchase.txId !== news.txId) return undefined;
  const product = productView(s.purchase.product, s.soldOut);
  return enterNotice(c, s, { kind: 'notDelivered', product, refund: news.refund }, at, []);
}

function refunding(c: CoreConfig, s: In<'refunding'>, e: Event): Transition {
  if (!isTimer(e, 'deadline', s.deadline)) return same(s);
  // The job goes on without the customer: retried until SEQR confirms or refuses it for good.
  const product = productView(s.purchase.product, s.soldOut);
  return enterNotice(c, s, { kind: 'notDelivered', product, refund: 'pending' }, e.at, [
    {
      type: 'log',
      level: 'warn',
      msg: 'refund not confirmed in time: it goes on in the background (seqr-vend pending lists it)',
      fields: { txId: s.purchase.txId },
    },
  ]);
}

// --- finishing ---------------------------------------------------------------------------------

function finishing(c: CoreConfig, s: In<'finishing'>, e: Event): Transition {
  const txId = s.purchase.txId;
  const submit: Effect = {
    type: 'payment.submitReceipt',
    txId,
    ersReference: s.paid.ersReference,
    document: receiptDocument(receipt(c, s.purchase, s.invoice.reference, s.paid)),
  };
  const done = (at: number, effects: readonly Effect[]): Transition =>
    enterNotice(c, s, undefined, at, [...effects, closeTx(txId, 'sold')], s.thankYouUntil);
  switch (e.type) {
    case 'printer.printed':
      if (e.txId !== txId || s.step !== 'printing') return same(s);
      return go(s, { ...s, step: 'submitting' }, [
        submit,
        record({ type: 'receipt.printed', txId }),
      ]);
    case 'printer.failed':
      // A failed receipt never undoes the sale.
      if (e.txId !== txId || s.step !== 'printing') return same(s);
      return go(s, { ...s, step: 'submitting' }, [
        submit,
        record({ type: 'receipt.unprinted', txId, failure: e.failure }),
        {
          type: 'log',
          level: 'warn',
          msg: 'receipt not printed',
          fields: failed(e.failure, { txId }),
        },
      ]);
    case 'payment.receiptSubmitted':
      if (e.txId !== txId || s.step !== 'submitting') return same(s);
      return done(e.at, [record({ type: 'receipt.submitted', txId })]);
    case 'payment.failed':
      if (e.op !== 'submitReceipt' || e.txId !== txId || s.step !== 'submitting') return same(s);
      return done(e.at, [
        {
          type: 'log',
          level: 'warn',
          msg: 'submitPaymentReceipt failed',
          fields: failed(e.failure, { txId }),
        },
      ]);
    case 'timer.expired':
      if (!isTimer(e, 'deadline', s.deadline)) return same(s);
      return toNext(c, s, e.at, [
        closeTx(txId, 'sold'),
        {
          type: 'log',
          level: 'warn',
          msg: 'receipt steps timed out',
          fields: { txId, step: s.step },
        },
      ]);
    case 'button.pressed':
    case 'dispense.failed':
    case 'dispense.finished':
    case 'display.failed':
    case 'ledger.failed':
    case 'ledger.recorded':
    case 'payment.cancelAnswered':
    case 'payment.issued':
    case 'payment.probed':
    case 'payment.refunded':
    case 'payment.statusReceived':
    case 'recovery.loaded':
    case 'stock.updated':
      return same(s);
  }
}

// --- notice ------------------------------------------------------------------------------------

/** Shows `screen` (if given) until `at + messageMs` (or `until`), then idle. */
function enterNotice(
  c: CoreConfig,
  s: State,
  screen: Screen | undefined,
  at: number,
  effects: readonly Effect[],
  until = at + c.messageMs,
): Transition {
  const due = Math.max(until, at);
  const deadline = token('notice', 'deadline', due);
  return go(s, { kind: 'notice', deadline }, [
    ...(screen ? [show(screen)] : []),
    timer('deadline', deadline, due),
    ...effects,
  ]);
}

function notice(c: CoreConfig, s: In<'notice'>, e: Event): Transition {
  if (isTimer(e, 'deadline', s.deadline)) return toNext(c, s, e.at);
  // Open invoices from before a restart are resolved before anything is sold.
  if (e.type === 'button.pressed' && s.recovery.loaded && s.recovery.items.length === 0)
    return idle(c, s, e);
  return same(s);
}

// --- outOfService ------------------------------------------------------------------------------

function backoff(c: CoreConfig, failures: number): number {
  return Math.min(
    c.outOfServiceBackoffMaxMs,
    c.outOfServiceBackoffMinMs * 2 ** Math.min(failures, 30),
  );
}

function enterOutOfService(
  c: CoreConfig,
  s: State,
  reason: OutOfServiceReason,
  failures: number,
  at: number,
  effects: readonly Effect[] = [],
): Transition {
  const due = at + backoff(c, failures);
  const deadline = token('outOfService', 'deadline', due);
  return go(s, { kind: 'outOfService', reason, failures, probing: false, deadline }, [
    ...effects,
    show({ kind: 'outOfService', reason, machineName: c.machineName }),
    timer('deadline', deadline, due),
  ]);
}

function backInService(c: CoreConfig, s: In<'outOfService'>, at: number): Transition {
  return toNext(c, s, at, [
    { type: 'log', level: 'info', msg: 'SEQR answers again', fields: { failures: s.failures } },
  ]);
}

function outOfService(c: CoreConfig, s: In<'outOfService'>, e: Event): Transition {
  switch (e.type) {
    case 'timer.expired': {
      if (!isTimer(e, 'deadline', s.deadline)) return same(s);
      const due = e.at + backoff(c, s.failures);
      const deadline = token('outOfService', 'deadline', due);
      // A probe still out when the next is due: wait for it (the gateway's deadline ends it).
      return go(s, { ...s, probing: true, deadline }, [
        timer('deadline', deadline, due),
        ...(s.probing ? [] : [{ type: 'payment.probe' } as const]),
      ]);
    }
    case 'payment.probed':
      if (!s.probing) return same(s);
      return backInService(c, s, e.at);
    case 'payment.failed': {
      if (e.op !== 'probe' || !s.probing) return same(s);
      // SEQR answering with a resultCode (the probe's reference is unknown to it) is an answer.
      if (e.failure.code === 'E_SEQR_RESULT' || e.failure.code === 'E_SEQR_UNKNOWN_INVOICE')
        return backInService(c, s, e.at);
      const reason: OutOfServiceReason =
        e.failure.code === 'E_SEQR_AUTH' ? 'seqrCredentials' : 'seqrUnreachable';
      const next = enterOutOfService(c, s, reason, s.failures + 1, e.at);
      return reason === s.reason
        ? { state: next.state, effects: next.effects.filter((x) => x.type !== 'display.show') }
        : next;
    }
    case 'button.pressed':
    case 'dispense.failed':
    case 'dispense.finished':
    case 'display.failed':
    case 'ledger.failed':
    case 'ledger.recorded':
    case 'payment.cancelAnswered':
    case 'payment.issued':
    case 'payment.receiptSubmitted':
    case 'payment.refunded':
    case 'payment.statusReceived':
    case 'printer.failed':
    case 'printer.printed':
    case 'recovery.loaded':
    case 'stock.updated':
      return same(s);
  }
}
