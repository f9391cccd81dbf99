// The gateway on a broker set up as the README says: TLS with the broker's certificate verified
// against the configured CA, a password login read from the credential directory, and the ACL
// lines the README gives (the gateway may only send the two requests and read its replies; each
// machine reads its own commands and answers under its own id).
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectAsync } from 'mqtt';
import { startBroker, type Broker } from '../../bench/broker.js';
import { makeTestCa, type TestCa } from '../../bench/tls.js';
import { post, startMachine, startReplica, until, type Replica } from './support.js';

const ACL = `
user gateway
topic write seqr-vend/+/command/gateway/ups-purchase
topic write seqr-vend/+/command/gateway/seqr-notify
topic read seqr-vend/+/reply/gateway/#

pattern read seqr-vend/%u/command/#
pattern write seqr-vend/%u/reply/#
`;

const PASSWORDS = {
  gateway: 'Gw-Broker-Pw-51c0',
  'vm-1': 'Vm1-Broker-Pw',
  'vm-2': 'Vm2-Broker-Pw',
};

let tls: TestCa;
let broker: Broker;
let credentials: string;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  tls = makeTestCa();
  broker = await startBroker({ tls, users: PASSWORDS, acl: ACL });
  credentials = mkdtempSync(path.join(os.tmpdir(), 'seqr-gateway-cred-'));
  writeFileSync(path.join(credentials, 'broker-password'), `${PASSWORDS.gateway}\n`, {
    mode: 0o600,
  });
});

afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

afterAll(async () => {
  await broker.close();
});

async function replica(broker: Record<string, unknown>): Promise<Replica> {
  const r = await startReplica(
    brokerUrl(),
    tls,
    { broker: { url: brokerUrl(), ...broker } },
    credentials,
  );
  cleanups.push(() => r.gateway.stop());
  return r;
}

const brokerUrl = () => broker.url;

async function machine(id: 'vm-1' | 'vm-2', behaviour: Parameters<typeof startMachine>[2]) {
  const m = await startMachine(broker.url, id, behaviour, 'seqr-vend', {
    username: id,
    password: PASSWORDS[id],
    ca: tls.ca,
  });
  cleanups.push(m.close);
  return m;
}

describe('the gateway on a TLS broker with logins and the README ACL', () => {
  it('verifies the broker certificate against broker.caFile and logs in with the credential', async () => {
    const good = await replica({ username: 'gateway', caFile: tls.caFile });
    await until(() => good.gateway.relay.status().connected, 10_000, 'the TLS login');
    await machine('vm-1', () => ({ status: 'ok', data: { invoiceReferenceId: '11' } }));
    const answer = await post(
      `${good.base}/createPurchase`,
      JSON.stringify({ token: 'vm-1', amount: '10.00', currency: 'SEK' }),
      'application/json',
      tls.ca,
    );
    expect(JSON.parse(answer.body)).toEqual({ invoiceReferenceId: '11' });
    expect(good.logs.raw.join('')).not.toContain(PASSWORDS.gateway);

    // Without the CA the broker's certificate is not trusted: no link, a warning, no password sent.
    const untrusting = await replica({ username: 'gateway' });
    await until(
      () => untrusting.logs.lines.some((l) => l['code'] === 'E_GATEWAY_BROKER'),
      10_000,
      'the certificate warning',
    );
    expect(untrusting.gateway.relay.status().connected).toBe(false);
    expect(untrusting.logs.lines.find((l) => l['code'] === 'E_GATEWAY_BROKER')?.['reason']).toMatch(
      /certificate/i,
    );
  });

  it('keeps each machine to its own commands: another machine sees none of them to answer', async () => {
    const r = await replica({ username: 'gateway', caFile: tls.caFile });
    await until(() => r.gateway.relay.status().connected, 10_000, 'the login');
    // vm-2 cannot read vm-1's commands: it sees nothing to forge from, even subscribed to all.
    const spy = await connectAsync(broker.url, {
      protocolVersion: 5,
      username: 'vm-2',
      password: PASSWORDS['vm-2'],
      ca: tls.ca,
    });
    cleanups.push(() => spy.endAsync());
    const seen: string[] = [];
    spy.on('message', (topic) => seen.push(topic));
    await spy.subscribeAsync('seqr-vend/#', { qos: 1 });
    const answer = await post(
      `${r.base}/createPurchase`,
      JSON.stringify({ token: 'vm-1', amount: '10.00', currency: 'SEK' }),
      'application/json',
      tls.ca,
    );
    expect(JSON.parse(answer.body)).toEqual({ errorCode: 'DEVICE_UNAVAILABLE' });
    expect(seen).toEqual([]);
  });
});
