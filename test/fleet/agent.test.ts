// The fleet agent against a real Mosquitto broker (started by the test on a free port), with a
// fake machine behind the port: sales stream, state, alerts, commands and their bounds.
import path from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeMachine } from '../../bench/fleet/fake-machine.js';
import { startBroker, type Broker } from '../../bench/broker.js';
import { FleetOperator } from '../../daemon/fleet/operator.js';
import {
  access,
  PREFIX,
  startAgent,
  startCollector,
  tempDir,
  waitUntil,
  type RunningAgent,
} from './support.js';

let broker: Broker;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  broker = await startBroker({ persistence: true });
});
afterAll(async () => {
  await broker.close();
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  if (!(await isUp())) await broker.start();
});

async function isUp(): Promise<boolean> {
  try {
    const c = await connectAsync(broker.url, { reconnectPeriod: 0, connectTimeout: 1_000 });
    await c.endAsync();
    return true;
  } catch {
    return false;
  }
}

function agentFor(
  machine: FakeMachine,
  id: string,
  extra: Parameters<typeof startAgent>[3] = {},
): RunningAgent {
  const running = startAgent(broker, machine, id, extra);
  cleanups.push(() => running.agent.stop());
  return running;
}

async function subscriber(
  filter: string,
): Promise<{ client: MqttClient; messages: { topic: string; text: string; retain: boolean }[] }> {
  const client = await connectAsync(broker.url, { protocolVersion: 5, reconnectPeriod: 0 });
  const messages: { topic: string; text: string; retain: boolean }[] = [];
  client.on('message', (topic, payload, packet) => {
    messages.push({ topic, text: payload.toString(), retain: packet.retain });
  });
  await client.subscribeAsync(filter, { qos: 1 });
  cleanups.push(() => client.endAsync());
  return { client, messages };
}

async function operator(): Promise<FleetOperator> {
  const op = await FleetOperator.connect(access(broker), 'alice');
  cleanups.push(() => op.close());
  return op;
}

describe('fleet agent, sales stream', () => {
  it('delivers every sale once, in order, and empties the outbox only after PUBACK', async () => {
    const { dir, remove } = tempDir();
    cleanups.push(remove);
    const { store, collector } = startCollector(broker, path.join(dir, 'sales.sqlite'), 'c-order');
    cleanups.push(async () => {
      await collector.stop();
      store.close();
    });
    await waitUntil(() => collector.connected, 'collector');
    const machine = new FakeMachine('m-order');
    const { link } = agentFor(machine, 'm-order');
    await waitUntil(() => link.connected, 'link');
    for (let i = 0; i < 50; i++) machine.sell((i % 3) + 1, 100 + i);
    await waitUntil(() => store.count() === 50, '50 sales stored');
    await waitUntil(() => machine.pendingEvents.length === 0, 'outbox empty');
    expect(store.events('m-order').map((e) => e.seq)).toEqual(
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    expect(store.counter('duplicates')).toBe(0);
  });

  it('sells with the broker down: events wait in the outbox, in-flight stays bounded, all arrive in order once it is back', async () => {
    const { dir, remove } = tempDir();
    cleanups.push(remove);
    // The collector's persistent session is known to the broker before it goes away.
    const { store, collector } = startCollector(broker, path.join(dir, 'sales.sqlite'), 'c-down');
    cleanups.push(async () => {
      await collector.stop();
      store.close();
    });
    await waitUntil(() => collector.connected, 'collector');
    const machine = new FakeMachine('m-down');
    await broker.stop();
    const { agent, lines } = agentFor(machine, 'm-down', { salesWindow: 8 });
    for (let i = 0; i < 200; i++) machine.sell(1, 100);
    await new Promise((r) => setTimeout(r, 300));
    expect(machine.pendingEvents).toHaveLength(200);
    // Nothing is read from the outbox, so nothing queues in memory, while the broker is away.
    expect(machine.handedOut).toBe(0);
    const status = agent.status();
    expect(status.broker.connected).toBe(false);
    expect(status.outbox.pending).toBe(200);
    expect(status.warning).toMatch(/E_FLEET_UNREACHABLE.*200 sale event/);
    expect(lines.filter((l) => l['code'] === 'E_FLEET_UNREACHABLE').length).toBe(1);
    await broker.start();
    await waitUntil(() => store.count() === 200, '200 sales stored', 30_000);
    expect(store.events('m-down').map((e) => e.seq)).toEqual(
      Array.from({ length: 200 }, (_, i) => i + 1),
    );
    await waitUntil(() => machine.pendingEvents.length === 0, 'outbox empty');
  }, 60_000);

  it('loses nothing when the broker is killed and restarted while sales are published', async () => {
    const { dir, remove } = tempDir();
    cleanups.push(remove);
    const { store, collector } = startCollector(
      broker,
      path.join(dir, 'sales.sqlite'),
      'c-restart',
    );
    cleanups.push(async () => {
      await collector.stop();
      store.close();
    });
    await waitUntil(() => collector.connected, 'collector');
    const machine = new FakeMachine('m-restart');
    const running = agentFor(machine, 'm-restart');
    const { link } = running;
    await waitUntil(() => link.connected, 'link');
    for (let i = 0; i < 100; i++) machine.sell(2, 1850);
    await broker.kill();
    for (let i = 0; i < 100; i++) machine.sell(2, 1850);
    await broker.start();
    await waitUntil(
      () => store.count() === 200,
      () =>
        `200 sales stored: ${store.count()} stored, ${machine.pendingEvents.length} pending, ${JSON.stringify(running.agent.status())}, collector ${String(collector.connected)}`,
      30_000,
    );
    await waitUntil(() => machine.pendingEvents.length === 0, 'outbox empty', 10_000);
    const seqs = store.events('m-restart').map((e) => e.seq);
    expect(new Set(seqs).size).toBe(200);
  }, 60_000);
});

describe('fleet agent, state and alerts', () => {
  it('keeps availability and state retained, and says offline when it stops', async () => {
    const machine = new FakeMachine('Kiosk 7');
    const running = startAgent(broker, machine, 'm-state');
    await waitUntil(() => running.link.connected, 'link');
    machine.update({ state: 'awaitingPayment', status: 'awaiting payment 123' });
    const watcher = await subscriber(`${PREFIX}/m-state/#`);
    await waitUntil(
      () =>
        watcher.messages.some(
          (m) => m.topic.endsWith('/state') && m.text.includes('awaitingPayment'),
        ),
      'state',
    );
    expect(watcher.messages).toContainEqual({
      topic: `${PREFIX}/m-state/availability`,
      text: 'online',
      retain: true,
    });
    const state = JSON.parse(
      watcher.messages.filter((m) => m.topic.endsWith('/state')).at(-1)!.text,
    ) as Record<string, unknown>;
    expect(state).toMatchObject({
      v: 1,
      machine: 'm-state',
      name: 'Kiosk 7',
      state: 'awaitingPayment',
    });
    await running.agent.stop();
    await waitUntil(() => watcher.messages.some((m) => m.text === 'offline'), 'offline');
  });

  it('raises and clears alerts (paper out, sold out), retained and as events', async () => {
    const machine = new FakeMachine('m-alerts');
    const { link, lines } = agentFor(machine, 'm-alerts');
    await waitUntil(() => link.connected, 'link');
    const watcher = await subscriber(`${PREFIX}/m-alerts/alert`);
    machine.update({ printer: 'paperOut' });
    await waitUntil(() => watcher.messages.some((m) => m.text.includes('"raised"')), 'raised');
    machine.update({ printer: 'ready' });
    await waitUntil(() => watcher.messages.some((m) => m.text.includes('"cleared"')), 'cleared');
    const kinds = watcher.messages.map(
      (m) => JSON.parse(m.text) as { kind: string; change: string },
    );
    expect(kinds.map((k) => `${k.kind}:${k.change}`)).toEqual([
      'paperOut:raised',
      'paperOut:cleared',
    ]);
    expect(lines.some((l) => l.msg === 'fleet alert raised' && l['alert'] === 'paperOut')).toBe(
      true,
    );
  });

  it('publishes Home Assistant discovery configs, retained, when enabled', async () => {
    const machine = new FakeMachine('m-ha');
    const watcher = await subscriber('homeassistant/#');
    const { link } = agentFor(machine, 'm-ha', {
      homeAssistant: {
        discoveryPrefix: 'homeassistant',
        device: {
          name: 'Lobby',
          swVersion: '0.1.0',
          currency: 'SEK',
          slots: [{ slot: 1, name: 'Cola' }],
        },
      },
    });
    await waitUntil(() => link.connected, 'link');
    await waitUntil(
      () => watcher.messages.some((m) => m.topic.includes('/sensor/m-ha/stock_1/')),
      'switch',
    );
    const topics = watcher.messages.map((m) => m.topic);
    expect(topics).toContain('homeassistant/sensor/m-ha/stock_1/config');
    expect(topics).toContain('homeassistant/binary_sensor/m-ha/connectivity/config');
  });
});

describe('fleet agent, commands', () => {
  it('answers a valid command ok, with the correlation data, and journals the sender', async () => {
    const machine = new FakeMachine('m-cmd');
    const { link, lines } = agentFor(machine, 'm-cmd');
    await waitUntil(() => link.connected, 'link');
    const op = await operator();
    const reply = await op.request('m-cmd', 'set-product', {
      slot: 1,
      price: '19.50',
      name: 'Cola Zero',
    });
    expect(reply).toMatchObject({
      status: 'ok',
      data: { effective: 'now', slot: { slot: 1, name: 'Cola Zero' } },
    });
    expect(machine.calls).toEqual([
      { command: 'setProduct', args: [1, { price: '19.50', name: 'Cola Zero' }] },
    ]);
    const line = lines.find((l) => l.msg === 'fleet command done');
    expect(line).toMatchObject({ command: 'set-product', sender: 'alice', outcome: 'ok' });
    expect(String(line?.['clientId'])).toMatch(/^seqr-vend-op-alice-/);
  });

  it('refuses invalid commands with a coded error and never calls the machine', async () => {
    const machine = new FakeMachine('m-bad');
    const { link } = agentFor(machine, 'm-bad');
    await waitUntil(() => link.connected, 'link');
    const op = await operator();
    const cases: [string, unknown, RegExp][] = [
      ['set-product', { slot: 1, price: '12.345' }, /price/],
      ['set-product', { slot: 100, price: '1.00' }, /slot/],
      ['set-product', { slot: 1 }, /give price, name or enabled/],
      ['refill', { slot: 1, stock: -1 }, /stock/],
      ['refill', { slot: 1, stock: 5, extra: true }, /extra/],
      ['maintenance', { on: 'yes' }, /on/],
      ['refund', { txId: '../../x' }, /txId/],
      ['dispense', { slot: 1 }, /unknown command "dispense"/],
    ];
    for (const [command, body, message] of cases) {
      const reply = await op.request('m-bad', command, body);
      expect(reply, command).toMatchObject({ status: 'error', code: 'E_FLEET_COMMAND_INVALID' });
      expect(reply.status === 'error' ? reply.error : '', command).toMatch(message);
    }
    expect(machine.calls).toEqual([]);
    const refused = await op.request('m-bad', 'refund', { txId: 'tx-1' });
    expect(refused).toMatchObject({ status: 'error', code: 'E_FLEET_COMMAND_REFUSED' });
  });

  it('never acts on a retained command or one whose reply topic is not under the machine', async () => {
    const machine = new FakeMachine('m-topic');
    const { link, lines } = agentFor(machine, 'm-topic');
    await waitUntil(() => link.connected, 'link');
    const client = await connectAsync(broker.url, { protocolVersion: 5, reconnectPeriod: 0 });
    cleanups.push(() => client.endAsync());
    await client.publishAsync(`${PREFIX}/m-topic/command/mallory/maintenance`, '{"on":true}', {
      qos: 1,
      properties: {
        responseTopic: `${PREFIX}/other-machine/state`,
        correlationData: Buffer.from('x'),
      },
    });
    await client.publishAsync(`${PREFIX}/m-topic/command/mallory/maintenance`, '{"on":true}', {
      qos: 1,
      retain: true,
    });
    await waitUntil(
      () => lines.filter((l) => l['code'] === 'E_FLEET_COMMAND_INVALID').length >= 2,
      'refusals',
    );
    expect(machine.calls).toEqual([]);
    await client.publishAsync(`${PREFIX}/m-topic/command/mallory/maintenance`, '', {
      qos: 1,
      retain: true,
    });
  });

  it('answers E_FLEET_BUSY beyond the bounded queue instead of piling up work', async () => {
    const machine = new FakeMachine('m-busy');
    machine.commandDelayMs = 300;
    const { link } = agentFor(machine, 'm-busy');
    await waitUntil(() => link.connected, 'link');
    const op = await operator();
    const replies = await Promise.all(
      Array.from({ length: 14 }, () => op.request('m-busy', 'status', {}, 20_000)),
    );
    const busy = replies.filter((r) => r.status === 'error' && r.code === 'E_FLEET_BUSY').length;
    expect(busy).toBeGreaterThan(0);
    expect(replies.filter((r) => r.status === 'ok').length).toBe(14 - busy);
    expect(machine.calls.length).toBe(14 - busy);
  });
});
