// Every fault the simulator can inject, every deadline case, and no secret in any error.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Fault, SeqrSimulator } from '../../simulator/index.js';
import { SeqrCallError, SeqrResultError } from '../../daemon/seqr/call-errors.js';
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
