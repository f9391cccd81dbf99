import { describe, expect, it } from 'vitest';
import {
  RECEIPT_LABELS,
  encodeReceipt,
  formatAmount,
} from '../../hardware/printer/receipt-encoder.js';
import { decodeEscPos, readRasterQr } from './support/escpos-decoder.js';
import { RECEIPT } from './receipt.js';

const texts = (lines: { text: string }[]): string[] => lines.map((l) => l.text.trimEnd());

describe('receipt encoder', () => {
  it('lays out merchant, terminal, date, product, amount, VAT, references and "SEQR payment"', async () => {
    const job = decodeEscPos(await encodeReceipt(RECEIPT, { paperMm: 80 }));
    const t = texts(job.lines);
    expect(job.lines[0]).toMatchObject({ text: 'Kaffebaren Åhléns', align: 'center', bold: true });
    expect(t).toContain('211 34 Malmö');
    expect(t.some((l) => l.startsWith('Terminal') && l.endsWith('VEND-07'))).toBe(true);
    expect(t.some((l) => l.startsWith('Date') && l.endsWith('2026-11-22 09:14'))).toBe(true);
    expect(t.some((l) => l.startsWith('Cola Zero 33 cl') && l.endsWith('25,00 €'))).toBe(true);
    expect(t.some((l) => l.startsWith('VAT 12%') && l.endsWith('2,68 €'))).toBe(true);
    expect(t).toContain('Invoice: 12345678901234567');
    expect(t).toContain('Reference: 987654321');
    expect(job.lines.find((l) => l.text === 'SEQR payment')).toMatchObject({
      align: 'center',
      bold: true,
    });
    expect(job.cuts).toBe(1);
    expect(job.lines.every((l) => l.text.trimEnd().length <= 48)).toBe(true);
  });

  it('prints the Swedish labels of a Swedish machine', async () => {
    const job = decodeEscPos(await encodeReceipt(RECEIPT, { labels: RECEIPT_LABELS.sv }));
    const t = texts(job.lines);
    expect(t.some((l) => l.startsWith('Datum') && l.endsWith('2026-11-22 09:14'))).toBe(true);
    expect(t.some((l) => l.startsWith('Moms 12%'))).toBe(true);
    expect(t).toContain('Faktura: 12345678901234567');
    expect(t).toContain('SEQR-betalning');
  });

  it('selects PC858 by default and prints å ä ö and € from it; WPC1252 on request', async () => {
    const pc858 = decodeEscPos(await encodeReceipt(RECEIPT));
    expect(pc858.codePages.at(-1)).toBe(19);
    const w = decodeEscPos(await encodeReceipt(RECEIPT, { characterSet: 'WPC1252' }));
    expect(w.codePages.at(-1)).toBe(16);
    expect(texts(w.lines)).toContain('211 34 Malmö');
    expect(texts(w.lines).some((l) => l.endsWith('25,00 €'))).toBe(true);
  });

  it('fits 58 mm paper in 32 columns', async () => {
    const job = decodeEscPos(await encodeReceipt(RECEIPT, { paperMm: 58 }));
    expect(job.lines.every((l) => l.text.trimEnd().length <= 32)).toBe(true);
    expect(job.rasters[0]!.widthDots).toBeLessThanOrEqual(384);
  });

  it('prints the QR as a raster by default that decodes back to the payload', async () => {
    const job = decodeEscPos(await encodeReceipt(RECEIPT));
    expect(job.qrPayloads).toEqual([]);
    expect(job.rasters).toHaveLength(1);
    expect(readRasterQr(job.rasters[0]!)).toBe(RECEIPT.qrPayload);
  });

  it('prints the QR natively (GS ( k) in native mode', async () => {
    const job = decodeEscPos(await encodeReceipt(RECEIPT, { qrMode: 'native' }));
    expect(job.qrPayloads).toEqual([RECEIPT.qrPayload]);
    expect(job.rasters).toEqual([]);
  });

  it('omits VAT and QR when the receipt has none; each job is self-contained', async () => {
    const plain = { ...RECEIPT };
    delete (plain as { vat?: unknown }).vat;
    delete (plain as { qrPayload?: unknown }).qrPayload;
    const a = await encodeReceipt(plain);
    const b = await encodeReceipt(plain);
    expect(a.equals(b)).toBe(true);
    const job = decodeEscPos(a);
    expect(job.rasters).toEqual([]);
    expect(texts(job.lines).some((l) => l.startsWith('VAT'))).toBe(false);
  });

  it('formats amounts with a decimal comma and the currency', () => {
    expect(formatAmount({ minor: 5, currency: 'SEK' })).toBe('0,05 kr');
    expect(formatAmount({ minor: 123456, currency: 'USD' })).toBe('1234,56 USD');
  });
});
