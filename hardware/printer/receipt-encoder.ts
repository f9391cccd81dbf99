import { CharacterSet, PrinterTypes, ThermalPrinter } from 'node-thermal-printer';
import QRCode from 'qrcode';
import type { Money } from '../../daemon/ports/money.js';
import type { Receipt } from '../../daemon/ports/printer.js';

/** How receipts are laid out for the installed printer. */
export interface ReceiptLayout {
  /** Paper width: 58 mm = 32 columns / 384 dots, 80 mm = 48 columns / 576 dots. Default 80. */
  readonly paperMm?: 58 | 80;
  /**
   * Code page that prints å ä ö and the euro sign: `PC858_EURO` (default, Epson and most clones)
   * or `WPC1252`.
   */
  readonly characterSet?: 'PC858_EURO' | 'WPC1252';
  /**
   * `raster` (default) prints the QR as an image every ESC/POS printer understands; `native`
   * sends GS ( k, which many cheap 58 mm clones ignore or print as text.
   */
  readonly qrMode?: 'native' | 'raster';
  /** Receipt labels; English by default. */
  readonly labels?: Partial<ReceiptLabels>;
}

export interface ReceiptLabels {
  readonly terminal: string;
  readonly date: string;
  readonly total: string;
  readonly vat: string;
  readonly invoice: string;
  readonly reference: string;
  readonly paidWith: string;
}

/** The receipt labels per display locale (`layout.labels`). */
export const RECEIPT_LABELS: Readonly<Record<'en' | 'sv', ReceiptLabels>> = {
  en: {
    terminal: 'Terminal',
    date: 'Date',
    total: 'Total',
    vat: 'VAT',
    invoice: 'Invoice',
    reference: 'Reference',
    paidWith: 'SEQR payment',
  },
  sv: {
    terminal: 'Terminal',
    date: 'Datum',
    total: 'Totalt',
    vat: 'Moms',
    invoice: 'Faktura',
    reference: 'Referens',
    paidWith: 'SEQR-betalning',
  },
};

const DEFAULT_LABELS = RECEIPT_LABELS.en;

const SYMBOLS: Readonly<Record<string, string>> = { EUR: '€', SEK: 'kr', NOK: 'kr', DKK: 'kr' };

/** `{ minor: 2550, currency: 'SEK' }` -> `25,50 kr`; EUR -> `25,50 €`. */
export function formatAmount(money: Money): string {
  const whole = Math.trunc(money.minor / 100);
  const frac = String(money.minor % 100).padStart(2, '0');
  return `${whole},${frac} ${SYMBOLS[money.currency] ?? money.currency}`;
}

/** `2026-11-22T09:14:05` (+ optional zone) -> `2026-11-22 09:14`, as the payment's local time. */
/** `2026-11-22T09:14:05...` -> `2026-11-22 09:14` (other text unchanged). */
export function formatDate(iso: string): string {
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(iso);
  return match?.[1] && match[2] ? `${match[1]} ${match[2]}` : iso;
}

/** Printable dots per paper width (203 dpi heads). */
export function dotsFor(paperMm: 58 | 80): number {
  return paperMm === 58 ? 384 : 576;
}

/** Columns per paper width in font A. */
export function columnsFor(paperMm: 58 | 80): number {
  return paperMm === 58 ? 32 : 48;
}

/** A driver object node-thermal-printer accepts; it is never executed (we only build bytes). */
const NO_INTERFACE = {
  execute: () => Promise.reject(new Error('the receipt encoder never sends')),
  isPrinterConnected: () => Promise.resolve(false),
};

/**
 * Receipt -> ESC/POS bytes. node-thermal-printer builds the commands; a fresh builder per job,
 * so no buffer ever carries one receipt into the next (its `execute()` does not clear).
 * Pure apart from the QR rendering; the transports only move the bytes.
 */
export async function encodeReceipt(receipt: Receipt, layout: ReceiptLayout = {}): Promise<Buffer> {
  const paperMm = layout.paperMm ?? 80;
  const labels = { ...DEFAULT_LABELS, ...layout.labels };
  const p = new ThermalPrinter({
    type: PrinterTypes.EPSON,
    interface: NO_INTERFACE as unknown as string,
    characterSet:
      layout.characterSet === 'WPC1252' ? CharacterSet.WPC1252 : CharacterSet.PC858_EURO,
    width: columnsFor(paperMm),
    removeSpecialCharacters: false,
  });
  p.clear();
  // ESC @ resets the code page, so select it again after the reset.
  p.append(Buffer.from([0x1b, 0x40]));
  p.setCharacterSet(
    layout.characterSet === 'WPC1252' ? CharacterSet.WPC1252 : CharacterSet.PC858_EURO,
  );

  p.alignCenter();
  p.bold(true);
  p.setTextDoubleHeight();
  p.println(receipt.merchantName);
  p.setTextNormal();
  p.bold(false);
  for (const line of receipt.merchantAddress ?? []) p.println(line);
  p.drawLine();

  p.alignLeft();
  p.leftRight(labels.terminal, receipt.terminalId);
  p.leftRight(labels.date, formatDate(receipt.date));
  p.drawLine();
  const amount = formatAmount(receipt.amount);
  if (receipt.productName.length + amount.length + 1 <= columnsFor(paperMm))
    p.leftRight(receipt.productName, amount);
  else {
    p.println(receipt.productName);
    p.alignRight();
    p.println(amount);
    p.alignLeft();
  }
  p.bold(true);
  p.leftRight(labels.total, amount);
  p.bold(false);
  if (receipt.vat)
    p.leftRight(`${labels.vat} ${receipt.vat.ratePercent}%`, formatAmount(receipt.vat.amount));
  p.drawLine();
  p.println(`${labels.invoice}: ${receipt.invoiceReference}`);
  p.println(`${labels.reference}: ${receipt.ersReference}`);
  p.newLine();
  p.alignCenter();
  p.bold(true);
  p.println(labels.paidWith);
  p.bold(false);

  if (receipt.qrPayload !== undefined) {
    p.newLine();
    if (layout.qrMode === 'native')
      p.printQR(receipt.qrPayload, { cellSize: 6, correction: 'M', model: 2 });
    else await p.printImageBuffer(await rasterQr(receipt.qrPayload, dotsFor(paperMm)));
    p.newLine();
  }
  p.alignLeft();
  p.cut();
  return Buffer.from(p.getBuffer());
}

/** A QR as a PNG at an integer module scale, at most half the printable width, 4-module quiet zone. */
async function rasterQr(payload: string, dots: number): Promise<Buffer> {
  const modules = QRCode.create(payload, { errorCorrectionLevel: 'M' }).modules.size + 8;
  const scale = Math.max(2, Math.floor(dots / 2 / modules));
  return QRCode.toBuffer(payload, { type: 'png', errorCorrectionLevel: 'M', margin: 4, scale });
}
