// The SEQR client's own cost: building it from the WSDL at start, and the per-call latency of
// sendInvoice and getPaymentStatus against the in-process simulator over loopback, next to a bare
// keep-alive HTTP POST of the same getPaymentStatus envelope (the difference is the client's
// serialising, parsing and bookkeeping).
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { SeqrClient } from '../daemon/seqr/client.js';
import { startSimulator } from '../simulator/index.js';
import { latencyFigures, percentile, type Bench } from './lib.js';

const CALLS = 300;
const BUILDS = 10;

function rawPost(agent: http.Agent, url: URL, body: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: '""' },
      },
      (res) => {
        res.resume();
        res.on('end', resolve);
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const bench: Bench = async () => {
  const sim = await startSimulator({ missingAckMode: 'NO_ACKNOWLEDGMENT' });
  const builds: number[] = [];
  let client: SeqrClient | undefined;
  for (let i = 0; i < BUILDS; i++) {
    const t0 = performance.now();
    const c = await SeqrClient.create({ endpoint: sim.soapUrl, terminal: sim.terminal });
    builds.push(performance.now() - t0);
    if (client) c.close();
    else client = c;
  }
  if (!client) throw new Error('no client built');

  const price = { minor: 2500, currency: 'SEK' };
  const invoice = {
    paymentMode: 'IMMEDIATE_DEBIT',
    acknowledgmentMode: 'NO_ACKNOWLEDGMENT',
    title: 'Vending',
    clientInvoiceId: 'bench',
    rows: [{ itemDescription: 'Cola', itemQuantity: 1, itemTotalAmount: price }],
    totalAmount: price,
    cashierId: 'bench',
  } as const;

  const send: number[] = [];
  let reference = '';
  for (let i = 0; i < CALLS; i++) {
    const t0 = performance.now();
    reference = (await client.sendInvoice(invoice)).invoiceReference;
    send.push(performance.now() - t0);
  }
  const poll: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    const t0 = performance.now();
    await client.getPaymentStatus(reference, 0);
    poll.push(performance.now() - t0);
  }

  const agent = new http.Agent({ keepAlive: true });
  const envelope =
    '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:tns="http://external.interfaces.ers.seamless.com/"><soap:Body><tns:getPaymentStatus><context><channel>WS</channel><clientId>bench</clientId><clientReference>bench</clientReference><clientRequestTimeout>0</clientRequestTimeout>' +
    `<initiatorPrincipalId><id>${sim.terminal.id}</id><type>TERMINALID</type></initiatorPrincipalId><password>${sim.terminal.password}</password></context>` +
    `<invoiceReference>${reference}</invoiceReference><invoiceVersion>0</invoiceVersion></tns:getPaymentStatus></soap:Body></soap:Envelope>`;
  const raw: number[] = [];
  const url = new URL(sim.soapUrl);
  for (let i = 0; i < CALLS; i++) {
    const t0 = performance.now();
    await rawPost(agent, url, envelope);
    raw.push(performance.now() - t0);
  }
  agent.destroy();
  client.close();
  await sim.close();

  return [
    {
      title: 'seqr client',
      figures: [
        { name: 'build from WSDL p50', value: percentile(builds, 50), unit: 'ms' },
        { name: 'build from WSDL max', value: Math.max(...builds), unit: 'ms' },
        ...latencyFigures('sendInvoice', send),
        ...latencyFigures('getPaymentStatus', poll),
        ...latencyFigures('bare HTTP getPaymentStatus', raw),
        {
          name: 'client overhead per getPaymentStatus (p50 - bare p50)',
          value: percentile(poll, 50) - percentile(raw, 50),
          unit: 'ms',
        },
      ],
      note: `${String(CALLS)} sequential calls each on one keep-alive connection to the in-process simulator; ${String(BUILDS)} client builds (the first includes cold JIT).`,
    },
  ];
};

export default bench;
