// The sales collector: idempotent by (machine, event id), acknowledged only once stored, a
// persistent session so events published while it is away wait at the broker.
import path from 'node:path';
import { connectAsync } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type Broker } from '../../bench/broker.js';
import { encodeSale } from '../../daemon/fleet/codec.js';
import type { SaleEvent } from '../../daemon/ledger/outbox.js';
import { PREFIX, startCollector, tempDir, waitUntil } from './support.js';

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

function event(seq: number, txId: string, outcome: SaleEvent['outcome'], slot = 1): SaleEvent {
  return {
    id: `${txId}:${String(seq)}`,
    seq,
    txId,
    outcome,
    slot,
    product: 'Cola',
    amount: { minor: 2500, currency: 'SEK' },
    refundedMinor: outcome === 'refunded' ? 2500 : 0,
    openedAt: 1_000,
    paidAt: 2_000,
    closedAt: 3_000 + seq,
  };
}

async function publisher(): Promise<
  (machine: string, e: SaleEvent, topicMachine?: string) => Promise<void>
> {
  const client = await connectAsync(broker.url, { protocolVersion: 5 });
  cleanups.push(() => client.endAsync());
  return async (machine, e, topicMachine = machine) => {
    await client.publishAsync(`${PREFIX}/${topicMachine}/sales`, encodeSale(machine, e), {
      qos: 1,
    });
  };
}

describe('fleet collect', () => {
  it('stores the same event once however often it comes, and totals each purchase by its latest event', async () => {
    const { store, collector } = startCollector(broker, path.join(dir, 'a.sqlite'), 'col-a');
    cleanups.push(async () => {
      await collector.stop();
      store.close();
    });
    await waitUntil(() => collector.connected, 'collector');
    await new Promise((r) => setTimeout(r, 200));
    const publish = await publisher();
    await publish('k1', event(1, 't1', 'sold'));
    await publish('k1', event(1, 't1', 'sold'));
    await publish('k1', event(2, 't2', 'flagged', 2));
    await publish('k1', event(3, 't2', 'refunded', 2));
    await publish('k2', event(1, 't1', 'sold'));
    await publish('k2', event(7, 'tx', 'sold'), 'k1'); // a payload naming another machine than its topic
    await publish('k1', { ...event(8, 'bad', 'sold'), slot: 0 });
    await waitUntil(
      () => store.count() === 4 && store.counter('rejected') === 2,
      () => `4 events, 2 rejected: ${String(store.count())}`,
    );
    expect(store.counter('duplicates')).toBe(1);
    expect(store.totals()).toEqual([
      {
        machine: 'k1',
        slot: 1,
        currency: 'SEK',
        sold: 1,
        soldMinor: 2500,
        refunded: 0,
        refundedMinor: 0,
        flagged: 0,
      },
      {
        machine: 'k1',
        slot: 2,
        currency: 'SEK',
        sold: 0,
        soldMinor: 0,
        refunded: 1,
        refundedMinor: 2500,
        flagged: 0,
      },
      {
        machine: 'k2',
        slot: 1,
        currency: 'SEK',
        sold: 1,
        soldMinor: 2500,
        refunded: 0,
        refundedMinor: 0,
        flagged: 0,
      },
    ]);
  });

  it('gets what was published while it was away (persistent session), including across a broker restart', async () => {
    const file = path.join(dir, 'b.sqlite');
    const first = startCollector(broker, file, 'col-b');
    await waitUntil(() => first.collector.connected, 'collector');
    await new Promise((r) => setTimeout(r, 200));
    await first.collector.stop();
    first.store.close();
    const publish = await publisher();
    for (let seq = 1; seq <= 20; seq++) await publish('k3', event(seq, `t${String(seq)}`, 'sold'));
    await broker.stop();
    await broker.start();
    const second = startCollector(broker, file, 'col-b');
    cleanups.push(async () => {
      await second.collector.stop();
      second.store.close();
    });
    await waitUntil(
      () => second.store.count() === 20,
      () => `20 events, got ${String(second.store.count())}`,
    );
    expect(second.store.events('k3').map((e) => e.seq)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
  });
});
