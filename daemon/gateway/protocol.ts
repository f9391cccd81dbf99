/**
 * What passes through the SEQR callback gateway, pure: SEQR's two callbacks as they arrive
 * (createPurchase JSON, the notificationUrl form), the requests the gateway relays to a machine
 * over the broker (`ups-purchase`, `seqr-notify`: MQTT 5 request/response under the machine's
 * command topic, answered `{"status":"ok","data":...}` or `{"status":"error","code","error"}`),
 * and how a machine's answer, or its silence, becomes SEQR's createPurchase answer.
 *
 * Both sides validate with these schemas: the gateway what SEQR sends, the machine what the
 * gateway relays (anyone the broker lets through may publish a request).
 */
import { z } from 'zod';
import { MINOR_DIGITS, parseDecimal } from '../ports/money.js';

/** The request names a machine in UPS mode serves (a topic level, like the fleet's commands). */
export const UPS_PURCHASE = 'ups-purchase';
export const SEQR_NOTIFY = 'seqr-notify';

/** The errorCode values createPurchase may answer (SEQR's UPS documentation). */
export const UPS_ERROR_CODES = [
  'INSUFFICIENT_FUNDS',
  'DEVICE_IN_USE',
  'DEVICE_UNAVAILABLE',
  'INVOICING_ERROR',
  'SYSTEM_ERROR',
] as const;
export type UpsErrorCode = (typeof UPS_ERROR_CODES)[number];

/** createPurchase's answer body: always with HTTP 200. */
export type CreatePurchaseAnswer =
  { readonly invoiceReferenceId: string } | { readonly errorCode: UpsErrorCode };

/** The largest reservation the gateway passes on (in major units): a bound, not a business rule. */
export const MAX_RESERVATION_MINOR = 1_000_000 * 10 ** MINOR_DIGITS;

/** A machine id as it appears in the static code's `t` and in topics (the fleet's machineId). */
export const MACHINE_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** SEQR's invoice references are digits; taken as opaque text of a safe alphabet and length. */
const invoiceReference = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'is not an invoice reference');
/** Printable ASCII without controls, as the machine writes its own clientInvoiceId. */
const clientInvoiceId = z
  .string()
  .max(64)
  .regex(/^[\x20-\x7e]*$/, 'is not printable text');
const requestId = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'is not a request id');
const currency = z.string().regex(/^[A-Z]{3}$/, 'is not an ISO 4217 code');
const decimal = z
  .string()
  .max(24)
  .refine((text) => {
    const minor = parseDecimal(text);
    return minor !== undefined && minor > 0 && minor <= MAX_RESERVATION_MINOR;
  }, 'is not a positive amount (at most two decimals, at most 1000000)');

/** A createPurchase as the gateway accepts it, normalised. */
export interface CreatePurchase {
  /** The machine: `t` of the scanned code. */
  readonly token: string;
  /** The most the payer may spend, as decimal text with two decimals (`'20.00'`). */
  readonly amount: string;
  readonly currency: string;
}

/** Why a createPurchase was not accepted, and what SEQR is answered. */
export interface CreatePurchaseProblem {
  readonly problem: string;
  readonly errorCode: UpsErrorCode;
}

/**
 * Reads createPurchase's JSON. Field names as API.md §9.6 gives them (`token`, `amount`) and as
 * SEQR's UPS page writes them (`reservationToken`, `reservationAmount`); the amount as a decimal
 * string or a JSON number; `msisdn` is checked but never kept (the machine needs no phone
 * number). Unknown fields are ignored (SEQR may add some). A token that cannot name a machine is
 * DEVICE_UNAVAILABLE; anything else malformed is SYSTEM_ERROR.
 */
export function readCreatePurchase(json: unknown): CreatePurchase | CreatePurchaseProblem {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    return { problem: 'the body is not a JSON object', errorCode: 'SYSTEM_ERROR' };
  const body = json as Record<string, unknown>;
  const token = body['token'] ?? body['reservationToken'];
  if (typeof token !== 'string' || !MACHINE_ID.test(token))
    return { problem: 'token does not name a machine', errorCode: 'DEVICE_UNAVAILABLE' };
  const rawAmount = body['amount'] ?? body['reservationAmount'];
  const amountText =
    typeof rawAmount === 'number' && Number.isFinite(rawAmount)
      ? String(rawAmount)
      : typeof rawAmount === 'string'
        ? rawAmount
        : undefined;
  const amount = amountText === undefined ? undefined : decimal.safeParse(amountText);
  if (!amount?.success)
    return { problem: 'amount is not a positive decimal amount', errorCode: 'SYSTEM_ERROR' };
  const cur = currency.safeParse(body['currency']);
  if (!cur.success)
    return { problem: 'currency is not an ISO 4217 code', errorCode: 'SYSTEM_ERROR' };
  const msisdn = body['msisdn'];
  if (msisdn !== undefined && (typeof msisdn !== 'string' || !/^\+?\d{5,20}$/.test(msisdn)))
    return { problem: 'msisdn is not a phone number', errorCode: 'SYSTEM_ERROR' };
  const minor = parseDecimal(amount.data) ?? 0;
  const whole = Math.trunc(minor / 10 ** MINOR_DIGITS);
  const fraction = String(minor % 10 ** MINOR_DIGITS).padStart(MINOR_DIGITS, '0');
  return { token, amount: `${whole}.${fraction}`, currency: cur.data };
}

/** The notificationUrl POST as the gateway accepts it. */
export interface Notification {
  readonly invoiceReference: string;
  readonly clientInvoiceId?: string;
}

/**
 * Reads the notification's form fields (API.md §9.8): `invoiceReference` (required) and
 * `clientInvoiceId`. Returns a problem text when they are missing or malformed.
 */
export function readNotification(fields: URLSearchParams): Notification | { problem: string } {
  const ref = invoiceReference.safeParse(fields.get('invoiceReference') ?? '');
  if (!ref.success) return { problem: 'invoiceReference is missing or malformed' };
  const id = fields.get('clientInvoiceId');
  if (id === null) return { invoiceReference: ref.data };
  const parsed = clientInvoiceId.safeParse(id);
  if (!parsed.success) return { problem: 'clientInvoiceId is malformed' };
  return { invoiceReference: ref.data, clientInvoiceId: parsed.data };
}

/** The body of `ups-purchase`: a payer wants to reserve up to `amount` at this machine. */
export const upsPurchaseRequest = z.strictObject({
  v: z.literal(1),
  requestId,
  amount: decimal,
  currency,
});
export type UpsPurchaseRequest = z.output<typeof upsPurchaseRequest>;

/** `ups-purchase`'s `data` on success: the reservation invoice, or SEQR's refusal code. */
export const upsPurchaseAnswer = z.union([
  z.strictObject({ invoiceReferenceId: invoiceReference }),
  z.strictObject({ errorCode: z.enum(UPS_ERROR_CODES) }),
]);
export type UpsPurchaseAnswer = z.output<typeof upsPurchaseAnswer>;

/** The body of `seqr-notify`: SEQR says invoice `invoiceReference` changed; poll it now. */
export const seqrNotifyRequest = z.strictObject({
  v: z.literal(1),
  requestId,
  invoiceReference,
  clientInvoiceId: clientInvoiceId.optional(),
});
export type SeqrNotifyRequest = z.output<typeof seqrNotifyRequest>;

/** `seqr-notify`'s `data`: whether the machine had that invoice open (and polls it now). */
export const seqrNotifyAnswer = z.strictObject({ known: z.boolean() });

/** A machine's answer to a request (the fleet's reply format). */
export type Reply =
  | { readonly status: 'ok'; readonly data: unknown }
  | { readonly status: 'error'; readonly code: string; readonly error: string };

/** A reply as the gateway reads it off the broker; undefined when it is not one. */
export function decodeReply(payload: Buffer | string): Reply | undefined {
  try {
    const value = JSON.parse(payload.toString()) as unknown;
    if (typeof value !== 'object' || value === null) return undefined;
    const r = value as Record<string, unknown>;
    if (r['status'] === 'ok') return { status: 'ok', data: r['data'] };
    if (r['status'] === 'error' && typeof r['code'] === 'string' && typeof r['error'] === 'string')
      return { status: 'error', code: r['code'].slice(0, 64), error: r['error'].slice(0, 200) };
    return undefined;
  } catch {
    return undefined;
  }
}

/**
 * SEQR's createPurchase answer for a machine's reply: its invoice or refusal when well formed;
 * DEVICE_IN_USE when its request queue was full (E_FLEET_BUSY); SYSTEM_ERROR for anything else.
 * No reply at all (deadline, broker down) is DEVICE_UNAVAILABLE, decided by the caller.
 */
export function purchaseAnswerOf(reply: Reply): CreatePurchaseAnswer {
  if (reply.status === 'error')
    return { errorCode: reply.code === 'E_FLEET_BUSY' ? 'DEVICE_IN_USE' : 'SYSTEM_ERROR' };
  const parsed = upsPurchaseAnswer.safeParse(reply.data);
  return parsed.success ? parsed.data : { errorCode: 'SYSTEM_ERROR' };
}
