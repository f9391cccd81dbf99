// `seqr-vend gateway` against a real Mosquitto broker (started here on a free loopback port), with
// two HTTPS replicas side by side and machines that answer, stay silent, or answer wrongly: every
// createPurchase gets HTTP 200 with the documented JSON, the machine's answer within the
// deadline and DEVICE_UNAVAILABLE without it; notifications reach the machine; bad input never
// reaches the broker; a dead broker costs answers, not replicas.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startBroker, type Broker } from '../../bench/broker.js';
import {
  makeTestCa,
  post,
  startMachine,
  startReplica,
  until,
  type MachineBehaviour,
  type Replica,
} from './support.js';

const JSON_TYPE = 'application/json;charset=UTF-8';
const FORM = 'application/x-www-form-urlencoded';

let broker: Broker;
let tls: ReturnType<typeof makeTestCa>;
let a: Replica;
let b: Replica;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  tls = makeTestCa();
  broker = await startBroker();
  [a, b] = await Promise.all([startReplica(broker.url, tls), startReplica(broker.url, tls)]);
  await until(() => a.gateway.relay.status().connected && b.gateway.relay.status().connected);
});

afterAll(async () => {
  await Promise.all([a.gateway.stop(), b.gateway.stop()]);
  await broker.close();
});

afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function machine(id: string, behaviour: MachineBehaviour) {
  const m = await startMachine(broker.url, id, behaviour);
  cleanups.push(m.close);
  return m;
}

const purchase = (replica: Replica, body: unknown) =>
  post(`${replica.base}/createPurchase`, JSON.stringify(body), JSON_TYPE, tls.ca);

describe('createPurchase', () => {
  it('relays to the machine named by the token and answers its invoice, from either replica', async () => {
    let n = 0;
    const m = await machine('vm-1', () => {
      n += 1;
      return { status: 'ok', data: { invoiceReferenceId: `2026112200000000${n}` } };
    });
    const answers = await Promise.all([
      purchase(a, { token: 'vm-1', amount: '50.00', currency: 'SEK', msisdn: '46701234567' }),
      purchase(b, { reservationToken: 'vm-1', reservationAmount: 20, currency: 'SEK' }),
      purchase(a, { token: 'vm-1', amount: '7.5', currency: 'SEK' }),
    ]);
    for (const answer of answers) expect(answer.status).toBe(200);
    const refs = answers.map(
      (x) => (JSON.parse(x.body) as { invoiceReferenceId: string }).invoiceReferenceId,
    );
    expect(new Set(refs).size).toBe(3);
    expect(m.requests.map((r) => r.name)).toEqual(['ups-purchase', 'ups-purchase', 'ups-purchase']);
    expect(m.requests.map((r) => r.sender)).toEqual(['gateway', 'gateway', 'gateway']);
    expect(m.requests.map((r) => r.body['amount']).sort()).toEqual(['20.00', '50.00', '7.50']);
    for (const r of m.requests) {
      expect(Object.keys(r.body).sort()).toEqual(['amount', 'currency', 'requestId', 'v']);
      expect(r.body['requestId']).toBe(r.requestId);
      // A stale request is dropped by the broker rather than acted on by a machine that reconnects.
      expect(r.expiry).toBe(2);
    }
    // The phone number reaches neither the machine nor the journal.
    expect(JSON.stringify(m.requests)).not.toContain('46701234567');
    expect([...a.logs.raw, ...b.logs.raw].join('')).not.toContain('46701234567');
    const logged = [
      ...a.logs.find('createPurchase answered'),
      ...b.logs.find('createPurchase answered'),
    ];
    expect(logged.map((l) => l['reqId']).sort()).toEqual(answers.map((x) => x.requestId).sort());
  });

  it('answers DEVICE_UNAVAILABLE when the machine stays silent past the deadline, or is not there', async () => {
    const silent = await machine('vm-2', () => 'silent');
    const started = Date.now();
    const answer = await purchase(b, { token: 'vm-2', amount: '10.00', currency: 'SEK' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_400);
    expect(answer).toMatchObject({ status: 200 });
    expect(JSON.parse(answer.body)).toEqual({ errorCode: 'DEVICE_UNAVAILABLE' });
    expect(silent.requests).toHaveLength(1);
    expect(await purchase(a, { token: 'nobody', amount: '10.00', currency: 'SEK' })).toMatchObject({
      status: 200,
      body: '{"errorCode":"DEVICE_UNAVAILABLE"}',
    });
    const line = b.logs
      .find('createPurchase answered')
      .find((l) => l['reqId'] === answer.requestId);
    expect(line).toMatchObject({ code: 'E_GATEWAY_NO_ANSWER', machine: 'vm-2', level: 40 });
  });

  it("passes the machine's refusal through; a full queue is DEVICE_IN_USE, anything malformed SYSTEM_ERROR", async () => {
    const replies = [
      { status: 'ok', data: { errorCode: 'INSUFFICIENT_FUNDS' } },
      { status: 'error', code: 'E_FLEET_BUSY', error: '8 commands are already waiting' },
      { status: 'error', code: 'E_FLEET_COMMAND_INVALID', error: 'unknown command "ups-purchase"' },
      { status: 'ok', data: { invoiceReferenceId: 'not a reference!' } },
      { status: 'ok', data: { errorCode: 'OUT_OF_COFFEE' } },
    ] as const;
    const queue = [...replies];
    await machine('vm-3', () => queue.shift()!);
    const codes = [];
    for (let i = 0; i < replies.length; i++) {
      const answer = await purchase(a, { token: 'vm-3', amount: '10.00', currency: 'SEK' });
      expect(answer.status).toBe(200);
      codes.push((JSON.parse(answer.body) as { errorCode: string }).errorCode);
    }
    expect(codes).toEqual([
      'INSUFFICIENT_FUNDS',
      'DEVICE_IN_USE',
      'SYSTEM_ERROR',
      'SYSTEM_ERROR',
      'SYSTEM_ERROR',
    ]);
  });

  it('ignores an answer from another machine than the one asked', async () => {
    const rogue = await startMachine(broker.url, 'vm-4', () => 'silent');
    cleanups.push(rogue.close);
    // The rogue copies each request's correlation onto its own reply topic.
    rogue.client.on('message', (topic, _payload, packet) => {
      const props = packet.properties;
      if (!topic.includes('/command/') || props?.responseTopic === undefined) return;
      const forged = props.responseTopic.replace('/vm-4/', '/vm-5/');
      rogue.client.publish(
        forged,
        JSON.stringify({ status: 'ok', data: { invoiceReferenceId: '666' } }),
        { qos: 1, properties: { correlationData: props.correlationData! } },
      );
    });
    const answer = await purchase(a, { token: 'vm-4', amount: '10.00', currency: 'SEK' });
    expect(JSON.parse(answer.body)).toEqual({ errorCode: 'DEVICE_UNAVAILABLE' });
  });

  it('refuses malformed calls without relaying anything', async () => {
    const m = await machine('vm-6', () => ({ status: 'ok', data: { invoiceReferenceId: '1' } }));
    const bad: [string, string][] = [
      ['not json', 'SYSTEM_ERROR'],
      ['[1,2]', 'SYSTEM_ERROR'],
      [
        JSON.stringify({ token: 'vm-6/../x', amount: '1.00', currency: 'SEK' }),
        'DEVICE_UNAVAILABLE',
      ],
      [JSON.stringify({ token: 'vm-6/#', amount: '1.00', currency: 'SEK' }), 'DEVICE_UNAVAILABLE'],
      [JSON.stringify({ token: 'vm-6', amount: '-1', currency: 'SEK' }), 'SYSTEM_ERROR'],
      [JSON.stringify({ token: 'vm-6', amount: '1.005', currency: 'SEK' }), 'SYSTEM_ERROR'],
      [JSON.stringify({ token: 'vm-6', amount: '9999999', currency: 'SEK' }), 'SYSTEM_ERROR'],
      [JSON.stringify({ token: 'vm-6', amount: '1.00', currency: 'sek' }), 'SYSTEM_ERROR'],
      [
        JSON.stringify({ token: 'vm-6', amount: '1.00', currency: 'SEK', msisdn: 'x' }),
        'SYSTEM_ERROR',
      ],
    ];
    for (const [body, code] of bad) {
      const answer = await post(`${a.base}/createPurchase`, body, JSON_TYPE, tls.ca);
      expect({ body, status: answer.status, answer: JSON.parse(answer.body) as unknown }).toEqual({
        body,
        status: 200,
        answer: { errorCode: code },
      });
    }
    const huge = JSON.stringify({
      token: 'vm-6',
      amount: '1.00',
      currency: 'SEK',
      pad: 'x'.repeat(9000),
    });
    expect((await post(`${a.base}/createPurchase`, huge, JSON_TYPE, tls.ca)).status).toBe(413);
    expect((await post(`${a.base}/createPurchase`, '', JSON_TYPE, tls.ca, 'GET')).status).toBe(405);
    expect((await post(`${a.base}/createPurchases`, '{}', JSON_TYPE, tls.ca)).status).toBe(404);
    expect(
      (await post(`${a.gateway.url}/other/createPurchase`, '{}', JSON_TYPE, tls.ca)).status,
    ).toBe(404);
    expect(m.requests).toHaveLength(0);
    const refused = a.logs.lines.filter((l) => l['code'] === 'E_GATEWAY_REQUEST_INVALID');
    expect(refused.length).toBeGreaterThanOrEqual(bad.length - 2 + 3);
  });
});

describe('notificationUrl', () => {
  it('relays the form fields to the machine in the path, and answers 200 either way', async () => {
    const m = await machine('vm-7', () => ({ status: 'ok', data: { known: true } }));
    const answer = await post(
      `${b.base}/notify/vm-7?order=42`,
      'invoiceReference=20261122123456789&clientInvoiceId=vm-7-tx-1',
      FORM,
      tls.ca,
    );
    expect(answer).toMatchObject({ status: 200, body: '' });
    expect(m.requests).toMatchObject([
      {
        name: 'seqr-notify',
        body: { v: 1, invoiceReference: '20261122123456789', clientInvoiceId: 'vm-7-tx-1' },
      },
    ]);
    expect(b.logs.find('notification relayed').at(-1)).toMatchObject({
      machine: 'vm-7',
      outcome: 'polled',
      reqId: answer.requestId,
    });

    // Nobody listening: still 200 (SEQR never retries; the machine's polling covers it).
    const lost = await post(`${a.base}/notify/vm-8`, 'invoiceReference=1', FORM, tls.ca);
    expect(lost).toMatchObject({ status: 200 });
    expect(a.logs.find('notification relayed').at(-1)).toMatchObject({
      outcome: 'not relayed',
      code: 'E_GATEWAY_NO_ANSWER',
    });
    // Malformed: 200, nothing relayed.
    const before = m.requests.length;
    for (const body of ['', 'invoiceReference=', 'invoiceReference=<script>', 'clientInvoiceId=x'])
      expect((await post(`${a.base}/notify/vm-7`, body, FORM, tls.ca)).status).toBe(200);
    expect((await post(`${a.base}/notify/vm%2F7`, 'invoiceReference=1', FORM, tls.ca)).status).toBe(
      404,
    );
    expect(m.requests).toHaveLength(before);
  });
});

describe('the broker', () => {
  it('answers DEVICE_UNAVAILABLE at once and /healthz 503 while it is down; recovers by itself', async () => {
    await machine('vm-9', () => ({ status: 'ok', data: { invoiceReferenceId: '42' } }));
    expect((await post(`${a.gateway.url}/healthz`, '', JSON_TYPE, tls.ca, 'GET')).status).toBe(200);
    await broker.kill();
    await until(() => !a.gateway.relay.status().connected, 5_000, 'the link to drop');
    const started = Date.now();
    const down = await purchase(a, { token: 'vm-9', amount: '10.00', currency: 'SEK' });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(JSON.parse(down.body)).toEqual({ errorCode: 'DEVICE_UNAVAILABLE' });
    expect((await post(`${a.gateway.url}/healthz`, '', JSON_TYPE, tls.ca, 'GET')).status).toBe(503);
    expect(a.logs.lines.some((l) => l['code'] === 'E_GATEWAY_BROKER')).toBe(true);
    await broker.start();
    await until(
      () => a.gateway.relay.status().connected && b.gateway.relay.status().connected,
      10_000,
      'the replicas to reconnect',
    );
    // The machine reconnects too (its client retries); then both replicas sell again.
    let answer = { errorCode: 'DEVICE_UNAVAILABLE' } as Record<string, unknown>;
    for (let i = 0; i < 20 && answer['errorCode'] !== undefined; i++) {
      answer = JSON.parse(
        (await purchase(b, { token: 'vm-9', amount: '10.00', currency: 'SEK' })).body,
      ) as Record<string, unknown>;
    }
    expect(answer).toEqual({ invoiceReferenceId: '42' });
  });

  it('warns once about a broker that never answers, not once per retry', async () => {
    const nowhere = `mqtt://127.0.0.1:${await freePort()}`;
    const c = await startReplica(nowhere, tls);
    cleanups.push(() => c.gateway.stop());
    await new Promise((r) => setTimeout(r, 3_500));
    const warnings = c.logs.lines.filter((l) => l['code'] === 'E_GATEWAY_BROKER');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ reason: expect.stringMatching(/ECONNREFUSED/) as unknown });
    expect((await post(`${c.gateway.url}/healthz`, '', JSON_TYPE, tls.ca, 'GET')).status).toBe(503);
    const answer = await purchase(c, { token: 'vm-1', amount: '10.00', currency: 'SEK' });
    expect(JSON.parse(answer.body)).toEqual({ errorCode: 'DEVICE_UNAVAILABLE' });
  });
});

describe('configuration', () => {
  it('puts createPurchase behind the path token credential and never logs it', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { default: os } = await import('node:os');
    const { default: path } = await import('node:path');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'seqr-gateway-cred-'));
    const token = 'Path-Token-3f9a1c77e2d04b5a';
    writeFileSync(path.join(dir, 'path-token'), `${token}\n`, { mode: 0o600 });
    const c = await startReplica(broker.url, tls, { pathToken: true }, dir);
    cleanups.push(() => c.gateway.stop());
    await until(() => c.gateway.relay.status().connected);
    await machine('vm-10', () => ({ status: 'ok', data: { invoiceReferenceId: '7' } }));
    const body = JSON.stringify({ token: 'vm-10', amount: '5.00', currency: 'SEK' });
    expect((await post(`${c.base}/createPurchase`, body, JSON_TYPE, tls.ca)).status).toBe(404);
    expect(
      (await post(`${c.base}/wrong-token-0000000000/createPurchase`, body, JSON_TYPE, tls.ca))
        .status,
    ).toBe(404);
    const ok = await post(`${c.base}/${token}/createPurchase`, body, JSON_TYPE, tls.ca);
    expect(JSON.parse(ok.body)).toEqual({ invoiceReferenceId: '7' });
    expect(c.logs.raw.join('')).not.toContain(token);
  });
});
