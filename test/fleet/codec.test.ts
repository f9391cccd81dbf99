// The fleet's pure parts: payloads, alert conditions, topics, Home Assistant discovery.
import { describe, expect, it } from 'vitest';
import { sampleSnapshot } from '../../bench/fleet/fake-machine.js';
import {
  alertConditions,
  decodeReply,
  decodeSale,
  encodeSale,
  encodeState,
} from '../../daemon/fleet/codec.js';
import { discoveryMessages } from '../../daemon/fleet/discovery.js';
import { matches } from '../../daemon/fleet/link.js';
import { machineTopics, parseTopic } from '../../daemon/fleet/topics.js';
import type { SaleEvent } from '../../daemon/ledger/outbox.js';

const sale: SaleEvent = {
  id: 'tx-1:9',
  seq: 9,
  txId: 'tx-1',
  outcome: 'sold',
  slot: 2,
  product: 'Water',
  amount: { minor: 1850, currency: 'SEK' },
  refundedMinor: 0,
  ersReference: 'ers-1',
  invoiceReference: 'inv-1',
  openedAt: Date.UTC(2026, 10, 30, 12, 0, 0),
  paidAt: Date.UTC(2026, 10, 30, 12, 0, 9),
  closedAt: Date.UTC(2026, 10, 30, 12, 0, 14),
};

describe('fleet payloads', () => {
  it('encodes a sale with ISO times and minor units, and a consumer reads it back', () => {
    const text = encodeSale('kiosk-7', sale);
    expect(JSON.parse(text)).toMatchObject({
      v: 1,
      machine: 'kiosk-7',
      id: 'tx-1:9',
      amountMinor: 1850,
      currency: 'SEK',
      paidAt: '2026-11-30T12:00:09.000Z',
    });
    expect(decodeSale(text)).toMatchObject({ id: 'tx-1:9', slot: 2 });
  });

  it('rejects what is not a sale event', () => {
    const good = JSON.parse(encodeSale('k', sale)) as Record<string, unknown>;
    for (const bad of [
      'nope',
      '{}',
      JSON.stringify({ ...good, amountMinor: 18.5 }),
      JSON.stringify({ ...good, outcome: 'dispensed' }),
      JSON.stringify({ ...good, slot: 0 }),
      JSON.stringify({ ...good, v: 2 }),
    ])
      expect(decodeSale(bad), bad).toBeUndefined();
  });

  it('never puts anything but the snapshot in the state document', () => {
    const state = JSON.parse(encodeState('k', sampleSnapshot('Lobby'), 0)) as Record<
      string,
      unknown
    >;
    expect(Object.keys(state).sort()).toEqual(
      ['v', 'machine', 'at', ...Object.keys(sampleSnapshot('x'))].sort(),
    );
    expect(JSON.stringify(state)).not.toMatch(/password|secret/i);
  });

  it('reads replies and nothing else', () => {
    expect(decodeReply('{"status":"ok","data":{"a":1}}')).toEqual({ status: 'ok', data: { a: 1 } });
    expect(decodeReply('{"status":"error","code":"E_X","error":"no"}')).toEqual({
      status: 'error',
      code: 'E_X',
      error: 'no',
    });
    expect(decodeReply('{"status":"error"}')).toBeUndefined();
    expect(decodeReply('[')).toBeUndefined();
  });
});

describe('alert conditions', () => {
  const base = sampleSnapshot('m');
  it('raises each alert from the facts, out of service only past the threshold', () => {
    expect([...alertConditions(base, 0, 1000).keys()]).toEqual([]);
    expect(
      alertConditions(
        { ...base, state: 'outOfService', status: 'out of service: SEQR unreachable' },
        999,
        1000,
      ).has('outOfService'),
    ).toBe(false);
    expect(
      alertConditions({ ...base, state: 'outOfService', status: 'x' }, 1000, 1000).get(
        'outOfService',
      ),
    ).toBe('x');
    const all = alertConditions(
      {
        ...base,
        printer: 'paperOut',
        slots: base.slots.map((s) => ({ ...s, soldOut: true })),
        flagged: 1,
        refundsUnconfirmed: 2,
        reconciliation: { periodId: 'p', matched: false },
      },
      0,
      1000,
    );
    expect([...all.keys()].sort()).toEqual([
      'flaggedPayment',
      'paperOut',
      'reconciliationMismatch',
      'refundUnconfirmed',
      'soldOut',
    ]);
    expect(all.get('soldOut')).toBe('slots 1, 2');
  });

  it('does not call a disabled slot sold out', () => {
    const slots = base.slots.map((s) => ({ ...s, soldOut: true, enabled: s.slot !== 1 }));
    expect(alertConditions({ ...base, slots }, 0, 1).get('soldOut')).toBe('slots 2');
  });
});

describe('topics', () => {
  const t = machineTopics('seqr-vend', 'kiosk-7');
  it('keeps every machine topic under <prefix>/<id>/', () => {
    for (const topic of [
      t.availability,
      t.state,
      t.alerts,
      t.alert,
      t.sales,
      t.command('alice', 'refill'),
      t.replyPrefix,
    ])
      expect(topic.startsWith('seqr-vend/kiosk-7/')).toBe(true);
    expect(matches(t.commandFilter, t.command('alice', 'refill'))).toBe(true);
    expect(matches(t.commandFilter, 'seqr-vend/kiosk-7/command/alice/refill/x')).toBe(false);
    expect(matches('seqr-vend/#', t.sales)).toBe(true);
    expect(parseTopic('seqr-vend', t.sales)).toEqual({ machineId: 'kiosk-7', rest: ['sales'] });
    expect(parseTopic('seqr-vend', 'other/kiosk-7/sales')).toBeUndefined();
  });

  it('describes the machine to Home Assistant as one device, commands on its own topics', () => {
    const messages = discoveryMessages('homeassistant', t, {
      machineId: 'kiosk-7',
      name: 'Lobby',
      swVersion: '1.0.0',
      currency: 'SEK',
      slots: [
        { slot: 1, name: 'Cola' },
        { slot: 2, name: 'Water' },
      ],
    });
    const configs = messages.map((m) => ({
      topic: m.topic,
      c: JSON.parse(m.payload) as Record<string, unknown>,
    }));
    expect(new Set(configs.map((x) => x.c['unique_id'])).size).toBe(configs.length);
    for (const { topic, c } of configs) {
      expect(topic).toMatch(
        /^homeassistant\/(sensor|binary_sensor|switch|button)\/kiosk-7\/\w+\/config$/,
      );
      expect((c['device'] as { identifiers: string[] }).identifiers).toEqual(['seqr-vend_kiosk-7']);
      if (c['command_topic'] !== undefined)
        expect(c['command_topic'] as string).toMatch(
          /^seqr-vend\/kiosk-7\/command\/homeassistant\//,
        );
    }
    expect(configs.map((x) => x.topic)).toEqual(
      expect.arrayContaining([
        'homeassistant/switch/kiosk-7/maintenance/config',
        'homeassistant/binary_sensor/kiosk-7/connectivity/config',
        'homeassistant/sensor/kiosk-7/stock_2/config',
      ]),
    );
  });
});
