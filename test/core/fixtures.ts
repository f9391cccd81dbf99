import type { LedgerEntry } from '../../daemon/ports/ledger.js';
import { freshRefundFacts } from '../../daemon/core/projection.js';
import { createCore } from '../../daemon/core/step.js';
import type {
  Effect,
  Event,
  Job,
  ReceiptJob,
  RefundJob,
  State,
  TimerName,
} from '../../daemon/core/types.js';
import { testConfig } from '../support/core-config.js';

export const core = createCore(testConfig);
export const T0 = 1_000_000;
const cola = testConfig.products[0]!;
const purchase = { txId: 'tx-1', product: cola };
export const invoice = {
  reference: '20261122000000001',
  qrPayload: 'HTTP://SEQR.SE/R20261122000000001',
};
const polling = {
  inFlight: true,
  overdue: false,
  dueAt: T0 + 1000,
  version: 1,
  status: 'ISSUED' as const,
  retry: false,
  sentAt: T0,
  unpaidAt: T0 - 1000,
  answeredAt: T0 - 900,
  paidMayBeMissed: false,
};
const paid = { ersReference: '2026000000000000000000001', paidAt: '2026-11-22T08:00:00.000Z' };
const base = {
  products: testConfig.products,
  maintenance: false,
  soldOut: [] as number[],
  background: { jobs: [] as Job[] },
  recovery: { loaded: true, items: [] },
} as const;

/** The refund of tx-1 as a background job: its first attempt out (refundPayment sent). */
/** The receipt of tx-1 as a background job, its submitPaymentReceipt out. */
export const receiptOut: ReceiptJob = {
  kind: 'receipt',
  txId: 'tx-1',
  ersReference: paid.ersReference,
  document: { mimeType: 'text/plain', text: 'receipt', receiptType: 'PAYMENT_RECEIPT' },
  attempts: 0,
  dueAt: T0,
  inFlight: true,
};

export const refundOut: RefundJob = {
  kind: 'refund',
  txId: 'tx-1',
  productName: 'Cola',
  facts: freshRefundFacts(cola.price, paid.ersReference),
  attempts: 1,
  dueAt: T0,
  attempt: { amount: cola.price, afterUnknown: false },
};

/** The same refund waiting for its retry, the settle timer due then. */
const refundWaiting: RefundJob = {
  kind: 'refund',
  txId: 'tx-9',
  productName: 'Water',
  facts: freshRefundFacts({ minor: 1500, currency: 'SEK' }, '2026000000000000000000009'),
  attempts: 1,
  dueAt: T0 + 400,
};

/** One representative of every state (and of each step that waits on something different). */
export const STATES = {
  starting: {
    ...base,
    recovery: { loaded: false },
    kind: 'starting',
    deadline: 'starting:deadline:1',
  },
  idle: { ...base, kind: 'idle' },
  'invoicing/recording': { ...base, kind: 'invoicing', purchase, step: 'recording', deadline: 'd' },
  'invoicing/issuing': { ...base, kind: 'invoicing', purchase, step: 'issuing', deadline: 'd' },
  'awaitingPayment/paying': {
    ...base,
    kind: 'awaitingPayment',
    purchase,
    invoice,
    polling,
    stage: 'paying',
    windowEndsAt: T0 + 30_000,
    windowMs: 30_000,
    deadline: 'd',
    countdown: 'c',
  },
  'awaitingPayment/stillPaying': {
    ...base,
    kind: 'awaitingPayment',
    purchase,
    invoice,
    polling,
    stage: 'stillPaying',
    windowEndsAt: T0 + 30_000,
    windowMs: 30_000,
    deadline: 'd',
    countdown: 'c',
  },
  cancelling: {
    ...base,
    kind: 'cancelling',
    purchase,
    invoice,
    polling,
    reason: 'button',
    cancel: 'inFlight',
    cancelAttempts: 1,
    retryAt: undefined,
    cancelledAt: undefined,
    unknown: undefined,
    note: 'none',
    overdueScreen: false,
    deadline: 'd',
  },
  'dispensing/recordingPaid': {
    ...base,
    kind: 'dispensing',
    purchase,
    invoice,
    paid,
    step: 'recordingPaid',
    dropped: false,
    deadline: 'd',
  },
  'dispensing/recordingStart': {
    ...base,
    kind: 'dispensing',
    purchase,
    invoice,
    paid,
    step: 'recordingStart',
    dropped: false,
    deadline: 'd',
  },
  'dispensing/running': {
    ...base,
    kind: 'dispensing',
    purchase,
    invoice,
    paid,
    step: 'running',
    dropped: false,
    deadline: 'd',
  },
  refunding: {
    ...base,
    background: { jobs: [refundOut] },
    kind: 'refunding',
    purchase,
    invoice,
    paid,
    late: false,
    deadline: 'd',
  },
  'finishing/printing': {
    ...base,
    kind: 'finishing',
    purchase,
    invoice,
    paid,
    step: 'printing',
    thankYouUntil: T0,
    deadline: 'd',
  },
  'cancelling/waiting': {
    ...base,
    kind: 'cancelling',
    purchase,
    invoice,
    polling: { ...polling, inFlight: false },
    reason: 'timeout',
    cancel: 'waiting',
    cancelAttempts: 2,
    retryAt: T0 + 2000,
    cancelledAt: undefined,
    unknown: undefined,
    note: 'retrying',
    overdueScreen: false,
    deadline: 'd',
  },
  'dispensing/dropped': {
    ...base,
    kind: 'dispensing',
    purchase,
    invoice,
    paid,
    step: 'running',
    dropped: true,
    deadline: 'd',
  },
  notice: { ...base, kind: 'notice', deadline: 'notice:deadline:1' },
  'idle/receiptOut': {
    ...base,
    background: { jobs: [receiptOut] },
    kind: 'idle',
  },
  'idle/refundWaiting': {
    ...base,
    background: { jobs: [refundWaiting], settleAt: T0 + 400 },
    kind: 'idle',
  },
  outOfService: {
    ...base,
    kind: 'outOfService',
    reason: 'seqrUnreachable',
    failures: 1,
    probe: 'status',
    probing: true,
    deadline: 'd',
  },
  'outOfService/invoiceProbe': {
    ...base,
    kind: 'outOfService',
    reason: 'seqrUnreachable',
    failures: 1,
    probe: 'invoice',
    probing: false,
    deadline: 'd',
  },
  'invoicing/probe': {
    ...base,
    kind: 'invoicing',
    purchase: { ...purchase, probe: { reason: 'seqrUnreachable', failures: 1 } },
    step: 'issuing',
    deadline: 'd',
  },
  maintenance: { ...base, maintenance: true, kind: 'maintenance' },
} as const satisfies Record<string, State>;

export type StateName = keyof typeof STATES;

/** The entry a state waits to see durable (or any entry of its transaction). */
function awaitedEntry(s: State): LedgerEntry {
  const txId = 'purchase' in s ? s.purchase.txId : 'tx-1';
  switch (s.kind) {
    case 'invoicing':
      return { type: 'invoice.requested', txId, slot: 1, productName: 'Cola', price: cola.price };
    case 'dispensing':
      return s.step === 'recordingPaid'
        ? { type: 'status.seen', txId, status: 'PAID', version: 2, ersReference: paid.ersReference }
        : { type: 'dispense.started', txId, slot: 1 };
    case 'refunding':
      return { type: 'refund.requested', txId, amount: cola.price };
    case 'starting':
    case 'idle':
    case 'awaitingPayment':
    case 'cancelling':
    case 'finishing':
    case 'notice':
    case 'outOfService':
    case 'maintenance':
    case 'session':
      return { type: 'invoice.issued', txId, invoiceReference: invoice.reference };
  }
}

function tokenOf(s: State, name: TimerName): string {
  if (name === 'deadline') return 'deadline' in s ? s.deadline : 'none';
  if (name === 'settle')
    return s.background.settleAt === undefined
      ? 'none'
      : `background:settle:${s.background.settleAt}`;
  if (name === 'countdown') return 'countdown' in s ? s.countdown : 'none';
  if (name === 'retry')
    return s.kind === 'cancelling' && s.retryAt !== undefined ? `tx-1:retry:${s.retryAt}` : 'none';
  return 'polling' in s ? `tx-1:poll:${s.polling.dueAt}` : 'none';
}

const at = T0 + 500;

/** The operator's new catalogue: Cola dearer, Water off sale. */
export const repricedCatalog = testConfig.products.map((p) =>
  p.slot === 1
    ? { ...p, price: { minor: 2900, currency: 'SEK' } }
    : p.slot === 2
      ? { ...p, enabled: false }
      : p,
);

/** Every event kind (with variants that matter), built to match the state where it can. */
export const EVENTS = {
  'recovery.loaded': () => ({ type: 'recovery.loaded', transactions: [], receiptsOwed: [], at }),
  'button.pressed/product': () => ({
    type: 'button.pressed',
    button: { kind: 'product', slot: 1 },
    txId: 'tx-2',
    at,
  }),
  'button.pressed/cancel': () => ({
    type: 'button.pressed',
    button: { kind: 'cancel' },
    txId: 'tx-2',
    at,
  }),
  'stock.updated': () => ({ type: 'stock.updated', soldOut: [3], at }),
  'catalog.updated': () => ({ type: 'catalog.updated', products: repricedCatalog, at }),
  'maintenance.changed/on': () => ({ type: 'maintenance.changed', on: true, at }),
  'maintenance.changed/off': () => ({ type: 'maintenance.changed', on: false, at }),
  'payment.issued': () => ({ type: 'payment.issued', txId: 'tx-1', invoice, at }),
  'payment.statusReceived/ISSUED': () => ({
    type: 'payment.statusReceived',
    txId: 'tx-1',
    status: { status: 'ISSUED', version: 1 },
    at,
  }),
  'payment.statusReceived/PAID': () => ({
    type: 'payment.statusReceived',
    txId: 'tx-1',
    status: { status: 'PAID', version: 2, ersReference: paid.ersReference, paidAt: paid.paidAt },
    at,
  }),
  'payment.statusReceived/CANCELED': () => ({
    type: 'payment.statusReceived',
    txId: 'tx-1',
    status: { status: 'CANCELED', version: 2 },
    at,
  }),
  'payment.cancelAnswered': () => ({
    type: 'payment.cancelAnswered',
    txId: 'tx-1',
    outcome: 'cancelled',
    at,
  }),
  'payment.refunded': () => ({ type: 'payment.refunded', txId: 'tx-1', refundReference: 'r1', at }),
  'payment.receiptSubmitted': () => ({ type: 'payment.receiptSubmitted', txId: 'tx-1', at }),
  'payment.probed': () => ({ type: 'payment.probed', at }),
  'payment.failed/issue': () => ({
    type: 'payment.failed',
    op: 'issue',
    txId: 'tx-1',
    failure: { code: 'E_SEQR_UNREACHABLE' },
    retryable: true,
    at,
  }),
  'payment.failed/poll': () => ({
    type: 'payment.failed',
    op: 'poll',
    txId: 'tx-1',
    failure: { code: 'E_SEQR_TIMEOUT' },
    retryable: true,
    at,
  }),
  'payment.failed/cancel': () => ({
    type: 'payment.failed',
    op: 'cancel',
    txId: 'tx-1',
    failure: { code: 'E_SEQR_TIMEOUT' },
    retryable: true,
    at,
  }),
  'payment.failed/refund': () => ({
    type: 'payment.failed',
    op: 'refund',
    txId: 'tx-1',
    failure: { code: 'E_SEQR_TIMEOUT' },
    retryable: true,
    at,
  }),
  'payment.failed/submitReceipt': () => ({
    type: 'payment.failed',
    op: 'submitReceipt',
    txId: 'tx-1',
    failure: { code: 'E_SEQR_HTTP', httpStatus: 502 },
    retryable: true,
    at,
  }),
  'payment.failed/probe': () => ({
    type: 'payment.failed',
    op: 'probe',
    failure: { code: 'E_SEQR_UNREACHABLE' },
    retryable: true,
    at,
  }),
  'ledger.recorded': (s: State) => ({ type: 'ledger.recorded', entry: awaitedEntry(s), at }),
  'ledger.failed': (s: State) => ({
    type: 'ledger.failed',
    entry: awaitedEntry(s),
    failure: { code: 'E_LEDGER_WRITE' },
    at,
  }),
  'dispense.finished': () => ({
    type: 'dispense.finished',
    txId: 'tx-1',
    result: { outcome: 'delivered' },
    at,
  }),
  'dispense.failed': () => ({
    type: 'dispense.failed',
    txId: 'tx-1',
    failure: { code: 'E_DISPENSER_FAULT' },
    at,
  }),
  'printer.printed': () => ({ type: 'printer.printed', txId: 'tx-1', at }),
  'printer.failed': () => ({
    type: 'printer.failed',
    txId: 'tx-1',
    failure: { code: 'E_PRINTER_OFFLINE' },
    at,
  }),
  'display.failed': () => ({ type: 'display.failed', failure: { code: 'E_DISPLAY_WRITE' }, at }),
  'timer.expired/deadline': (s: State) => ({
    type: 'timer.expired',
    name: 'deadline',
    token: tokenOf(s, 'deadline'),
    at,
  }),
  'timer.expired/poll': (s: State) => ({
    type: 'timer.expired',
    name: 'poll',
    token: tokenOf(s, 'poll'),
    at,
  }),
  'timer.expired/countdown': (s: State) => ({
    type: 'timer.expired',
    name: 'countdown',
    token: tokenOf(s, 'countdown'),
    at,
  }),
  'timer.expired/settle': (s: State) => ({
    type: 'timer.expired',
    name: 'settle',
    token: tokenOf(s, 'settle'),
    at,
  }),
  'timer.expired/retry': (s: State) => ({
    type: 'timer.expired',
    name: 'retry',
    token: tokenOf(s, 'retry'),
    at,
  }),
  'timer.expired/stale': () => ({ type: 'timer.expired', name: 'deadline', token: 'stale', at }),
  'payment.failed/poll-54': () => ({
    type: 'payment.failed',
    op: 'poll',
    txId: 'tx-1',
    failure: { code: 'E_SEQR_UNKNOWN_INVOICE', resultCode: 54 },
    retryable: false,
    at,
  }),
  'payment.failed/submitReceipt-refused': () => ({
    type: 'payment.failed',
    op: 'submitReceipt',
    txId: 'tx-1',
    failure: { code: 'E_SEQR_RESULT', resultCode: 23 },
    retryable: false,
    at,
  }),
  'dispense.dropped': () => ({ type: 'dispense.dropped', txId: 'tx-1', at }),
} as const satisfies Record<string, (s: State) => Event>;

export type EventName = keyof typeof EVENTS;

export function effectTypes(effects: readonly Effect[]): string[] {
  return effects.map((e) => e.type);
}
