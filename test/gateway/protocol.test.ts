// What the gateway accepts from SEQR and how a machine's reply becomes SEQR's answer.
import { describe, expect, it } from 'vitest';
import {
  purchaseAnswerOf,
  readCreatePurchase,
  readNotification,
  seqrNotifyRequest,
  upsPurchaseRequest,
} from '../../daemon/gateway/protocol.js';

describe('createPurchase body', () => {
  it('takes both documented spellings and amounts as text or number, normalised to two decimals', () => {
    expect(
      readCreatePurchase({ token: 'vm-1', amount: '20', currency: 'SEK', msisdn: '46701234567' }),
    ).toEqual({ token: 'vm-1', amount: '20.00', currency: 'SEK' });
    expect(
      readCreatePurchase({ reservationToken: 'vm_2', reservationAmount: 7.5, currency: 'EUR' }),
    ).toEqual({ token: 'vm_2', amount: '7.50', currency: 'EUR' });
    expect(
      readCreatePurchase({ token: 'vm-1', amount: '1.00', currency: 'SEK', later: { x: 1 } }),
    ).toMatchObject({ amount: '1.00' });
  });

  it('answers DEVICE_UNAVAILABLE for a token that names no machine, SYSTEM_ERROR for the rest', () => {
    const code = (body: unknown) => {
      const r = readCreatePurchase(body);
      return 'errorCode' in r ? r.errorCode : 'accepted';
    };
    for (const token of ['', 'a/b', '+', '#', '-lead', 'x'.repeat(65), 5])
      expect(code({ token, amount: '1', currency: 'SEK' })).toBe('DEVICE_UNAVAILABLE');
    for (const body of [
      null,
      'vm-1',
      [],
      { token: 'vm-1', currency: 'SEK' },
      { token: 'vm-1', amount: '0', currency: 'SEK' },
      { token: 'vm-1', amount: '1e3', currency: 'SEK' },
      { token: 'vm-1', amount: Number.NaN, currency: 'SEK' },
      { token: 'vm-1', amount: '1000000.01', currency: 'SEK' },
      { token: 'vm-1', amount: '1', currency: 'kr' },
      { token: 'vm-1', amount: '1', currency: 'SEK', msisdn: 46701234567 },
    ])
      expect(code(body)).toBe('SYSTEM_ERROR');
    expect(code({ token: 'vm-1', amount: '1000000', currency: 'SEK' })).toBe('accepted');
  });
});

describe('notification form', () => {
  it('needs a sane invoiceReference; clientInvoiceId is optional printable text', () => {
    expect(
      readNotification(new URLSearchParams('invoiceReference=123&clientInvoiceId=a b')),
    ).toEqual({ invoiceReference: '123', clientInvoiceId: 'a b' });
    expect(readNotification(new URLSearchParams('invoiceReference=123'))).toEqual({
      invoiceReference: '123',
    });
    for (const form of [
      '',
      'invoiceReference=',
      'invoiceReference=1%0A2',
      'invoiceReference=1&clientInvoiceId=%00',
    ])
      expect(readNotification(new URLSearchParams(form))).toHaveProperty('problem');
  });
});

describe("the machine's side of the relay", () => {
  it('validates the relayed bodies strictly', () => {
    expect(
      upsPurchaseRequest.safeParse({
        v: 1,
        requestId: 'abc12345',
        amount: '20.00',
        currency: 'SEK',
      }).success,
    ).toBe(true);
    expect(
      upsPurchaseRequest.safeParse({
        v: 1,
        requestId: 'abc12345',
        amount: '20.00',
        currency: 'SEK',
        dispense: 1,
      }).success,
    ).toBe(false);
    expect(
      seqrNotifyRequest.safeParse({ v: 1, requestId: 'r1', invoiceReference: '1' }).success,
    ).toBe(true);
    expect(
      seqrNotifyRequest.safeParse({ v: 2, requestId: 'r1', invoiceReference: '1' }).success,
    ).toBe(false);
  });

  it('maps replies to SEQR answers', () => {
    expect(purchaseAnswerOf({ status: 'ok', data: { invoiceReferenceId: '42' } })).toEqual({
      invoiceReferenceId: '42',
    });
    expect(purchaseAnswerOf({ status: 'ok', data: { errorCode: 'DEVICE_IN_USE' } })).toEqual({
      errorCode: 'DEVICE_IN_USE',
    });
    expect(
      purchaseAnswerOf({ status: 'ok', data: { invoiceReferenceId: '42', extra: 1 } }),
    ).toEqual({
      errorCode: 'SYSTEM_ERROR',
    });
    expect(purchaseAnswerOf({ status: 'error', code: 'E_FLEET_BUSY', error: 'busy' })).toEqual({
      errorCode: 'DEVICE_IN_USE',
    });
    expect(purchaseAnswerOf({ status: 'error', code: 'E_UNEXPECTED', error: 'x' })).toEqual({
      errorCode: 'SYSTEM_ERROR',
    });
  });
});
