import type { Receipt } from '../../daemon/ports/printer.js';

export const RECEIPT: Receipt = {
  merchantName: 'Kaffebaren Åhléns',
  merchantAddress: ['Storgatan 1', '211 34 Malmö'],
  terminalId: 'VEND-07',
  date: '2026-11-22T09:14:05',
  productName: 'Cola Zero 33 cl',
  amount: { minor: 2500, currency: 'EUR' },
  vat: { ratePercent: 12, amount: { minor: 268, currency: 'EUR' } },
  invoiceReference: '12345678901234567',
  ersReference: '987654321',
  qrPayload: 'HTTP://SEQR.SE/R12345678901234567',
};
