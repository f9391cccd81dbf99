import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  classifyFailure,
  ExchangeError,
  redactor,
  SeqrResultError,
} from '../../daemon/seqr/call-errors.js';
import { HttpStatusError } from '../../daemon/seqr/sockets.js';
import {
  amountWire,
  contextWire,
  invoiceWire,
  parametersWire,
  paymentStatusOf,
  readReturn,
} from '../../daemon/seqr/wire.js';

const noRedact = (s: string) => s;

describe('request objects (keys in xs:sequence order)', () => {
  it('builds a terminal context in clientContext order with clientRequestTimeout 0', () => {
    const ctx = contextWire({
      channel: 'WS',
      clientId: 'seqr-vend/1.0.0',
      clientReference: 'r1',
      principal: { type: 'TERMINALID', id: 't1' },
      password: 'pw',
    });
    expect(Object.keys(ctx)).toEqual([
      'channel',
      'clientId',
      'clientReference',
      'clientRequestTimeout',
      'initiatorPrincipalId',
      'password',
    ]);
    expect(ctx['clientRequestTimeout']).toBe(0);
    expect(ctx['initiatorPrincipalId']).toEqual({ id: 't1', type: 'TERMINALID' });
  });

  it('adds userId only for a reseller user', () => {
    const ctx = contextWire({
      channel: 'WS',
      clientId: 'c',
      clientReference: 'r',
      principal: { type: 'RESELLERUSER', id: 'shop', userId: '9900' },
      password: 'pw',
    });
    expect(ctx['initiatorPrincipalId']).toEqual({
      id: 'shop',
      type: 'RESELLERUSER',
      userId: '9900',
    });
  });

  it('writes an invoice in schema order, leaving out what is not given', () => {
    const price = { minor: 2550, currency: 'SEK' };
    const inv = invoiceWire({
      commitReservationTimeout: 60,
      totalAmount: price,
      title: 'T',
      paymentMode: 'IMMEDIATE_DEBIT',
      rows: [{ itemTotalAmount: price, itemQuantity: 1, itemDescription: 'Cola', itemTaxRate: 12 }],
      cashierId: 'c',
    });
    expect(Object.keys(inv)).toEqual([
      'paymentMode',
      'title',
      'invoiceRows',
      'totalAmount',
      'cashierId',
      'commitReservationTimeout',
    ]);
    const row = (inv['invoiceRows'] as { invoiceRow: Record<string, unknown>[] }).invoiceRow[0]!;
    expect(Object.keys(row)).toEqual([
      'itemDescription',
      'itemQuantity',
      'itemTaxRate',
      'itemTotalAmount',
    ]);
    expect(row['itemQuantity']).toBe('1');
    expect(inv['totalAmount']).toEqual({ currency: 'SEK', value: '25.50' });
  });

  it.each([
    [0, '0.00'],
    [5, '0.05'],
    [1999, '19.99'],
    [100000, '1000.00'],
    [123456789012345, '1234567890123.45'],
  ])('renders %i minor units as %s exactly', (minor, text) => {
    expect(amountWire({ minor, currency: 'EUR' })).toEqual({ currency: 'EUR', value: text });
  });

  it('nests parameters as parameter/entry key-value pairs', () => {
    expect(parametersWire({ TERMINALID: 't', transactionPeriodId: 'p' })).toEqual({
      parameter: {
        entry: [
          { key: 'TERMINALID', value: 't' },
          { key: 'transactionPeriodId', value: 'p' },
        ],
      },
    });
  });
});

describe('answers', () => {
  it('rejects an answer without return or without resultCode as E_SEQR_MALFORMED', () => {
    expect(() => readReturn('cancelInvoice', undefined, noRedact)).toThrow(
      expect.objectContaining({ code: 'E_SEQR_MALFORMED', retryable: true }),
    );
    expect(() =>
      readReturn('cancelInvoice', { return: { resultDescription: 'x' } }, noRedact),
    ).toThrow(expect.objectContaining({ code: 'E_SEQR_MALFORMED' }));
  });

  it('turns a non-zero resultCode into a SeqrResultError with a redacted description', () => {
    let caught: unknown;
    try {
      readReturn(
        'sendInvoice',
        { return: { resultCode: 20, resultDescription: 'bad password hunter2' } },
        redactor(['hunter2']),
      );
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(SeqrResultError);
    expect(caught).toMatchObject({
      code: 'E_SEQR_AUTH',
      resultName: 'AUTHENTICATION_FAILED',
      resultDescription: 'bad password ***',
    });
  });

  it('reads a status answer, one token or many', () => {
    const one = paymentStatusOf({
      resultCode: 0,
      status: 'PENDING_ISSUER_ACKNOWLEDGE',
      version: 2,
      customerTokens: { token: { id: 'CARD', status: 0, value: '123' } },
    });
    expect(one.customerTokens).toEqual([{ id: 'CARD', status: 0, value: '123' }]);
    const many = paymentStatusOf({
      resultCode: 0,
      status: 'EXPIRED',
      version: 4,
      customerTokens: { token: [{ status: 0 }, { status: 1 }] },
    });
    expect(many).toEqual({
      status: 'EXPIRED',
      version: 4,
      customerTokens: [{ status: 0 }, { status: 1 }],
    });
  });

  it('rejects an unknown status or a missing version as E_SEQR_MALFORMED', () => {
    expect(() => paymentStatusOf({ status: 'PARTIALLY_PAID', version: 1 })).toThrow(
      expect.objectContaining({ code: 'E_SEQR_MALFORMED' }),
    );
    expect(() => paymentStatusOf({ status: 'ISSUED' })).toThrow(
      expect.objectContaining({ code: 'E_SEQR_MALFORMED' }),
    );
  });

  it('keeps receipt amounts exact and leaves out an amount it cannot read exactly', () => {
    const paid = paymentStatusOf({
      status: 'PAID',
      version: 3,
      ersReference: 'E1',
      receipt: { invoice: { totalAmount: { currency: 'sek', value: '5476.52000' } } },
    });
    expect(paid.receipt?.invoice?.totalAmount).toEqual({ minor: 547652, currency: 'SEK' });
    const odd = paymentStatusOf({
      status: 'PAID',
      version: 3,
      receipt: { invoice: { totalAmount: { currency: 'SEK', value: '1.005' } } },
    });
    expect(odd.receipt?.invoice).toEqual({});
  });
});

describe('failure classification', () => {
  const ctx = { operation: 'sendInvoice', deadlineMs: 100, timedOut: false } as const;
  const secret = 'pa$$<word>';
  const redact = redactor([secret]);
  // What the HTTP exchange rejects with below HTTP: the system error (whose text may quote
  // anything the peer sent) as its cause.
  const exchangeFailure = (cause: Record<string, unknown>) =>
    new ExchangeError(
      `failed near ${secret}`,
      Object.assign(new Error(`system: ${secret}`), { config: { data: secret } }, cause),
    );

  it.each([
    ['a refused connection', exchangeFailure({ code: 'ECONNREFUSED' }), 'E_SEQR_UNREACHABLE'],
    ['an unknown host', exchangeFailure({ code: 'ENOTFOUND' }), 'E_SEQR_UNREACHABLE'],
    [
      'a reset',
      exchangeFailure({ code: 'ECONNRESET', message: 'socket hang up' }),
      'E_SEQR_UNREACHABLE',
    ],
    [
      'a TLS failure',
      exchangeFailure({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }),
      'E_SEQR_UNREACHABLE',
    ],
    [
      'an answer that is not HTTP',
      exchangeFailure({ code: 'HPE_INVALID_CONSTANT' }),
      'E_SEQR_MALFORMED',
    ],
    [
      'an HTTP 502',
      new HttpStatusError({ status: 502, headers: {}, data: `<html>${secret}</html>` }),
      'E_SEQR_HTTP',
    ],
    [
      'a fault',
      Object.assign(new Error('soap:Client: bad'), {
        response: { status: 500, config: { data: secret } },
        root: {
          Envelope: { Body: { Fault: { faultcode: 'soap:Client', faultstring: `no ${secret}` } } },
        },
      }),
      'E_SEQR_FAULT',
    ],
    [
      'unparsable XML with status 200',
      {
        Fault: { faultstring: 'Invalid XML' },
        response: { status: 200, config: { data: secret } },
      },
      'E_SEQR_MALFORMED',
    ],
  ])('maps %s without keeping the library error', (_label, err, code) => {
    const mapped = classifyFailure(err, { ...ctx, redact })!;
    expect(mapped.code).toBe(code);
    expect(mapped.retryable).toBe(true);
    const everything = [
      String(mapped),
      mapped.message,
      JSON.stringify(mapped),
      JSON.stringify(mapped.cause),
      inspect(mapped, { depth: 10 }),
    ].join('\n');
    expect(everything).not.toContain(secret);
    expect(everything).not.toContain('pa$$&lt;word&gt;');
    expect(Object.keys(mapped.cause as object).sort()).toEqual(
      expect.arrayContaining(['message', 'name']),
    );
  });

  it('keeps the fault code and string, and the HTTP status', () => {
    const fault = classifyFailure(
      Object.assign(new Error('x'), {
        response: { status: 500 },
        root: { Envelope: { Body: { Fault: { faultcode: 'soap:Server', faultstring: 'boom' } } } },
      }),
      { ...ctx, redact },
    );
    expect(fault).toMatchObject({ faultCode: 'soap:Server', faultString: 'boom', httpStatus: 500 });
    const http = classifyFailure(new HttpStatusError({ status: 503, headers: {}, data: '' }), {
      ...ctx,
      redact,
    });
    expect(http).toMatchObject({ code: 'E_SEQR_HTTP', httpStatus: 503 });
  });

  it('reports a passed deadline as E_SEQR_TIMEOUT whatever the library said', () => {
    const mapped = classifyFailure(new ExchangeError('no complete answer within 100 ms'), {
      ...ctx,
      timedOut: true,
      redact,
    });
    expect(mapped).toMatchObject({ code: 'E_SEQR_TIMEOUT', retryable: true });
  });

  it('leaves programming errors alone', () => {
    expect(classifyFailure(new TypeError('x is undefined'), { ...ctx, redact })).toBeUndefined();
  });
});
