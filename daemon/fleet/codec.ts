/**
 * The fleet's payloads, pure: what a machine publishes (state, alerts, sales), what a command
 * carries (validated with the configuration's own field schemas) and how it is answered.
 * Every payload is UTF-8 JSON with a version field `v`. None ever holds a secret.
 */
import { z } from 'zod';
import { productObject } from '../../config/schema.js';
import type { SaleEvent } from '../ledger/outbox.js';
import type { MachineSnapshot } from './port.js';
import type { CommandName } from './topics.js';

export const PAYLOAD_VERSION = 1;

const iso = (ms: number): string => new Date(ms).toISOString();

/** The retained state document of `<prefix>/<id>/state`. */
export function encodeState(machineId: string, s: MachineSnapshot, at: number): string {
  return JSON.stringify({
    v: PAYLOAD_VERSION,
    machine: machineId,
    ...s,
    startedAt: iso(s.startedAt),
    at: iso(at),
  });
}

/** A sale event on `<prefix>/<id>/sales`: times as ISO 8601, amounts in minor units. */
export function encodeSale(machineId: string, e: SaleEvent): string {
  return JSON.stringify({
    v: PAYLOAD_VERSION,
    machine: machineId,
    id: e.id,
    seq: e.seq,
    txId: e.txId,
    outcome: e.outcome,
    slot: e.slot,
    product: e.product,
    amountMinor: e.amount.minor,
    currency: e.amount.currency,
    refundedMinor: e.refundedMinor,
    ...(e.ersReference === undefined ? {} : { ersReference: e.ersReference }),
    ...(e.invoiceReference === undefined ? {} : { invoiceReference: e.invoiceReference }),
    openedAt: iso(e.openedAt),
    ...(e.paidAt === undefined ? {} : { paidAt: iso(e.paidAt) }),
    closedAt: iso(e.closedAt),
  });
}

const isoTime = z.iso.datetime();

/** A sale event as a consumer reads it: checked, since anyone the broker lets in may publish. */
export const saleMessageSchema = z.object({
  v: z.literal(PAYLOAD_VERSION),
  machine: z.string().min(1).max(64),
  id: z.string().min(1).max(128),
  seq: z.int().min(1),
  txId: z.string().min(1).max(64),
  outcome: z.enum(['sold', 'refunded', 'flagged']),
  slot: z.int().min(1).max(99),
  product: z.string().max(100),
  amountMinor: z.int().min(0),
  currency: z.string().regex(/^[A-Z]{3}$/),
  refundedMinor: z.int().min(0),
  ersReference: z.string().max(64).optional(),
  invoiceReference: z.string().max(64).optional(),
  openedAt: isoTime,
  paidAt: isoTime.optional(),
  closedAt: isoTime,
});
export type SaleMessage = z.infer<typeof saleMessageSchema>;

/** Parses a sale message; undefined when it is not one. */
export function decodeSale(payload: Buffer | string): SaleMessage | undefined {
  try {
    const parsed = saleMessageSchema.safeParse(JSON.parse(payload.toString()));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Alerts
// ---------------------------------------------------------------------------------------------

export const ALERT_KINDS = [
  'outOfService',
  'paperOut',
  'soldOut',
  'flaggedPayment',
  'refundUnconfirmed',
  'reconciliationMismatch',
] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

/** An active alert: since when (epoch ms) and a short operator-facing detail. */
export interface Alert {
  readonly kind: AlertKind;
  readonly since: number;
  readonly detail: string;
}

/**
 * The alerts a snapshot raises. `outOfServiceMs` is how long the machine has been out of service
 * without a break (0 when it is not); `outOfServiceAlertMs` the configured threshold.
 */
export function alertConditions(
  s: MachineSnapshot,
  outOfServiceMs: number,
  outOfServiceAlertMs: number,
): Map<AlertKind, string> {
  const on = new Map<AlertKind, string>();
  if (s.state === 'outOfService' && outOfServiceMs >= outOfServiceAlertMs)
    on.set('outOfService', s.status);
  if (s.printer === 'paperOut' || s.printer === 'E_PRINTER_PAPER_OUT')
    on.set('paperOut', 'the receipt printer is out of paper');
  const soldOut = s.slots.filter((x) => x.enabled && x.soldOut).map((x) => x.slot);
  if (soldOut.length > 0) on.set('soldOut', `slots ${soldOut.join(', ')}`);
  if (s.flagged > 0) on.set('flaggedPayment', `${s.flagged} paid purchase(s) need the operator`);
  if (s.refundsUnconfirmed > 0)
    on.set('refundUnconfirmed', `${s.refundsUnconfirmed} refund(s) not confirmed by SEQR`);
  if (s.reconciliation && !s.reconciliation.matched)
    on.set('reconciliationMismatch', `period ${s.reconciliation.periodId}`);
  return on;
}

/** The retained alerts document of `<prefix>/<id>/alerts`. */
export function encodeAlerts(machineId: string, alerts: readonly Alert[], at: number): string {
  return JSON.stringify({
    v: PAYLOAD_VERSION,
    machine: machineId,
    active: alerts.map((a) => ({ kind: a.kind, since: iso(a.since), detail: a.detail })),
    at: iso(at),
  });
}

/** One raise or clear on `<prefix>/<id>/alert`. */
export function encodeAlertChange(
  machineId: string,
  alert: Alert,
  change: 'raised' | 'cleared',
  at: number,
): string {
  return JSON.stringify({
    v: PAYLOAD_VERSION,
    machine: machineId,
    kind: alert.kind,
    change,
    since: iso(alert.since),
    detail: alert.detail,
    at: iso(at),
  });
}

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

const slot = productObject.shape.slot;
const price = productObject.shape.price;
const stock = productObject.shape.stock.unwrap();

/** Each command's body: strict objects of the configuration's own field schemas. */
export const COMMAND_SCHEMAS = {
  'set-product': z
    .strictObject({
      slot,
      price: price.optional(),
      name: productObject.shape.name.optional(),
      enabled: z.boolean().optional(),
    })
    .refine(
      (c) => c.price !== undefined || c.name !== undefined || c.enabled !== undefined,
      'give price, name or enabled',
    ),
  refill: z.strictObject({ slot, stock }),
  maintenance: z.strictObject({ on: z.boolean() }),
  'end-of-day': z.strictObject({}),
  refund: z.strictObject({
    txId: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[A-Za-z0-9_.:-]+$/, 'is not a transaction id'),
    amount: price.optional().describe('Decimal string; default: all that is left'),
  }),
  status: z.strictObject({}),
} as const satisfies Record<CommandName, z.ZodType>;

export type CommandBody<N extends CommandName> = z.output<(typeof COMMAND_SCHEMAS)[N]>;

/** The answer to a command, on the request's response topic with its correlation data. */
export type Reply =
  | { readonly status: 'ok'; readonly data: unknown }
  | { readonly status: 'error'; readonly code: string; readonly error: string };

export function encodeReply(reply: Reply): string {
  return JSON.stringify(reply);
}

/** A reply as the sender reads it; undefined when it is not one. */
export function decodeReply(payload: Buffer | string): Reply | undefined {
  try {
    const value = JSON.parse(payload.toString()) as unknown;
    if (typeof value !== 'object' || value === null) return undefined;
    const r = value as Record<string, unknown>;
    if (r['status'] === 'ok') return { status: 'ok', data: r['data'] };
    if (r['status'] === 'error' && typeof r['code'] === 'string' && typeof r['error'] === 'string')
      return { status: 'error', code: r['code'], error: r['error'] };
    return undefined;
  } catch {
    return undefined;
  }
}

/** Zod issues as one line: `slot: Too big: expected number to be <=99; price: ...`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => (i.path.length > 0 ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
}
