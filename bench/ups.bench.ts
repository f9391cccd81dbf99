// Pay first, then choose and notifications, measured from outside the machine: each daemon is the
// built dist/daemon/main.js spawned with a configuration file (production mode, fake GPIO, the
// kiosk page's buttons and its event stream for the screens and relays), SEQR is a simulator in
// its own process, the gateway two `seqr-vend gateway` processes (HTTPS), the broker Mosquitto.
// Figures, each timed in this process from the moment the simulated payer acts:
// - PAID -> relay on, per-press purchase: with the gateway's notification against 1 s polling
//   alone (the payer pays at a random moment of the poll period);
// - scan -> createPurchase answered (SEQR -> gateway -> broker -> machine -> recorded, sendInvoice,
//   recorded -> back) and scan -> "confirm in the app" screen;
// - the payer's PIN -> "choose" screen (SEQR's notification -> status -> RESERVED).
import { rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startBroker, freePort } from './broker.js';
import { control, spawnUntil } from './gateway.bench.js';
import { latencyFigures, type Bench, type Figure } from './lib.js';
import { makeTestCa } from './tls.js';
import type { DaemonLine, DaemonProcess } from './torture/daemon-process.js';
import { press, startMachine, writeMachine, type MachineOptions } from './ups-rig.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const MAIN = path.resolve(here, '../daemon/main.js');
const SIM = path.resolve(here, '../simulator/main.js');
const TERMINAL = { id: '87e791f9e24148a6892c52aa85bb0331', password: 'Bench-Ups-Pw-1' };
const ROUNDS = 30;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const load = (): string =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(', ');

/** The next line `match` accepts, and when it arrived here (performance.now()). */
async function arrival(
  daemon: DaemonProcess,
  match: (line: DaemonLine) => boolean,
  what: string,
): Promise<{ line: DaemonLine; at: number }> {
  let at = 0;
  const line = await daemon.waitFor(
    (l) => {
      if (!match(l)) return false;
      at = performance.now();
      return true;
    },
    10_000,
    what,
  );
  return { line, at };
}

async function idle(daemon: DaemonProcess): Promise<void> {
  const end = performance.now() + 20_000;
  while (daemon.state !== 'idle') {
    if (performance.now() > end) throw new Error(`not idle: ${daemon.state ?? '(none)'}`);
    await sleep(5);
  }
}

const frame = (screen: string) => (l: DaemonLine) => l.msg === '(frame)' && l['screen'] === screen;

/** PAID -> relay on for `rounds` per-press purchases, paid at a random poll phase. */
async function paidToRelay(daemon: DaemonProcess, simBase: string): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    await idle(daemon);
    const paying = arrival(
      daemon,
      (l) => l.msg === '(frame)' && typeof l['invoiceReference'] === 'string',
      'the pay screen',
    );
    await press(daemon, { kind: 'product', slot: 1 });
    const ref = (await paying).line['invoiceReference'] as string;
    await sleep(Math.random() * 1_000);
    const relay = arrival(
      daemon,
      (l) => l.msg === '(relay)' && l['energised'] === true,
      'the relay',
    );
    const paidAt = performance.now();
    await control(simBase, `/control/invoices/${ref}/pay`, {});
    samples.push((await relay).at - paidAt);
  }
  return samples;
}

const bench: Bench = async () => {
  const tls = makeTestCa();
  const broker = await startBroker();
  const children: ChildProcess[] = [];
  const daemons: DaemonProcess[] = [];
  const loadBefore = load();
  try {
    const gatewayPorts = [await freePort(), await freePort()];
    for (const [i, port] of gatewayPorts.entries()) {
      const file = path.join(tls.dir, `gateway-${i}.yaml`);
      writeFileSync(
        file,
        `listen: { host: 127.0.0.1, port: ${port} }\ntls: { certFile: ${tls.certFile}, keyFile: ${tls.keyFile} }\nbroker: { url: "${broker.url}" }\n`,
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
          `${gateways[0] ?? ''}/createPurchase`,
        ],
        'SEQR simulator listening',
        { NODE_EXTRA_CA_CERTS: tls.caFile },
      ),
    );
    const simBase = `http://127.0.0.1:${simPort}`;
    const root = path.join(tls.dir, 'machines');
    const machine = async (
      name: string,
      extra: Partial<MachineOptions>,
    ): Promise<DaemonProcess> => {
      const fleet = extra.fleet;
      const daemon = await startMachine(
        MAIN,
        writeMachine({
          dir: path.join(root, name),
          soapUrl: `${simBase}/soap/merchant/cashregister-2`,
          terminalId: TERMINAL.id,
          terminalPassword: TERMINAL.password,
          ...extra,
        }),
        fleet,
      );
      daemons.push(daemon);
      return daemon;
    };
    const stop = async (daemon: DaemonProcess): Promise<void> => {
      await daemon.stop(10_000);
      daemons.splice(daemons.indexOf(daemon), 1);
    };

    // Per-press, with the notification (replica B), then polling alone.
    const notified = await machine('notify', {
      fleet: { brokerUrl: broker.url, machineId: 'bench-n' },
      gatewayUrl: gateways[1] ?? '',
    });
    const viaNotify = await paidToRelay(notified, simBase);
    await stop(notified);
    const polled = await machine('poll', {});
    const viaPoll = await paidToRelay(polled, simBase);
    await stop(polled);

    // UPS: scan -> answered and "confirm" screen; PIN -> "choose" screen.
    const ups = await machine('ups', {
      fleet: { brokerUrl: broker.url, machineId: 'bench-u' },
      gatewayUrl: gateways[1] ?? '',
      ups: { merchantId: 'BENCH', maxCredit: '50' },
    });
    const scanMs: number[] = [];
    const confirmMs: number[] = [];
    const chooseMs: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      await idle(ups);
      const confirm = arrival(ups, frame('upsConfirm'), 'the confirm screen');
      const start = performance.now();
      const result = (await control(simBase, '/control/ups/scan', {
        token: 'bench-u',
        amount: '50.00',
      })) as { outcome?: string; invoiceReference?: string };
      if (result.outcome !== 'invoice' || result.invoiceReference === undefined)
        throw new Error(`scan not answered with an invoice: ${JSON.stringify(result)}`);
      // Answered: the machine recorded and sent its reservation, the payer's app can show it.
      scanMs.push(performance.now() - start);
      confirmMs.push((await confirm).at - start);
      await sleep(Math.random() * 1_000);
      const choose = arrival(ups, frame('upsChoose'), 'the choose screen');
      const pinAt = performance.now();
      await control(simBase, `/control/invoices/${result.invoiceReference}/pay`, {});
      chooseMs.push((await choose).at - pinAt);
      await press(ups, { kind: 'cancel' }); // nothing taken: cancelled
    }
    await stop(ups);
    const figures: Figure[] = [
      ...latencyFigures('PAID -> relay, notification (gateway, broker)', viaNotify),
      ...latencyFigures('PAID -> relay, 1 s polling only', viaPoll),
      ...latencyFigures(
        'UPS scan -> createPurchase answered (reservation sent and recorded)',
        scanMs,
      ),
      ...latencyFigures('UPS scan -> "confirm in the app" screen', confirmMs),
      ...latencyFigures('UPS PIN confirmed -> "choose" screen', chooseMs),
    ];
    return [
      {
        title:
          'Pay first, then choose and notifications (daemon processes, 2 gateway processes, Mosquitto, simulator process)',
        figures,
        note: `${ROUNDS} samples each, timed outside the daemon (screens and relays from its kiosk event stream); the payer acts at a random moment of the 1 s poll period; load average (1, 5, 15 min) ${loadBefore} before, ${load()} after`,
      },
    ];
  } finally {
    for (const daemon of daemons) await daemon.stop(10_000).catch(() => undefined);
    for (const child of children) child.kill('SIGTERM');
    await broker.close();
    rmSync(tls.dir, { recursive: true, force: true });
  }
};

export default bench;
