// The fleet at scale: FLEET_MACHINES (default 200) machines' fleet agents (the real agent and MQTT
// link, each over a fake machine with an in-memory outbox) against one Mosquitto, and the real
// collector (`seqr-vend fleet collect`, built dist/) in its own process. Every machine sells;
// halfway through, the broker is restarted (SIGTERM, as `systemctl restart mosquitto` does)
// while the machines go on selling. Prints publish -> collector latency, the restart's recovery
// time, events lost and duplicates stored.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { connectAsync } from 'mqtt';
import { FleetAgent } from '../daemon/fleet/agent.js';
import { encodeSale } from '../daemon/fleet/codec.js';
import { MqttLink, type FleetLog } from '../daemon/fleet/link.js';
import { systemClock } from '../daemon/ports/clock.js';
import { FakeMachine } from './fleet/fake-machine.js';
import { startBroker } from './broker.js';
import { latencyFigures, percentile, rssMiB, type Bench } from './lib.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const MAIN = path.resolve(here, '..', 'daemon', 'main.js');
const PREFIX = 'seqr-vend';

const quiet: FleetLog = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`fleet bench: timed out waiting for ${what}`);
    await sleep(20);
  }
}

const bench: Bench = async () => {
  const machines = Number(process.env['FLEET_MACHINES'] ?? 200);
  const salesBefore = Number(process.env['FLEET_SALES_BEFORE'] ?? 5);
  const salesDuring = Number(process.env['FLEET_SALES_DURING'] ?? 5);
  const downMs = Number(process.env['FLEET_BROKER_DOWN_MS'] ?? 3_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'seqr-fleet-bench-'));
  const broker = await startBroker({ persistence: true });
  const dbFile = path.join(dir, 'sales.sqlite');
  const collector = spawn(
    process.execPath,
    [
      MAIN,
      'fleet',
      'collect',
      '--db',
      dbFile,
      '--broker',
      broker.url,
      '--client-id',
      'bench-collector',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let collectorOut = '';
  collector.stdout.on('data', (d: Buffer) => (collectorOut += d.toString()));
  collector.stderr.on('data', (d: Buffer) => (collectorOut += d.toString()));
  const agents: { agent: FleetAgent; link: MqttLink; machine: FakeMachine }[] = [];
  try {
    // The collector is subscribed once a probe event reaches its database.
    const probe = await connectAsync(broker.url, { protocolVersion: 5 });
    const stored = (): number => {
      try {
        const db = new Database(dbFile, { readonly: true, fileMustExist: true });
        try {
          return db.prepare<[], { n: number }>('SELECT count(*) AS n FROM sales').get()?.n ?? 0;
        } finally {
          db.close();
        }
      } catch {
        return 0;
      }
    };
    const duplicatesReceived = (): number => {
      try {
        const db = new Database(dbFile, { readonly: true, fileMustExist: true });
        try {
          return (
            db
              .prepare<[], { value: number }>(
                "SELECT value FROM counters WHERE name = 'duplicates'",
              )
              .get()?.value ?? 0
          );
        } finally {
          db.close();
        }
      } catch {
        return 0;
      }
    };
    const probeMachine = new FakeMachine('probe');
    const probeEvent = probeMachine.sell();
    const probeStart = Date.now();
    while (stored() === 0) {
      await probe.publishAsync(`${PREFIX}/probe/sales`, encodeSale('probe', probeEvent), {
        qos: 1,
      });
      await sleep(200);
      if (Date.now() - probeStart > 30_000)
        throw new Error(`collector not receiving: ${collectorOut}`);
    }
    await probe.endAsync();

    let salePublishes = 0;
    const rssBefore = rssMiB();
    const connectStart = Date.now();
    for (let i = 0; i < machines; i++) {
      const id = `bench-${String(i).padStart(4, '0')}`;
      const machine = new FakeMachine(id);
      const link = MqttLink.open({
        url: broker.url,
        clientId: id,
        will: { topic: `${PREFIX}/${id}/availability`, payload: 'offline' },
        clock: systemClock,
        log: quiet,
      });
      // Counts the sale publishes (first sends and re-sends) the machines make.
      const publish = link.publish.bind(link);
      link.publish = (topic, payload, options) => {
        if (topic.endsWith('/sales')) salePublishes++;
        return publish(topic, payload, options);
      };
      const agent = new FleetAgent({
        machineId: id,
        prefix: PREFIX,
        machine,
        link,
        clock: systemClock,
        log: quiet,
      });
      agent.start();
      agents.push({ agent, link, machine });
    }
    await until(() => agents.every((a) => a.link.connected), 60_000, 'every machine connected');
    const connectMs = Date.now() - connectStart;

    // Normal operation: each machine sells at random moments over 5 s.
    const sell = (count: number, overMs: number): Promise<void> =>
      Promise.all(
        agents.map(async ({ machine }) => {
          for (let k = 0; k < count; k++) {
            await sleep(Math.random() * (overMs / count));
            machine.sell((k % 4) + 1, 1000 + k);
          }
        }),
      ).then(() => undefined);
    await sell(salesBefore, 5_000);
    const normalCut = Date.now();
    await until(
      () => agents.every((a) => a.machine.pendingEvents.length === 0),
      60_000,
      'normal sales delivered',
    );

    // What the collector had received when the broker went down (its backlog is the broker's).
    const beforeRestart = { stored: stored(), duplicates: duplicatesReceived() };
    // The broker restarts while the machines keep selling.
    await broker.stop();
    const during = sell(salesDuring, downMs);
    await sleep(downMs);
    await broker.start();
    const restartedAt = Date.now();
    await during;
    await until(() => agents.every((a) => a.link.connected), 120_000, 'every machine reconnected');
    const reconnectedMs = Date.now() - restartedAt;
    await until(
      () => agents.every((a) => a.machine.pendingEvents.length === 0),
      120_000,
      'backlog delivered',
    );
    const drainedMs = Date.now() - restartedAt;

    const expected = machines * (salesBefore + salesDuring);
    const total = expected + 1;
    await until(() => stored() >= total, 120_000, `${String(total)} events at the collector`);
    await sleep(500);
    const rssAfter = rssMiB();

    const db = new Database(dbFile, { readonly: true });
    const rows = db
      .prepare<[], { machine: string; id: string; closed_at: string; received_at: number }>(
        "SELECT machine, id, closed_at, received_at FROM sales WHERE machine != 'probe'",
      )
      .all();
    const distinct =
      db
        .prepare<[], { n: number }>(
          'SELECT count(*) AS n FROM (SELECT DISTINCT machine, id FROM sales)',
        )
        .get()?.n ?? 0;
    const storedRows =
      db.prepare<[], { n: number }>('SELECT count(*) AS n FROM sales').get()?.n ?? 0;
    db.close();
    const have = new Set(rows.map((r) => `${r.machine}/${r.id}`));
    let lost = 0;
    for (const { machine } of agents)
      for (const seq of machine.acknowledged)
        if (!have.has(`${machine.snapshotValue.name}/tx-${String(seq)}:${String(seq)}`)) lost++;
    lost += expected - agents.reduce((n, a) => n + a.machine.acknowledged.length, 0);
    const latency = (from: number, to: number): number[] =>
      rows
        .map((r) => ({
          closed: Date.parse(r.closed_at),
          ms: r.received_at - Date.parse(r.closed_at),
        }))
        .filter((r) => r.closed >= from && r.closed < to)
        .map((r) => r.ms);
    const normal = latency(0, normalCut);
    const outage = latency(normalCut, Number.MAX_SAFE_INTEGER);
    return [
      {
        title: `fleet: ${String(machines)} machines, one Mosquitto, the collector in its own process`,
        figures: [
          { name: 'machines connected (from start)', value: connectMs, unit: 'ms' },
          ...latencyFigures('publish -> collector stored, normal operation', normal),
          {
            name: 'publish -> collector stored, sales made while the broker was down, p50',
            value: percentile(outage, 50),
            unit: 'ms',
          },
          { name: 'broker restart -> every machine reconnected', value: reconnectedMs, unit: 'ms' },
          { name: 'broker restart -> every outbox empty', value: drainedMs, unit: 'ms' },
          { name: 'sale events', value: expected, unit: 'count' },
          { name: 'events lost', value: lost, unit: 'count' },
          { name: 'duplicates stored', value: storedRows - distinct, unit: 'count' },
          {
            name: 'duplicates received and ignored, before the broker restart',
            value: beforeRestart.duplicates,
            unit: 'count',
          },
          {
            name: 'duplicates received and ignored, in all',
            value: duplicatesReceived(),
            unit: 'count',
          },
          {
            name: 'sale events sent again by the machines',
            value: salePublishes - expected,
            unit: 'count',
          },
          {
            name: 'events the collector had not yet stored when the broker stopped',
            value: machines * salesBefore + 1 - beforeRestart.stored,
            unit: 'count',
          },
          {
            name: 'errors the collector reported',
            value: collectorOut.split('\n').filter((l) => l.startsWith('seqr-vend fleet collect:'))
              .length,
            unit: 'count',
          },
          {
            name: 'agents process RSS growth per machine',
            value: (rssAfter - rssBefore) / machines,
            unit: 'MiB',
          },
        ],
        note: `${String(salesBefore)} sales per machine in 5 s, then ${String(salesDuring)} more while the broker was down ${String(downMs)} ms (SIGTERM, restart); reconnect backoff 1 s doubling to 60 s`,
      },
    ];
  } finally {
    await Promise.all(agents.map((a) => a.agent.stop()));
    collector.kill('SIGTERM');
    await new Promise((r) => collector.once('exit', r));
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  }
};

export default bench;
