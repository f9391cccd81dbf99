import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VendError } from '../../daemon/errors.js';
import { TERMINAL_PASSWORD_CREDENTIAL } from '../../config/credentials.js';
import {
  checkConfig,
  ConfigError,
  EXIT_CONFIG,
  exitCodeFor,
  loadConfig,
  parseConfigText,
} from '../../config/load.js';
import { MINIMAL_CONFIG } from './minimal.js';

const EXAMPLE = path.join(import.meta.dirname, '../../config/example.config.yaml');

function errorsOf(text: string, env: NodeJS.ProcessEnv = {}): readonly string[] {
  try {
    parseConfigText(text, 'config.yaml', env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as VendError).code).toBe('E_CONFIG_INVALID');
    return (err as ConfigError).lines;
  }
  throw new Error('expected the configuration to be rejected');
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'seqr-config-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('loadConfig', () => {
  it('loads the annotated example for a four-slot Pi with prices in integer minor units', () => {
    const config = loadConfig(EXAMPLE, {});
    expect(config.mode).toBe('production');
    expect(config.products.map((p) => [p.slot, p.priceMinor])).toEqual([
      [1, 2500],
      [2, 1850],
      [3, 1500],
      [4, 2200],
    ]);
    expect(config.merchant.vatBasisPoints).toBe(1200);
    expect(config.printer).toMatchObject({ type: 'usb', path: '/dev/seqr-printer', width: 58 });
    expect(config.kiosk.enabled).toBe(false);
  });

  it('fills defaults and returns a deeply frozen object', () => {
    const config = parseConfigText(MINIMAL_CONFIG, 'config.yaml', {});
    expect(config.timeouts).toMatchObject({
      paymentWindowMs: 30_000,
      stillPayingWindowMs: 30_000,
      pollIntervalMs: 1_000,
    });
    expect(config.products[0]).toMatchObject({ pulseMs: 300, relayActiveLevel: 'high' });
    expect(config.buttons).toMatchObject({ debounceMs: 30, activeLevel: 'low', pull: 'up' });
    expect(config.printer).toEqual({ type: 'none' });
    expect(config.stateDirectory).toBe('/var/lib/seqr-vend');
    expect(config.control.socketPath).toBe('/run/seqr-vend/control.sock');
    expect(config.kiosk.enabled).toBe(true); // demo mode
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.products[0])).toBe(true);
    expect(() => {
      (config.timeouts as { pollIntervalMs: number }).pollIntervalMs = 5;
    }).toThrow(TypeError);
  });

  it("takes the state and runtime directories from systemd's environment", () => {
    const config = parseConfigText(MINIMAL_CONFIG, 'config.yaml', {
      STATE_DIRECTORY: '/var/lib/seqr-vend-x',
      RUNTIME_DIRECTORY: '/run/seqr-vend-x',
    });
    expect(config.stateDirectory).toBe('/var/lib/seqr-vend-x');
    expect(config.control.socketPath).toBe('/run/seqr-vend-x/control.sock');
  });

  it('reports a missing file as E_CONFIG_INVALID', () => {
    expect(() => loadConfig(path.join(dir, 'nope.yaml'), {})).toThrow(/cannot read/);
  });

  it('maps configuration errors to exit status 78 (EX_CONFIG) and anything else to 1', () => {
    expect(EXIT_CONFIG).toBe(78);
    expect(exitCodeFor(new ConfigError(['x']))).toBe(78);
    expect(exitCodeFor(new VendError('E_CONFIG_INVALID', 'credential missing'))).toBe(78);
    expect(exitCodeFor(new VendError('E_SEQR_TIMEOUT', 'slow'))).toBe(1);
    expect(exitCodeFor(new Error('bug'))).toBe(1);
  });
});

describe('configuration errors', () => {
  it('reports every problem at once, each with its line and path, in line order', () => {
    const lines = errorsOf(`mode: production
machine:
  name: K
merchant:
  name: M
seqr:
  endpoint: http://seqr.example/soap
  terminalId: abc
products:
  - slot: 1
    name: Cola
    price: "25.00"
    buttonPin: 5
    relayPin: 17
  - slot: 1
    name: Water
    price: 12.50
    buttonPin: 5
    relayPin: 99
  - slot: 3
    name: X
    price: "12,5"
    buttonPin: 6
    relayPin: 7
    colour: red
buttons:
  cancelPin: 26
printer:
  type: lp
timeouts:
  pollIntervalMs: 4000
  paymentWindowMs: 3000
endOfDay: "25:00"
`);
    expect(lines).toEqual([
      'config.yaml:7: seqr.endpoint: "http://seqr.example/soap" must use https:// in production mode (plain http:// only to this machine: 127.0.0.1, [::1], localhost)',
      'config.yaml:15: products[1].slot: slot 1 is already used by products[0]',
      'config.yaml:17: products[1].price: 12.50 must be quoted, e.g. "12.50" (amounts are decimal strings, never floats)',
      'config.yaml:18: products[1].buttonPin: pin 5 is already used by products[0].buttonPin',
      'config.yaml:19: products[1].relayPin: 99 is above the maximum 27',
      'config.yaml:22: products[2].price: "12,5" is not a decimal amount (write e.g. "25.00")',
      'config.yaml:25: products[2].colour: unknown key',
      'config.yaml:29: printer.type: lp is not one of: none, usb, tcp',
      'config.yaml:31: timeouts.pollIntervalMs: 4000 must be shorter than timeouts.paymentWindowMs (3000)',
      expect.stringMatching(
        /^config\.yaml:31: timeouts\.pollIntervalMs: 4000 is too long for the status poll's 3000 ms deadline: /,
      ),
      'config.yaml:32: timeouts.paymentWindowMs: 3000 is below the minimum 5000',
      'config.yaml:33: endOfDay: "25:00" must be a 24-hour time "HH:MM"',
      'config.yaml:33: endOfDay: end-of-day reports need the reseller user: add seqr.reseller (id, userId)',
    ]);
  });

  it('accepts plain http in production only to this machine (a local proxy or simulator)', () => {
    const production = (endpoint: string) =>
      MINIMAL_CONFIG.replace('mode: demo', 'mode: production').replace(
        'products:',
        `seqr:\n  endpoint: ${endpoint}\n  terminalId: t1\nproducts:`,
      );
    for (const local of [
      'http://127.0.0.1:8913/soap/merchant/cashregister-2',
      'http://127.3.4.5/soap',
      'http://localhost:8913/soap',
      'http://[::1]:8913/soap',
    ])
      expect(parseConfigText(production(local), 'config.yaml', {}).seqr.endpoint).toBe(local);
    for (const remote of ['http://10.0.0.5/soap', 'http://127.0.0.1.example.com/soap'])
      expect(errorsOf(production(remote))).toEqual([
        `config.yaml:7: seqr.endpoint: "${remote}" must use https:// in production mode (plain http:// only to this machine: 127.0.0.1, [::1], localhost)`,
      ]);
  });

  it('finds pins shared between a relay, a drop sensor, a sold-out input and the cancel button', () => {
    const lines = errorsOf(
      MINIMAL_CONFIG.replace(
        'relayPin: 17',
        'relayPin: 26\n    soldOutPin: 5\n    dropSensor:\n      pin: 26',
      ),
    );
    expect(lines).toEqual([
      'config.yaml:11: products[0].relayPin: pin 26 is already used by buttons.cancelPin',
      'config.yaml:12: products[0].soldOutPin: pin 5 is already used by products[0].buttonPin',
      'config.yaml:14: products[0].dropSensor.pin: pin 26 is already used by buttons.cancelPin',
    ]);
  });

  it('refuses a zero price, a drop window shorter than the pulse, and stock with a sold-out pin', () => {
    const lines = errorsOf(
      MINIMAL_CONFIG.replace('"25.00"', '"0.00"').replace(
        'relayPin: 17',
        'relayPin: 17\n    pulseMs: 500\n    stock: 4\n    soldOutPin: 20\n    dropSensor:\n      pin: 21\n      windowMs: 400',
      ),
    );
    expect(lines.join('\n')).toContain('products[0].price: must be more than 0');
    expect(lines.join('\n')).toContain('products[0].soldOutPin: give either stock or soldOutPin');
    expect(lines.join('\n')).toContain(
      'products[0].dropSensor.windowMs: 400 is shorter than pulseMs (500)',
    );
  });

  it('names missing required keys and a missing mode', () => {
    const lines = errorsOf('machine:\n  name: K\n');
    expect(lines).toContain('config.yaml:1: mode: is required');
    expect(lines).toContain('config.yaml:1: products: is required');
    expect(lines).toContain('config.yaml:1: buttons: is required');
  });

  it('needs the reseller user for end-of-day reports in production', () => {
    const text = readFileSync(EXAMPLE, 'utf8').replace(/ {2}reseller:.*\n.*\n.*\n/, '');
    expect(errorsOf(text)).toEqual([
      expect.stringMatching(
        /^config\.yaml:\d+: endOfDay: end-of-day reports need the reseller user/,
      ),
    ]);
  });

  it('requires an endpoint and a terminal id in production only', () => {
    const lines = errorsOf(MINIMAL_CONFIG.replace('mode: demo', 'mode: production'));
    expect(lines.join('\n')).toMatch(/seqr\.endpoint: is required in production mode/);
    expect(lines.join('\n')).toMatch(/seqr\.terminalId: is required in production mode/);
  });

  it('reports an alias to nothing as a YAML error instead of crashing', () => {
    expect(errorsOf('mode: *nothing\n')[0]).toMatch(/^config\.yaml:\d+: YAML: /);
  });

  it('reports YAML syntax errors with their line', () => {
    const lines = errorsOf('mode: demo\nmachine:\n  name: [unclosed\n');
    expect(lines[0]).toMatch(/^config\.yaml:\d+: YAML: /);
  });

  it('rejects a password anywhere in the YAML, says where it belongs, and never echoes it', () => {
    const secret = 'Sup3r-S3cret-Value';
    const lines = errorsOf(
      MINIMAL_CONFIG.replace('mode: demo', `mode: demo\nseqr:\n  password: ${secret}`).replace(
        'name: Shop',
        `name: Shop\n  terminalPassword: ${secret}`,
      ),
    );
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      /^config\.yaml:3: seqr\.password: secrets do not belong in config\.yaml; .*\/etc\/seqr-vend\/credentials\/seqr-terminal-password/,
    );
    expect(lines[1]).toMatch(/^config\.yaml:8: merchant\.terminalPassword: secrets do not belong/);
    expect(lines.join('\n')).not.toContain(secret);
  });
});

describe('checkConfig', () => {
  function writeConfig(text: string): string {
    const file = path.join(dir, 'config.yaml');
    writeFileSync(file, text);
    return file;
  }

  it('says OK with the mode and slots for a valid demo file', async () => {
    const file = writeConfig(MINIMAL_CONFIG);
    expect(await checkConfig(file, {})).toEqual({
      ok: true,
      lines: [`${file}: OK (demo mode, 1 products: slots 1)`],
    });
  });

  it('lists every error for an invalid file', async () => {
    const file = writeConfig(
      MINIMAL_CONFIG.replace('"25.00"', '"25,00"').replace('cancelPin: 26', 'cancelPin: 5'),
    );
    const result = await checkConfig(file, {});
    expect(result.ok).toBe(false);
    expect(result.lines).toHaveLength(2);
    expect(result.lines[0]).toBe(
      `${file}:9: products[0].price: "25,00" is not a decimal amount (write e.g. "25.00")`,
    );
  });

  it('in production, needs a readable root-only terminal password credential', async () => {
    const text = readFileSync(EXAMPLE, 'utf8');
    const file = writeConfig(text);
    const creds = path.join(dir, 'creds');
    const env = { CREDENTIALS_DIRECTORY: creds };
    const missing = await checkConfig(file, env);
    expect(missing.ok).toBe(false);
    expect(missing.lines[0]).toContain(`${creds}/${TERMINAL_PASSWORD_CREDENTIAL} does not exist`);

    const { mkdirSync } = await import('node:fs');
    mkdirSync(creds);
    const secretFile = path.join(creds, TERMINAL_PASSWORD_CREDENTIAL);
    writeFileSync(secretFile, 'pw-1234\n', { mode: 0o644 });
    chmodSync(secretFile, 0o644);
    const open = await checkConfig(file, env);
    expect(open.lines[0]).toContain('is readable by group or others (mode 0644); run: chmod 600');
    expect(open.lines.join('\n')).not.toContain('pw-1234');

    chmodSync(secretFile, 0o600);
    // The example has end-of-day reports on, so the reseller password is needed too.
    const noReseller = await checkConfig(file, env);
    expect(noReseller.lines).toEqual([
      expect.stringContaining(`${creds}/seqr-reseller-password does not exist`),
    ]);
    writeFileSync(path.join(creds, 'seqr-reseller-password'), 'rs-pw', { mode: 0o600 });
    expect((await checkConfig(file, env)).ok).toBe(true);

    writeFileSync(
      file,
      text.replace('# caFile: /etc/seqr-vend/seqr-ca.pem', `caFile: ${dir}/nope.pem`),
    );
    expect((await checkConfig(file, env)).lines).toEqual([
      `${file}: seqr.caFile: ${dir}/nope.pem cannot be read (ENOENT)`,
    ]);
  });
});
