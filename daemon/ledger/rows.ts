import { z } from 'zod';
import type { TransactionView } from '../core/projection.js';
import {
  ERROR_CATALOGUE,
  VendError,
  isErrorCode,
  type ErrorCode,
  type Failure,
} from '../errors.js';
import type { LedgerEntry } from '../ports/ledger.js';
import { domainCode, type GatewayMethod } from '../seqr/domain-codes.js';
import type { PeriodRecord } from './sqlite-ledger.js';

/*
 * The ledger's read path: every row is checked against what this code writes before it is used.
 * A row that is not valid JSON of the right shape (damage, or another program's data) is
 * `E_LEDGER_CORRUPT` naming the row, never cast. Entries written before failures were typed
 * (`code: 'E_SEQR_RESULT:97'` on refund.failed and receipt.unprinted) are read as typed failures.
 */

const codes = Object.keys(ERROR_CATALOGUE) as [ErrorCode, ...ErrorCode[]];

const failure = z.object({
  code: z.enum(codes),
  resultCode: z.number().int().exactOptional(),
  resultName: z.string().exactOptional(),
  httpStatus: z.number().int().exactOptional(),
  faultString: z.string().exactOptional(),
  operation: z.string().exactOptional(),
});

const txId = z.string().min(1);
const money = z.object({ minor: z.number().int().nonnegative(), currency: z.string().min(1) });
const invoiceStatus = z.enum([
  'ISSUED',
  'PAID',
  'PENDING_ISSUER_ACKNOWLEDGE',
  'CANCELED',
  'FAILED',
  'RESERVED',
  'EXPIRED',
]);
const closedOutcome = z.enum(['sold', 'refunded', 'cancelled', 'failed', 'flagged']);
const vendSeq = z.number().int().positive();
const settledRow = z.object({
  slot: z.number().int(),
  productName: z.string(),
  unitPrice: money,
  quantity: z.number().int().positive(),
});
const reservation = z.object({
  offered: money,
  reserved: money.exactOptional(),
  reservedAt: z.number().exactOptional(),
  vends: z.array(
    z.object({
      seq: vendSeq,
      slot: z.number().int(),
      productName: z.string(),
      price: money,
      outcome: z.enum(['started', 'delivered', 'notDelivered', 'uncertain']),
    }),
  ),
  settling: z.object({ total: money, rows: z.array(settledRow) }).exactOptional(),
  committed: z.boolean(),
});

const entry = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('invoice.requested'),
    txId,
    slot: z.number().int(),
    productName: z.string(),
    price: money,
    probe: z.literal(true).exactOptional(),
  }),
  z.object({ type: z.literal('invoice.issued'), txId, invoiceReference: z.string() }),
  z.object({
    type: z.literal('status.seen'),
    txId,
    status: invoiceStatus,
    version: z.number().int(),
    ersReference: z.string().exactOptional(),
  }),
  z.object({ type: z.literal('cancel.requested'), txId }),
  z.object({ type: z.literal('dispense.started'), txId, slot: z.number().int() }),
  z.object({ type: z.literal('dispense.dropped'), txId }),
  z.object({
    type: z.literal('dispense.finished'),
    txId,
    outcome: z.enum(['delivered', 'notDelivered', 'uncertain']),
    detail: z.string().exactOptional(),
    failure: failure.exactOptional(),
  }),
  z.object({ type: z.literal('receipt.printed'), txId }),
  z.object({ type: z.literal('receipt.unprinted'), txId, failure }),
  z.object({ type: z.literal('receipt.submitted'), txId }),
  z.object({
    type: z.literal('receipt.submitFailed'),
    txId,
    failure,
    refused: z.literal(true).exactOptional(),
  }),
  z.object({
    type: z.literal('refund.requested'),
    txId,
    amount: money,
    initiator: z.enum(['recovery', 'retry', 'operator', 'refundWorker']).exactOptional(),
  }),
  z.object({
    type: z.literal('refund.confirmed'),
    txId,
    refundReference: z.string(),
    inferred: z.literal('sumExceeded').exactOptional(),
  }),
  z.object({ type: z.literal('refund.failed'), txId, failure }),
  z.object({ type: z.literal('tx.closed'), txId, outcome: closedOutcome }),
  z.object({ type: z.literal('reservation.requested'), txId, offered: money, amount: money }),
  z.object({ type: z.literal('reservation.issued'), txId, invoiceReference: z.string() }),
  z.object({ type: z.literal('reservation.reserved'), txId, amount: money }),
  z.object({
    type: z.literal('vend.started'),
    txId,
    vend: vendSeq,
    slot: z.number().int(),
    productName: z.string(),
    price: money,
  }),
  z.object({
    type: z.literal('vend.finished'),
    txId,
    vend: vendSeq,
    outcome: z.enum(['delivered', 'notDelivered', 'uncertain']),
    detail: z.string().exactOptional(),
    failure: failure.exactOptional(),
  }),
  z.object({
    type: z.literal('reservation.settling'),
    txId,
    total: money,
    rows: z.array(settledRow),
  }),
  z.object({
    type: z.literal('reservation.committed'),
    txId,
    ersReference: z.string().exactOptional(),
    inferred: z.literal('statusPaid').exactOptional(),
  }),
]) satisfies z.ZodType<LedgerEntry>;

/**
 * A failure as entries before typed failures wrote it: the catalogue code, `:<resultCode>` when
 * SEQR answered (`E_SEQR_RESULT:97`). A refund's resultCode gets its domain meaning, as the
 * gateway gives it today; a code outside the catalogue reads as `E_UNEXPECTED`.
 */
export function legacyFailure(text: string, method?: GatewayMethod): Failure {
  const m = /^(E_[A-Z0-9_]+)(?::(\d+))?$/.exec(text);
  const named = m?.[1];
  const resultCode = m?.[2] === undefined ? undefined : Number(m[2]);
  const mapped =
    method === undefined || resultCode === undefined ? undefined : domainCode(method, resultCode);
  const code = mapped ?? (named !== undefined && isErrorCode(named) ? named : 'E_UNEXPECTED');
  return { code, ...(resultCode === undefined ? {} : { resultCode }) };
}

/** Rewrites the legacy string `code` of refund.failed / receipt.unprinted as a failure. */
function upgrade(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const v = value as Record<string, unknown>;
  if ((v['type'] !== 'refund.failed' && v['type'] !== 'receipt.unprinted') || 'failure' in v)
    return value;
  const { code, ...rest } = v;
  if (typeof code !== 'string') return value;
  return {
    ...rest,
    failure: legacyFailure(code, v['type'] === 'refund.failed' ? 'refund' : undefined),
  };
}

const storedEntry = z.preprocess(upgrade, entry);

const view = z.object({
  txId,
  openedAt: z.number(),
  updatedAt: z.number(),
  slot: z.number().int(),
  productName: z.string(),
  probe: z.literal(true).exactOptional(),
  price: money,
  invoiceReference: z.string().exactOptional(),
  status: invoiceStatus.exactOptional(),
  statusVersion: z.number().int().exactOptional(),
  ersReference: z.string().exactOptional(),
  paidAt: z.number().exactOptional(),
  cancelRequested: z.boolean(),
  dispense: z.enum(['none', 'started', 'delivered', 'notDelivered', 'uncertain']),
  dispenseDetail: z.string().exactOptional(),
  dispenseFailure: failure.exactOptional(),
  dropped: z.literal(true).exactOptional(),
  receipt: z.enum(['none', 'printed', 'unprinted']),
  receiptFailure: failure.exactOptional(),
  receiptSubmitted: z.boolean(),
  receiptSubmitAttempts: z.number().int().exactOptional(),
  receiptSubmitFailure: failure.exactOptional(),
  receiptRefused: z.literal(true).exactOptional(),
  refund: z.enum(['none', 'requested', 'failed', 'confirmed']),
  refundAttempts: z.number().int(),
  refundRequestedMinor: z.number().int().exactOptional(),
  refundedMinor: z.number().int(),
  refundReference: z.string().exactOptional(),
  refundInferred: z.boolean(),
  refundFailure: failure.exactOptional(),
  lastRefundAt: z.number().exactOptional(),
  closed: closedOutcome.exactOptional(),
  closedAt: z.number().exactOptional(),
  reservation: reservation.exactOptional(),
}) satisfies z.ZodType<TransactionView>;

const totals = z.object({ count: z.number().int(), totalMinor: z.number().int() });

const period = z.object({
  periodId: z.string(),
  terminalId: z.string(),
  openedAt: z.number(),
  closedAt: z.number(),
  reportId: z.string(),
  state: z.enum(['marked', 'reported', 'reportFailed', 'lost', 'void']),
  markedFrom: z.number().exactOptional(),
  afterLost: z.string().exactOptional(),
  report: z
    .object({
      title: z.string().exactOptional(),
      mimeType: z.string().exactOptional(),
      content: z.string(),
    })
    .exactOptional(),
  seqr: totals.exactOptional(),
  ledger: totals.exactOptional(),
  matched: z.boolean().exactOptional(),
  error: z.string().exactOptional(),
}) satisfies z.ZodType<PeriodRecord>;

function parse<T>(schema: z.ZodType<T>, text: string, row: string): T {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new VendError('E_LEDGER_CORRUPT', `ledger: ${row} is not JSON`, { cause: err });
  }
  const result = schema.safeParse(json);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue?.path.join('.') ?? '';
  throw new VendError(
    'E_LEDGER_CORRUPT',
    `ledger: ${row} is not a seqr-vend record (${where === '' ? '' : `${where}: `}${issue?.message ?? 'invalid'})`,
  );
}

/** The entry stored in `entries` row `seq`. */
export function parseEntry(body: string, seq: number): LedgerEntry {
  return parse(storedEntry, body, `entry row ${seq}`);
}

/** The projection stored for transaction `txId`. */
export function parseView(text: string, id: string): TransactionView {
  return parse(view, text, `transaction row ${id}`);
}

/** The period stored as `periodId`. */
export function parsePeriod(body: string, periodId: string): PeriodRecord {
  return parse(period, body, `period row ${periodId}`);
}
