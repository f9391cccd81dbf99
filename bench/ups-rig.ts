// A vending machine as an operator runs it, for the pay-first-then-choose test and benchmark: the
// built dist/daemon/main.js spawned with a configuration file in production mode (fake GPIO: the
// kiosk page's buttons and relay events stand in for the wiring), its terminal password in its
// credentials directory, SEQR at `soapUrl`, and optionally its fleet link, gateway and `ups:`.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { connectAsync } from 'mqtt';
import { writeTerminalCredential } from './e2e-rig.js';
import { parseRelayRecord } from './torture/checks.js';
import { DaemonProcess } from './torture/daemon-process.js';

/** The machine's products: slot -> price in minor units. */
export const PRICES: Readonly<Record<number, number>> = { 1: 2500, 2: 1850, 3: 1500 };

export interface MachineOptions {
  /** Its own directory: config, credentials, state, control socket, relay record. */
  readonly dir: string;
  readonly soapUrl: string;
  readonly terminalId: string;
  readonly terminalPassword: string;
  readonly fleet?: { readonly brokerUrl: string; readonly machineId: string };
  /** The gateway's base URL (`gateway.url`). */
  readonly gatewayUrl?: string;
  readonly ups?: { readonly merchantId: string; readonly maxCredit: string };
}

/** Writes the machine's credential and configuration; returns the configuration's path. */
export function writeMachine(o: MachineOptions): string {
  mkdirSync(o.dir, { recursive: true });
  writeTerminalCredential(o.dir, o.terminalPassword);
  const product = (slot: number, name: string, pins: readonly [number, number, number]) => ({
    slot,
    name,
    price: ((PRICES[slot] ?? 0) / 100).toFixed(2),
    buttonPin: pins[0],
    relayPin: pins[1],
    pulseMs: 50,
    dropSensor: { pin: pins[2] },
  });
  const config = {
    mode: 'production',
    machine: { name: 'UPS machine' },
    merchant: { name: 'UPS Test AB' },
    products: [
      product(1, 'Cola', [5, 17, 16]),
      product(2, 'Water', [6, 27, 20]),
      product(3, 'Crisps', [13, 22, 21]),
    ],
    buttons: { cancelPin: 26 },
    gpio: { backend: 'fake' },
    display: { sink: 'png', width: 320, height: 240 },
    seqr: { endpoint: o.soapUrl, terminalId: o.terminalId },
    // Only the screens that say thank you or what happened are shortened.
    timeouts: { thankYouMs: 500, outcomeMs: 500 },
    stateDirectory: path.join(o.dir, 'state'),
    credentialsDirectory: path.join(o.dir, 'credentials'),
    control: { socketPath: path.join(o.dir, 'control.sock') },
    kiosk: { enabled: true, host: '127.0.0.1', port: 0 },
    virtual: { recordFile: path.join(o.dir, 'relay.jsonl') },
    ...(o.fleet ? { fleet: { url: o.fleet.brokerUrl, machineId: o.fleet.machineId } } : {}),
    ...(o.gatewayUrl === undefined ? {} : { gateway: { url: o.gatewayUrl } }),
    ...(o.ups ? { ups: o.ups } : {}),
    log: { level: 'info' },
  };
  const file = path.join(o.dir, 'config.yaml');
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

/**
 * Spawns the daemon on `configPath`; resolves once it is ready with its kiosk's event stream open
 * and, with `fleet`, online on the broker (its request subscription made: it answers the gateway).
 */
export async function startMachine(
  mainJs: string,
  configPath: string,
  fleet?: { readonly brokerUrl: string; readonly machineId: string },
  incarnation = 1,
): Promise<DaemonProcess> {
  const daemon = new DaemonProcess({
    mainJs,
    configPath,
    cwd: path.dirname(configPath),
    incarnation,
  });
  try {
    const linked = fleet
      ? daemon.waitFor((l) => l.msg === 'fleet broker connected', 30_000, 'broker link')
      : undefined;
    await daemon.whenReady(30_000);
    if (fleet) {
      await linked;
      await machineOnline(fleet.brokerUrl, fleet.machineId);
    }
    return daemon;
  } catch (err) {
    daemon.kill();
    throw new Error(`${(err as Error).message}\n${daemon.tail.slice(-20).join('\n')}`, {
      cause: err,
    });
  }
}

/**
 * Resolves once the machine's retained availability is `online`. It publishes that after its
 * command subscription on each connection, so from then on the gateway's requests reach it.
 */
export async function machineOnline(brokerUrl: string, machineId: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const client = await connectAsync(brokerUrl, { reconnectPeriod: 0, connectTimeout: 2_000 });
    try {
      const seen = await new Promise<string | undefined>((resolve) => {
        const timer = setTimeout(() => {
          resolve(undefined);
        }, 500);
        client.on('message', (_topic, payload: Buffer) => {
          clearTimeout(timer);
          resolve(payload.toString());
        });
        void client.subscribeAsync(`seqr-vend/${machineId}/availability`, { qos: 1 });
      });
      if (seen === 'online') return;
    } finally {
      await client.endAsync(true);
    }
    if (Date.now() > deadline) throw new Error(`${machineId} never online on the broker`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A button pressed on the kiosk page (the machine's buttons on fake GPIO). */
export async function press(
  daemon: DaemonProcess,
  button: { readonly kind: 'product'; readonly slot: number } | { readonly kind: 'cancel' },
): Promise<void> {
  const res = await fetch(`${daemon.kioskUrl ?? ''}/api/press`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ button }),
  });
  if (res.status !== 204) throw new Error(`press: ${String(res.status)} ${await res.text()}`);
}

/** The relay pulses the machine recorded (synced before each pulse), slot by slot. */
export function pulses(dir: string): number[] {
  const text = readFileSync(path.join(dir, 'relay.jsonl'), 'utf8');
  return parseRelayRecord(text)
    .records.filter((r) => r.energised)
    .map((r) => r.slot);
}
