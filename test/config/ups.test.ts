import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfigText } from '../../config/load.js';
import { coreConfig } from '../../daemon/app/core-config.js';

const BASE = `mode: demo
machine:
  name: Test
merchant:
  name: Shop
products:
  - slot: 1
    name: Cola
    price: "25.00"
    buttonPin: 5
    relayPin: 17
buttons:
  cancelPin: 26
`;
const FLEET = `fleet:
  url: mqtt://127.0.0.1:1883
  machineId: kiosk-2
`;
const GATEWAY = `gateway:
  url: https://gw.example.com/seqr
`;
const UPS = `ups:
  merchantId: CAFE
  maxCredit: "80"
`;

function lines(text: string): readonly string[] {
  try {
    parseConfigText(text, 'config.yaml', {});
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).lines;
  }
  throw new Error('expected the configuration to be rejected');
}

describe('UPS mode and the callback gateway in the configuration', () => {
  it('ups: the static code names the merchant and the machine; invoices carry the gateway notificationUrl', () => {
    const config = parseConfigText(BASE + FLEET + GATEWAY + UPS, 'config.yaml', {});
    const core = coreConfig(config, 'terminal-1');
    expect(core.notificationUrl).toBe('https://gw.example.com/seqr/notify/kiosk-2');
    expect(core.ups).toMatchObject({
      code: 'HTTP://SEQR.SE/000/ups?w=CAFE&t=kiosk-2',
      maxCredit: { minor: 8_000, currency: 'SEK' },
      commitTimeoutMs: 600_000,
    });
  });

  it('a gateway without ups: per-press purchases with the notificationUrl', () => {
    const core = coreConfig(parseConfigText(BASE + FLEET + GATEWAY, 'c.yaml', {}), 't');
    expect(core.notificationUrl).toBe('https://gw.example.com/seqr/notify/kiosk-2');
    expect(core.ups).toBeUndefined();
  });

  it('refuses ups without the gateway or the fleet (but for the built-in SEQR), and a session that could outlast half the commit window', () => {
    const external = `${BASE}seqr: { endpoint: "http://127.0.0.1:1/soap", terminalId: t1 }\n`;
    expect(lines(external + FLEET + UPS).join('\n')).toMatch(/gateway.*required with ups/);
    expect(lines(external + GATEWAY + UPS).join('\n')).toMatch(/fleet.*required with ups/);
    // Demo mode with the built-in simulator runs the gateway in the daemon.
    expect(coreConfig(parseConfigText(BASE + UPS, 'c.yaml', {}), 't').ups).toBeUndefined();
    expect(lines(`${BASE}${FLEET}${GATEWAY}${UPS}  sessionMaxMs: 400000\n`).join('\n')).toMatch(
      /sessionMaxMs.*half of ups.commitTimeoutMs/,
    );
  });
});
