import type { ProductView, Screen } from '../ports/display.js';
import { toDecimalString, type Money } from '../ports/money.js';
import type { InvoiceRequest, ReceiptDocument } from '../ports/payment-gateway.js';
import type { Receipt } from '../ports/printer.js';
import type { CoreConfig, ProductConfig } from './config.js';
import type { Paid, Purchase } from './types.js';

/** How a configured product appears on screen. */
export function productView(product: ProductConfig, soldOut: readonly number[]): ProductView {
  return {
    slot: product.slot,
    buttonLabel: product.buttonLabel,
    name: product.name,
    price: product.price,
    soldOut: soldOut.includes(product.slot),
    ...(product.enabled === false ? { unavailable: true } : {}),
  };
}

/** Whether a product button starts a purchase: listed, on sale and not sold out. */
export function onSale(product: ProductConfig | undefined, soldOut: readonly number[]): boolean {
  return product !== undefined && product.enabled !== false && !soldOut.includes(product.slot);
}

/** The products; in UPS mode beside the static "pay first, then choose" code. */
export function idleScreen(
  config: CoreConfig,
  products: readonly ProductConfig[],
  soldOut: readonly number[],
): Screen {
  const views = products.map((p) => productView(p, soldOut));
  if (config.ups)
    return {
      kind: 'upsIdle',
      machineName: config.machineName,
      products: views,
      qrPayload: config.ups.code,
    };
  return { kind: 'idle', machineName: config.machineName, products: views };
}

/** The sendInvoice request for a purchase: one row, quantity one, the transaction id as ours. */
export function invoiceRequest(config: CoreConfig, purchase: Purchase): InvoiceRequest {
  const { product } = purchase;
  return {
    ...(config.notificationUrl === undefined ? {} : { notificationUrl: config.notificationUrl }),
    clientInvoiceId: purchase.txId,
    title: config.merchant.name,
    itemDescription: product.name,
    price: product.price,
    cashierId: config.machineName,
    ...(product.taxRatePercent === undefined ? {} : { taxRatePercent: product.taxRatePercent }),
    ...(config.merchant.invoiceFooter === undefined
      ? {}
      : { footer: config.merchant.invoiceFooter }),
  };
}

/** The VAT included in a gross amount, rounded to the minor unit. */
export function includedVat(gross: Money, ratePercent: number): Money {
  return {
    minor: Math.round((gross.minor * ratePercent) / (100 + ratePercent)),
    currency: gross.currency,
  };
}

export function receipt(
  config: CoreConfig,
  purchase: Purchase,
  invoiceReference: string,
  paid: Paid,
): Receipt {
  const { product } = purchase;
  return {
    merchantName: config.merchant.name,
    ...(config.merchant.address === undefined ? {} : { merchantAddress: config.merchant.address }),
    terminalId: config.merchant.terminalId,
    date: paid.paidAt,
    productName: product.name,
    amount: product.price,
    ...(product.taxRatePercent === undefined
      ? {}
      : {
          vat: {
            ratePercent: product.taxRatePercent,
            amount: includedVat(product.price, product.taxRatePercent),
          },
        }),
    invoiceReference,
    ersReference: paid.ersReference,
  };
}

/** The merchant's copy uploaded with submitPaymentReceipt: the receipt as plain text. */
export function receiptDocument(r: Receipt): ReceiptDocument {
  const lines = [
    r.merchantName,
    ...(r.merchantAddress ?? []),
    `Terminal ${r.terminalId}`,
    r.date,
    `${r.productName} ${toDecimalString(r.amount)} ${r.amount.currency}`,
    ...(r.vat
      ? [`VAT ${r.vat.ratePercent}% ${toDecimalString(r.vat.amount)} ${r.vat.amount.currency}`]
      : []),
    `Invoice ${r.invoiceReference}`,
    `Payment ${r.ersReference}`,
    'SEQR payment',
  ];
  return { mimeType: 'text/plain', text: lines.join('\n'), receiptType: 'PAYMENT_RECEIPT' };
}

/** The short reference the customer can quote: the last 6 digits of the payment reference. */
export function shortPaymentRef(ersReference: string): string {
  return ersReference.slice(-6);
}

/**
 * Epoch milliseconds as an ISO 8601 UTC string, without `Date` (the core reads no clock and the
 * lint forbids the global). Days-to-civil conversion after H. Hinnant's `civil_from_days`.
 */
export function isoFromEpochMs(ms: number): string {
  const days = Math.floor(ms / 86_400_000);
  const msOfDay = ms - days * 86_400_000;
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const pad = (n: number, width = 2): string => String(n).padStart(width, '0');
  const h = Math.floor(msOfDay / 3_600_000);
  const m = Math.floor((msOfDay % 3_600_000) / 60_000);
  const s = Math.floor((msOfDay % 60_000) / 1000);
  return `${pad(year, 4)}-${pad(month)}-${pad(day)}T${pad(h)}:${pad(m)}:${pad(s)}.${pad(msOfDay % 1000, 3)}Z`;
}

/**
 * An ISO 8601 date-time (`2016-03-01T12:00:12.345+01:00`, `...Z`; no zone is read as UTC) as
 * epoch milliseconds, without `Date`; undefined when `text` is not one. The inverse of
 * {@link isoFromEpochMs}, after H. Hinnant's `days_from_civil`.
 */
export function epochMsFromIso(text: string): number | undefined {
  const m =
    /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$/.exec(
      text.trim(),
    );
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i]));
  if (
    year === undefined ||
    month === undefined ||
    day === undefined ||
    hour === undefined ||
    minute === undefined ||
    second === undefined ||
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > 31 ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  )
    return undefined;
  const millis = Number((m[7] ?? '').padEnd(3, '0').slice(0, 3));
  const zone = m[8] ?? 'Z';
  const offsetMinutes =
    zone === 'Z'
      ? 0
      : (zone.startsWith('-') ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(-2)));
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  const days = era * 146_097 + doe - 719_468;
  return (
    days * 86_400_000 +
    hour * 3_600_000 +
    minute * 60_000 +
    second * 1000 +
    millis -
    offsetMinutes * 60_000
  );
}
