import { failureFields, type Failure } from '../errors.js';
import type { OutOfServiceReason, PurchaseProblem, Screen } from '../ports/display.js';
import type { LedgerEntry } from '../ports/ledger.js';
import type { InvoiceStatus, IssuedInvoice, PaymentStatus } from '../ports/payment-gateway.js';
import {
  NO_JOBS,
  addJobs,
  background,
  receiptJob,
  refundJob,
  type BackgroundStep,
  type RefundNews,
} from './background.js';
import { customerMayStillBeThere, paymentTime, type CoreConfig } from './config.js';
import {
  epochMsFromIso,
  idleScreen,
  invoiceRequest,
  isoFromEpochMs,
  onSale,
  productView,
  receipt,
  receiptDocument,
  shortPaymentRef,
} from './documents.js';
import { freshRefundFacts } from './projection.js';
import { interruptedDispense, planRecovery, type InterruptedWhy } from './recovery.js';
import {
  reservationEvent,
  sessionStep,
  startRecoveredReservation,
  type PhaseKit,
} from './reservation.js';
import type {
  CancelNote,
  CancelReason,
  Effect,
  Event,
  Paid,
  Phase,
  Polling,
  ProbeOf,
  Purchase,
  RecoveryItem,
  ReservationEvent,
  State,
  TimerName,
  Transition,
  VendEvent,
} from './types.js';

/*
 * The vending core as one table. Rows are states, columns the events each state acts on; every
 * other (state, event) pair is an explicit no-op: same state, no effects.
 *
 * background   settle timer -> one due job attempt: a refund (refund.requested, then
 *                refundPayment) or a receipt (submitPaymentReceipt, one at a time)
 *                answered / failed / its record failed -> confirmed | retry | flagged / refused
 *                (daemon/core/background.ts; the `refunding` phase shows its purchase's refund)
 * any state      stock.updated -> remember sold-out slots (idle re-shows its screen)
 *                catalog.updated -> the products new purchases sell (idle re-shows its screen)
 *                maintenance.changed -> the switch; on: idle -> maintenance (other phases end
 *                there instead of idle); off: maintenance -> idle
 *                payment.issued (not ours) -> cancelInvoice it (never leave an invoice open)
 *                ledger.failed (not awaited) / display.failed -> log
 *                recovery.loaded (not yet planned: out of service at start) -> plan it
 * starting       recovery.loaded -> plan: records, refund and receipt jobs, then each recovery
 *                item (cancelling for an open invoice, dispensing for a recent payment) -> idle
 *                deadline -> outOfService
 * (to idle)      with recovery items left, the next item runs instead
 * idle           product button -> invoicing
 * invoicing      ledger.recorded(invoice.requested) -> sendInvoice      payment.issued -> awaitingPayment
 *                issue failed -> outOfService (transport, auth; probing with an invoice) |
 *                notice (SEQR refused)                ledger.failed -> notice
 *                deadline -> outOfService (probing with an invoice)
 * awaitingPayment  poll/countdown timers; PAID -> dispensing (or refunding: customer rule);
 *                CANCELED/FAILED/EXPIRED -> notice (cancelled in the app | reversed | failed)
 *                poll failed -> the next at once (one extra per interval)
 *                poll answered 54 / refused -> cancelling
 *                cancel button -> cancelling; deadline: paying -> stillPaying -> cancelling
 *                product button in stillPaying -> paying (same invoice)
 * cancelling     cancel answered: done -> confirming poll; 50 -> poll for the PAID;
 *                51 / failed -> sent again after a backoff (retry timer), screen says why
 *                polls go on; PAID -> dispensing (or refunding: customer rule)
 *                final status -> notice; only 54 from poll and cancel for a while -> closed
 *                deadline -> out-of-service screen, stay
 * dispensing     recorded(PAID) -> record dispense.started -> dispense -> finishing | refunding
 *                drop sensor fired -> dispense.dropped recorded
 *                ledger.failed / deadline before the relay -> refunding
 *                dispense rejected (unknown outcome) / deadline while running ->
 *                dispense.onInterrupted: refunding | flagged notice (delivered if it dropped)
 * refunding      refund job's news -> notice (refunded | pending)         deadline -> notice
 * finishing      (receipt job added) printed/failed -> notice (thank you)  deadline -> idle
 * notice         deadline -> idle; product button -> invoicing (none while recovery items wait)
 * outOfService   deadline -> probe: a status call, or after sendInvoice failed an invoice of its
 *                own (invoicing -> cancelling, no screens) -> idle once it is cancelled and
 *                confirmed; probe failed -> back off
 * maintenance    (buttons ignored, no invoices; the switch going off -> idle)
 * (to idle)      in maintenance mode: the maintenance phase instead
 */
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
      products: c.products,
      maintenance: c.maintenance ?? false,
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

/** What the purchase phases lend a reservation (daemon/core/reservation.ts). */
const KIT: PhaseKit = {
  toNext,
  notice: enterNotice,
  outOfService: enterOutOfService,
  notified: notifiedPurchase,
};

const RESERVATION_EVENTS: ReadonlySet<string> = new Set<ReservationEvent['type']>([
  'ups.requested',
  'payment.notified',
  'payment.updated',
  'payment.committed',
]);

function isReservationEvent(e: Event): e is ReservationEvent {
  return RESERVATION_EVENTS.has(e.type);
}

/** See the table above. */
export function step(c: CoreConfig, s: State, e: Event): Transition {
  if (isReservationEvent(e)) return reservationEvent(c, s, e, KIT);
  const bg = background(c, s.background, e);
  if (bg) return withBackground(c, s, bg, e.at);
  if (s.kind === 'session') return sessionStep(c, s, e, KIT) ?? anyState(c, s, e) ?? same(s);
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
    case 'maintenance':
      // Buttons are ignored; the switch going off is handled for every state (anyState).
      return same(s);
  }
}

type In<K extends State['kind']> = Extract<State, { kind: K }>;

const same = (s: State): Transition => ({ state: s, effects: [] });

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
const cancelTimer = (name: TimerName): Effect => ({ type: 'timer.cancel', name });
const closeTx = (
  txId: string,
  outcome: Extract<LedgerEntry, { type: 'tx.closed' }>['outcome'],
): Effect => record({ type: 'tx.closed', txId, outcome });

/** The timers of an open invoice, stopped when the machine leaves it. */
const INVOICE_TIMERS: readonly Effect[] = [
  cancelTimer('poll'),
  cancelTimer('countdown'),
  cancelTimer('retry'),
];

function currentTx(s: State): string | undefined {
  return 'purchase' in s ? s.purchase.txId : undefined;
}

function isTimer(e: Event, name: TimerName, tok: string): boolean {
  return e.type === 'timer.expired' && e.name === name && e.token === tok;
}

// --- any state ---------------------------------------------------------------------------------

function anyState(c: CoreConfig, s: State, e: VendEvent): Transition | undefined {
  switch (e.type) {
    case 'stock.updated': {
      const next: State = { ...s, soldOut: [...e.soldOut] };
      return {
        state: next,
        effects: s.kind === 'idle' ? [show(idleScreen(c, next.products, next.soldOut))] : [],
      };
    }
    case 'catalog.updated': {
      // A purchase in progress holds its own product (and the price it was invoiced at).
      const next: State = { ...s, products: [...e.products] };
      return {
        state: next,
        effects: [
          ...(s.kind === 'idle' ? [show(idleScreen(c, next.products, next.soldOut))] : []),
          {
            type: 'log',
            level: 'info',
            msg: 'catalogue updated',
            fields: {
              products: e.products.length,
              onSale: e.products.filter((p) => onSale(p, [])).length,
              ...(currentTx(s) === undefined ? {} : { afterPurchase: currentTx(s) ?? '' }),
            },
          },
        ],
      };
    }
    case 'maintenance.changed':
      return maintenanceChanged(c, s, e.on, e.at);
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
    case 'dispense.dropped':
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
    case 'maintenance':
    case 'notice':
    case 'outOfService':
    case 'refunding':
    case 'starting':
    case 'session':
      return false;
  }
}

// --- starting ----------------------------------------------------------------------------------

function starting(c: CoreConfig, s: In<'starting'>, e: VendEvent): Transition {
  if (e.type === 'recovery.loaded' && !s.recovery.loaded) {
    const planned = absorbRecovery(c, s, e);
    return toNext(c, planned.state, e.at, planned.effects);
  }
  if (isTimer(e, 'deadline', s.deadline)) return enterOutOfService(c, s, 'starting', 0, e.at);
  return same(s);
}

/** Plans start-up recovery: its records now, its refunds and receipts as jobs, its items queued. */
function absorbRecovery(
  c: CoreConfig,
  s: State,
  e: Extract<VendEvent, { type: 'recovery.loaded' }>,
): Transition {
  const plan = planRecovery(c, e.transactions, e.at, e.receiptsOwed);
  const jobs = addJobs(s.background, plan.jobs, e.at);
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
  if (!item && s.maintenance) return enterMaintenance(c, s, effects);
  if (!item)
    return go(s, { kind: 'idle' }, [...effects, show(idleScreen(c, s.products, s.soldOut))]);
  const next: State = { ...s, recovery: { loaded: true, items: rest } };
  const started = startRecoveryItem(c, next, item, at);
  return { state: started.state, effects: [...started.effects, ...effects] };
}

function startRecoveryItem(c: CoreConfig, s: State, item: RecoveryItem, at: number): Transition {
  if (item.kind === 'reservation') return startRecoveredReservation(c, s, item.reservation, at);
  const { purchase, invoice } = item;
  if (item.kind === 'resolve') {
    const polling: Polling = {
      inFlight: false,
      overdue: false,
      dueAt: at,
      version: item.version,
      status: item.status,
      retry: false,
      sentAt: at,
      unpaidAt: item.openedAt,
      answeredAt: item.updatedAt,
      // The last status call before the restart may have committed a payment nobody saw.
      paidMayBeMissed: true,
    };
    return enterCancelling(c, s, purchase, invoice, polling, 'recovery', at, true);
  }
  // PAID is durable already: dispense.started, then the relay (as a live purchase goes on).
  const due = at + c.dispenseDeadlineMs;
  const deadline = token(purchase.txId, 'deadline', due);
  return go(
    s,
    {
      kind: 'dispensing',
      purchase,
      invoice,
      paid: item.paid,
      step: 'recordingStart',
      dropped: false,
      deadline,
    },
    [
      show({ kind: 'dispensing', product: productView(purchase.product, s.soldOut) }),
      timer('deadline', deadline, due),
      record({ type: 'dispense.started', txId: purchase.txId, slot: purchase.product.slot }),
    ],
  );
}

// --- idle --------------------------------------------------------------------------------------

function idle(c: CoreConfig, s: State, e: VendEvent): Transition {
  if (e.type !== 'button.pressed' || e.button.kind !== 'product' || s.maintenance) return same(s);
  // UPS mode sells through the static code only: the buttons choose once a payer reserved.
  if (c.ups) return same(s);
  const { slot } = e.button;
  const product = s.products.find((p) => p.slot === slot);
  if (!product || !onSale(product, s.soldOut)) return same(s);
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

function invoicing(c: CoreConfig, s: In<'invoicing'>, e: VendEvent): Transition {
  const { purchase } = s;
  const txId = purchase.txId;
  const { probe } = purchase;
  switch (e.type) {
    case 'ledger.recorded':
      if (!awaitsRecord(s, e.entry)) return same(s);
      return go(s, { ...s, step: 'issuing' }, [
        { type: 'payment.issue', txId, request: invoiceRequest(c, purchase) },
      ]);
    case 'ledger.failed': {
      if (!awaitsRecord(s, e.entry)) return same(s);
      const log: Effect = {
        type: 'log',
        level: 'error',
        msg: 'invoice not recorded: no invoice sent',
        fields: failed(e.failure, { txId }),
      };
      if (probe) return probeFailed(c, s, probe, e.at, [log]);
      return enterNotice(c, s, { kind: 'problem', problem: 'invoiceFailed' }, e.at, [log]);
    }
    case 'payment.issued':
      if (probe) return probeIssued(c, s, purchase, e.invoice, e.at);
      return enterAwaitingPayment(c, s, purchase, e.invoice, e.at);
    case 'payment.failed': {
      if (e.op !== 'issue' || e.txId !== txId) return same(s);
      const closed = closeTx(txId, 'failed');
      const log: Effect = {
        type: 'log',
        level: 'error',
        msg: probe ? 'out-of-service probe: sendInvoice still fails' : 'sendInvoice failed',
        fields: failed(e.failure, { txId }),
      };
      if (e.failure.code === 'E_SEQR_AUTH')
        return enterOutOfService(c, s, 'seqrCredentials', (probe?.failures ?? -1) + 1, e.at, [
          closed,
          log,
        ]);
      if (probe) return probeFailed(c, s, probe, e.at, [closed, log]);
      // SEQR out of reach (or its answer lost): the probe must show sendInvoice works again.
      if (e.retryable)
        return enterOutOfService(c, s, 'seqrUnreachable', 0, e.at, [closed, log], 'invoice');
      return enterNotice(c, s, { kind: 'problem', problem: 'invoiceFailed' }, e.at, [closed, log]);
    }
    case 'timer.expired':
      if (!isTimer(e, 'deadline', s.deadline)) return same(s);
      if (probe) return probeFailed(c, s, probe, e.at, [closeTx(txId, 'failed')]);
      return enterOutOfService(
        c,
        s,
        'seqrUnreachable',
        0,
        e.at,
        [closeTx(txId, 'failed')],
        'invoice',
      );
    case 'button.pressed':
    case 'dispense.dropped':
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
    case 'catalog.updated':
    case 'maintenance.changed':
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

/** Polling of an invoice SEQR just issued: nobody could pay it before now. */
function freshPolling(at: number): Polling {
  return {
    inFlight: false,
    overdue: false,
    dueAt: at,
    version: 0,
    status: 'ISSUED',
    retry: false,
    sentAt: at,
    unpaidAt: at,
    answeredAt: at,
    paidMayBeMissed: false,
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
  const first = startPoll(c, txId, invoice, freshPolling(at), at);
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

const pollEffect = (txId: string, invoice: IssuedInvoice, polling: Polling): Effect => ({
  type: 'payment.poll',
  txId,
  reference: invoice.reference,
  lastVersion: polling.version,
});

/**
 * Starts a status call now; the next is due one interval after `nominal` (no drift). `retry`:
 * this call follows a failed one (if it fails too, the next waits for the timer).
 */
function startPoll(
  c: CoreConfig,
  txId: string,
  invoice: IssuedInvoice,
  polling: Polling,
  at: number,
  nominal = at,
  retry = false,
): { polling: Polling; effects: Effect[] } {
  const grid = nominal + c.pollIntervalMs;
  const dueAt = grid > at ? grid : at + c.pollIntervalMs;
  return {
    polling: { ...polling, inFlight: true, overdue: false, dueAt, retry, sentAt: at },
    effects: [pollEffect(txId, invoice, polling), timer('poll', token(txId, 'poll', dueAt), dueAt)],
  };
}

/** One more status call right now, after a failed one; the poll timer keeps its grid. */
function retryPoll(
  txId: string,
  invoice: IssuedInvoice,
  polling: Polling,
  at: number,
): { polling: Polling; effects: Effect[] } {
  return {
    polling: { ...polling, inFlight: true, retry: true, sentAt: at },
    effects: [pollEffect(txId, invoice, polling)],
  };
}

type Polled = In<'awaitingPayment'> | In<'cancelling'>;

/**
 * SEQR's notification about the invoice on screen: poll it now, or as soon as the call out returns
 * (never overlapping); the poll timer stays the safety net. Undefined when it is not that invoice.
 */
function notifiedPurchase(
  c: CoreConfig,
  s: State,
  reference: string,
  at: number,
): Transition | undefined {
  if (
    (s.kind !== 'awaitingPayment' && s.kind !== 'cancelling') ||
    s.invoice.reference !== reference
  )
    return undefined;
  const { polling } = s;
  if (polling.inFlight) return go(s, { ...s, polling: { ...polling, overdue: true } }, []);
  const next = startPoll(c, s.purchase.txId, s.invoice, polling, at);
  return go(s, { ...s, polling: next.polling }, next.effects);
}

/** The poll timer: start the next call, or mark it overdue while one is out (never overlap). */
function onPollTimer(c: CoreConfig, s: Polled, at: number): Transition {
  const { polling } = s;
  if (polling.inFlight) return go(s, { ...s, polling: { ...polling, overdue: true } }, []);
  const next = startPoll(c, s.purchase.txId, s.invoice, polling, at, polling.dueAt);
  return go(s, { ...s, polling: next.polling }, next.effects);
}

/** After an answer with the invoice still open: catch up an overdue call. */
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

/**
 * After a failed status call: the next goes out at once (on a fresh connection), unless the one
 * that failed was itself sent at once after a failure, in which case the timer's turn is next.
 * So hung calls follow each other without a gap, and a SEQR failing fast gets two calls per
 * interval, never a loop.
 */
function afterFailure(
  c: CoreConfig,
  s: Polled,
  polling: Polling,
  at: number,
): { polling: Polling; effects: Effect[] } {
  const txId = s.purchase.txId;
  if (polling.overdue) return startPoll(c, txId, s.invoice, polling, at, at, true);
  if (!polling.retry) return retryPoll(txId, s.invoice, polling, at);
  return { polling, effects: [] };
}

const FINAL: ReadonlySet<InvoiceStatus> = new Set(['CANCELED', 'FAILED', 'EXPIRED']);

/** SEQR was silent long enough before a CANCELED that it may have reversed a payment. */
function mayBeReversal(c: CoreConfig, polling: Polling, at: number): boolean {
  return at - polling.answeredAt >= c.reversalWindowMs - 5_000;
}

/** What the customer is told when SEQR reports a final status. */
function finalScreen(c: CoreConfig, s: Polled, status: InvoiceStatus, at: number): Screen {
  const product = productView(s.purchase.product, s.soldOut);
  const problem = (p: PurchaseProblem): Screen => ({ kind: 'problem', problem: p });
  if (status !== 'CANCELED') return problem('paymentFailed');
  if (mayBeReversal(c, s.polling, at)) return problem('paymentReversed');
  if (s.kind === 'awaitingPayment') return problem('cancelledInApp');
  if (s.reason === 'unknownAnswer') return problem('connectionLost');
  return { kind: 'cancelled', product };
}

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
  const paidNow = status.status === 'PAID';
  const polling: Polling = {
    ...s.polling,
    inFlight: false,
    retry: false,
    version: status.version,
    status: status.status,
    answeredAt: at,
    // SEQR answered unpaid: no payment before this call went out, none missed.
    ...(paidNow ? {} : { unpaidAt: s.polling.sentAt, paidMayBeMissed: false }),
  };

  if (paidNow) {
    const paid: Paid = {
      ersReference: status.ersReference ?? '',
      paidAt: status.paidAt ?? isoFromEpochMs(at),
    };
    // The one customer rule, in this machine's clock: SEQR's time, but never before an answer
    // that said unpaid.
    const paidAt = paymentTime(epochMsFromIso(status.paidAt ?? ''), s.polling.unpaidAt, at);
    if (!customerMayStillBeThere(c, paidAt, at) || s.purchase.probe)
      return paidLate(c, s, status, paid, paidAt, at);
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
        dropped: false,
        deadline,
      },
      [
        ...INVOICE_TIMERS,
        show({ kind: 'dispensing', product: productView(s.purchase.product, s.soldOut) }),
        timer('deadline', deadline, due),
        paidEntry,
      ],
    );
  }
  if (FINAL.has(status.status)) {
    const effects: Effect[] = [
      ...INVOICE_TIMERS,
      ...seen,
      closeTx(txId, status.status === 'CANCELED' ? 'cancelled' : 'failed'),
    ];
    if (s.purchase.probe)
      return backInService(c, s, s.purchase.probe, at, 'sendInvoice works again', effects);
    return enterNotice(c, s, finalScreen(c, s, status.status, at), at, effects);
  }
  if (s.kind !== 'cancelling') return afterAnswer(c, s, polling, at, seen);
  const known: In<'cancelling'> = { ...s, unknown: undefined };
  // Confirmed cancelled, yet a status call sent after that says open: send the cancel again.
  if (s.cancel === 'done' && s.cancelledAt !== undefined && s.polling.sentAt >= s.cancelledAt) {
    const resend = scheduleCancel(c, known, at, 'retrying');
    return afterAnswer(c, resend.state, polling, at, [...resend.effects, ...seen]);
  }
  return afterAnswer(c, known, polling, at, seen);
}

/**
 * A payment seen after the customer could have left (the customer rule), or one made on the
 * out-of-service probe's invoice (nobody chose a product): recorded, refunded by a background
 * job, never dispensed. The screen says so (the probe shows nothing).
 */
function paidLate(
  c: CoreConfig,
  s: Polled,
  status: PaymentStatus,
  paid: Paid,
  paidAt: number,
  at: number,
): Transition {
  const { purchase, invoice } = s;
  const { txId, product } = purchase;
  const initiator = s.kind === 'cancelling' && s.reason === 'recovery' ? 'recovery' : undefined;
  const before: Effect[] = [
    ...INVOICE_TIMERS,
    record({
      type: 'status.seen',
      txId,
      status: 'PAID',
      version: status.version,
      ersReference: paid.ersReference,
    }),
    {
      type: 'log',
      level: 'warn',
      msg: purchase.probe
        ? 'the out-of-service probe invoice was paid: refunding it'
        : 'paid after the customer may have left: refunding instead of dispensing',
      fields: {
        txId,
        ersReference: paid.ersReference,
        paidSecondsAgo: Math.round((at - paidAt) / 1000),
      },
    },
  ];
  if (purchase.probe) {
    const facts = freshRefundFacts(product.price, paid.ersReference);
    const jobs = addJobs(s.background, [refundJob(txId, product.name, facts, at)], at);
    const next: State = { ...s, background: jobs.background };
    return backInService(c, next, purchase.probe, at, 'sendInvoice works again', [
      ...before,
      ...jobs.effects,
    ]);
  }
  return enterRefunding(c, s, { purchase, invoice, paid }, at, before, { late: true, initiator });
}

/** SEQR answered a status call with something that is not a status: 54, or another refusal. */
function notAStatus(e: Extract<Event, { type: 'payment.failed' }>): boolean {
  const { code } = e.failure;
  return (
    code === 'E_SEQR_UNKNOWN_INVOICE' ||
    code === 'E_SEQR_AUTH' ||
    (code === 'E_SEQR_RESULT' && !e.retryable)
  );
}

/** The call's outcome at SEQR is unknown (no answer, or one that could not be read). */
function noAnswer(f: Failure): boolean {
  return (
    f.code !== 'E_SEQR_UNKNOWN_INVOICE' && f.code !== 'E_SEQR_AUTH' && f.code !== 'E_SEQR_RESULT'
  );
}

/**
 * A failed status call: the invoice stays open and polling goes on (invariants 4, 5), the next
 * call at once. An answer that is not a status (54, a refusal) on the pay screen starts the
 * cancel: the QR the customer holds must not stay payable while the machine cannot see it.
 */
function onPollFailed(
  c: CoreConfig,
  s: Polled,
  e: Extract<VendEvent, { type: 'payment.failed' }>,
): Transition {
  const txId = s.purchase.txId;
  const polling: Polling = {
    ...s.polling,
    inFlight: false,
    paidMayBeMissed: s.polling.paidMayBeMissed || noAnswer(e.failure),
  };
  const log: Effect = {
    type: 'log',
    level: notAStatus(e) ? 'error' : 'warn',
    msg:
      e.failure.code === 'E_SEQR_UNKNOWN_INVOICE'
        ? 'SEQR does not know the invoice: cancelling it and polling until a final status'
        : notAStatus(e)
          ? 'status poll refused: cancelling the invoice and polling until a final status'
          : 'status poll failed: the next goes out at once',
    fields: failed(e.failure, { txId, invoiceReference: s.invoice.reference }),
  };
  if (s.kind === 'awaitingPayment' && notAStatus(e)) {
    const entered = enterCancelling(c, s, s.purchase, s.invoice, polling, 'unknownAnswer', e.at);
    const next = entered.state as In<'cancelling'>;
    const unknown =
      e.failure.code === 'E_SEQR_UNKNOWN_INVOICE' ? { since: e.at, cancel: false } : undefined;
    const retried = afterFailure(c, next, polling, e.at);
    return {
      state: { ...next, polling: retried.polling, unknown },
      effects: [log, ...retried.effects, ...entered.effects],
    };
  }
  if (s.kind === 'cancelling' && e.failure.code === 'E_SEQR_UNKNOWN_INVOICE') {
    const unknown = { since: s.unknown?.since ?? e.at, cancel: s.unknown?.cancel ?? false };
    const given = giveUpUnknown(c, { ...s, polling, unknown }, e.at);
    if (given) return given;
    const retried = afterFailure(c, s, polling, e.at);
    return go(s, { ...s, polling: retried.polling, unknown }, [log, ...retried.effects]);
  }
  const retried = afterFailure(c, s, polling, e.at);
  return go(s, { ...s, polling: retried.polling }, [log, ...retried.effects]);
}

function awaitingPayment(c: CoreConfig, s: In<'awaitingPayment'>, e: VendEvent): Transition {
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
      const next = enterCancelling(c, s, s.purchase, s.invoice, idle, 'recovery', e.at, true);
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
    case 'dispense.dropped':
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
    case 'catalog.updated':
    case 'maintenance.changed':
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

function cancellingScreen(s: State, purchase: Purchase, note: CancelNote): Screen {
  return {
    kind: 'cancelling',
    product: productView(purchase.product, s.soldOut),
    ...(note === 'none' ? {} : { note }),
  };
}

/**
 * Starts cancelling an open invoice: cancelInvoice now, polling on (a call at once when
 * `pollNow`, else the running poll timer). The probe's invoice shows no screen (the
 * out-of-service screen stays).
 */
function enterCancelling(
  c: CoreConfig,
  s: State,
  purchase: Purchase,
  invoice: IssuedInvoice,
  polling: Polling,
  reason: CancelReason,
  at: number,
  pollNow = false,
): Transition {
  const txId = purchase.txId;
  const due = at + c.cancelDeadlineMs;
  const deadline = token(txId, 'deadline', due);
  const polls = pollNow ? startPoll(c, txId, invoice, polling, at) : { polling, effects: [] };
  const hidden = purchase.probe !== undefined;
  return go(
    s,
    {
      kind: 'cancelling',
      purchase,
      invoice,
      polling: polls.polling,
      reason,
      cancel: 'inFlight',
      cancelAttempts: 1,
      retryAt: undefined,
      cancelledAt: undefined,
      unknown: undefined,
      note: 'none',
      overdueScreen: hidden,
      deadline,
    },
    [
      cancelTimer('countdown'),
      ...(hidden ? [] : [show(cancellingScreen(s, purchase, 'none'))]),
      timer('deadline', deadline, due),
      { type: 'payment.cancel', txId, reference: invoice.reference },
      ...polls.effects,
      record({ type: 'cancel.requested', txId }),
    ],
  );
}

/** The delay before cancelInvoice goes out again after `attempts` calls: doubling, bounded. */
export function cancelRetryDelayMs(c: CoreConfig, attempts: number): number {
  return Math.min(
    c.cancelRetryMaxMs,
    c.cancelRetryMinMs * 2 ** Math.min(Math.max(0, attempts - 1), 30),
  );
}

/** cancelInvoice goes out again after a backoff; the screen says why (unless past the deadline). */
function scheduleCancel(
  c: CoreConfig,
  s: In<'cancelling'>,
  at: number,
  note: CancelNote,
): { state: In<'cancelling'>; effects: Effect[] } {
  const retryAt = at + cancelRetryDelayMs(c, s.cancelAttempts);
  const screen =
    s.overdueScreen || note === s.note ? [] : [show(cancellingScreen(s, s.purchase, note))];
  return {
    state: { ...s, cancel: 'waiting', retryAt, note },
    effects: [...screen, timer('retry', token(s.purchase.txId, 'retry', retryAt), retryAt)],
  };
}

/**
 * SEQR has answered nothing but 54 about the invoice, to the status poll and to the cancel, for
 * `unknownInvoiceGiveUpMs`: nothing can be paid through an invoice SEQR does not know, so the
 * machine stops resolving it. Closed failed, or flagged for the operator when a status call had
 * failed without an answer before (SEQR may have committed a payment into that lost answer).
 */
function giveUpUnknown(c: CoreConfig, s: In<'cancelling'>, at: number): Transition | undefined {
  const { unknown } = s;
  if (!unknown?.cancel || at - unknown.since < c.unknownInvoiceGiveUpMs) return undefined;
  const { txId } = s.purchase;
  const flagged = s.polling.paidMayBeMissed;
  const effects: Effect[] = [
    ...INVOICE_TIMERS,
    {
      type: 'log',
      level: 'error',
      msg: flagged
        ? 'SEQR does not know the invoice, and a status call was lost before: flagged (check the SEQR report for a payment)'
        : 'SEQR does not know the invoice: nothing can be paid through it; closed failed',
      fields: {
        txId,
        code: 'E_SEQR_UNKNOWN_INVOICE',
        invoiceReference: s.invoice.reference,
        unknownForS: Math.round((at - unknown.since) / 1000),
      },
    },
    closeTx(txId, flagged ? 'flagged' : 'failed'),
  ];
  if (s.purchase.probe) return probeFailed(c, s, s.purchase.probe, at, effects);
  return enterNotice(c, s, { kind: 'problem', problem: 'connectionLost' }, at, effects);
}

function cancelling(c: CoreConfig, s: In<'cancelling'>, e: VendEvent): Transition {
  const txId = s.purchase.txId;
  switch (e.type) {
    case 'payment.cancelAnswered': {
      if (e.txId !== txId || s.cancel !== 'inFlight') return same(s);
      const known: In<'cancelling'> = { ...s, unknown: undefined };
      if (e.outcome === 'inProgress') {
        // 51: the customer is paying in the app. Their payment is a sale; if they give up, the
        // next cancel takes.
        const next = scheduleCancel(c, known, e.at, 'paying');
        return go(s, next.state, next.effects);
      }
      // Cancelled (0, 95): one confirming status call. Paid (50): the status call brings the
      // PAID and its reference. At once, or as soon as the call out returns.
      const answered: In<'cancelling'> =
        e.outcome === 'paid'
          ? { ...known, cancel: 'paid' }
          : { ...known, cancel: 'done', cancelledAt: e.at };
      if (s.polling.inFlight)
        return go(s, { ...answered, polling: { ...s.polling, overdue: true } }, []);
      const next = startPoll(c, txId, s.invoice, s.polling, e.at);
      return go(s, { ...answered, polling: next.polling }, next.effects);
    }
    case 'payment.statusReceived':
      return e.txId === txId && s.polling.inFlight ? onStatus(c, s, e.status, e.at) : same(s);
    case 'payment.failed': {
      if (e.txId !== txId) return same(s);
      if (e.op === 'poll' && s.polling.inFlight) return onPollFailed(c, s, e);
      if (e.op !== 'cancel' || s.cancel !== 'inFlight') return same(s);
      const log: Effect = {
        type: 'log',
        level: 'warn',
        msg: 'cancelInvoice failed: sent again after a backoff',
        fields: failed(e.failure, { txId, invoiceReference: s.invoice.reference }),
      };
      let next: In<'cancelling'> = s;
      if (e.failure.code === 'E_SEQR_UNKNOWN_INVOICE') {
        next = { ...s, unknown: { since: s.unknown?.since ?? e.at, cancel: true } };
        const given = giveUpUnknown(c, next, e.at);
        if (given) return given;
      }
      const retry = scheduleCancel(c, next, e.at, 'retrying');
      return go(s, retry.state, [log, ...retry.effects]);
    }
    case 'timer.expired': {
      if (isTimer(e, 'poll', token(txId, 'poll', s.polling.dueAt))) return onPollTimer(c, s, e.at);
      if (
        s.cancel === 'waiting' &&
        s.retryAt !== undefined &&
        isTimer(e, 'retry', token(txId, 'retry', s.retryAt))
      )
        return go(s, { ...s, cancel: 'inFlight', cancelAttempts: s.cancelAttempts + 1 }, [
          { type: 'payment.cancel', txId, reference: s.invoice.reference },
        ]);
      if (!isTimer(e, 'deadline', s.deadline)) return same(s);
      const due = e.at + c.cancelDeadlineMs;
      const deadline = token(txId, 'deadline', due);
      return go(s, { ...s, deadline, overdueScreen: true }, [
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
              msg: 'invoice still open after the cancel deadline: still cancelling and polling',
              fields: { txId, invoiceReference: s.invoice.reference, cancel: s.cancel },
            },
      ]);
    }
    case 'button.pressed':
    case 'dispense.dropped':
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
    case 'catalog.updated':
    case 'maintenance.changed':
      return same(s);
  }
}

// --- dispensing --------------------------------------------------------------------------------

function dispensing(c: CoreConfig, s: In<'dispensing'>, e: VendEvent): Transition {
  const { purchase } = s;
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
      return enterRefunding(c, s, s, e.at, [
        {
          type: 'log',
          level: 'error',
          msg: 'payment not durable: refunding instead of dispensing',
          fields: failed(e.failure, { txId }),
        },
      ]);
    case 'dispense.dropped':
      // Durable at once: a restart before the dispense ends finds the product delivered.
      if (e.txId !== txId || s.step !== 'running' || s.dropped) return same(s);
      return go(s, { ...s, dropped: true }, [record({ type: 'dispense.dropped', txId })]);
    case 'dispense.finished':
      if (e.txId !== txId || s.step !== 'running') return same(s);
      if (e.result.outcome === 'delivered')
        return delivered(c, s, e.at, [
          record({ type: 'dispense.finished', txId, outcome: 'delivered' }),
        ]);
      return enterRefunding(c, s, s, e.at, [
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
        return enterRefunding(c, s, s, e.at, [
          record({
            type: 'dispense.finished',
            txId,
            outcome: 'notDelivered',
            failure: e.failure,
          }),
        ]);
      return uncertain(c, s, e.at, { failure: e.failure });
    case 'timer.expired':
      if (!isTimer(e, 'deadline', s.deadline)) return same(s);
      if (s.step === 'running')
        return uncertain(c, s, e.at, { detail: 'no outcome within the dispense deadline' });
      return enterRefunding(c, s, s, e.at, [
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
    case 'catalog.updated':
    case 'maintenance.changed':
      return same(s);
  }
}

/**
 * Delivered: the thank-you screen, the receipt printed, and its submitPaymentReceipt owed as a
 * background job (retried until SEQR takes or refuses it).
 */
function delivered(
  c: CoreConfig,
  s: In<'dispensing'>,
  at: number,
  records: readonly Effect[],
): Transition {
  const { purchase, paid, invoice } = s;
  const txId = purchase.txId;
  const r = receipt(c, purchase, invoice.reference, paid);
  const due = at + c.finishingDeadlineMs;
  const deadline = token(txId, 'deadline', due);
  const jobs = addJobs(
    s.background,
    [receiptJob(txId, paid.ersReference, receiptDocument(r), at)],
    at,
  );
  return go(
    { ...s, background: jobs.background },
    {
      kind: 'finishing',
      purchase,
      invoice,
      paid,
      step: 'printing',
      thankYouUntil: at + c.thankYouMs,
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
      ...jobs.effects,
      ...records,
    ],
  );
}

/**
 * The relay may have pulsed and the outcome is unknown: never dispensed again; settled by
 * {@link interruptedDispense} (delivered if the drop sensor saw it, else refunded or flagged).
 */
function uncertain(
  c: CoreConfig,
  s: In<'dispensing'>,
  at: number,
  why: InterruptedWhy,
): Transition {
  const { purchase, paid } = s;
  const settled = interruptedDispense(
    c,
    {
      txId: purchase.txId,
      slot: purchase.product.slot,
      ersReference: paid.ersReference,
      dropped: s.dropped,
    },
    why,
  );
  switch (settled.kind) {
    case 'delivered':
      return delivered(c, s, at, settled.effects);
    case 'refund':
      return enterRefunding(c, s, s, at, settled.effects);
    case 'flagged':
      return enterNotice(
        c,
        s,
        {
          kind: 'notDelivered',
          product: productView(purchase.product, s.soldOut),
          refund: 'checking',
        },
        at,
        settled.effects,
      );
  }
}

// --- refunding ---------------------------------------------------------------------------------

/**
 * Nothing was delivered (or the payment came too late, `late`): the refund becomes a background
 * job, its first attempt due now, and the screen says the money is on its way back.
 */
function enterRefunding(
  c: CoreConfig,
  s: State,
  p: { readonly purchase: Purchase; readonly invoice: IssuedInvoice; readonly paid: Paid },
  at: number,
  before: readonly Effect[],
  options: { readonly late?: boolean; readonly initiator?: 'recovery' | undefined } = {},
): Transition {
  const { purchase, paid } = p;
  const txId = purchase.txId;
  const due = at + c.refundDeadlineMs;
  const deadline = token(txId, 'deadline', due);
  const facts = freshRefundFacts(purchase.product.price, paid.ersReference);
  const job = refundJob(txId, purchase.product.name, facts, at, options.initiator);
  const jobs = addJobs(s.background, [job], at);
  return go(
    { ...s, background: jobs.background },
    {
      kind: 'refunding',
      purchase,
      invoice: p.invoice,
      paid,
      late: options.late ?? false,
      deadline,
    },
    [
      ...before,
      show({
        kind: 'notDelivered',
        product: productView(purchase.product, s.soldOut),
        refund: 'refunding',
        ...(options.late ? { late: true as const } : {}),
      }),
      timer('deadline', deadline, due),
      ...jobs.effects,
    ],
  );
}

/** What the refund job of the purchase on screen did: the refunding phase shows it. */
function refundNews(c: CoreConfig, s: State, news: RefundNews, at: number): Transition | undefined {
  if (s.kind !== 'refunding' || s.purchase.txId !== news.txId) return undefined;
  return enterNotice(c, s, refundScreen(s, news.refund), at, []);
}

/** The not-delivered screen of the refunding phase, with the refund's state. */
function refundScreen(s: In<'refunding'>, refund: 'refunded' | 'pending'): Screen {
  return {
    kind: 'notDelivered',
    product: productView(s.purchase.product, s.soldOut),
    refund,
    ...(s.late ? { late: true as const } : {}),
  };
}

function refunding(c: CoreConfig, s: In<'refunding'>, e: VendEvent): Transition {
  if (!isTimer(e, 'deadline', s.deadline)) return same(s);
  // The job goes on without the customer: retried until SEQR confirms or refuses it for good.
  return enterNotice(c, s, refundScreen(s, 'pending'), e.at, [
    {
      type: 'log',
      level: 'warn',
      msg: 'refund not confirmed in time: it goes on in the background (seqr-vend pending lists it)',
      fields: { txId: s.purchase.txId },
    },
  ]);
}

// --- finishing ---------------------------------------------------------------------------------

function finishing(c: CoreConfig, s: In<'finishing'>, e: VendEvent): Transition {
  const txId = s.purchase.txId;
  const done = (at: number, effects: readonly Effect[]): Transition =>
    enterNotice(c, s, undefined, at, [...effects, closeTx(txId, 'sold')], s.thankYouUntil);
  switch (e.type) {
    case 'printer.printed':
      if (e.txId !== txId) return same(s);
      return done(e.at, [record({ type: 'receipt.printed', txId })]);
    case 'printer.failed':
      // A failed receipt never undoes the sale.
      if (e.txId !== txId) return same(s);
      return done(e.at, [
        record({ type: 'receipt.unprinted', txId, failure: e.failure }),
        {
          type: 'log',
          level: 'warn',
          msg: 'receipt not printed',
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
          msg: 'receipt printing timed out',
          fields: { txId },
        },
      ]);
    case 'button.pressed':
    case 'dispense.dropped':
    case 'dispense.failed':
    case 'dispense.finished':
    case 'display.failed':
    case 'ledger.failed':
    case 'ledger.recorded':
    case 'payment.cancelAnswered':
    case 'payment.failed':
    case 'payment.issued':
    case 'payment.probed':
    case 'payment.receiptSubmitted':
    case 'payment.refunded':
    case 'payment.statusReceived':
    case 'recovery.loaded':
    case 'stock.updated':
    case 'catalog.updated':
    case 'maintenance.changed':
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

function notice(c: CoreConfig, s: In<'notice'>, e: VendEvent): Transition {
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
  probe: 'status' | 'invoice' = 'status',
): Transition {
  const due = at + backoff(c, failures);
  const deadline = token('outOfService', 'deadline', due);
  const shown = s.kind === 'outOfService' && s.reason === reason;
  // The probe's own steps never left the out-of-service screen.
  const hidden = shown || ('purchase' in s && s.purchase.probe?.reason === reason);
  return go(s, { kind: 'outOfService', reason, failures, probe, probing: false, deadline }, [
    ...effects,
    ...(hidden ? [] : [show({ kind: 'outOfService', reason, machineName: c.machineName })]),
    timer('deadline', deadline, due),
  ]);
}

/** SEQR answered what failed: sell again (after any recovery item left). */
function backInService(
  c: CoreConfig,
  s: State,
  from: { readonly failures: number },
  at: number,
  what: string,
  effects: readonly Effect[] = [],
): Transition {
  return toNext(c, s, at, [
    ...effects,
    {
      type: 'log',
      level: 'info',
      msg: `SEQR answers again: ${what}`,
      fields: { failures: from.failures },
    },
  ]);
}

/** The probe's invoice did not make it (sendInvoice failed, or SEQR lost it): back off. */
function probeFailed(
  c: CoreConfig,
  s: State,
  probe: ProbeOf,
  at: number,
  effects: readonly Effect[],
): Transition {
  const reason = probe.reason === 'starting' ? 'seqrUnreachable' : probe.reason;
  return enterOutOfService(c, s, reason, probe.failures + 1, at, effects, 'invoice');
}

/**
 * The probe after sendInvoice failed: an invoice of its own, recorded like a purchase (so a
 * restart resolves it too), never shown, then cancelled and confirmed. Nobody holds its QR code,
 * so nobody can pay it (if somebody does, it is refunded). Its sendInvoice also supersedes an
 * invoice whose answer was lost (SEQR keeps one open invoice per terminal).
 */
function startProbe(c: CoreConfig, s: In<'outOfService'>, at: number): Transition | undefined {
  const [product] = c.products;
  if (!product) return undefined;
  const txId = `probe-${at}`;
  const purchase: Purchase = {
    txId,
    product,
    probe: { reason: s.reason, failures: s.failures },
  };
  const due = at + c.invoicingDeadlineMs;
  const deadline = token(txId, 'deadline', due);
  return go(s, { kind: 'invoicing', purchase, step: 'recording', deadline }, [
    timer('deadline', deadline, due),
    record({
      type: 'invoice.requested',
      txId,
      slot: product.slot,
      productName: product.name,
      price: product.price,
      probe: true,
    }),
  ]);
}

/** The probe's invoice was issued: cancel it and poll it to a final status, out of sight. */
function probeIssued(
  c: CoreConfig,
  s: State,
  purchase: Purchase,
  invoice: IssuedInvoice,
  at: number,
): Transition {
  const t = enterCancelling(c, s, purchase, invoice, freshPolling(at), 'probe', at, true);
  // invoice.issued before cancel.requested in the ledger; the cancel and the poll wait for neither.
  const issued = record({
    type: 'invoice.issued',
    txId: purchase.txId,
    invoiceReference: invoice.reference,
  });
  return { state: t.state, effects: [...t.effects.slice(0, -1), issued, ...t.effects.slice(-1)] };
}

function outOfService(c: CoreConfig, s: In<'outOfService'>, e: VendEvent): Transition {
  switch (e.type) {
    case 'timer.expired': {
      if (!isTimer(e, 'deadline', s.deadline)) return same(s);
      if (s.probe === 'invoice') {
        const started = startProbe(c, s, e.at);
        if (started) return started;
      }
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
      return backInService(c, s, s, e.at, 'a status call was answered');
    case 'payment.failed': {
      if (e.op !== 'probe' || !s.probing) return same(s);
      // SEQR answering with a resultCode (the probe's reference is unknown to it) is an answer.
      if (e.failure.code === 'E_SEQR_RESULT' || e.failure.code === 'E_SEQR_UNKNOWN_INVOICE')
        return backInService(c, s, s, e.at, 'a status call was answered');
      const reason: OutOfServiceReason =
        e.failure.code === 'E_SEQR_AUTH' ? 'seqrCredentials' : 'seqrUnreachable';
      return enterOutOfService(c, s, reason, s.failures + 1, e.at, [
        {
          type: 'log',
          level: 'warn',
          msg: 'out-of-service probe failed',
          fields: failed(e.failure, { failures: s.failures + 1 }),
        },
      ]);
    }
    case 'button.pressed':
    case 'dispense.dropped':
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
    case 'catalog.updated':
    case 'maintenance.changed':
      return same(s);
  }
}

// --- maintenance -------------------------------------------------------------------------------

/**
 * The operator's switch. On: idle becomes the maintenance phase at once; any other phase goes on
 * (a customer paying finishes their purchase) and ends there instead of idle. Off: the
 * maintenance phase goes to idle; elsewhere only the switch changes.
 */
function maintenanceChanged(c: CoreConfig, s: State, on: boolean, at: number): Transition {
  if (on === s.maintenance) return same(s);
  const next: State = { ...s, maintenance: on };
  const log: Effect = {
    type: 'log',
    level: 'info',
    msg: on ? 'maintenance mode on' : 'maintenance mode off',
    fields: {
      state: s.kind,
      ...(currentTx(s) === undefined ? {} : { afterPurchase: currentTx(s) ?? '' }),
    },
  };
  if (on && s.kind === 'idle') return enterMaintenance(c, next, [log]);
  if (!on && s.kind === 'maintenance') return toNext(c, next, at, [log]);
  return { state: next, effects: [log] };
}

function enterMaintenance(c: CoreConfig, s: State, effects: readonly Effect[]): Transition {
  return go(s, { kind: 'maintenance' }, [
    ...effects,
    show({ kind: 'outOfService', reason: 'maintenance', machineName: c.machineName }),
  ]);
}
