import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FleetAgent, type FleetAgentOptions } from '../../daemon/fleet/agent.js';
import { Collector, SalesStore } from '../../daemon/fleet/collector.js';
import { MqttLink } from '../../daemon/fleet/link.js';
import type { BrokerAccess } from '../../daemon/fleet/operator.js';
import { systemClock } from '../../daemon/ports/clock.js';
import type { Broker } from '../../bench/broker.js';
import type { FakeMachine } from '../../bench/fleet/fake-machine.js';
import { captureLog, type LogLine } from '../support/harness.js';

export const PREFIX = 'seqr-vend';

/** Polls `check` every 20 ms until it is true; throws `what` after `timeoutMs`. */
export async function waitUntil(
  check: () => boolean,
  what: string | (() => string),
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function tempDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'seqr-fleet-'));
  return {
    dir,
    remove: () => {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface RunningAgent {
  readonly agent: FleetAgent;
  readonly link: MqttLink;
  readonly lines: LogLine[];
}

export function startAgent(
  broker: Broker,
  machine: FakeMachine,
  machineId: string,
  extra: Partial<FleetAgentOptions> & { username?: string; password?: string } = {},
): RunningAgent {
  const { log, lines } = captureLog();
  const { username, password, ...agentExtra } = extra;
  const link = MqttLink.open({
    url: broker.url,
    clientId: machineId,
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    will: { topic: `${PREFIX}/${machineId}/availability`, payload: 'offline' },
    clock: systemClock,
    log,
    minBackoffMs: 100,
    maxBackoffMs: 500,
  });
  const agent = new FleetAgent({
    machineId,
    prefix: PREFIX,
    machine,
    link,
    clock: systemClock,
    log,
    statePeriodMs: 200,
    ...agentExtra,
  });
  agent.start();
  return { agent, link, lines };
}

export function access(broker: Broker, username?: string, password?: string): BrokerAccess {
  return {
    url: broker.url,
    prefix: PREFIX,
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
  };
}

export function startCollector(
  broker: Broker,
  file: string,
  clientId = 'collector-test',
  creds: { username?: string; password?: string } = {},
): { store: SalesStore; collector: Collector } {
  const store = SalesStore.open(file);
  const collector = Collector.start({
    access: access(broker, creds.username, creds.password),
    clientId,
    store,
  });
  return { store, collector };
}
