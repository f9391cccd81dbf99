// The example ACL (systemd/mosquitto-seqr-vend.acl) in a real Mosquitto with passwords: each
// machine confined to its own topics, commands only from operators under their own name, no
// secret in any payload.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectAsync } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeMachine } from '../../bench/fleet/fake-machine.js';
import { startBroker, type Broker } from '../../bench/broker.js';
import { FleetOperator } from '../../daemon/fleet/operator.js';
import { access, PREFIX, startAgent, startCollector, tempDir, waitUntil } from './support.js';

const acl = readFileSync(
  path.join(
    path.dirname(fileURLToPath(import.meta.url)),
    '..',
    '..',
    'systemd',
    'mosquitto-seqr-vend.acl',
  ),
  'utf8',
);
const USERS = {
  m1: 'pw-m1-secret',
  m2: 'pw-m2-secret',
  alice: 'pw-alice',
  bob: 'pw-bob',
  collector: 'pw-collector',
  homeassistant: 'pw-ha',
};

let broker: Broker;
let dir: string;
let removeDir: () => void;
const cleanups: (() => unknown)[] = [];
beforeAll(async () => {
  broker = await startBroker({ users: USERS, acl, persistence: true });
  ({ dir, remove: removeDir } = tempDir());
});
afterAll(async () => {
  await broker.close();
  removeDir();
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('the example ACL', () => {
  it('confines machines to their own topics and commands to operators, with no secret in any payload', async () => {
    const everything: string[] = [];
    const ha = await connectAsync(broker.url, {
      protocolVersion: 5,
      username: 'homeassistant',
      password: USERS.homeassistant,
    });
    cleanups.push(() => ha.endAsync());
    ha.on('message', (topic, payload) => everything.push(`${topic} ${payload.toString()}`));
    await ha.subscribeAsync(`${PREFIX}/#`, { qos: 1 });

    const { store, collector } = startCollector(broker, path.join(dir, 'sales.sqlite'), 'c-acl', {
      username: 'collector',
      password: USERS.collector,
    });
    cleanups.push(async () => {
      await collector.stop();
      store.close();
    });
    const m1 = new FakeMachine('m1');
    const a1 = startAgent(broker, m1, 'm1', { username: 'm1', password: USERS.m1 });
    cleanups.push(() => a1.agent.stop());
    await waitUntil(() => a1.link.connected && collector.connected, 'connections');
    m1.sell(1, 2500);
    await waitUntil(() => store.count() === 1, 'the sale stored');

    // m2 tries to publish a sale as m1 and to command m1 in alice's name: the broker drops both.
    const m2 = await connectAsync(broker.url, {
      protocolVersion: 5,
      clientId: 'm2',
      username: 'm2',
      password: USERS.m2,
    });
    cleanups.push(() => m2.endAsync());
    const forged = JSON.parse(
      JSON.stringify({
        ...JSON.parse(
          everything
            .find((l) => l.includes('/sales '))!
            .split(' ')
            .slice(1)
            .join(' '),
        ),
        id: 'forged:1',
        seq: 99,
      }),
    ) as unknown;
    await m2
      .publishAsync(`${PREFIX}/m1/sales`, JSON.stringify(forged), { qos: 1 })
      .catch(() => undefined);
    await m2
      .publishAsync(`${PREFIX}/m1/command/alice/maintenance`, '{"on":true}', {
        qos: 1,
        properties: { responseTopic: `${PREFIX}/m1/reply/alice/x` },
      })
      .catch(() => undefined);

    // bob is no operator: the broker refuses his command. alice is: answered, and the journal
    // names her.
    const bob = await FleetOperator.connect(access(broker, 'bob', USERS.bob), 'bob');
    cleanups.push(() => bob.close());
    await expect(bob.request('m1', 'status', {}, 1_500)).rejects.toMatchObject({
      code: 'E_FLEET_REFUSED',
    });
    const alice = await FleetOperator.connect(access(broker, 'alice', USERS.alice), 'alice');
    cleanups.push(() => alice.close());
    expect(await alice.request('m1', 'refill', { slot: 1, stock: 20 })).toMatchObject({
      status: 'ok',
    });
    expect(m1.calls.map((c) => c.command)).toEqual(['refill']);
    expect(a1.lines.find((l) => l.msg === 'fleet command done')).toMatchObject({
      sender: 'alice',
      command: 'refill',
    });

    await new Promise((r) => setTimeout(r, 300));
    expect(store.count()).toBe(1);
    expect(store.events('m1').map((e) => e.id)).not.toContain('forged:1');
    const all = everything.join('\n');
    for (const secret of Object.values(USERS)) expect(all).not.toContain(secret);
  });

  it('says why when the broker refuses the login, and keeps the sales', async () => {
    const m = new FakeMachine('m2');
    const a = startAgent(broker, m, 'm2', { username: 'm2', password: 'wrong' });
    cleanups.push(() => a.agent.stop());
    m.sell();
    await waitUntil(() => a.agent.status().broker.lastError !== null, 'the refusal');
    expect(a.agent.status()).toMatchObject({
      broker: { connected: false, lastError: { code: 'E_FLEET_REFUSED' } },
      outbox: { pending: 1 },
    });
    expect(a.lines.filter((l) => l['code'] === 'E_FLEET_REFUSED').length).toBe(1);
    expect(JSON.stringify(a.lines)).not.toContain('wrong');
  });
});
