// The fleet end to end: real daemon processes (the built dist/, demo mode: the SEQR simulator and
// virtual hardware in each), a real Mosquitto broker, the sales collector; sales made through
// the kiosk API as a customer would, the broker and the machines killed at the moments that
// matter. `pretest` builds dist/.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type Broker } from '../../bench/fleet/mosquitto.js';
import { DaemonProcess } from '../../bench/torture/daemon-process.js';
import { runFleetCommand } from '../../daemon/cli/fleet-commands.js';
import { SqliteLedger, ledgerPath } from '../../daemon/ledger/sqlite-ledger.js';
import { requestControl } from '../../daemon/service/control-socket.js';
import { startCollector, tempDir, waitUntil } from './support.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const mainJs = path.join(repoRoot, 'dist', 'daemon', 'main.js');

let broker: Broker;
let dir: string;
let removeDir: () => void;
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  broker = await startBroker();
  ({ dir, remove: removeDir } = tempDir());
});
afterAll(async () => {
  await broker.close();
  removeDir();
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A machine: its config file and state directory; start() runs a daemon process on it. */
class Machine {
  readonly configPath: string;
  readonly stateDirectory: string;
  readonly socket: string;
  daemon: DaemonProcess | undefined;
  #incarnation = 0;

  constructor(readonly id: string) {
    const base = path.join(dir, id);
    this.configPath = `${base}.yaml`;
    this.stateDirectory = path.join(base, 'state');
    this.socket = path.join(base, 'control.sock');
    const config = {
      mode: 'demo',
      machine: { name: `Machine ${id}` },
      merchant: { name: 'Fleet Test AB' },
      products: [
        { slot: 1, name: 'Cola', price: '25.00', buttonPin: 5, relayPin: 17, pulseMs: 50 },
        { slot: 2, name: 'Water', price: '18.50', buttonPin: 6, relayPin: 27, pulseMs: 50 },
      ],
      buttons: { cancelPin: 26 },
      display: { sink: 'png', pngPath: path.join(base, 'screen.png'), width: 320, height: 240 },
      timeouts: { pollIntervalMs: 250, thankYouMs: 500, outcomeMs: 500 },
      stateDirectory: this.stateDirectory,
      credentialsDirectory: path.join(base, 'credentials'),
      control: { socketPath: this.socket },
      kiosk: { enabled: true, host: '127.0.0.1', port: 0 },
      fleet: { url: broker.url, machineId: id, statePeriodMs: 1_000 },
      log: { level: 'info' },
    };
    writeFileSync(this.configPath, JSON.stringify(config));
  }

  async start(): Promise<DaemonProcess> {
    const daemon = new DaemonProcess({
      mainJs,
      configPath: this.configPath,
      cwd: repoRoot,
      incarnation: ++this.#incarnation,
    });
    this.daemon = daemon;
    cleanups.push(() => daemon.stop(10_000));
    await daemon.whenReady(30_000);
    return daemon;
  }

  /** A customer buys `slot` and pays; resolves once the purchase is closed as sold. */
  async sell(slot = 1): Promise<void> {
    const daemon = this.daemon!;
    const post = async (route: string, body: unknown): Promise<void> => {
      const res = await fetch(`${daemon.kioskUrl!}${route}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (!res.ok) throw new Error(`${route}: ${String(res.status)} ${await res.text()}`);
    };
    const paying = daemon.waitFor((l) => l['to'] === 'awaitingPayment', 15_000, 'pay screen');
    await post('/api/press', { button: { kind: 'product', slot } });
    await paying;
    const sold = daemon.waitFor((l) => l['outcome'] === 'sold', 15_000, 'sold');
    await post('/api/customer', { action: 'pay' });
    await sold;
    await daemon.waitFor((l) => l['to'] === 'idle', 15_000, 'idle');
  }

  /** The ledger's outbox backlog, read as the operator's CLI would. */
  backlog(): number {
    const ledger = SqliteLedger.open({ path: ledgerPath(this.stateDirectory), readonly: true });
    try {
      return ledger.outboxBacklog().pending;
    } finally {
      void ledger.close();
    }
  }
}

function collector(name: string): ReturnType<typeof startCollector> {
  const c = startCollector(broker, path.join(dir, `${name}.sqlite`), name);
  cleanups.push(async () => {
    await c.collector.stop();
    c.store.close();
  });
  return c;
}

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runFleetCommand([...args, '--broker', broker.url, '--username', 'alice'], {
    stdout: { write: (t: string) => (out += t) },
    stderr: { write: (t: string) => (err += t) },
    env: {},
  });
  return { code, out, err };
}

describe('fleet end to end, real daemons and broker', () => {
  it('a sale on each of two machines reaches the collector once; the operator sees both and changes a price that holds after a restart', async () => {
    const { store, collector: c } = collector('c-two');
    await waitUntil(() => c.connected, 'collector');
    const a = new Machine('e2e-a');
    const b = new Machine('e2e-b');
    await Promise.all([a.start(), b.start()]);
    await Promise.all([a.sell(1), b.sell(2)]);
    await waitUntil(
      () => store.count() === 2,
      () => `2 events, got ${String(store.count())}`,
      20_000,
    );
    expect(store.events('e2e-a').map((e) => [e.outcome, e.slot, e.amountMinor])).toEqual([
      ['sold', 1, 2500],
    ]);
    expect(store.events('e2e-b').map((e) => [e.outcome, e.slot, e.amountMinor])).toEqual([
      ['sold', 2, 1850],
    ]);
    await waitUntil(() => a.backlog() === 0 && b.backlog() === 0, 'outboxes empty');

    // The retained state follows within a state period (1 s here) of the last change.
    let table = await cli(['--once']);
    for (let i = 0; i < 5 && !/e2e-b\s+yes\s+idle/.test(table.out); i++)
      table = await cli(['--once']);
    expect(table.code).toBe(0);
    expect(table.out).toMatch(/e2e-a\s+yes\s+idle\s+1\s+25\.00 SEK/);
    expect(table.out).toMatch(/e2e-b\s+yes\s+idle\s+1\s+18\.50 SEK/);

    const set = await cli(['set-price', 'e2e-a', '1', '19.50']);
    expect(set).toMatchObject({ code: 0 });
    expect(set.out).toMatch(/"effective": "nextStart"/);
    const bad = await cli(['set-price', 'e2e-a', '1', '12.345']);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^E_FLEET_COMMAND_INVALID: price/);
    const status = (await requestControl(a.socket)) as {
      catalog: { products: { price: string }[]; restartPending: boolean };
    };
    expect(status.catalog.products[0]!.price).toBe('19.50');
    expect(status.catalog.restartPending).toBe(true);

    await a.daemon!.stop(10_000);
    await a.start();
    const after = (await requestControl(a.socket)) as typeof status;
    expect(after.catalog).toMatchObject({ restartPending: false });
    expect(after.catalog.products[0]!.price).toBe('19.50');
    // The idle screen the customer sees sells at the new price.
    const res = await fetch(`${a.daemon!.kioskUrl!}/api/state`);
    const shown = (await res.json()) as {
      screen: { products: { slot: number; price: { minor: number } }[] };
    };
    expect(shown.screen.products.find((p) => p.slot === 1)?.price.minor).toBe(1950);
    expect(store.counter('duplicates')).toBe(0);
  }, 120_000);

  it('a sale made while the broker is killed and restarted reaches the collector once', async () => {
    const { store, collector: c } = collector('c-kill');
    await waitUntil(() => c.connected, 'collector');
    const m = new Machine('e2e-kill');
    await m.start();
    const daemon = m.daemon!;
    const paying = daemon.waitFor((l) => l['to'] === 'awaitingPayment', 15_000, 'pay screen');
    await fetch(`${daemon.kioskUrl!}/api/press`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ button: { kind: 'product', slot: 1 } }),
    });
    await paying;
    await broker.kill();
    const sold = daemon.waitFor((l) => l['outcome'] === 'sold', 15_000, 'sold');
    await fetch(`${daemon.kioskUrl!}/api/customer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'pay' }),
    });
    await sold;
    const status = (await requestControl(m.socket)) as {
      fleet: { broker: { connected: boolean }; warning: string };
    };
    expect(status.fleet.broker.connected).toBe(false);
    expect(status.fleet.warning).toMatch(/E_FLEET_UNREACHABLE/);
    await broker.start();
    await waitUntil(() => store.count() === 1, 'the sale at the collector', 30_000);
    await waitUntil(() => m.backlog() === 0, 'outbox empty', 10_000);
    expect(store.count()).toBe(1);
    expect(store.counter('duplicates')).toBe(0);
  }, 120_000);

  it('a machine SIGKILLed between the sale and its publish delivers it after restart, once', async () => {
    const { store, collector: c } = collector('c-sigkill');
    await waitUntil(() => c.connected, 'collector');
    const m = new Machine('e2e-sigkill');
    await m.start();
    await broker.stop();
    await m.sell(2);
    expect(m.backlog()).toBe(1);
    m.daemon!.kill();
    await m.daemon!.exited;
    await broker.start();
    expect(store.count()).toBe(0);
    await m.start();
    await waitUntil(() => store.count() === 1, 'the sale at the collector', 30_000);
    await waitUntil(() => m.backlog() === 0, 'outbox empty', 10_000);
    expect(store.events('e2e-sigkill').map((e) => e.slot)).toEqual([2]);
  }, 120_000);

  it('a machine offline for many sales delivers them all, in order, when the broker is back', async () => {
    const { store, collector: c } = collector('c-offline');
    await waitUntil(() => c.connected, 'collector');
    const m = new Machine('e2e-offline');
    await m.start();
    await broker.stop();
    const SALES = 12;
    for (let i = 0; i < SALES; i++) await m.sell((i % 2) + 1);
    expect(m.backlog()).toBe(SALES);
    await broker.start();
    await waitUntil(
      () => store.count() === SALES,
      () => `${String(SALES)} events, got ${String(store.count())}`,
      30_000,
    );
    const events = store.events('e2e-offline');
    expect(events.map((e) => e.slot)).toEqual(Array.from({ length: SALES }, (_, i) => (i % 2) + 1));
    expect(events.map((e) => e.closedAt)).toEqual([...events.map((e) => e.closedAt)].sort());
    await waitUntil(() => m.backlog() === 0, 'outbox empty', 10_000);
    expect(store.counter('duplicates')).toBe(0);
  }, 180_000);
});
