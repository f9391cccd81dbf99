import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type SeqrSimulator } from '../../simulator/index.js';
import { child, childText, parseXml } from '../../simulator/xml.js';
import { NS, context, envelope, issue, poll, postRaw } from './helpers.js';

const samplesDir = fileURLToPath(
  new URL('../../../shared/seqr/reference-wsdl/doc-samples/', import.meta.url),
);
const haveSamples = existsSync(samplesDir);
const requests = haveSamples
  ? readdirSync(samplesDir)
      .filter((f) => f.endsWith('.request.xml'))
      .sort()
  : [];

let sim: SeqrSimulator;
beforeAll(async () => {
  // The credentials the official samples use (API.md §13).
  sim = await startSimulator({
    terminal: { id: '87e791f9e24148a6892c52aa85bb0331', password: 'secret' },
    reseller: { id: 'fredellsfisk', userId: '9900', password: 'secret' },
  });
  sim.control.addTerminal({ id: '8609bf533abf4a20816e8bfe76639521', password: 'N2YFUhKaB1ZSuVF' });
  sim.control.addReseller({ id: 'hml', userId: '9900', password: '2009' });
});
afterAll(async () => {
  await sim.close();
});

describe.skipIf(!haveSamples)('official doc-sample requests (../shared absent: skipped)', () => {
  it('finds the samples', () => {
    expect(requests.length).toBeGreaterThanOrEqual(15);
  });

  it.each(requests)(
    '%s gets a well-formed SOAP answer with a resultCode, past authentication',
    async (file) => {
      const body = readFileSync(path.join(samplesDir, file), 'utf8');
      // Seed the sample's own credentials, read leniently from the sample itself.
      const request = child(child(parseXml(body), 'Body')?.children[0], 'context');
      const principal = child(request, 'initiatorPrincipalId');
      const id = childText(principal, 'id')!;
      const password = childText(request, 'password')!;
      if (childText(principal, 'type') === 'RESELLERUSER')
        sim.control.addReseller({ id, userId: childText(principal, 'userId')!, password });
      else sim.control.addTerminal({ id, password });

      const answer = await postRaw(sim, body);
      expect(answer.status).toBe(200);
      const wrapper = parseXml(answer.text).children[0]!.children[0]!;
      expect(wrapper.ns).toBe(NS);
      const op = /<(?:\w+:)?(\w+)[\s>]/.exec(body.slice(body.indexOf('Body')))![1]!;
      expect(wrapper.local).toBe(`${op}Response`);
      expect(answer.code).toEqual(expect.any(Number));
      expect(childText(answer.ret, 'resultDescription')).toMatch(/\S/);
      // A password shorter than 4 characters (the webshop README's "...") is refused with 21.
      const expectedAuth = password.length < 4 ? [21] : [];
      if (op !== 'creditUser')
        expect([0, 2, 23, 54, 91, 96, ...expectedAuth]).toContain(answer.code);
    },
  );

  it('accepts the sendInvoice sample (out-of-order children) and answers SUCCESS', async () => {
    const answer = await postRaw(
      sim,
      readFileSync(path.join(samplesDir, 'sendInvoice.request.xml'), 'utf8'),
    );
    expect(answer.code).toBe(0);
    const ref = childText(answer.ret, 'invoiceReference')!;
    const invoice = sim.control.invoice(ref)!;
    expect(invoice).toMatchObject({
      terminalId: '8609bf533abf4a20816e8bfe76639521',
      amount: { currency: 'SEK', value: '1500' },
    });
  });

  it('answers the unsupported creditUser sample with 91 UNSUPPORTED_OPERATION', async () => {
    const answer = await postRaw(
      sim,
      readFileSync(path.join(samplesDir, 'creditUser.request.xml'), 'utf8'),
    );
    expect([answer.code, childText(answer.ret, 'resultDescription')]).toEqual([
      91,
      'UNSUPPORTED_OPERATION',
    ]);
  });
});

describe('leniency (API.md §4)', () => {
  beforeAll(() => {
    // The unregisterTerminal sample above removed the samples' terminal.
    sim.control.addTerminal(sim.terminal);
  });

  it('accepts children in any order, unknown children, prefixed children, and a missing invoiceVersion', async () => {
    const ref = await issue(sim, '7.00');
    const body =
      `<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body>` +
      `<q:getPaymentStatus xmlns:q="${NS}">` +
      `<q:invoiceReference>${ref}</q:invoiceReference><somethingNew>1</somethingNew>` +
      `<context><password>secret</password><initiatorPrincipalId><type>TERMINALID</type><id>${sim.terminal.id}</id><userId>9900</userId></initiatorPrincipalId></context>` +
      `</q:getPaymentStatus></S:Body></S:Envelope>`;
    const answer = await postRaw(sim, body);
    expect(answer.code).toBe(0);
    expect(childText(answer.ret, 'status')).toBe('ISSUED');
  });

  it('accepts CDATA, entities, comments and an XML declaration', async () => {
    const body =
      `<?xml version="1.0" encoding="UTF-8"?><!-- a comment -->` +
      envelope(
        'sendInvoice',
        context(sim.terminal) +
          `<invoice><acknowledgmentMode>NO_ACKNOWLEDGMENT</acknowledgmentMode><title><![CDATA[Fish & <Chips>]]></title>` +
          `<clientInvoiceId>a&amp;b&#x41;</clientInvoiceId><totalAmount><currency>SEK</currency><value>9</value></totalAmount></invoice>`,
      );
    const answer = await postRaw(sim, body);
    expect(answer.code).toBe(0);
    const ref = childText(answer.ret, 'invoiceReference')!;
    sim.control.pay(ref);
    const paid = await poll(sim, ref);
    const receipt = child(paid.ret, 'receipt');
    expect(childText(receipt, 'clientInvoiceId')).toBe('a&bA');
    expect(childText(child(receipt, 'invoice'), 'title')).toBe('Fish & <Chips>');
  });

  it('answers a malformed request with a soap:Client Fault and HTTP 500', async () => {
    for (const body of [
      '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><x',
      'not xml at all',
      `<Envelope><Body><sendInvoice xmlns="${NS}"/></Body></Envelope>`,
      envelope('getPaymentStatus', '').replace(`xmlns:ext="${NS}"`, 'xmlns:ext="urn:other"'),
      '<!DOCTYPE x [<!ENTITY a "b">]><x/>',
    ]) {
      const answer = await postRaw(sim, body);
      expect(answer.status).toBe(500);
      const fault = child(child(parseXml(answer.text), 'Body'), 'Fault');
      expect(childText(fault, 'faultcode')).toBe('soap:Client');
    }
    expect(sim.control.calls().some((c) => c.op === '(malformed)')).toBe(true);
  });

  it('answers benchmarkingNop without credentials and unknown SEQR-namespace operations with 91', async () => {
    expect((await postRaw(sim, envelope('benchmarkingNop', ''))).code).toBe(0);
    const topup = await postRaw(sim, envelope('requestTopup', context(sim.terminal)));
    expect(topup.code).toBe(91);
    expect(topup.text).toContain('requestTopupResponse');
  });

  it('serves the WSDL with soap:address set to its own endpoint', async () => {
    const res = await fetch(sim.wsdlUrl);
    expect(res.status).toBe(200);
    const wsdl = await res.text();
    expect(wsdl).toContain(`<soap:address location="${sim.soapUrl}"/>`);
    expect(wsdl).toContain('name="sendInvoice"');
  });
});
