// Pay first, then choose through the daemon as an operator runs it: the built dist/daemon/main.js
// spawned in production mode with a configuration file (fake GPIO, the kiosk page's buttons, its
// fleet link on Mosquitto, `gateway:` and `ups:`), the terminal password from its credentials
// directory, SEQR at the simulator over loopback. The simulated SEQR calls createPurchase on
// gateway replica A; the payer's confirmation is notified to replica B, which is dead by then;
// the broker dies before the first press. Everything the test knows of the machine it reads from
// outside: its journal, its screens and relays (the kiosk's event stream and state), its relay
// record and its ledger file.
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type Broker } from '../../bench/broker.js';
import type { DaemonLine, DaemonProcess } from '../../bench/torture/daemon-process.js';
import {
  PRICES,
  machineOnline,
  press,
  pulses,
  startMachine,
  writeMachine,
} from '../../bench/ups-rig.js';
import { SqliteLedger, ledgerPath } from '../../daemon/ledger/sqlite-ledger.js';
import type { TransactionView } from '../../daemon/core/projection.js';
import { startSimulator, type SeqrSimulator } from '../../simulator/index.js';
import { tempDir } from '../fleet/support.js';
import { TERMINAL_PASSWORD } from '../seqr/support.js';
import { makeTestCa, startReplica, until, type Replica } from './support.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const mainJs = path.join(repoRoot, 'dist', 'daemon', 'main.js');
const MACHINE = 'vm-7';
const TERMINAL_ID = '87e791f9e24148a6892c52aa85bb0331';

let dir: string;
let broker: Broker;
let sim: SeqrSimulator;
let a: Replica;
let b: Replica;
let daemon: DaemonProcess;
let configPath: string;
const lines: DaemonLine[] = [];
const cleanups: (() => unknown)[] = [];

/** The parts of the kiosk's `/api/state` this test reads: the screen the machine shows. */
interface Shown {
  readonly kind: string;
  readonly credit?: { readonly minor: number };
  readonly vending?: unknown;
}

async function shown(): Promise<Shown | undefined> {
  const res = await fetch(`${daemon.kioskUrl!}/api/state`);
  return ((await res.json()) as { screen: Shown | null }).screen ?? undefined;
}

async function shows(check: (s: Shown) => boolean, what: string, ms = 10_000): Promise<Shown> {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = await shown();
    if (s && check(s)) return s;
    if (Date.now() > deadline) throw new Error(`${what}: shows ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The machine's ledger, read as the operator's CLI reads it. */
function reservation(ref: string): { view: TransactionView; types: string[] } {
  const ledger = SqliteLedger.open({ path: ledgerPath(path.join(dir, 'state')), readonly: true });
  try {
    const view = ledger.transactions().find((t) => t.invoiceReference === ref);
    if (!view) throw new Error(`no transaction for ${ref} in the ledger`);
    return { view, types: ledger.entries(view.txId).map((e) => e.type) };
  } finally {
    void ledger.close();
  }
}

function openTransactions(): string[] {
  const ledger = SqliteLedger.open({ path: ledgerPath(path.join(dir, 'state')), readonly: true });
  try {
    return [...ledger.openTransactionsSync().keys()];
  } finally {
    void ledger.close();
  }
}

/** Presses `slot` and resolves once its relay has pulsed and the machine offers the next choice. */
async function take(slot: number, creditAfter: number): Promise<void> {
  const edges: boolean[] = [];
  const off = daemon.onLine((l) => {
    if (l.msg === '(relay)' && l['slot'] === slot) edges.push(l['energised'] === true);
  });
  try {
    await press(daemon, { kind: 'product', slot });
    await until(() => edges.join() === 'true,false', 10_000, `slot ${slot}'s relay pulse`);
    await shows(
      (s) => s.kind === 'upsChoose' && s.vending === undefined && s.credit?.minor === creditAfter,
      `the choice after slot ${slot}`,
    );
  } finally {
    off();
  }
}

beforeAll(async () => {
  const temp = tempDir();
  dir = temp.dir;
  cleanups.push(temp.remove);
  const tls = makeTestCa();
  cleanups.push(() => {
    rmSync(tls.dir, { recursive: true, force: true });
  });
  broker = await startBroker();
  cleanups.push(() => broker.close());
  [a, b] = await Promise.all([startReplica(broker.url, tls), startReplica(broker.url, tls)]);
  cleanups.push(() => Promise.all([a, b].map((r) => r.gateway.stop().catch(() => undefined))));
  sim = await startSimulator({
    terminal: { id: TERMINAL_ID, password: TERMINAL_PASSWORD },
    missingAckMode: 'NO_ACKNOWLEDGMENT',
    ups: { createPurchaseUrl: `${a.base}/createPurchase`, merchantId: 'public_test_shop' },
    callbackCa: tls.ca,
  });
  cleanups.push(() => sim.close());
  const fleet = { brokerUrl: broker.url, machineId: MACHINE };
  configPath = writeMachine({
    dir,
    soapUrl: sim.soapUrl,
    terminalId: TERMINAL_ID,
    terminalPassword: TERMINAL_PASSWORD,
    fleet,
    gatewayUrl: b.base,
    ups: { merchantId: 'public_test_shop', maxCredit: '80' },
  });
  daemon = await startMachine(mainJs, configPath, fleet);
  cleanups.push(() => daemon.stop(10_000));
  daemon.onLine((l) => lines.push(l));
  await until(
    () => [a, b].every((r) => r.gateway.relay.status().connected),
    10_000,
    'both replicas on the broker',
  );
}, 60_000);

afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('SEQR -> gateway (two replicas) -> Mosquitto -> the daemon process, pay first, then choose', () => {
  it('a replica and the broker die mid-session: the delivered products are charged once, exactly', async () => {
    expect((await shown())?.kind).toBe('upsIdle');
    const scanned = await sim.control.scanUps({
      code: sim.control.upsCode(MACHINE),
      amount: '80.00',
    });
    if (scanned.outcome !== 'invoice') throw new Error(JSON.stringify(scanned));
    const ref = scanned.invoiceReference;
    expect(scanned.invoice).toMatchObject({ amount: { value: '80.00' }, status: 'ISSUED' });
    // createPurchase was answered after the reservation was recorded and sent.
    expect(reservation(ref).types).toContain('reservation.issued');
    await shows((s) => s.kind === 'upsConfirm', 'the confirm screen');

    // The notification's replica is gone: the daemon's polling alone brings RESERVED.
    await b.gateway.stop();
    sim.control.pay(ref);
    await shows((s) => s.kind === 'upsChoose' && s.credit?.minor === 8000, 'the choose screen');
    await until(
      () => reservation(ref).types.includes('reservation.reserved'),
      5_000,
      'RESERVED recorded',
    );
    await sim.control.callbacksSettled();
    const notified = sim.control.notifications().filter((x) => x.invoiceReference === ref);
    expect(notified.map((x) => x.url)).toEqual([`${b.base}/notify/${MACHINE}`]);
    expect(notified[0]?.httpStatus).not.toBe(200);

    // The broker dies: choosing, dispensing and committing need none of it.
    await broker.kill();
    await take(1, 8000 - 2500);
    await take(2, 8000 - 2500 - 1850);
    const closed = daemon.waitFor((l) => l['to'] === 'idle', 20_000, 'idle again');
    await press(daemon, { kind: 'cancel' });
    await until(() => sim.control.invoice(ref)?.status === 'PAID', 10_000, 'the commit');
    await closed;

    // Charged once, exactly what came out: the relay record, the ledger and SEQR agree.
    expect(pulses(dir)).toEqual([1, 2]);
    const delivered = pulses(dir).reduce((sum, slot) => sum + (PRICES[slot] ?? 0), 0);
    expect(sim.control.invoice(ref)).toMatchObject({
      committed: true,
      amount: { value: (delivered / 100).toFixed(2) },
    });
    const commits = sim.control
      .calls()
      .filter((c) => c.op === 'commitReservation' && c.reference === ref);
    expect(commits.filter((c) => c.resultCode === 0)).toHaveLength(1);
    const { view } = reservation(ref);
    expect(view.reservation).toMatchObject({
      committed: true,
      settling: { total: { minor: delivered } },
    });
    expect(openTransactions()).toEqual([]);
    expect(lines.some((l) => l.msg === 'fleet broker connected again')).toBe(false);

    // The broker is back: the next payer reaches the machine through replica A.
    await broker.start();
    await daemon.waitFor((l) => l.msg === 'fleet broker connected again', 30_000, 'the link back');
    await machineOnline(broker.url, MACHINE);
    await until(() => a.gateway.relay.status().connected, 15_000, 'replica A back on the broker');
    const again = await sim.control.scanUps({
      code: sim.control.upsCode(MACHINE),
      amount: '20.00',
    });
    if (again.outcome !== 'invoice') throw new Error(JSON.stringify(again));
    await shows((s) => s.kind === 'upsConfirm', 'the confirm screen for the next payer');
    const ended = daemon.waitFor((l) => l['from'] === 'session', 10_000, 'the session to end');
    sim.control.cancelInApp(again.invoiceReference);
    await ended;
    expect(sim.control.invoice(again.invoiceReference)?.committed).toBe(false);
    // Nothing else was charged or dispensed: one payment, for what came out.
    expect(sim.control.invoices().filter((i) => i.committed)).toHaveLength(1);
    expect(pulses(dir)).toEqual([1, 2]);
    await until(() => openTransactions().length === 0, 10_000, 'the second session closed');
    // An orderly stop after all that.
    expect(await daemon.stop(10_000)).toBe(0);
  }, 120_000);

  it('the daemon SIGKILLed mid-session: restarted, it commits what came out, once', async () => {
    const fleet = { brokerUrl: broker.url, machineId: MACHINE };
    if (!daemon.alive) daemon = await startMachine(mainJs, configPath, fleet, 2);
    const before = pulses(dir).length;
    const scanned = await sim.control.scanUps({
      code: sim.control.upsCode(MACHINE),
      amount: '80.00',
    });
    if (scanned.outcome !== 'invoice') throw new Error(JSON.stringify(scanned));
    const ref = scanned.invoiceReference;
    sim.control.pay(ref);
    await shows((s) => s.kind === 'upsChoose' && s.credit?.minor === 8000, 'the choose screen');
    await until(
      () => reservation(ref).types.includes('reservation.reserved'),
      5_000,
      'RESERVED recorded',
    );
    await take(3, 8000 - 1500);

    daemon.kill();
    await daemon.exited;
    // Nothing was committed before the crash: the reservation holds what the payer confirmed.
    expect(sim.control.invoice(ref)).toMatchObject({ status: 'RESERVED', committed: false });

    daemon = await startMachine(mainJs, configPath, fleet, 3);
    await until(() => sim.control.invoice(ref)?.status === 'PAID', 15_000, 'the commit');
    expect(sim.control.invoice(ref)).toMatchObject({
      committed: true,
      amount: { value: '15.00' },
    });
    expect(pulses(dir).slice(before)).toEqual([3]);
    const commits = sim.control
      .calls()
      .filter((c) => c.op === 'commitReservation' && c.reference === ref);
    expect(commits.filter((c) => c.resultCode === 0)).toHaveLength(1);
    await until(() => openTransactions().length === 0, 10_000, 'the reservation closed');
    expect(reservation(ref).view.reservation).toMatchObject({
      committed: true,
      settling: { total: { minor: 1500 } },
    });
    expect(await daemon.stop(10_000)).toBe(0);
  }, 90_000);
});
