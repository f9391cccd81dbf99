import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfigText } from '../../config/load.js';
import { coreConfig } from '../../daemon/app/core-config.js';
import { MINIMAL_CONFIG } from './minimal.js';

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
    const config = parseConfigText(MINIMAL_CONFIG + FLEET + GATEWAY + UPS, 'config.yaml', {});
    const core = coreConfig(config, 'terminal-1');
    expect(core.notificationUrl).toBe('https://gw.example.com/seqr/notify/kiosk-2');
    expect(core.ups).toMatchObject({
      code: 'HTTP://SEQR.SE/000/ups?w=CAFE&t=kiosk-2',
      maxCredit: { minor: 8_000, currency: 'SEK' },
      commitTimeoutMs: 600_000,
    });
  });

  it('a gateway without ups: per-press purchases with the notificationUrl', () => {
    const core = coreConfig(parseConfigText(MINIMAL_CONFIG + FLEET + GATEWAY, 'c.yaml', {}), 't');
    expect(core.notificationUrl).toBe('https://gw.example.com/seqr/notify/kiosk-2');
    expect(core.ups).toBeUndefined();
  });

  it('refuses ups without the gateway or the fleet (but for the built-in SEQR), and a session that could outlast half the commit window', () => {
    const external = `${MINIMAL_CONFIG}seqr: { endpoint: "http://127.0.0.1:1/soap", terminalId: t1 }\n`;
    expect(lines(external + FLEET + UPS).join('\n')).toMatch(/gateway.*required with ups/);
    expect(lines(external + GATEWAY + UPS).join('\n')).toMatch(/fleet.*required with ups/);
    // Demo mode with the built-in simulator runs the gateway in the daemon.
    expect(
      coreConfig(parseConfigText(MINIMAL_CONFIG + UPS, 'c.yaml', {}), 't').ups,
    ).toBeUndefined();
    expect(
      lines(`${MINIMAL_CONFIG}${FLEET}${GATEWAY}${UPS}  sessionMaxMs: 400000\n`).join('\n'),
    ).toMatch(/sessionMaxMs.*half of ups.commitTimeoutMs/);
  });
});
