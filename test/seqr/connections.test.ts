// Connection hygiene: a call that failed never leaves its keep-alive socket to the next call. A
// server that hangs or garbles one connection must not take the next poll down with it.
import { afterEach, describe, expect, it } from 'vitest';
import { SeqrClient } from '../../daemon/seqr/client.js';
import { answer, startStub, type StubReply, type StubServer } from './stub-server.js';
import { rejectionOf } from './support.js';

const STATUS_OK = answer(
  'getPaymentStatus',
  '<resultCode>0</resultCode><resultDescription>SUCCESS</resultDescription>' +
    '<status>ISSUED</status><customerTokens/><version>1</version>',
);
const SOAP_FAULT =
  '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>' +
  '<faultcode>soap:Server</faultcode><faultstring>busy</faultstring></soap:Fault></soap:Body></soap:Envelope>';

let stub: StubServer | undefined;
let client: SeqrClient | undefined;

afterEach(async () => {
  client?.close();
  await stub?.close();
  client = undefined;
  stub = undefined;
});

/** A stub that answers the first request with `first`, every later one normally. */
async function setUp(first: StubReply): Promise<{ stub: StubServer; client: SeqrClient }> {
  let n = 0;
  stub = await startStub(() => (++n === 1 ? first : { kind: 'xml', body: STATUS_OK }));
  client = await SeqrClient.create({
    endpoint: stub.url,
    terminal: { id: 't', password: 'Pw-9d1c' },
    deadlineMs: 8_000,
  });
  return { stub, client };
}

describe('a failed call never lends its socket to the next one', () => {
  it('successful calls share one kept-alive connection', async () => {
    const { stub, client } = await setUp({ kind: 'xml', body: STATUS_OK });
    for (let i = 0; i < 3; i++) await client.getPaymentStatus('1', 0);
    expect(stub.requests.map((r) => r.connection)).toEqual([1, 1, 1]);
  });

  it('a hung poll: its connection is dropped, the next poll goes out on a new one and is answered', async () => {
    const { stub, client } = await setUp({ kind: 'hang' });
    await expect(client.getPaymentStatus('1', 0, { deadlineMs: 300 })).rejects.toMatchObject({
      code: 'E_SEQR_TIMEOUT',
    });
    // The hung connection stays open at the server (it never answers); the next call may not
    // queue behind it, and its deadline is far shorter than any server-side idle timeout.
    await expect(client.getPaymentStatus('1', 0, { deadlineMs: 2_000 })).resolves.toMatchObject({
      status: 'ISSUED',
    });
    expect(stub.requests.map((r) => r.connection)).toEqual([1, 2]);
    expect(stub.connections()).toBe(2);
  });

  const answered: [string, StubReply, string][] = [
    [
      'an HTTP 502 from a proxy',
      { kind: 'xml', status: 502, body: '<html>Bad Gateway</html>' },
      'E_SEQR_HTTP',
    ],
    ['a SOAP fault', { kind: 'xml', status: 500, body: SOAP_FAULT }, 'E_SEQR_FAULT'],
    ['a garbled answer', { kind: 'xml', body: STATUS_OK.slice(0, 120) }, 'E_SEQR_MALFORMED'],
  ];
  for (const [label, reply, code] of answered) {
    it(`${label} (complete HTTP framing): the next call still opens a new connection`, async () => {
      const { stub, client } = await setUp(reply);
      expect(await rejectionOf(client.getPaymentStatus('1', 0))).toMatchObject({ code });
      await expect(client.getPaymentStatus('1', 0)).resolves.toMatchObject({ status: 'ISSUED' });
      await expect(client.getPaymentStatus('1', 0)).resolves.toMatchObject({ status: 'ISSUED' });
      // New connection after the failure, kept alive again once calls succeed.
      expect(stub.requests.map((r) => r.connection)).toEqual([1, 2, 2]);
    });
  }

  it('a business error (resultCode) keeps the connection: the exchange itself was sound', async () => {
    const { stub, client } = await setUp({
      kind: 'xml',
      body: answer(
        'getPaymentStatus',
        '<resultCode>54</resultCode><customerTokens/><version>0</version>',
      ),
    });
    await expect(client.getPaymentStatus('1', 0)).rejects.toMatchObject({ resultCode: 54 });
    await client.getPaymentStatus('1', 0);
    expect(stub.requests.map((r) => r.connection)).toEqual([1, 1]);
  });
});
