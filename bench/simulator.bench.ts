// The simulator as a load target: round-trip latency of getPaymentStatus over loopback (one
// client, then 8 in parallel), its throughput, and its memory after many invoices.
import { performance } from 'node:perf_hooks';
import { startSimulator, type SeqrSimulator } from '../simulator/index.js';
import { latencyFigures, rssMiB, type Bench } from './lib.js';

const NS = 'http://external.interfaces.ers.seamless.com/';

function body(sim: SeqrSimulator, op: string, inner: string): string {
  return (
    `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ext="${NS}"><soapenv:Body>` +
    `<ext:${op}><context><clientRequestTimeout>0</clientRequestTimeout><initiatorPrincipalId><id>${sim.terminal.id}</id>` +
    `<type>TERMINALID</type></initiatorPrincipalId><password>${sim.terminal.password}</password></context>${inner}</ext:${op}>` +
    `</soapenv:Body></soapenv:Envelope>`
  );
}

async function post(sim: SeqrSimulator, xml: string): Promise<string> {
  const res = await fetch(sim.soapUrl, { method: 'POST', body: xml });
  return res.text();
}

const invoice =
  '<invoice><acknowledgmentMode>NO_ACKNOWLEDGMENT</acknowledgmentMode><title>Bench</title>' +
  '<totalAmount><currency>SEK</currency><value>25.00</value></totalAmount></invoice>';

const bench: Bench = async () => {
  const sim = await startSimulator();
  try {
    const sent = await post(sim, body(sim, 'sendInvoice', invoice));
    const ref = /<invoiceReference>(\d+)</.exec(sent)?.[1] ?? '';
    const poll = body(
      sim,
      'getPaymentStatus',
      `<invoiceReference>${ref}</invoiceReference><invoiceVersion>0</invoiceVersion>`,
    );
    for (let i = 0; i < 200; i++) await post(sim, poll);

    const serial: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const t0 = performance.now();
      await post(sim, poll);
      serial.push(performance.now() - t0);
    }

    const parallel: number[] = [];
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let i = 0; i < 500; i++) {
          const t0 = performance.now();
          await post(sim, poll);
          parallel.push(performance.now() - t0);
        }
      }),
    );
    const perSecond = (parallel.length / (performance.now() - started)) * 1000;

    for (let i = 0; i < 5000; i++) await post(sim, body(sim, 'sendInvoice', invoice));
    return [
      {
        title: 'SEQR simulator over loopback',
        figures: [
          ...latencyFigures('getPaymentStatus, 1 client', serial),
          ...latencyFigures('getPaymentStatus, 8 clients', parallel),
          { name: 'getPaymentStatus throughput, 8 clients', value: perSecond, unit: 'per s' },
          {
            name: 'RSS after 5,000 invoices (client in the same process)',
            value: rssMiB(),
            unit: 'MiB',
          },
        ],
      },
    ];
  } finally {
    await sim.close();
  }
};

export default bench;
