// The SEQR callback gateway as an operator runs it: two `seqr-vend gateway` processes (HTTPS,
// built dist/), Mosquitto, and the SEQR simulator in its own process; a machine on the broker in
// this process answering with the project's SOAP client. Figures:
// - scan -> createPurchase answered: the simulated app's scan until SEQR holds the reservation
//   invoice (SEQR -> gateway -> broker -> machine -> sendInvoice -> back);
// - createPurchase relay round trip with a machine that answers at once, and its throughput over
//   both replicas;
// - PAID -> the machine knows: through the notification (SEQR -> gateway -> broker -> machine ->
//   getPaymentStatus) against a 1 s status poll alone;
// - each gateway process's RSS after the run.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectAsync, type IPublishPacket } from 'mqtt';
import { SeqrClient } from '../daemon/seqr/client.js';
import { startBroker, freePort } from './broker.js';
import { latencyFigures, percentile, type Bench, type Figure } from './lib.js';
import { makeTestCa } from './tls.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const MAIN = path.resolve(here, '../daemon/main.js');
const SIM = path.resolve(here, '../simulator/main.js');
const TERMINAL = { id: '87e791f9e24148a6892c52aa85bb0331', password: 'Bench-Term-Pw-1' };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Spawns `node file args`, resolves once a stdout line contains `ready`. */
export async function spawnUntil(
  file: string,
  args: readonly string[],
  ready: string,
  env: NodeJS.ProcessEnv = {},
): Promise<ChildProcess> {
  const child = spawn(process.execPath, [file, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let seen = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`${path.basename(file)} did not start: ${seen.slice(-500)}`));
    }, 15_000);
    child.stdout.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes(ready)) {
        clearTimeout(timer);
        resolve();
      }
      if (seen.length > 100_000) seen = seen.slice(-10_000);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${path.basename(file)} exited ${String(code)}: ${seen.slice(-500)}`));
    });
  });
  child.stdout.resume();
  return child;
}

export function rssMiBOf(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

function request(
  url: string,
  body: string,
  contentType: string,
  ca: string,
  agent?: https.Agent,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: 'POST',
        ca,
        ...(agent === undefined ? { agent: false } : { agent }),
        headers: { 'content-type': contentType, 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          resolve(Buffer.concat(chunks).toString());
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export async function control(base: string, route: string, body: unknown): Promise<unknown> {
  const res = await fetch(`${base}${route}`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
  return res.json();
}

const bench: Bench = async () => {
  const tls = makeTestCa();
  const broker = await startBroker();
  const children: ChildProcess[] = [];
  try {
    const gatewayPorts = [await freePort(), await freePort()];
    for (const [i, port] of gatewayPorts.entries()) {
      const file = path.join(tls.dir, `gateway-${i}.yaml`);
      writeFileSync(
        file,
        [
          'listen:',
          '  host: 127.0.0.1',
          `  port: ${port}`,
          'tls:',
          `  certFile: ${tls.certFile}`,
          `  keyFile: ${tls.keyFile}`,
          'broker:',
          `  url: ${broker.url}`,
          'log:',
          '  level: info',
          '',
        ].join('\n'),
      );
      children.push(
        await spawnUntil(MAIN, ['gateway', '--config', file], '"msg":"broker connected"'),
      );
    }
    const gateways = gatewayPorts.map((p) => `https://127.0.0.1:${p}/seqr`);
    const simPort = await freePort();
    children.push(
      await spawnUntil(
        SIM,
        [
          '--port',
          String(simPort),
          '--terminal-id',
          TERMINAL.id,
          '--terminal-password',
          TERMINAL.password,
          '--no-ack-default',
          '--create-purchase-url',
          `${gateways[0]}/createPurchase`,
        ],
        'SEQR simulator listening',
        // The simulated SEQR trusts the test CA for its HTTPS callbacks.
        { NODE_EXTRA_CA_CERTS: tls.caFile },
      ),
    );
    const simBase = `http://127.0.0.1:${simPort}`;
    const client = await SeqrClient.create({
      endpoint: `${simBase}/soap/merchant/cashregister-2`,
      terminal: TERMINAL,
      deadlineMs: 5_000,
    });

    // The machine: answers ups-purchase (a reservation invoice for bench-1, a fixed reference for
    // bench-fast) and seqr-notify (polls at once).
    const noticed = new Map<string, number>();
    const mqtt = await connectAsync(broker.url, { protocolVersion: 5, clientId: 'bench-machine' });
    (mqtt.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    mqtt.on('message', (topic: string, payload: Buffer, packet: IPublishPacket) => {
      const props = packet.properties;
      const reply = (data: unknown): void => {
        if (props?.responseTopic === undefined) return;
        mqtt.publish(props.responseTopic, JSON.stringify({ status: 'ok', data }), {
          qos: 1,
          ...(props.correlationData === undefined
            ? {}
            : { properties: { correlationData: props.correlationData } }),
        });
      };
      const body = JSON.parse(payload.toString()) as Record<string, string>;
      if (topic.startsWith('seqr-vend/bench-fast/')) {
        reply({ invoiceReferenceId: '1' });
        return;
      }
      if (topic.endsWith('/ups-purchase')) {
        void client
          .sendInvoice({
            paymentMode: 'RESERVATION_REQUIRED_PRELIMINARY_AMOUNT',
            acknowledgmentMode: 'NO_ACKNOWLEDGMENT',
            title: 'Bench',
            clientInvoiceId: 'bench-ups',
            totalAmount: { minor: 3000, currency: 'SEK' },
            cashierId: 'ups',
            commitReservationTimeout: 60,
          })
          .then((sent) => {
            reply({ invoiceReferenceId: sent.invoiceReference });
          });
        return;
      }
      if (topic.endsWith('/seqr-notify')) {
        const ref = body['invoiceReference'] ?? '';
        void client.getPaymentStatus(ref, 0).then((status) => {
          if (status.status === 'PAID') noticed.set(ref, performance.now());
          reply({ known: true });
        });
      }
    });
    await mqtt.subscribeAsync(
      ['seqr-vend/bench-1/command/+/+', 'seqr-vend/bench-fast/command/+/+'],
      {
        qos: 1,
      },
    );

    // Scan -> createPurchase answered, alternating replicas.
    const scanMs: number[] = [];
    let scanFailures = 0;
    for (let i = 0; i < 100; i++) {
      await control(simBase, '/control/ups/config', {
        createPurchaseUrl: `${gateways[i % 2] ?? ''}/createPurchase`,
      });
      const start = performance.now();
      const result = (await control(simBase, '/control/ups/scan', {
        token: 'bench-1',
        amount: '50.00',
      })) as { outcome?: string };
      scanMs.push(performance.now() - start);
      if (result.outcome !== 'invoice') scanFailures += 1;
    }

    // createPurchase relay round trip, sequential, one kept-alive connection per replica.
    const agents = gateways.map(() => new https.Agent({ keepAlive: true, ca: tls.ca }));
    const body = JSON.stringify({ token: 'bench-fast', amount: '50.00', currency: 'SEK' });
    const relayMs: number[] = [];
    for (let i = 0; i < 400; i++) {
      const start = performance.now();
      await request(
        `${gateways[i % 2] ?? ''}/createPurchase`,
        body,
        'application/json',
        tls.ca,
        agents[i % 2],
      );
      relayMs.push(performance.now() - start);
    }
    // Throughput: 32 callers for 3 s over both replicas.
    let done = 0;
    const until = performance.now() + 3_000;
    await Promise.all(
      Array.from({ length: 32 }, async (_, k) => {
        while (performance.now() < until) {
          await request(
            `${gateways[k % 2] ?? ''}/createPurchase`,
            body,
            'application/json',
            tls.ca,
            agents[k % 2],
          );
          done += 1;
        }
      }),
    );
    const perSecond = done / 3;
    for (const agent of agents) agent.destroy();

    // PAID -> the machine knows: notification vs a 1 s poll (random phase), alternating replicas.
    const viaNotify: number[] = [];
    const viaPoll: number[] = [];
    for (let i = 0; i < 40; i++) {
      const notify = i % 2 === 0;
      const sent = await client.sendInvoice({
        paymentMode: 'IMMEDIATE_DEBIT',
        acknowledgmentMode: 'NO_ACKNOWLEDGMENT',
        title: 'Bench',
        clientInvoiceId: `bench-${i}`,
        totalAmount: { minor: 2500, currency: 'SEK' },
        cashierId: 'slot-1',
        ...(notify ? { notificationUrl: `${gateways[(i / 2) % 2] ?? ''}/notify/bench-1` } : {}),
      });
      const ref = sent.invoiceReference;
      let seenAt: number | undefined;
      let polling = true;
      const poller = notify
        ? Promise.resolve()
        : (async () => {
            await sleep(Math.random() * 1_000);
            while (polling) {
              const status = await client.getPaymentStatus(ref, 0);
              if (status.status === 'PAID') {
                seenAt = performance.now();
                return;
              }
              await sleep(1_000);
            }
          })();
      await sleep(Math.random() * 1_000);
      const paidAt = performance.now();
      await control(simBase, `/control/invoices/${ref}/pay`, {});
      const deadline = performance.now() + 5_000;
      while (performance.now() < deadline) {
        const at = notify ? noticed.get(ref) : seenAt;
        if (at !== undefined) {
          (notify ? viaNotify : viaPoll).push(at - paidAt);
          break;
        }
        await sleep(1);
      }
      polling = false;
      await poller;
    }

    const rss = children.slice(0, 2).map((c) => rssMiBOf(c.pid));
    await mqtt.endAsync();
    client.close();
    const figures: Figure[] = [
      ...latencyFigures('scan -> createPurchase answered', scanMs),
      { name: 'scans not answered with an invoice', value: scanFailures, unit: 'count' },
      ...latencyFigures('createPurchase relay round trip', relayMs),
      {
        name: 'createPurchase throughput, 2 replicas, 32 callers',
        value: perSecond,
        unit: 'per s',
      },
      ...latencyFigures('PAID -> machine knows, notification', viaNotify),
      ...latencyFigures('PAID -> machine knows, 1 s polling', viaPoll),
      { name: 'gateway RSS after the run (max of 2)', value: Math.max(...rss), unit: 'MiB' },
    ];
    return [
      {
        title: 'SEQR callback gateway (2 HTTPS replicas, Mosquitto, simulator process)',
        figures,
        note: `notification samples ${viaNotify.length}, polling samples ${viaPoll.length}; p50 notification ${percentile(viaNotify, 50).toFixed(1)} ms`,
      },
    ];
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await broker.close();
  }
};

export default bench;
