import type { Receipt } from '../../daemon/ports/printer.js';

function text(value: unknown, field: string): void {
  if (typeof value !== 'string' || value.trim() === '')
    throw new TypeError(`"${field}" must be a non-empty string: ${String(value)}`);
}

function money(value: unknown, field: string): void {
  const m = value as { minor?: unknown; currency?: unknown } | undefined;
  if (typeof m?.minor !== 'number' || !Number.isSafeInteger(m.minor) || m.minor < 0)
    throw new TypeError(`"${field}.minor" must be an integer >= 0: ${String(m?.minor)}`);
  if (typeof m.currency !== 'string' || !/^[A-Z]{3}$/.test(m.currency))
    throw new TypeError(`"${field}.currency" must be an ISO 4217 code: ${String(m.currency)}`);
}

/** Throws a TypeError naming the field when `receipt` cannot be printed. Shared by every Printer. */
export function checkReceipt(receipt: Receipt): void {
  text(receipt.merchantName, 'merchantName');
  text(receipt.terminalId, 'terminalId');
  text(receipt.date, 'date');
  if (Number.isNaN(Date.parse(receipt.date)))
    throw new TypeError(`"date" must be an ISO 8601 date and time: ${receipt.date}`);
  text(receipt.productName, 'productName');
  money(receipt.amount, 'amount');
  if (receipt.vat) {
    money(receipt.vat.amount, 'vat.amount');
    const rate = receipt.vat.ratePercent;
    if (typeof rate !== 'number' || !(rate >= 0 && rate <= 100))
      throw new TypeError(`"vat.ratePercent" must be within 0..100: ${String(rate)}`);
  }
  text(receipt.invoiceReference, 'invoiceReference');
  text(receipt.ersReference, 'ersReference');
  receipt.merchantAddress?.forEach((line, i) => {
    if (typeof line !== 'string') throw new TypeError(`"merchantAddress[${i}]" must be a string`);
  });
  if (receipt.qrPayload !== undefined) text(receipt.qrPayload, 'qrPayload');
}
