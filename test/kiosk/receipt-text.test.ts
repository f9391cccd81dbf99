import { describe, expect, it } from 'vitest';
import { receiptText } from '../../daemon/kiosk/receipt-text.js';
import type { Receipt } from '../../daemon/ports/printer.js';

const receipt: Receipt = {
  merchantName: 'Corner Cafe',
  merchantAddress: ['Storgatan 1', '111 22 Stockholm'],
  terminalId: '87e791f9e24148a6892c52aa85bb0331',
  date: '2026-11-22T09:14:05+01:00',
  productName: 'Cola',
  amount: { minor: 2500, currency: 'SEK' },
  vat: { ratePercent: 12, amount: { minor: 268, currency: 'SEK' } },
  invoiceReference: '20261122123456789',
  ersReference: '2026112209140500101000001',
};

describe('receiptText (the kiosk paper slip)', () => {
  it('lays the receipt out on 32 columns, as a 58 mm printer does, with every field in the encoder order', () => {
    const text = receiptText(receipt);
    const lines = text.trimEnd().split('\n');
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(32);
    expect(lines).toEqual([
      '          CORNER CAFE',
      '          Storgatan 1',
      '        111 22 Stockholm',
      '-'.repeat(32),
      'Terminal',
      '87e791f9e24148a6892c52aa85bb0331',
      'Date            2026-11-22 09:14',
      '-'.repeat(32),
      'Cola                    25,00 kr',
      'Total                   25,00 kr',
      'VAT 12%                  2,68 kr',
      '-'.repeat(32),
      'Invoice:       20261122123456789',
      'Reference:',
      '       2026112209140500101000001',
      '',
      '          SEQR payment',
    ]);
  });

  it('wraps a long product name, prints Swedish labels and the QR payload', () => {
    const text = receiptText(
      {
        ...receipt,
        productName: 'Extra large chocolate chip cookie with sea salt',
        qrPayload: 'HTTP://SEQR.SE/R20261122123456789',
      },
      'sv',
    );
    const lines = text.trimEnd().split('\n');
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(32);
    expect(lines).toContain('Extra large chocolate chip cooki');
    expect(lines).toContain('                        25,00 kr');
    expect(lines).toContain('Moms 12%                 2,68 kr');
    expect(lines).toContain('Referens:');
    expect(lines).toContain('         SEQR-betalning');
    expect(text.replace(/\s+/g, '')).toContain('[QR]HTTP://SEQR.SE/R20261122123456789');
  });
});
