import type { Receipt } from '../ports/printer.js';
import {
  RECEIPT_LABELS,
  columnsFor,
  formatAmount,
  formatDate,
} from '../../hardware/printer/receipt-encoder.js';

/** Hard-wraps `text` at `width` columns. */
function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  for (let rest = text; ; rest = rest.slice(width)) {
    out.push(rest.slice(0, width));
    if (rest.length <= width) return out;
  }
}

function centre(text: string, width: number): string[] {
  return wrap(text, width).map((line) => {
    const pad = Math.floor((width - line.length) / 2);
    return `${' '.repeat(pad)}${line}`.trimEnd();
  });
}

/** `left ... right` on one line, or `left` then `right` flush right when they do not fit. */
function leftRight(left: string, right: string, width: number): string[] {
  if (left.length + right.length + 1 <= width)
    return [`${left}${' '.repeat(width - left.length - right.length)}${right}`];
  return [...wrap(left, width), ...wrap(right, width).map((line) => line.padStart(width))];
}

/**
 * A receipt as the 58 mm slip shows it (32 columns of font A): the same content and order as the
 * ESC/POS encoder prints (merchant, terminal, date, product, total, VAT, references, "SEQR
 * payment"), as plain lines for the virtual kiosk. Date `2026-11-22T09:14:05` prints as
 * `2026-11-22 09:14`.
 */
export function receiptText(receipt: Receipt, locale: 'en' | 'sv' = 'en'): string {
  const width = columnsFor(58);
  const labels = RECEIPT_LABELS[locale];
  const rule = '-'.repeat(width);
  const amount = formatAmount(receipt.amount);
  const lines = [
    ...centre(receipt.merchantName.toUpperCase(), width),
    ...(receipt.merchantAddress ?? []).flatMap((line) => centre(line, width)),
    rule,
    ...leftRight(labels.terminal, receipt.terminalId, width),
    ...leftRight(labels.date, formatDate(receipt.date), width),
    rule,
    ...leftRight(receipt.productName, amount, width),
    ...leftRight(labels.total, amount, width),
    ...(receipt.vat
      ? leftRight(
          `${labels.vat} ${receipt.vat.ratePercent}%`,
          formatAmount(receipt.vat.amount),
          width,
        )
      : []),
    rule,
    ...leftRight(`${labels.invoice}:`, receipt.invoiceReference, width),
    ...leftRight(`${labels.reference}:`, receipt.ersReference, width),
    '',
    ...centre(labels.paidWith, width),
    ...(receipt.qrPayload === undefined ? [] : ['', ...centre(`[QR] ${receipt.qrPayload}`, width)]),
  ];
  return `${lines.join('\n')}\n`;
}
