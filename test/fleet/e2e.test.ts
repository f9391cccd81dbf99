// The fleet end to end: real daemon processes (the built dist/, demo mode: the SEQR simulator and
// virtual hardware in each), a real Mosquitto broker, the sales collector; sales made through
// the kiosk API as a customer would, the broker and the machines killed at the moments that
// matter. `pretest` builds dist/.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type Broker } from '../../bench/broker.js';
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
  broker = await startBroker({ persistence: true });
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

  async start(linked = false): Promise<DaemonProcess> {
    const daemon = new DaemonProcess({
      mainJs,
      configPath: this.configPath,
      cwd: repoRoot,
      incarnation: ++this.#incarnation,
    });
    this.daemon = daemon;
    cleanups.push(() => daemon.stop(10_000));
    // With `linked`, also the broker link (commands are answered from then on).
    const link = linked
      ? daemon.waitFor((l) => l.msg === 'fleet broker connected', 30_000, 'broker link')
      : undefined;
    await daemon.whenReady(30_000);
    if (link) {
      await link;
      // Its availability is published after its command subscription (the broker takes one
      // client's packets in order): once the operator's table shows it online, it hears commands.
      const online = new RegExp(`^${this.id}\\s+yes`, 'm');
      for (let i = 0; !online.test((await cli(['--once'])).out); i++)
        if (i === 20) throw new Error(`${this.id} never shown online`);
    }
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

  /** What the machine's display shows now (the kiosk's view of it). */
  async screen(): Promise<Screen> {
    const res = await fetch(`${this.daemon!.kioskUrl!}/api/state`);
    return ((await res.json()) as { screen: Screen }).screen;
  }

  /** Resolves once the display shows what `check` accepts (a screen is drawn after its event). */
  async shows(check: (s: Screen) => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 5_000;
    let last = await this.screen();
    while (!check(last)) {
      if (Date.now() > deadline) throw new Error(`${what}: shows ${JSON.stringify(last)}`);
      await new Promise((r) => setTimeout(r, 50));
      last = await this.screen();
    }
  }

  /** Presses a product button; resolves false when no pay screen followed within `ms`. */
  async pressSells(slot: number, ms = 1_500): Promise<boolean> {
    const daemon = this.daemon!;
    const paying = daemon.waitFor((l) => l['to'] === 'awaitingPayment', ms, 'pay screen');
    await fetch(`${daemon.kioskUrl!}/api/press`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ button: { kind: 'product', slot } }),
    });
    return paying.then(
      () => true,
      () => false,
    );
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

/** The parts of a screen these tests read. */
interface Screen {
  readonly kind: string;
  readonly reason?: string;
  readonly products?: readonly {
    slot: number;
    price: { minor: number };
    soldOut: boolean;
    unavailable?: boolean;
  }[];
}

const price = (s: Screen, slot: number): number | undefined =>
  s.products?.find((p) => p.slot === slot)?.price.minor;
const soldOut = (s: Screen, slot: number): boolean =>
  s.products?.find((p) => p.slot === slot)?.soldOut === true;
const maintenance = (s: Screen): boolean => s.kind === 'outOfService' && s.reason === 'maintenance';

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
    expect(set.out).toMatch(/"effective": "now"/);
    const bad = await cli(['set-price', 'e2e-a', '1', '12.345']);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^E_FLEET_COMMAND_INVALID: price/);
    const status = (await requestControl(a.socket)) as {
      catalog: { products: { price: string }[] };
    };
    expect(status.catalog.products[0]!.price).toBe('19.50');
    // The idle screen the customer sees sells at the new price at once, and after a restart.
    await a.shows((s) => price(s, 1) === 1950, 'the new price at once');
    await a.daemon!.stop(10_000);
    await a.start();
    const after = (await requestControl(a.socket)) as typeof status;
    expect(after.catalog.products[0]!.price).toBe('19.50');
    await a.shows((s) => price(s, 1) === 1950, 'the new price after the restart');
    await a.sell(1);
    await waitUntil(() => store.count() === 3, 'the sale at the new price', 20_000);
    expect(store.events('e2e-a').map((e) => e.amountMinor)).toEqual([2500, 1950]);
    expect(store.counter('duplicates')).toBe(0);
  }, 120_000);

  it("the operator's new price (a customer paying keeps the old one), refill and maintenance change what the machine does at once, and hold after a restart", async () => {
    const { store, collector: c } = collector('c-ops');
    await waitUntil(() => c.connected, 'collector');
    const m = new Machine('e2e-ops');
    await m.start(true);

    // A new price while a customer pays: that purchase keeps its price, the next pays the new one.
    expect(await m.pressSells(2, 15_000)).toBe(true);
    expect(await cli(['set-price', 'e2e-ops', '2', '9.90'])).toMatchObject({ code: 0 });
    const sold = m.daemon!.waitFor((l) => l['outcome'] === 'sold', 15_000, 'sold');
    const paid = await fetch(`${m.daemon!.kioskUrl!}/api/customer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'pay' }),
    });
    expect(paid.ok).toBe(true);
    await sold;
    await m.shows((s) => s.kind === 'idle' && price(s, 2) === 990, 'idle at the new price');
    await m.sell(2);
    await waitUntil(() => store.count() === 2, 'both sales at the collector', 20_000);
    expect(store.events('e2e-ops').map((e) => e.amountMinor)).toEqual([1850, 990]);

    const refill = await cli(['refill', 'e2e-ops', '1', '1']);
    expect(refill).toMatchObject({ code: 0 });
    expect(refill.out).toMatch(/"effective": "now"/);
    await m.sell(1);
    // The one item is gone: sold out on screen, its button sells nothing.
    await m.shows((s) => s.kind === 'idle' && soldOut(s, 1), 'slot 1 sold out');
    expect(await m.pressSells(1)).toBe(false);

    const on = await cli(['maintenance', 'e2e-ops', 'on']);
    expect(on).toMatchObject({ code: 0 });
    await m.shows(maintenance, 'maintenance screen');
    expect(await m.pressSells(2)).toBe(false);

    // A restart keeps both: maintenance, and slot 1's count (the refill less the sale since).
    await m.daemon!.stop(10_000);
    await m.start(true);
    await m.shows(maintenance, 'maintenance screen after the restart');
    const status = (await requestControl(m.socket)) as {
      catalog: { products: { slot: number; stock: number | null }[]; maintenance: boolean };
    };
    expect(status.catalog.maintenance).toBe(true);
    expect(status.catalog.products.find((p) => p.slot === 1)?.stock).toBe(0);
    expect(await m.pressSells(2)).toBe(false);

    expect(await cli(['maintenance', 'e2e-ops', 'off'])).toMatchObject({ code: 0 });
    await m.shows((s) => s.kind === 'idle' && soldOut(s, 1), 'idle, slot 1 still sold out');
    expect(await m.pressSells(1)).toBe(false);
    expect(await cli(['refill', 'e2e-ops', '1', '5'])).toMatchObject({ code: 0 });
    await m.sell(1);
    const later = (await requestControl(m.socket)) as typeof status;
    expect(later.catalog.products.find((p) => p.slot === 1)?.stock).toBe(4);
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
