// The gateway's configuration: the example loads, every problem is reported with its line, and
// secrets are refused in the file.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../config/load.js';
import { parseGatewayConfig } from '../../daemon/gateway/config.js';

const example = readFileSync(new URL('../../config/example.gateway.yaml', import.meta.url), 'utf8');

function problems(text: string): string[] {
  try {
    parseGatewayConfig(text, 'gateway.yaml');
  } catch (err) {
    if (err instanceof ConfigError) return [...err.lines];
    throw err;
  }
  return [];
}

describe('gateway.yaml', () => {
  it('loads the example with its defaults filled in', () => {
    const config = parseGatewayConfig(example, 'example.gateway.yaml');
    expect(config).toMatchObject({
      listen: { host: '0.0.0.0', port: 8443 },
      basePath: '/seqr',
      pathToken: false,
      broker: { url: 'mqtts://broker.example.com:8883', sender: 'gateway', prefix: 'seqr-vend' },
      deadlines: { purchaseMs: 8000, notifyMs: 3000 },
    });
    expect(Object.isFrozen(config.broker)).toBe(true);
  });

  it('reports every problem with its line', () => {
    const text = [
      'listen:',
      '  port: 70000',
      'basePath: seqr',
      'broker:',
      '  url: https://broker',
      '  prefix: "a/+"',
      '  certFile: /x.pem',
      'deadlines:',
      '  purchaseMs: 60000',
      'colour: blue',
    ].join('\n');
    expect(problems(text)).toEqual([
      expect.stringMatching(/^gateway\.yaml:2: listen\.port: /),
      expect.stringMatching(/^gateway\.yaml:3: basePath: must be a path like \/seqr/),
      expect.stringMatching(/^gateway\.yaml:5: broker\.url: /),
      expect.stringMatching(/^gateway\.yaml:6: broker\.prefix: must be topic levels/),
      expect.stringMatching(/^gateway\.yaml:9: deadlines\.purchaseMs: /),
      'gateway.yaml:10: colour: unknown key',
    ]);
    expect(problems('broker:\n  url: mqtt://b\n  certFile: /c.pem\n')).toEqual([
      'gateway.yaml:1: broker: give both certFile and keyFile, or neither',
    ]);
    expect(problems('listen: [')).toEqual([expect.stringMatching(/^gateway\.yaml:1: YAML: /)]);
  });

  it('refuses secrets in the file and names where they belong', () => {
    const found = problems('broker:\n  url: mqtt://b\n  password: hunter22\n');
    expect(found[0]).toMatch(
      /^gateway\.yaml:3: broker\.password: secrets do not belong here; put the broker password in \/etc\/seqr-vend\/gateway-credentials\/broker-password/,
    );
    expect(found.join('\n')).not.toContain('hunter22');
  });
});
