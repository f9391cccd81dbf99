import http from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator, type SeqrSimulator } from '../../simulator/index.js';
import { childText, parseXml } from '../../simulator/xml.js';
import { context, envelope, issue, poll, postRaw } from './helpers.js';

// Faults run on the real clock: each is a short, bounded wait on loopback.
let sim: SeqrSimulator;

beforeEach(async () => {
  sim = await startSimulator();
});
afterEach(async () => {
  await sim.close();
});

const statusBody = (ref: string): string =>
  envelope(
    'getPaymentStatus',
    context(sim.terminal) +
      `<invoiceReference>${ref}</invoiceReference><invoiceVersion>0</invoiceVersion>`,
  );

/** POSTs with node:http and records each chunk as it arrives. */
function rawPost(url: string, body: string): Promise<{ status: number; chunks: Buffer[] }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: 'POST', headers: { 'content-type': 'text/xml' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, chunks });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('fault injection at the HTTP level', () => {
  it('delay: answers normally, later', async () => {
    const ref = await issue(sim);
    sim.control.injectFault('getPaymentStatus', { kind: 'delay', ms: 150 }, { times: 1 });
    const answer = await poll(sim, ref);
    expect(answer.code).toBe(0);
    const record = sim.control.calls().at(-1)!;
    expect(record).toMatchObject({ op: 'getPaymentStatus', fault: 'delay', resultCode: 0 });
    expect(record.endedAt! - record.at).toBeGreaterThanOrEqual(100);
  });

  it('hang: never answers, the client gives up on its own deadline', async () => {
    const ref = await issue(sim);
    sim.control.injectFault('getPaymentStatus', { kind: 'hang' });
    await expect(
      fetch(sim.soapUrl, {
        method: 'POST',
        body: statusBody(ref),
        signal: AbortSignal.timeout(200),
      }),
    ).rejects.toThrow(/abort|timeout/i);
    expect(sim.control.calls().at(-1)).toMatchObject({ op: 'getPaymentStatus', fault: 'hang' });
    expect(sim.control.invoice(ref)!.polls).toBe(0);
  });

  it('hang: close() ends a hanging call', async () => {
    const ref = await issue(sim);
    sim.control.injectFault('*', { kind: 'hang' });
    const pending = fetch(sim.soapUrl, { method: 'POST', body: statusBody(ref) });
    await new Promise((r) => setTimeout(r, 50));
    await sim.close();
    await expect(pending).rejects.toThrow();
  });

  it('drip: the answer arrives byte by byte but complete', async () => {
    const ref = await issue(sim);
    sim.control.injectFault('getPaymentStatus', { kind: 'drip', totalMs: 300 }, { times: 1 });
    const { status, chunks } = await rawPost(sim.soapUrl, statusBody(ref));
    expect(status).toBe(200);
    expect(chunks.length).toBeGreaterThan(10);
    const text = Buffer.concat(chunks).toString('utf8');
    expect(childText(parseXml(text).children[0]!.children[0]!.children[0], 'status')).toBe(
      'ISSUED',
    );
  });

  it('http: the given status with an HTML body', async () => {
    sim.control.injectFault('sendInvoice', { kind: 'http', status: 502 }, { times: 1 });
    const res = await fetch(sim.soapUrl, {
      method: 'POST',
      body: envelope('sendInvoice', context(sim.terminal)),
    });
    expect(res.status).toBe(502);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(await res.text()).toContain('502 Bad Gateway');
    sim.control.injectFault(
      'sendInvoice',
      { kind: 'http', status: 500, body: 'oops' },
      { times: 1 },
    );
    const custom = await fetch(sim.soapUrl, {
      method: 'POST',
      body: envelope('sendInvoice', context(sim.terminal)),
    });
    expect([custom.status, await custom.text()]).toEqual([500, 'oops']);
  });

  it('malformed: HTTP 200 with XML that does not parse', async () => {
    sim.control.injectFault('*', { kind: 'malformed' }, { times: 1 });
    const answer = await postRaw(sim, statusBody('1'));
    expect(answer.status).toBe(200);
    expect(() => parseXml(answer.text)).toThrow();
  });

  it('soapFault: HTTP 500 with a SOAP Fault', async () => {
    sim.control.injectFault(
      'cancelInvoice',
      { kind: 'soapFault', faultstring: 'boom' },
      { times: 1 },
    );
    const answer = await postRaw(sim, envelope('cancelInvoice', context(sim.terminal)));
    expect(answer.status).toBe(500);
    const fault = parseXml(answer.text).children[0]!.children[0]!;
    expect(fault.local).toBe('Fault');
    expect(childText(fault, 'faultcode')).toBe('soap:Server');
    expect(childText(fault, 'faultstring')).toBe('boom');
  });

  it('reset: the connection is destroyed without an answer', async () => {
    sim.control.injectFault('getPaymentStatus', { kind: 'reset' }, { times: 1 });
    await expect(rawPost(sim.soapUrl, statusBody('1'))).rejects.toThrow(
      /ECONNRESET|socket hang up/,
    );
  });

  it('result: a normal envelope with the given resultCode and its name, without touching state', async () => {
    sim.control.injectFault('sendInvoice', { kind: 'result', resultCode: 93 }, { times: 2 });
    const body = envelope(
      'sendInvoice',
      context(sim.terminal) +
        '<invoice><totalAmount><currency>SEK</currency><value>1</value></totalAmount></invoice>',
    );
    for (let i = 0; i < 2; i++) {
      const answer = await postRaw(sim, body);
      expect([answer.status, answer.code, childText(answer.ret, 'resultDescription')]).toEqual([
        200,
        93,
        'SYSTEM_BUSY',
      ]);
    }
    expect(sim.control.invoices()).toHaveLength(0);
    expect((await postRaw(sim, body)).code).toBe(0);
  });

  it('applies faults to the named operation only, until cleared', async () => {
    sim.control.injectFault('cancelInvoice', { kind: 'result', resultCode: 94 });
    const ref = await issue(sim);
    expect((await poll(sim, ref)).code).toBe(0);
    const cancel = envelope(
      'cancelInvoice',
      context(sim.terminal) + `<invoiceReference>${ref}</invoiceReference>`,
    );
    expect((await postRaw(sim, cancel)).code).toBe(94);
    expect((await postRaw(sim, cancel)).code).toBe(94);
    sim.control.clearFaults();
    expect((await postRaw(sim, cancel)).code).toBe(0);
  });

  it('counts calls in flight at once', async () => {
    const ref = await issue(sim);
    sim.control.injectFault('getPaymentStatus', { kind: 'delay', ms: 200 }, { times: 3 });
    await Promise.all([poll(sim, ref), poll(sim, ref), poll(sim, ref)]);
    expect(sim.control.maxConcurrentCalls('getPaymentStatus')).toBe(3);
    expect(sim.control.maxConcurrentCalls('sendInvoice')).toBe(1);
    expect(sim.control.maxConcurrentCalls()).toBe(3);
  });

  it('rejects unknown operations and fault kinds in injectFault', () => {
    expect(() => {
      sim.control.injectFault('nope' as 'sendInvoice', { kind: 'hang' });
    }).toThrow(/unknown operation/);
    expect(() => {
      sim.control.injectFault('*', { kind: 'explode' } as unknown as { kind: 'hang' });
    }).toThrow(/fault.kind/);
  });
});
