// Pay first, then choose and notifications, as a machine sees them: the daemon's composition root
// (startApp, demo mode, virtual hardware) with SEQR at a simulator in its own process, two
// `seqr-vend gateway` processes (HTTPS) and Mosquitto. Figures:
// - PAID -> relay on, per-press purchase: with the gateway's notification against 1 s polling
//   alone (the payer pays at a random moment of the poll period);
// - scan -> createPurchase answered (SEQR -> gateway -> broker -> machine -> recorded, sendInvoice,
//   recorded -> back), the machine showing "confirm in the app" meanwhile;
//   and the payer's PIN -> "choose" screen (SEQR's notification -> status -> RESERVED).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseConfigText } from '../config/load.js';
import { startApp, type App } from '../daemon/app.js';
import { systemClock } from '../daemon/ports/clock.js';
import { startBroker, freePort, type Broker } from './broker.js';
import { fakeFramebuffer, oursConfigText, writeTerminalCredential } from './e2e-rig.js';
import { control, spawnUntil } from './gateway.bench.js';
import { latencyFigures, type Bench, type Figure } from './lib.js';
import { makeTestCa } from './tls.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const MAIN = path.resolve(here, '../daemon/main.js');
const SIM = path.resolve(here, '../simulator/main.js');
const TERMINAL = { id: '87e791f9e24148a6892c52aa85bb0331', password: 'Bench-Ups-Pw-1' };
const ROUNDS = 30;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nullSink = { write: (): boolean => true };

async function waitFor<T>(check: () => T | undefined, ms: number, what: string): Promise<T> {
  const end = performance.now() + ms;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(1);
  }
}

/** A daemon (startApp) for `machineId`, with the extra configuration sections given. */
async function machine(
  dir: string,
  soapUrl: string,
  machineId: string,
  extra: string,
): Promise<App> {
  mkdirSync(dir, { recursive: true });
  const device = fakeFramebuffer(dir);
  writeTerminalCredential(dir, TERMINAL.password);
  const text = `${oursConfigText({ dir, device, soapUrl, terminalId: TERMINAL.id })}${extra}`;
  const config = parseConfigText(
    text.replace('machine: { name: bench }', `machine: { name: ${machineId} }`),
    'bench',
    {},
  );
  return startApp({
    config,
    env: {},
    clock: systemClock,
    logDestination: nullSink,
    sysfsRoot: path.join(dir, 'no-sysfs'),
  });
}

function fleet(broker: Broker, machineId: string): string {
  return `fleet: { url: "${broker.url}", machineId: ${machineId} }\n`;
}

/** PAID -> relay on for `rounds` per-press purchases of `app`, paid at a random poll phase. */
async function paidToRelay(app: App, simBase: string, rounds: number): Promise<number[]> {
  const virtual = app.virtual;
  if (!virtual) throw new Error('no virtual hardware');
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
    await waitFor(() => (app.runtime.state().kind === 'idle' ? true : undefined), 20_000, 'idle');
    virtual.buttons.press({ kind: 'product', slot: 1 });
    const ref = await waitFor(
      () => {
        const s = app.runtime.state();
        return s.kind === 'awaitingPayment' ? s.invoice.reference : undefined;
      },
      5_000,
      'the pay screen',
    );
    await sleep(Math.random() * 1_000);
    let relayAt: number | undefined;
    const off = virtual.dispenser.onRelay((edge) => {
      if (edge.energised) relayAt ??= performance.now();
    });
    const paidAt = performance.now();
    await control(simBase, `/control/invoices/${ref}/pay`, {});
    samples.push((await waitFor(() => relayAt, 5_000, 'the relay')) - paidAt);
    off();
  }
  return samples;
}

const bench: Bench = async () => {
  const tls = makeTestCa();
  const broker = await startBroker();
  const children: ChildProcess[] = [];
  const apps: App[] = [];
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
    const soapUrl = `${simBase}/soap/merchant/cashregister-2`;
    const root = path.join(tls.dir, 'machines');

    // Per-press, with the notification (replica B), then polling alone.
    const notified = await machine(
      path.join(root, 'notify'),
      soapUrl,
      'bench-n',
      `${fleet(broker, 'bench-n')}gateway: { url: "${gateways[1] ?? ''}" }\n`,
    );
    apps.push(notified);
    await sleep(500);
    const viaNotify = await paidToRelay(notified, simBase, ROUNDS);
    await notified.stop();
    apps.pop();
    const polled = await machine(path.join(root, 'poll'), soapUrl, 'bench-p', '');
    apps.push(polled);
    const viaPoll = await paidToRelay(polled, simBase, ROUNDS);
    await polled.stop();
    apps.pop();

    // UPS: scan -> confirm screen; PIN -> choose screen.
    const ups = await machine(
      path.join(root, 'ups'),
      soapUrl,
      'bench-u',
      `${fleet(broker, 'bench-u')}gateway: { url: "${gateways[1] ?? ''}" }\nups: { merchantId: BENCH, maxCredit: "50" }\n`,
    );
    apps.push(ups);
    await sleep(500);
    const screens: { kind: string; at: number }[] = [];
    ups.runtime.onTransition(({ effects }) => {
      for (const e of effects)
        if (e.type === 'display.show') screens.push({ kind: e.screen.kind, at: performance.now() });
    });
    const scanMs: number[] = [];
    const chooseMs: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      await waitFor(() => (ups.runtime.state().kind === 'idle' ? true : undefined), 20_000, 'idle');
      const start = performance.now();
      const result = (await control(simBase, '/control/ups/scan', {
        token: 'bench-u',
        amount: '50.00',
      })) as { outcome?: string; invoiceReference?: string };
      if (result.outcome !== 'invoice' || result.invoiceReference === undefined)
        throw new Error(`scan not answered with an invoice: ${JSON.stringify(result)}`);
      // Answered: the machine recorded and sent its reservation, the payer's app can show it.
      scanMs.push(performance.now() - start);
      await waitFor(
        () => screens.find((s) => s.kind === 'upsConfirm' && s.at >= start),
        5_000,
        'the confirm screen',
      );
      await sleep(Math.random() * 1_000);
      const pinAt = performance.now();
      await control(simBase, `/control/invoices/${result.invoiceReference}/pay`, {});
      const choose = await waitFor(
        () => screens.find((s) => s.kind === 'upsChoose' && s.at >= pinAt),
        5_000,
        'the choose screen',
      );
      chooseMs.push(choose.at - pinAt);
      ups.virtual?.buttons.press({ kind: 'cancel' }); // nothing taken: cancelled
    }
    const figures: Figure[] = [
      ...latencyFigures('PAID -> relay, notification (gateway, broker)', viaNotify),
      ...latencyFigures('PAID -> relay, 1 s polling only', viaPoll),
      ...latencyFigures(
        'UPS scan -> createPurchase answered (reservation sent and recorded)',
        scanMs,
      ),
      ...latencyFigures('UPS PIN confirmed -> "choose" screen', chooseMs),
    ];
    return [
      {
        title:
          'Pay first, then choose and notifications (daemon in process, 2 gateway processes, Mosquitto, simulator process)',
        figures,
        note: `${ROUNDS} samples each; the payer acts at a random moment of the 1 s poll period`,
      },
    ];
  } finally {
    for (const app of apps) await app.stop().catch(() => undefined);
    for (const child of children) child.kill('SIGTERM');
    await broker.close();
  }
};

export default bench;
