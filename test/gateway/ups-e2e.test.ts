// Pay first, then choose end to end over loopback, every hop real: the simulated SEQR calls
// createPurchase on gateway replica A over HTTPS, the request crosses Mosquitto to the machine's
// fleet link, the machine's core sends the reservation with the project's SOAP client; the payer
// confirms; SEQR's notification goes to replica B. Replica B and then the broker die mid-session:
// the machine's own polling sees RESERVED, the buttons choose, the commit goes out over SOAP
// without the broker. Nothing is lost or charged twice; with the broker back, the next payer is
// served through replica A.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveGateway } from '../../daemon/app/fleet.js';
import { MqttLink } from '../../daemon/fleet/link.js';
import { RequestRouter } from '../../daemon/fleet/requests.js';
import { machineTopics } from '../../daemon/fleet/topics.js';
import { MemoryLedger } from '../../daemon/ledger/memory-ledger.js';
import { systemClock } from '../../daemon/ports/clock.js';
import { createRuntime, type Runtime } from '../../daemon/runtime/runtime.js';
import type { SeqrClient } from '../../daemon/seqr/client.js';
import { SeqrPaymentGateway } from '../../daemon/seqr/gateway.js';
import { FakeButtons } from '../../hardware/buttons/fake-buttons.js';
import { FakeDispenser } from '../../hardware/dispenser/fake-dispenser.js';
import { FakeDisplay } from '../../hardware/display/fake-display.js';
import { FakePrinter } from '../../hardware/printer/fake-printer.js';
import { startSimulator, type SeqrSimulator } from '../../simulator/index.js';
import { startBroker, type Broker } from '../../bench/broker.js';
import { upsConfig } from '../core/reservation-world.js';
import { clientFor, RESELLER_PASSWORD, TERMINAL_PASSWORD } from '../seqr/support.js';
import { captureLog } from '../support/harness.js';
import { makeTestCa, startReplica, until, type Replica } from './support.js';

let broker: Broker;
let sim: SeqrSimulator;
let client: SeqrClient;
let a: Replica;
let b: Replica;
let link: MqttLink;
let runtime: Runtime;
const buttons = new FakeButtons({ clock: systemClock, slots: [1, 2, 3] });
const dispenser = new FakeDispenser({ clock: systemClock, slots: [1, 2, 3], pulseMs: 50 });
const display = new FakeDisplay();
const ledger = new MemoryLedger();

beforeAll(async () => {
  const tls = makeTestCa();
  broker = await startBroker();
  [a, b] = await Promise.all([startReplica(broker.url, tls), startReplica(broker.url, tls)]);
  sim = await startSimulator({
    terminal: { id: '87e791f9e24148a6892c52aa85bb0331', password: TERMINAL_PASSWORD },
    reseller: { id: 'public_test_shop', userId: '9900', password: RESELLER_PASSWORD },
    missingAckMode: 'NO_ACKNOWLEDGMENT',
    ups: { createPurchaseUrl: `${a.base}/createPurchase` },
    callbackCa: tls.ca,
  });
  client = await clientFor(sim);
  const { log } = captureLog();
  let n = 0;
  runtime = createRuntime({
    gateway: new SeqrPaymentGateway(client),
    buttons,
    dispenser,
    display,
    printer: new FakePrinter({ clock: systemClock }),
    ledger,
    clock: systemClock,
    log,
    config: {
      ...upsConfig,
      notificationUrl: `${b.base}/notify/vm-1`,
      ups: { ...upsConfig.ups!, code: sim.control.upsCode('vm-1') },
    },
    newTxId: () => `vm-1-tx-${++n}`,
  });
  await runtime.start();
  link = MqttLink.open({
    url: broker.url,
    clientId: 'vm-1',
    will: { topic: 'seqr-vend/vm-1/availability', payload: 'offline' },
    clock: systemClock,
    log,
    minBackoffMs: 100,
    maxBackoffMs: 300,
  });
  serveGateway(new RequestRouter(link, machineTopics('seqr-vend', 'vm-1'), log), runtime);
  await until(
    () => link.status().connected && [a, b].every((r) => r.gateway.relay.status().connected),
    10_000,
    'the machine and both replicas on the broker',
  );
}, 30_000);

afterAll(async () => {
  await runtime.stop();
  await link.close();
  client.close();
  await sim.close();
  await Promise.all([a, b].map((r) => r.gateway.stop().catch(() => undefined)));
  await broker.close();
});

const screen = (): string | undefined => display.current?.kind;
/** Choosing, with no vend running: the next press is served. */
const ready = (): boolean => {
  const s = runtime.state();
  return (
    s.kind === 'session' &&
    s.session.kind === 'choosing' &&
    s.session.recorded &&
    s.session.running === undefined
  );
};

describe('SEQR -> gateway (two replicas) -> Mosquitto -> daemon, pay first, then choose', () => {
  it('a replica and the broker die mid-session: the delivered products are charged once, exactly', async () => {
    expect(screen()).toBe('upsIdle');
    const scanned = await sim.control.scanUps({
      code: sim.control.upsCode('vm-1'),
      amount: '80.00',
    });
    if (scanned.outcome !== 'invoice') throw new Error(JSON.stringify(scanned));
    const ref = scanned.invoiceReference;
    expect(scanned.invoice).toMatchObject({ amount: { value: '80.00' }, status: 'ISSUED' });
    expect(screen()).toBe('upsConfirm');

    // The notification's replica is gone: polling alone brings RESERVED.
    await b.gateway.stop();
    sim.control.pay(ref);
    await until(ready, 5_000, 'the choose screen');
    expect(screen()).toBe('upsChoose');
    await sim.control.callbacksSettled();
    expect(sim.control.notifications().find((x) => x.invoiceReference === ref)).toBeDefined();
    expect(
      sim.control.notifications().find((x) => x.invoiceReference === ref)?.httpStatus,
    ).not.toBe(200);

    // The broker dies: choosing, dispensing and committing need none of it.
    await broker.kill();
    buttons.press({ kind: 'product', slot: 1 });
    await until(() => dispenser.dispenses.length === 1, 5_000, 'the first dispense');
    await until(ready, 5_000, 'choose again');
    buttons.press({ kind: 'product', slot: 2 });
    await until(() => dispenser.dispenses.length === 2, 5_000, 'the second dispense');
    await until(ready, 5_000, 'the second vend to end');
    buttons.press({ kind: 'cancel' });
    await until(() => sim.control.invoice(ref)?.status === 'PAID', 5_000, 'the commit');
    expect(sim.control.invoice(ref)).toMatchObject({ committed: true, amount: { value: '40.00' } });
    const commits = sim.control
      .calls()
      .filter((c) => c.op === 'commitReservation' && c.reference === ref);
    expect(commits.filter((c) => c.resultCode === 0)).toHaveLength(1);
    await until(() => runtime.state().kind === 'idle', 15_000, 'idle again');
    const open = await ledger.openTransactions();
    expect([...open.keys()]).toEqual([]);

    // The broker is back: the next payer reaches the machine through replica A.
    await broker.start();
    await until(
      () => link.status().connected && a.gateway.relay.status().connected,
      15_000,
      'the machine and replica A back on the broker',
    );
    const again = await sim.control.scanUps({ code: sim.control.upsCode('vm-1'), amount: '20.00' });
    if (again.outcome !== 'invoice') throw new Error(JSON.stringify(again));
    sim.control.cancelInApp(again.invoiceReference);
    await until(
      () => runtime.state().kind === 'idle' || runtime.state().kind === 'notice',
      5_000,
      'the cancelled reservation to end',
    );
    expect(sim.control.invoice(again.invoiceReference)?.committed).toBe(false);
    // Nothing else was charged: one payment, for what came out.
    expect(sim.control.invoices().filter((i) => i.committed)).toHaveLength(1);
    expect(dispenser.dispenses).toHaveLength(2);
  }, 60_000);
});
