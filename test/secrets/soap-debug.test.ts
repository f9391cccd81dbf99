// The soap package's debug output (DEBUG=node-soap*) never carries the password, even when a
// SOAP fault or an HTML 500 page echoes the request (and the password in it) back.
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCodeOf } from '../../daemon/errors.js';
import { SeqrClient } from '../../daemon/seqr/client.js';
import type { SeqrInvoice } from '../../daemon/seqr/wire.js';
import { startSimulator, type SeqrSimulator } from '../../simulator/index.js';
import { startEchoRelay, type EchoRelay } from './echo-relay.js';

// Characters the SOAP request escapes (& < > " '), so the escaped forms are tested too.
const SECRET = `Pw&<"Zk4'>-7f`;
const escapeXml = (s: string) =>
  s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
/** Every form the password could take in a debug line. */
const FORMS = [SECRET, escapeXml(SECRET), escapeXml(escapeXml(SECRET))].flatMap((f) => [
  f,
  JSON.stringify(f).slice(1, -1),
  JSON.stringify(JSON.stringify(f).slice(1, -1)).slice(1, -1),
]);
// Parts that stay recognisable whatever the escaping: a leak shows at least these.
const FRAGMENTS = ['Pw&', 'Zk4', '-7f'];

let sim: SeqrSimulator;
let relay: EchoRelay;
let client: SeqrClient;
const written: string[] = [];
let restore: () => void = () => undefined;

beforeAll(async () => {
  // The `debug` instance soap writes through, switched on as DEBUG=node-soap* would.
  const debug = createRequire(createRequire(import.meta.url).resolve('soap'))('debug') as {
    enable(namespaces: string): void;
  };
  debug.enable('node-soap*');
  const original = process.stderr.write.bind(process.stderr);
  process.stderr.write = (chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  };
  restore = () => {
    process.stderr.write = original;
    debug.enable('');
  };
  sim = await startSimulator({
    host: '127.0.0.1',
    port: 0,
    terminal: { id: 'feedc0defeedc0defeedc0defeedc0de', password: SECRET },
  });
  relay = await startEchoRelay(sim.soapUrl);
  client = await SeqrClient.create({
    endpoint: relay.url,
    terminal: sim.terminal,
    deadlineMs: 5_000,
  });
});

afterAll(async () => {
  restore();
  client.close();
  await relay.close();
  await sim.close();
});

describe('soap debug output', () => {
  it('shows request and response bodies, with the password replaced, for an HTML 500 and a fault that echo the request', async () => {
    const invoice: SeqrInvoice = {
      title: 'Cola',
      clientInvoiceId: 'inv-1',
      totalAmount: { minor: 2500, currency: 'SEK' },
      cashierId: 'k',
    };
    relay.echoNext('html500', 'fault');
    // How the client classifies these is its own business (E_SEQR_HTTP, _FAULT, _MALFORMED).
    for (let i = 0; i < 2; i++) {
      const err = await client.sendInvoice(invoice).catch((e: unknown) => e);
      expect(errorCodeOf(err)).toMatch(/^E_SEQR_/);
    }
    const { invoiceReference } = await client.sendInvoice(invoice);
    expect(invoiceReference).toBeTruthy();
    expect(relay.echoed()).toBe(2);

    const out = written.join('');
    // The debug output was on and carried the echoed bodies...
    expect(out).toContain('node-soap Http response body');
    expect(out).toContain('500 Internal Server Error');
    expect(out).toContain('Cannot process');
    expect(out).toContain('[REDACTED]');
    // ...but no form of the password.
    for (const form of FORMS) expect(out).not.toContain(form);
    for (const fragment of FRAGMENTS) expect(out).not.toContain(fragment);
  });
});
