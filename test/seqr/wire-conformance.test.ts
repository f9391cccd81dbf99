// The client against SEQR's own words: the official sample answers (served byte for byte from a
// loopback server) and the canonical request examples of API.md §17 (namespace-qualified wrapper,
// unqualified children, schema order).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { SeqrClient, type SeqrClientOptions } from '../../daemon/seqr/client.js';
import { SeqrPaymentGateway } from '../../daemon/seqr/gateway.js';
import { answer, envelope, startStub, type StubReply, type StubServer } from './stub-server.js';
import { parseXml, walk, type XmlNode } from './xml-tree.js';

const SOAP_ENV = 'http://schemas.xmlsoap.org/soap/envelope/';
const TNS = 'http://external.interfaces.ers.seamless.com/';
const seqrDir = fileURLToPath(new URL('../../../shared/seqr/', import.meta.url));
const samplesDir = `${seqrDir}reference-wsdl/doc-samples/`;
const haveShared = existsSync(`${seqrDir}API.md`) && existsSync(samplesDir);

let stub: StubServer | undefined;
let client: SeqrClient | undefined;

afterEach(async () => {
  client?.close();
  client = undefined;
  await stub?.close();
  stub = undefined;
});

async function clientFor(
  reply: StubReply,
  options: Partial<SeqrClientOptions> = {},
): Promise<{ client: SeqrClient; stub: StubServer }> {
  stub = await startStub(() => reply);
  client = await SeqrClient.create({
    endpoint: stub.url,
    terminal: { id: '87e791f9e24148a6892c52aa85bb0331', password: 's3cret-pass' },
    deadlineMs: 8000,
    ...options,
  });
  return { client, stub };
}

/** The `xml` block under the API.md heading that starts with `heading`. */
function canonical(heading: string): string {
  const md = readFileSync(`${seqrDir}API.md`, 'utf8');
  const at = md.indexOf(`### ${heading}`);
  expect(at, heading).toBeGreaterThan(0);
  const block = /```xml\n([\s\S]*?)```/.exec(md.slice(at));
  return block![1]!;
}

/** Element names, namespaces and text, in document order; whitespace-only text dropped. */
type Shape = [string, string | undefined, string | Shape[]];
function shape(node: XmlNode): Shape {
  return [
    node.local,
    node.ns,
    node.children.length === 0 ? node.text.trim() : node.children.map(shape),
  ];
}

/** The operation wrapper of a request envelope, after checking the SOAP 1.1 frame. */
function wrapperOf(xml: string): XmlNode {
  const env = parseXml(xml);
  expect([env.ns, env.local]).toEqual([SOAP_ENV, 'Envelope']);
  const body = env.children.find((c) => c.local === 'Body')!;
  expect(body.ns).toBe(SOAP_ENV);
  expect(body.children).toHaveLength(1);
  const wrapper = body.children[0]!;
  expect(wrapper.ns).toBe(TNS);
  return wrapper;
}

function expectUnqualifiedChildren(wrapper: XmlNode): void {
  for (const n of walk(wrapper).slice(1)) expect(n.ns, `<${n.qname}>`).toBeUndefined();
}

describe('what every request carries', () => {
  it('identifies the client as seqr-vend/<version> with a fresh 32-character clientReference', async () => {
    const { version } = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as { version: string };
    const { client, stub } = await clientFor({
      kind: 'xml',
      body: answer('cancelInvoice', '<resultCode>0</resultCode>'),
    });
    await client.cancelInvoice('1');
    await client.cancelInvoice('2');
    const contexts = stub.requests.map((r) => wrapperOf(r.body).children[0]!);
    const field = (ctx: XmlNode, name: string) => ctx.children.find((c) => c.local === name)?.text;
    for (const ctx of contexts) {
      expect(field(ctx, 'channel')).toBe('WS');
      expect(field(ctx, 'clientId')).toBe(`seqr-vend/${version}`);
      expect(field(ctx, 'clientReference')).toMatch(/^[0-9a-f]{32}$/);
      expect(field(ctx, 'clientRequestTimeout')).toBe('0');
    }
    expect(field(contexts[0]!, 'clientReference')).not.toBe(field(contexts[1]!, 'clientReference'));
    expect(stub.requests[0]!.headers['user-agent']).toBe(`seqr-vend/${version}`);
    expect(stub.requests[0]!.headers['soapaction']).toBe('""');
  });
});

describe('answers the client cannot use', () => {
  it.each([
    ['an answer to another operation', answer('benchmarkingNop', '<resultCode>0</resultCode>')],
    ['an empty Body', envelope('')],
    [
      'a return without resultCode',
      answer('cancelInvoice', '<resultDescription>x</resultDescription>'),
    ],
    ['plain text', 'OK'],
  ])('rejects %s as E_SEQR_MALFORMED', async (_label, body) => {
    const { client } = await clientFor({ kind: 'xml', body });
    await expect(client.cancelInvoice('1')).rejects.toMatchObject({
      code: 'E_SEQR_MALFORMED',
      retryable: true,
    });
  });

  it('rejects a status answer without version or with an unknown status as E_SEQR_MALFORMED', async () => {
    const { client } = await clientFor({
      kind: 'xml',
      body: answer(
        'getPaymentStatus',
        '<resultCode>0</resultCode><status>PARTIALLY_PAID</status><version>1</version>',
      ),
    });
    await expect(client.getPaymentStatus('1', 0)).rejects.toMatchObject({
      code: 'E_SEQR_MALFORMED',
    });
  });
});

describe.skipIf(!haveShared)('official sample answers', () => {
  if (!haveShared) {
    it.skip(`skipped: reference data not found at ${samplesDir}`, () => undefined);
    return;
  }
  const sample = (name: string) => readFileSync(`${samplesDir}${name}`, 'utf8');

  it('covers every response sample of a merchant operation (creditUser is not in the WSDL)', () => {
    expect(
      readdirSync(samplesDir)
        .filter((f) => f.endsWith('.response.xml'))
        .sort(),
    ).toEqual([
      'commitReservation.response.xml',
      'creditUser.response.xml',
      'getPaymentStatus.response.xml',
      'sendInvoice.response.xml',
      'webshop-plugin-readme.sendInvoice.response.xml',
    ]);
  });

  it('reads sendInvoice.response.xml', async () => {
    const { client } = await clientFor({ kind: 'xml', body: sample('sendInvoice.response.xml') });
    await expect(
      client.sendInvoice({ totalAmount: { minor: 100, currency: 'SEK' } }),
    ).resolves.toEqual({
      invoiceReference: '1397222701693',
      invoiceQRCode: 'HTTP://SEQR.SE/R1397222701693',
    });
  });

  it('reads the webshop plugin README sendInvoice answer through the gateway', async () => {
    const { client } = await clientFor({
      kind: 'xml',
      body: sample('webshop-plugin-readme.sendInvoice.response.xml'),
    });
    const gateway = new SeqrPaymentGateway(client);
    await expect(
      gateway.issueInvoice({
        clientInvoiceId: 'tx-1',
        title: 'Vending 1',
        itemDescription: 'Cola',
        price: { minor: 2500, currency: 'SEK' },
        cashierId: 'slot-1',
      }),
    ).resolves.toEqual({ reference: '1402562843463', qrPayload: 'HTTP://SEQR.SE/R1402562843463' });
  });

  it('reads getPaymentStatus.response.xml (ISSUED, version 1)', async () => {
    const { client } = await clientFor({
      kind: 'xml',
      body: sample('getPaymentStatus.response.xml'),
    });
    await expect(client.getPaymentStatus('1397222701693', 0)).resolves.toEqual({
      status: 'ISSUED',
      version: 1,
      customerTokens: [],
    });
  });

  it('reads commitReservation.response.xml', async () => {
    const { client } = await clientFor({
      kind: 'xml',
      body: sample('commitReservation.response.xml'),
    });
    await expect(client.commitReservation('1397222701693')).resolves.toBeUndefined();
  });

  it('reads the canonical PAID answer (§17.3) with exact amounts and the date as sent', async () => {
    const { client } = await clientFor({ kind: 'xml', body: canonical('17.3') });
    const status = await client.getPaymentStatus('1456830000000', 2);
    expect(status).toMatchObject({
      status: 'PAID',
      version: 3,
      ersReference: '2016030112001234501000007',
      customerTokens: [],
      receipt: {
        paymentDate: '2016-03-01T12:00:12.345+01:00',
        paymentReference: '2016030112001234501000007',
        invoice: { totalAmount: { minor: 5000, currency: 'SEK' }, clientInvoiceId: 'ORDER-42' },
      },
    });
    await expect(new SeqrPaymentGateway(client).getStatus('1456830000000', 2)).resolves.toEqual({
      status: 'PAID',
      version: 3,
      ersReference: '2016030112001234501000007',
      paidAt: '2016-03-01T12:00:12.345+01:00',
    });
  });

  it('reads the canonical business error (§17.4) as a result, not a fault', async () => {
    const { client } = await clientFor({ kind: 'xml', body: canonical('17.4') });
    await expect(client.cancelInvoice('1456830000000')).rejects.toMatchObject({
      code: 'E_SEQR_RESULT',
      resultCode: 50,
      resultName: 'CANNOT_CANCEL_PAID_INVOICE',
    });
    await expect(new SeqrPaymentGateway(client).cancelInvoice('1456830000000')).resolves.toBe(
      'paid',
    );
  });
});

describe.skipIf(!haveShared)(
  'serialised requests match the canonical examples of API.md §17',
  () => {
    if (!haveShared) {
      it.skip(`skipped: API.md not found under ${seqrDir}`, () => undefined);
      return;
    }
    const ok = (op: string, children = '') =>
      ({
        kind: 'xml',
        body: `<soap:Envelope xmlns:soap="${SOAP_ENV}"><soap:Body><ns2:${op}Response xmlns:ns2="${TNS}"><return><resultCode>0</resultCode>${children}</return></ns2:${op}Response></soap:Body></soap:Envelope>`,
      }) as const;

    it('sendInvoice (§17.1): same elements, order and values', async () => {
      const { client, stub } = await clientFor(
        ok('sendInvoice', '<invoiceReference>1</invoiceReference>'),
        {
          channel: 'WS',
          clientId: 'MyPOS 1.0',
        },
      );
      await client.sendInvoice(
        {
          paymentMode: 'IMMEDIATE_DEBIT',
          acknowledgmentMode: 'NO_ACKNOWLEDGMENT',
          issueDate: '2016-03-01T12:00:00',
          title: 'Corner Cafe',
          clientInvoiceId: 'ORDER-42',
          rows: [
            {
              itemDescription: 'Coffee',
              itemQuantity: 2,
              itemTaxRate: 12,
              itemTotalAmount: { minor: 5000, currency: 'SEK' },
              itemUnitPrice: { minor: 2500, currency: 'SEK' },
            },
          ],
          totalAmount: { minor: 5000, currency: 'SEK' },
          cashierId: 'Anna',
          footer: 'Thank you',
          notificationUrl: 'https://shop.example/seqr/notify?order=42',
        },
        [],
        { clientReference: 'pos1-000042' },
      );
      const sent = wrapperOf(stub.requests[0]!.body);
      expectUnqualifiedChildren(sent);
      expect(shape(sent)).toEqual(shape(wrapperOf(canonical('17.1'))));
    });

    it('getPaymentStatus (§17.2): invoiceReference then invoiceVersion, context in schema order', async () => {
      const { client, stub } = await clientFor(
        ok('getPaymentStatus', '<status>ISSUED</status><version>2</version>'),
      );
      await client.getPaymentStatus('1456830000000', 1);
      const sent = wrapperOf(stub.requests[0]!.body);
      expectUnqualifiedChildren(sent);
      const expected = wrapperOf(canonical('17.2'));
      // The canonical example leaves out the optional channel, clientId and clientReference.
      const context = sent.children[0]!;
      expect(context.children.map((c) => c.local)).toEqual([
        'channel',
        'clientId',
        'clientReference',
        'clientRequestTimeout',
        'initiatorPrincipalId',
        'password',
      ]);
      context.children.splice(0, 3);
      expect(shape(sent)).toEqual(shape(expected));
    });

    it('markTransactionPeriod per terminal (§17.5): RESELLERUSER with userId, parameter/entry', async () => {
      const { client, stub } = await clientFor(
        ok(
          'markTransactionPeriod',
          '<transactionPeriodId>2012053119463656301000002</transactionPeriodId>',
        ),
        { reseller: { id: 'public_test_shop', userId: '9900', password: '1234' } },
      );
      await expect(
        client.markTransactionPeriod({ TERMINALID: '87e791f9e24148a6892c52aa85bb0331' }),
      ).resolves.toEqual({ transactionPeriodId: '2012053119463656301000002' });
      const sent = wrapperOf(stub.requests[0]!.body);
      expectUnqualifiedChildren(sent);
      sent.children[0]!.children.splice(0, 3);
      expect(shape(sent)).toEqual(shape(wrapperOf(canonical('17.5'))));
    });

    it('commitReservation with a final amount (§17.6): amount between context and invoiceReference', async () => {
      const { client, stub } = await clientFor(ok('commitReservation'));
      await client.commitReservation('1456830000000', { minor: 1750, currency: 'SEK' });
      const sent = wrapperOf(stub.requests[0]!.body);
      expectUnqualifiedChildren(sent);
      sent.children[0]!.children.splice(0, 3);
      expect(shape(sent)).toEqual(shape(wrapperOf(canonical('17.6'))));
    });
  },
);
