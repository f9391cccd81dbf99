// mqtts: the machine verifies the broker's certificate (fleet.caFile) and sells on when it cannot;
// the broker password comes from the fleet-password credential. A CA and a server certificate
// for 127.0.0.1 are made with openssl for the test; Mosquitto listens with them.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeMachine } from '../../bench/fleet/fake-machine.js';
import { startBroker, type Broker } from '../../bench/broker.js';
import type { FleetConfig } from '../../config/schema.js';
import { startFleet } from '../../daemon/fleet/start.js';
import { systemClock } from '../../daemon/ports/clock.js';
import { captureLog } from '../support/harness.js';
import { tempDir, waitUntil } from './support.js';

let dir: string;
let remove: () => void;
let broker: Broker;

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}

beforeAll(async () => {
  ({ dir, remove } = tempDir());
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=fleet test CA',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
  );
  openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
  );
  writeFileSync(path.join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    'san.ext',
    '-out',
    'server.pem',
  );
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=another CA',
    '-keyout',
    'other.key',
    '-out',
    'other.pem',
  );
  broker = await startBroker({
    users: { 'tls-m': 'tls-secret' },
    tls: {
      caFile: `${dir}/ca.pem`,
      certFile: `${dir}/server.pem`,
      keyFile: `${dir}/server.key`,
    },
  });
});
afterAll(async () => {
  await broker.close();
  remove();
});

function fleetConfig(caFile: string): FleetConfig {
  return {
    url: broker.url,
    machineId: 'tls-m',
    prefix: 'seqr-vend',
    caFile,
    statePeriodMs: 1_000,
    outOfServiceAlertMs: 300_000,
    homeAssistant: { enabled: false, discoveryPrefix: 'homeassistant' },
  };
}

async function start(caFile: string): Promise<{
  machine: FakeMachine;
  agent: Awaited<ReturnType<typeof startFleet>>;
  lines: ReturnType<typeof captureLog>['lines'];
}> {
  const credentials = path.join(dir, 'credentials');
  mkdirSync(credentials, { recursive: true, mode: 0o700 });
  writeFileSync(path.join(credentials, 'fleet-password'), 'tls-secret\n', { mode: 0o600 });
  const machine = new FakeMachine('tls-m');
  const { log, lines } = captureLog();
  const agent = await startFleet({
    fleet: fleetConfig(caFile),
    credentialsDirectory: credentials,
    env: {},
    machine,
    clock: systemClock,
    log,
    device: { name: 'tls', swVersion: '0', currency: 'SEK', slots: [] },
  });
  return { machine, agent, lines };
}

describe('fleet over TLS', () => {
  it('connects when the broker certificate verifies against fleet.caFile, with the credential password', async () => {
    const { agent } = await start(path.join(dir, 'ca.pem'));
    try {
      await waitUntil(
        () => agent.status().broker.connected,
        () => JSON.stringify(agent.status()),
      );
      expect(agent.status().broker.url).toBe(`mqtts://127.0.0.1:${String(broker.port)}`);
    } finally {
      await agent.stop();
    }
  });

  it('refuses a broker whose certificate does not verify, and keeps selling', async () => {
    const { agent, machine, lines } = await start(path.join(dir, 'other.pem'));
    try {
      machine.sell();
      await waitUntil(() => agent.status().broker.lastError !== null, 'the TLS failure');
      expect(agent.status()).toMatchObject({
        broker: { connected: false, lastError: { code: 'E_FLEET_UNREACHABLE' } },
        outbox: { pending: 1 },
      });
      expect(agent.status().broker.lastError?.message).toMatch(/certificate/i);
      expect(JSON.stringify(lines)).not.toContain('tls-secret');
    } finally {
      await agent.stop();
    }
  });
});
