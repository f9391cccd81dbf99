// Pure mapping between the client's typed values and the objects the `soap` package serialises
// and parses. The package writes object keys in insertion order, so every request object here is
// built in the WSDL's xs:sequence order (API.md §5, §7). Amounts are decimal strings on the wire.
import type { InvoiceStatus } from '../ports/payment-gateway.js';
import { parseDecimal, toDecimalString, type Money } from '../ports/money.js';
import { SeqrCallError, SeqrResultError, type SeqrOperation } from './call-errors.js';

/** A value the `soap` package can serialise: text, numbers, nested elements, repeated elements. */
export type WireValue = string | number | WireObject | readonly WireObject[];
export interface WireObject {
  readonly [element: string]: WireValue;
}

/** Who calls: a terminal (TERMINALID) or a reseller user (RESELLERUSER + userId). API.md §5.2. */
export type SeqrPrincipal =
  | { readonly type: 'TERMINALID'; readonly id: string }
  | { readonly type: 'RESELLERUSER'; readonly id: string; readonly userId: string };

/** The `context` element sent with every call except benchmarkingNop (API.md §5.1). */
export interface SeqrContext {
  readonly channel: string;
  readonly clientId: string;
  readonly clientReference: string;
  readonly principal: SeqrPrincipal;
  readonly password: string;
}

export type SeqrPaymentMode =
  | 'IMMEDIATE_DEBIT'
  | 'RESERVATION_DESIRED'
  | 'RESERVATION_REQUIRED'
  | 'RESERVATION_REQUIRED_PRELIMINARY_AMOUNT';

export type SeqrAcknowledgmentMode =
  'NO_ACKNOWLEDGMENT' | 'OPTIONAL_ACKNOWLEDGMENT' | 'REQUIRE_ACKNOWLEDGMENT';

/** One `invoiceRow` (API.md §5.5). Quantity and tax rate are decimals, sent as written. */
export interface SeqrInvoiceRow {
  readonly itemDescription?: string;
  readonly itemDiscount?: Money;
  readonly itemEAN?: string;
  /** Decimal text or an integer, e.g. `1` or `'0.5'`. */
  readonly itemQuantity?: string | number;
  readonly itemSKU?: string;
  /** Whole percent (e.g. `25`) or decimal text. */
  readonly itemTaxRate?: string | number;
  readonly itemTotalAmount: Money;
  readonly itemUnit?: string;
  readonly itemUnitPrice?: Money;
}

/** An `invoice` (API.md §5.4), used by sendInvoice, updateInvoice and refundPayment. */
export interface SeqrInvoice {
  readonly paymentMode?: SeqrPaymentMode;
  readonly acknowledgmentMode?: SeqrAcknowledgmentMode;
  /** xs:dateTime text, e.g. `2026-11-22T08:00:00.000Z`. */
  readonly issueDate?: string;
  readonly title?: string;
  readonly clientInvoiceId?: string;
  readonly rows?: readonly SeqrInvoiceRow[];
  readonly totalAmount: Money;
  readonly cashierId?: string;
  readonly footer?: string;
  readonly backURL?: string;
  readonly notificationUrl?: string;
  /** Seconds to commit a reservation (interface 2.9+). */
  readonly commitReservationTimeout?: number;
}

/** A loyalty token (`tokens` in requests, `customerTokens/token` in answers; API.md §5.6). */
export interface SeqrCustomerToken {
  readonly description?: string;
  readonly id?: string;
  readonly status: number;
  readonly value?: string;
}

/** `receiptDocument` of submitPaymentReceipt; `receiptData` is already base64. */
export interface SeqrReceiptDocument {
  readonly mimeType: string;
  readonly receiptData: string;
  readonly receiptType: string;
}

/** The invoice echoed inside a PAID receipt: the fields a terminal uses. */
export interface SeqrReceiptInvoice {
  readonly title?: string;
  readonly clientInvoiceId?: string;
  readonly totalAmount?: Money;
  readonly cashierId?: string;
}

/** `receipt` of a PAID getPaymentStatus answer (API.md §5.7). Dates are the wire text. */
export interface SeqrReceipt {
  readonly terminalId?: string;
  readonly paymentDate?: string;
  readonly clientInvoiceId?: string;
  readonly invoiceReference?: string;
  readonly paymentReference?: string;
  readonly payerTerminalId?: string;
  readonly receiverName?: string;
  readonly invoice?: SeqrReceiptInvoice;
}

/** A getPaymentStatus answer with resultCode 0. */
export interface SeqrPaymentStatus {
  readonly status: InvoiceStatus;
  /** Pass it as invoiceVersion of the next poll to acknowledge this answer. */
  readonly version: number;
  /** Present when PAID. */
  readonly ersReference?: string;
  readonly receipt?: SeqrReceipt;
  readonly customerTokens: readonly SeqrCustomerToken[];
}

/** An executeReport `report` (API.md §5.10); `content` is the base64 text as sent. */
export interface SeqrReport {
  readonly title?: string;
  readonly mimeType?: string;
  readonly content?: string;
  readonly contentString?: string;
}

const INVOICE_STATUSES: ReadonlySet<string> = new Set<InvoiceStatus>([
  'ISSUED',
  'PAID',
  'PENDING_ISSUER_ACKNOWLEDGE',
  'CANCELED',
  'FAILED',
  'RESERVED',
  'EXPIRED',
]);

/** Drops undefined members, keeping the order of the rest. */
function compact(members: Record<string, WireValue | undefined>): WireObject {
  const out: Record<string, WireValue> = {};
  for (const [key, value] of Object.entries(members)) if (value !== undefined) out[key] = value;
  return out;
}

export function amountWire(money: Money): WireObject {
  return { currency: money.currency, value: toDecimalString(money) };
}

function optionalAmount(money: Money | undefined): WireObject | undefined {
  return money === undefined ? undefined : amountWire(money);
}

export function contextWire(ctx: SeqrContext): WireObject {
  const principal: WireObject =
    ctx.principal.type === 'TERMINALID'
      ? { id: ctx.principal.id, type: 'TERMINALID' }
      : { id: ctx.principal.id, type: 'RESELLERUSER', userId: ctx.principal.userId };
  return {
    channel: ctx.channel,
    clientId: ctx.clientId,
    clientReference: ctx.clientReference,
    clientRequestTimeout: 0,
    initiatorPrincipalId: principal,
    password: ctx.password,
  };
}

export function invoiceRowWire(row: SeqrInvoiceRow): WireObject {
  return compact({
    itemDescription: row.itemDescription,
    itemDiscount: optionalAmount(row.itemDiscount),
    itemEAN: row.itemEAN,
    itemQuantity: row.itemQuantity === undefined ? undefined : String(row.itemQuantity),
    itemSKU: row.itemSKU,
    itemTaxRate: row.itemTaxRate === undefined ? undefined : String(row.itemTaxRate),
    itemTotalAmount: amountWire(row.itemTotalAmount),
    itemUnit: row.itemUnit,
    itemUnitPrice: optionalAmount(row.itemUnitPrice),
  });
}

export function invoiceWire(invoice: SeqrInvoice): WireObject {
  return compact({
    paymentMode: invoice.paymentMode,
    acknowledgmentMode: invoice.acknowledgmentMode,
    issueDate: invoice.issueDate,
    title: invoice.title,
    clientInvoiceId: invoice.clientInvoiceId,
    invoiceRows:
      invoice.rows === undefined ? undefined : { invoiceRow: invoice.rows.map(invoiceRowWire) },
    totalAmount: amountWire(invoice.totalAmount),
    cashierId: invoice.cashierId,
    footer: invoice.footer,
    backURL: invoice.backURL,
    notificationUrl: invoice.notificationUrl,
    commitReservationTimeout: invoice.commitReservationTimeout,
  });
}

export function tokensWire(tokens: readonly SeqrCustomerToken[]): WireObject[] {
  return tokens.map((t) =>
    compact({ description: t.description, id: t.id, status: t.status, value: t.value }),
  );
}

/** `parameters` (parameterMap -> parameter -> entry*) of markTransactionPeriod/executeReport. */
export function parametersWire(parameters: Readonly<Record<string, string>>): WireObject {
  return {
    parameter: { entry: Object.entries(parameters).map(([key, value]) => ({ key, value })) },
  };
}

// ---- answers ---------------------------------------------------------------------------------

type Bag = Record<string, unknown>;

function isBag(value: unknown): value is Bag {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  return undefined;
}

function optional<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return (value === undefined ? {} : { [key]: value }) as Partial<Record<K, V>>;
}

function malformed(operation: SeqrOperation, what: string, httpStatus?: number): SeqrCallError {
  return new SeqrCallError(
    'E_SEQR_MALFORMED',
    operation,
    what,
    httpStatus === undefined ? {} : { httpStatus },
  );
}

/**
 * The `return` element of a parsed answer, after checking its resultCode: rejects with
 * E_SEQR_MALFORMED when either is missing, with a {@link SeqrResultError} when the code is not 0.
 * `httpStatus` (the answer's, when known) goes onto either error.
 */
export function readReturn(
  operation: SeqrOperation,
  parsed: unknown,
  redact: (text: string) => string,
  httpStatus?: number,
): Bag {
  const ret = isBag(parsed) ? parsed['return'] : undefined;
  if (!isBag(ret))
    throw malformed(operation, `the answer has no ${operation}Response/return`, httpStatus);
  const code = ret['resultCode'];
  if (typeof code !== 'number' || !Number.isInteger(code))
    throw malformed(operation, 'the answer has no integer resultCode', httpStatus);
  if (code !== 0) {
    const description = str(ret['resultDescription']);
    throw new SeqrResultError(
      operation,
      code,
      description === undefined ? undefined : redact(description),
      httpStatus === undefined ? {} : { httpStatus },
    );
  }
  return ret;
}

/** A required non-empty text member of an answer (that came with `httpStatus`, when known). */
export function requiredText(
  operation: SeqrOperation,
  ret: Bag,
  member: string,
  httpStatus?: number,
): string {
  const value = str(ret[member]);
  if (value === undefined || value.trim() === '')
    throw malformed(operation, `the answer has no ${member}`, httpStatus);
  return value.trim();
}

function moneyOf(value: unknown): Money | undefined {
  if (!isBag(value)) return undefined;
  const currency = str(value['currency']);
  const text = str(value['value']);
  const minor = text === undefined ? undefined : parseDecimal(text);
  if (currency === undefined || minor === undefined) return undefined;
  return { minor, currency: currency.trim().toUpperCase() };
}

function receiptOf(value: unknown): SeqrReceipt | undefined {
  if (!isBag(value)) return undefined;
  const inv = value['invoice'];
  const invoice: SeqrReceiptInvoice | undefined = isBag(inv)
    ? {
        ...optional('title', str(inv['title'])),
        ...optional('clientInvoiceId', str(inv['clientInvoiceId'])),
        ...optional('totalAmount', moneyOf(inv['totalAmount'])),
        ...optional('cashierId', str(inv['cashierId'])),
      }
    : undefined;
  return {
    ...optional('terminalId', str(value['terminalId'])),
    ...optional('paymentDate', str(value['paymentDate'])),
    ...optional('clientInvoiceId', str(value['clientInvoiceId'])),
    ...optional('invoiceReference', str(value['invoiceReference'])),
    ...optional('paymentReference', str(value['paymentReference'])),
    ...optional('payerTerminalId', str(value['payerTerminalId'])),
    ...optional('receiverName', str(value['receiverName'])),
    ...optional('invoice', invoice),
  };
}

function tokensOf(value: unknown): SeqrCustomerToken[] {
  if (!isBag(value)) return [];
  const raw = value['token'];
  const list: unknown[] = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  return list.filter(isBag).map((t) => ({
    ...optional('description', str(t['description'])),
    ...optional('id', str(t['id'])),
    status: typeof t['status'] === 'number' ? t['status'] : 0,
    ...optional('value', str(t['value'])),
  }));
}

/** The typed content of a successful getPaymentStatus `return` (that came with `httpStatus`). */
export function paymentStatusOf(ret: Bag, httpStatus?: number): SeqrPaymentStatus {
  const status = str(ret['status'])?.trim();
  if (status === undefined || !INVOICE_STATUSES.has(status))
    throw malformed(
      'getPaymentStatus',
      `unknown invoice status ${JSON.stringify(status ?? null)}`,
      httpStatus,
    );
  const version = ret['version'];
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 0)
    throw malformed('getPaymentStatus', 'the answer has no integer version', httpStatus);
  const ersReference = str(ret['ersReference'])?.trim();
  return {
    status: status as InvoiceStatus,
    version,
    ...optional('ersReference', ersReference === '' ? undefined : ersReference),
    ...optional('receipt', receiptOf(ret['receipt'])),
    customerTokens: tokensOf(ret['customerTokens']),
  };
}

export function reportOf(ret: Bag, httpStatus?: number): SeqrReport {
  const report = ret['report'];
  if (!isBag(report)) throw malformed('executeReport', 'the answer has no report', httpStatus);
  return {
    ...optional('title', str(report['title'])),
    ...optional('mimeType', str(report['mimeType'])),
    ...optional('content', str(report['content'])),
    ...optional('contentString', str(report['contentString'])),
  };
}
