// Every fault the simulator can inject, every deadline case, and no secret in any error.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Fault, SeqrSimulator } from '../../simulator/index.js';
import { MAX_DETAIL_CHARS, SeqrCallError, SeqrResultError } from '../../daemon/seqr/call-errors.js';
import type { SeqrClient } from '../../daemon/seqr/client.js';
import { RESULT_NAMES } from '../../daemon/seqr/result-codes.js';
import {
  clientFor,
  closedPort,
  expectNoSecrets,
  rejectionOf,
  RESELLER_PASSWORD,
  startSim,
  TERMINAL_PASSWORD,
} from './support.js';

const SECRETS = [TERMINAL_PASSWORD, RESELLER_PASSWORD];
// Calls that must succeed or fail otherwise get a deadline no loaded machine reaches; calls that
// must time out get a short one of their own.
const DEADLINE_MS = 8000;
const SHORT_MS = 300;

let sim: SeqrSimulator;
let client: SeqrClient;

beforeEach(async () => {
  sim = await startSim();
  client = await clientFor(sim, { deadlineMs: DEADLINE_MS });
});

afterEach(async () => {
  client.close();
  await sim.close();
});

const HTML_502 =
  '<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>';
const HTML_500 = '<!DOCTYPE html><html><body><p>Internal Server Error</p></body></html>';

const poll = (deadlineMs?: number) =>
  client.getPaymentStatus('1', 0, deadlineMs === undefined ? {} : { deadlineMs });

describe('faults become typed, retryable errors', () => {
  it('a delay within the deadline still answers', async () => {
    const { invoiceReference } = await client.sendInvoice({
      totalAmount: { minor: 100, currency: 'SEK' },
    });
    sim.control.injectFault('getPaymentStatus', { kind: 'delay', ms: SHORT_MS });
    await expect(client.getPaymentStatus(invoiceReference, 0)).resolves.toMatchObject({
      status: expect.any(String) as string,
    });
  });

  it('a drip that completes within the deadline still answers', async () => {
    sim.control.injectFault('benchmarkingNop', { kind: 'drip', totalMs: 150 });
    await expect(client.benchmarkingNop({ deadlineMs: DEADLINE_MS })).resolves.toBeUndefined();
  });

  const cases: [string, Fault, Record<string, unknown>][] = [
    ['hang', { kind: 'hang' }, { code: 'E_SEQR_TIMEOUT' }],
    ['a delay past the deadline', { kind: 'delay', ms: 2000 }, { code: 'E_SEQR_TIMEOUT' }],
    // Bytes keep arriving, so an idle timeout would never fire; the hard deadline does.
    [
      'a drip slower than the deadline',
      { kind: 'drip', totalMs: 3000 },
      { code: 'E_SEQR_TIMEOUT' },
    ],
    [
      'HTTP 500 with HTML',
      { kind: 'http', status: 500, body: HTML_500 },
      { code: 'E_SEQR_HTTP', httpStatus: 500 },
    ],
    [
      'HTTP 502 with HTML',
      { kind: 'http', status: 502, body: HTML_502 },
      { code: 'E_SEQR_HTTP', httpStatus: 502 },
    ],
    [
      'HTTP 503 without body',
      { kind: 'http', status: 503 },
      { code: 'E_SEQR_HTTP', httpStatus: 503 },
    ],
    ['malformed XML', { kind: 'malformed' }, { code: 'E_SEQR_MALFORMED' }],
    [
      'a SOAP fault',
      {
        kind: 'soapFault',
        faultcode: 'soap:Server',
        faultstring: 'Fault occurred while processing.',
      },
      {
        code: 'E_SEQR_FAULT',
        faultCode: 'soap:Server',
        faultString: 'Fault occurred while processing.',
      },
    ],
    ['a reset connection', { kind: 'reset' }, { code: 'E_SEQR_UNREACHABLE' }],
  ];

  for (const [label, fault, expected] of cases) {
    it(`${label} -> ${String(expected['code'])}, without the password anywhere`, async () => {
      sim.control.injectFault('*', fault);
      const err = await rejectionOf(
        poll(expected['code'] === 'E_SEQR_TIMEOUT' ? SHORT_MS : undefined),
      );
      expect(err).toBeInstanceOf(SeqrCallError);
      expect(err).toMatchObject({ ...expected, retryable: true, operation: 'getPaymentStatus' });
      expectNoSecrets(err, SECRETS);
    });
  }

  it('a SOAP fault keeps the default fault code and string of the simulator', async () => {
    sim.control.injectFault('cancelInvoice', { kind: 'soapFault' });
    const err = await rejectionOf(client.cancelInvoice('1'));
    expect(err).toMatchObject({
      code: 'E_SEQR_FAULT',
      faultString: expect.stringMatching(/\S/) as string,
    });
    expectNoSecrets(err, SECRETS);
  });

  it('a refused connection -> E_SEQR_UNREACHABLE, without the password anywhere', async () => {
    const port = await closedPort();
    const nowhere = await clientFor(sim, { endpoint: `http://127.0.0.1:${port}/soap` });
    try {
      const err = await rejectionOf(nowhere.getPaymentStatus('1', 0));
      expect(err).toMatchObject({ code: 'E_SEQR_UNREACHABLE', retryable: true });
      expect((err.cause as { code?: string }).code).toBe('ECONNREFUSED');
      expectNoSecrets(err, SECRETS);
    } finally {
      nowhere.close();
    }
  });

  it('reseller calls keep the reseller password out of errors too', async () => {
    sim.control.injectFault('markTransactionPeriod', { kind: 'malformed' });
    const err = await rejectionOf(client.markTransactionPeriod());
    expect(err).toMatchObject({ code: 'E_SEQR_MALFORMED' });
    expectNoSecrets(err, SECRETS);
  });

  it('registerTerminal keeps the new terminal password out of errors', async () => {
    sim.control.injectFault('registerTerminal', {
      kind: 'soapFault',
      faultstring: 'no New-Pw-2718',
    });
    const err = await rejectionOf(
      client.registerTerminal({ externalTerminalId: 'x', password: 'New-Pw-2718', name: 'x' }),
    );
    expect(err).toMatchObject({ code: 'E_SEQR_FAULT', faultString: 'no ***' });
    expectNoSecrets(err, [...SECRETS, 'New-Pw-2718']);
  });

  it('the client works again once a fault is cleared, on the same client', async () => {
    sim.control.injectFault('*', { kind: 'reset' }, { times: 1 });
    await expect(client.benchmarkingNop()).rejects.toMatchObject({ code: 'E_SEQR_UNREACHABLE' });
    await expect(client.benchmarkingNop()).resolves.toBeUndefined();
    sim.control.injectFault('*', { kind: 'hang' }, { times: 1 });
    await expect(client.benchmarkingNop({ deadlineMs: SHORT_MS })).rejects.toMatchObject({
      code: 'E_SEQR_TIMEOUT',
    });
    await expect(client.benchmarkingNop()).resolves.toBeUndefined();
  });
});

describe('result codes become SeqrResultErrors', () => {
  it.each([20, 21, 29, 33, 37])('resultCode %i -> E_SEQR_AUTH', async (resultCode) => {
    sim.control.injectFault('getPaymentStatus', { kind: 'result', resultCode });
    const err = await rejectionOf(poll());
    expect(err).toBeInstanceOf(SeqrResultError);
    expect(err).toMatchObject({
      code: 'E_SEQR_AUTH',
      resultCode,
      resultName: RESULT_NAMES[resultCode],
    });
    expectNoSecrets(err, SECRETS);
  });

  it.each([2, 49, 54, 90, 93, 94, 58, 64])(
    'resultCode %i -> E_SEQR_RESULT named',
    async (resultCode) => {
      sim.control.injectFault('sendInvoice', { kind: 'result', resultCode });
      const err = await rejectionOf(
        client.sendInvoice({ totalAmount: { minor: 1, currency: 'SEK' } }),
      );
      expect(err).toMatchObject({
        code: 'E_SEQR_RESULT',
        resultCode,
        resultName: RESULT_NAMES[resultCode],
      });
      expectNoSecrets(err, SECRETS);
    },
  );

  it('an unknown resultCode -> UNKNOWN_<n>', async () => {
    sim.control.injectFault('cancelInvoice', { kind: 'result', resultCode: 77 });
    await expect(client.cancelInvoice('1')).rejects.toMatchObject({
      code: 'E_SEQR_RESULT',
      resultCode: 77,
      resultName: 'UNKNOWN_77',
    });
  });
});

describe('deadlines', () => {
  it('uses the client default deadline when the call names none', async () => {
    const hasty = await clientFor(sim, { deadlineMs: SHORT_MS });
    try {
      sim.control.injectFault('*', { kind: 'delay', ms: 3000 });
      const err = await rejectionOf(hasty.benchmarkingNop());
      expect(err).toMatchObject({ code: 'E_SEQR_TIMEOUT' });
      expect(err.message).toContain(`${SHORT_MS} ms`);
    } finally {
      hasty.close();
    }
  });

  it('a longer per-call deadline lets a slow answer through', async () => {
    const hasty = await clientFor(sim, { deadlineMs: SHORT_MS });
    try {
      sim.control.injectFault('*', { kind: 'delay', ms: SHORT_MS + 200 });
      await expect(hasty.benchmarkingNop({ deadlineMs: DEADLINE_MS })).resolves.toBeUndefined();
    } finally {
      hasty.close();
    }
  });

  it('a shorter per-call deadline cuts a call the default would allow', async () => {
    sim.control.injectFault('*', { kind: 'delay', ms: 1500 }, { times: 1 });
    await expect(client.benchmarkingNop({ deadlineMs: SHORT_MS })).rejects.toMatchObject({
      code: 'E_SEQR_TIMEOUT',
    });
    await expect(client.benchmarkingNop()).resolves.toBeUndefined();
  });

  it('the deadline covers a drip with any per-call deadline, and names it in the message', async () => {
    sim.control.injectFault('*', { kind: 'drip', totalMs: 5000 });
    const err = await rejectionOf(client.benchmarkingNop({ deadlineMs: 250 }));
    expect(err).toMatchObject({ code: 'E_SEQR_TIMEOUT' });
    expect(err.message).toContain('250 ms');
  });
});

describe('failure details for the journal: operation, HTTP status, fault string, result name', () => {
  const details = (err: Error) => {
    const e = err as Error & Record<string, unknown>;
    return {
      operation: e['operation'],
      httpStatus: e['httpStatus'],
      faultString: e['faultString'],
      resultName: e['resultName'],
    };
  };

  it('a resultCode: the result name and the status of the answer it came in', async () => {
    sim.control.injectFault('cancelInvoice', { kind: 'result', resultCode: 93 });
    expect(details(await rejectionOf(client.cancelInvoice('1')))).toEqual({
      operation: 'cancelInvoice',
      httpStatus: 200,
      faultString: undefined,
      resultName: 'SYSTEM_BUSY',
    });
  });

  it('a SOAP fault: its fault string and HTTP 500, no result name', async () => {
    sim.control.injectFault('refundPayment', {
      kind: 'soapFault',
      faultstring: 'Unmarshalling Error',
    });
    const err = await rejectionOf(
      client.refundPayment('1', { totalAmount: { minor: 100, currency: 'SEK' } }),
    );
    expect(details(err)).toEqual({
      operation: 'refundPayment',
      httpStatus: 500,
      faultString: 'Unmarshalling Error',
      resultName: undefined,
    });
  });

  it('an HTTP error, a garbled answer, a reset and a hang: the status when there was one', async () => {
    sim.control.injectFault('sendInvoice', { kind: 'http', status: 503 }, { times: 1 });
    sim.control.injectFault('sendInvoice', { kind: 'malformed' }, { times: 1 });
    sim.control.injectFault('sendInvoice', { kind: 'reset' }, { times: 1 });
    sim.control.injectFault('sendInvoice', { kind: 'hang' }, { times: 1 });
    const send = () =>
      client.sendInvoice({ totalAmount: { minor: 100, currency: 'SEK' } }, [], {
        deadlineMs: 1_000,
      });
    const seen = [];
    for (let i = 0; i < 4; i++) {
      const err = await rejectionOf(send());
      seen.push({ code: (err as Error & { code?: unknown }).code, ...details(err) });
    }
    const none = { operation: 'sendInvoice', faultString: undefined, resultName: undefined };
    expect(seen).toEqual([
      { code: 'E_SEQR_HTTP', ...none, httpStatus: 503 },
      { code: 'E_SEQR_MALFORMED', ...none, httpStatus: 200 },
      { code: 'E_SEQR_UNREACHABLE', ...none, httpStatus: undefined },
      { code: 'E_SEQR_TIMEOUT', ...none, httpStatus: undefined },
    ]);
  });

  it('a slow answer whose head came in time keeps that status when the deadline cuts it', async () => {
    sim.control.injectFault('getPaymentStatus', { kind: 'drip', totalMs: 4_000 });
    const err = await rejectionOf(poll(SHORT_MS));
    expect(err).toMatchObject({ code: 'E_SEQR_TIMEOUT', httpStatus: 200 });
  });

  it('a long fault string is cut to a bounded length, and a password in it is redacted first', async () => {
    const faultstring = `${'x'.repeat(150)} password was ${TERMINAL_PASSWORD} ${'y'.repeat(400)}`;
    sim.control.injectFault('getPaymentStatus', { kind: 'soapFault', faultstring });
    const err = await rejectionOf(poll());
    const { faultString } = details(err);
    expect(typeof faultString).toBe('string');
    expect(String(faultString).length).toBeLessThanOrEqual(MAX_DETAIL_CHARS);
    expect(faultString).toBe(`${'x'.repeat(150)} password was *** ${'y'.repeat(31)}…`);
    expect(err.message.length).toBeLessThan(2 * MAX_DETAIL_CHARS + 100);
    expectNoSecrets(err, SECRETS);
  });

  it('a password across the bound cannot leak its first half', async () => {
    // Redaction runs before the cut: a cut first would keep the password's first 9 characters.
    const faultstring = `${'x'.repeat(190)}${TERMINAL_PASSWORD}${'y'.repeat(50)}`;
    sim.control.injectFault('getPaymentStatus', { kind: 'soapFault', faultstring });
    const { faultString } = details(await rejectionOf(poll()));
    expect(faultString).toBe(`${'x'.repeat(190)}***${'y'.repeat(6)}…`);
    expect(faultString).not.toContain(TERMINAL_PASSWORD.slice(0, 5));
  });
});
