// What a hostile tester feeds the configuration loader: huge, deep, binary and duplicated input,
// control characters in names, absurd numbers. Each ends as E_CONFIG_INVALID (exit 78) with
// short, printable lines; the few that used to hang, crash or echo raw bytes are here by name.
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ConfigError,
  excerpt,
  exitCodeFor,
  loadConfig,
  MAX_CONFIG_BYTES,
  MAX_PROBLEMS,
  parseConfigText,
} from '../../config/load.js';
import { MINIMAL_CONFIG } from './minimal.js';

/** The lines of the ConfigError `run` throws; fails if it returns or throws anything else. */
function refusal(run: () => unknown): readonly string[] {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect(exitCodeFor(err)).toBe(78);
    const lines = (err as ConfigError).lines;
    for (const line of lines) {
      // Nothing but printable text reaches the operator's terminal.
      expect(line).not.toMatch(/[\p{Cc}\p{Cf}\p{Cs}]/u);
      expect(line.length).toBeLessThan(400);
    }
    expect(lines.length).toBeLessThanOrEqual(MAX_PROBLEMS + 1);
    return lines;
  }
  throw new Error('expected the configuration to be refused');
}

const parse = (text: string) => () => parseConfigText(text, 'config.yaml', {});

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'seqr-hostile-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('size', () => {
  it('refuses a 50 MB file by its size, without reading it', () => {
    const file = path.join(dir, 'big.yaml');
    writeFileSync(file, MINIMAL_CONFIG);
    truncateSync(file, 50 * 1024 * 1024);
    const started = process.hrtime.bigint();
    const lines = refusal(() => loadConfig(file, {}));
    expect(lines).toEqual([
      `${file}: the configuration is 50.0 MiB (52428800 bytes); at most 256 KiB are read (a configuration for 32 products is under 20 KiB)`,
    ]);
    // Refused from fstat: well under the seconds a read of 50 MB would take.
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(5_000);
  });

  it('refuses a stream that never ends (/dev/zero) after 256 KiB', () => {
    expect(refusal(() => loadConfig('/dev/zero', {}))).toEqual([
      expect.stringMatching(/^\/dev\/zero: the configuration is more than 256 KiB; at most/),
    ]);
  });

  it('refuses 4.8 million keys (the 50 MB file of the report) and 40,000 keys (0.5 MB) by size', () => {
    const keys = (n: number) => Array.from({ length: n }, (_, i) => `k${String(i)}: 1`).join('\n');
    expect(refusal(parse(keys(40_000)))[0]).toMatch(/^config\.yaml: the configuration is .* KiB/);
  });

  it('refuses many keys under the size limit by their number, at the line where the limit is passed', () => {
    let text = '';
    for (let i = 0; text.length < MAX_CONFIG_BYTES - 100; i++) text += `k${String(i)}: 1\n`;
    const lines = refusal(parse(text));
    expect(lines).toEqual([
      expect.stringMatching(/^config\.yaml:5001: YAML: more than 10000 values/),
    ]);
  });

  it('refuses a directory and says so', () => {
    expect(refusal(() => loadConfig(dir, {}))).toEqual([
      `${dir}: is a directory, not a configuration file`,
    ]);
  });
});

describe('parse cost', () => {
  it('refuses deep nesting (flow, block, compact lists, explicit keys) instead of overflowing the stack', () => {
    const cases = [
      `mode: ${'['.repeat(100_000)}${']'.repeat(100_000)}`,
      `a: ${'{a: '.repeat(20_000)}1${'}'.repeat(20_000)}`,
      `${'- '.repeat(100_000)}x`,
      `${'? '.repeat(100_000)}x`,
      Array.from({ length: 500 }, (_, i) => `${' '.repeat(i)}a:`).join('\n'),
    ];
    for (const text of cases)
      expect(refusal(parse(text))).toEqual([
        expect.stringMatching(/^config\.yaml:\d+: YAML: nested more than 16 levels deep/),
      ]);
  });

  it('refuses an alias bomb', () => {
    const bomb = [
      'a: &a ["x","x","x","x","x","x","x","x","x"]',
      'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]',
      'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]',
      'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
      'e: [*d,*d,*d,*d,*d,*d,*d,*d,*d]',
    ].join('\n');
    expect(refusal(parse(bomb))).toEqual([
      expect.stringMatching(/^config\.yaml:1: YAML: Excessive alias count/),
    ]);
  });

  it('reports a key written twice in one mapping with both lines', () => {
    const lines = refusal(parse(MINIMAL_CONFIG.replace('name: Shop', 'name: Shop\n  name: Other')));
    expect(lines).toEqual([
      'config.yaml:6: merchant.name: duplicate key (first written on line 5)',
    ]);
  });

  it('refuses a second YAML document', () => {
    expect(refusal(parse(`${MINIMAL_CONFIG}---\nmode: production\n`))).toEqual([
      'config.yaml:14: YAML: the file holds more than one document (a second `---`); keep one',
    ]);
  });

  it('lists at most 50 problems and counts the rest', () => {
    const text =
      MINIMAL_CONFIG + Array.from({ length: 500 }, (_, i) => `x${String(i)}: 1`).join('\n');
    const lines = refusal(parse(text));
    expect(lines).toHaveLength(MAX_PROBLEMS + 1);
    expect(lines[0]).toBe('config.yaml:14: x0: unknown key');
    expect(lines.at(-1)).toBe('config.yaml: 450 more problems not listed');
  });
});

describe('nothing raw reaches the terminal', () => {
  it('4 KB of binary garbage: one line, no raw bytes', () => {
    let seed = 7;
    const bytes = Buffer.alloc(4096, 0).map(() => (seed = (seed * 1103515245 + 12345) & 0xff));
    const file = path.join(dir, 'binary.yaml');
    writeFileSync(file, bytes);
    const lines = refusal(() => loadConfig(file, {}));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^${file}:\\d+: is not UTF-8 text; save it as UTF-8$`));
  });

  it('a control character in the text is named, escaped, with its line', () => {
    const lines = refusal(parse(MINIMAL_CONFIG.replace('name: Cola', 'name: Co\x1b[2Jla')));
    expect(lines).toEqual([
      'config.yaml:8: YAML: the file holds the control character \\x1b, which YAML does not allow (is it a text file?)',
    ]);
  });

  it('a value is quoted as a short excerpt', () => {
    const huge = 'x'.repeat(200_000);
    const lines = refusal(parse(MINIMAL_CONFIG.replace('mode: demo', `mode: ${huge}`)));
    expect(lines).toEqual([
      `config.yaml:1: mode: ${'x'.repeat(60)}... (199940 more characters) is not one of: demo, production`,
    ]);
  });

  it('an unknown key is quoted as a short excerpt with its escapes', () => {
    const lines = refusal(parse(`${MINIMAL_CONFIG}"\\e]0;pwned\\a${'k'.repeat(100)}": 1\n`));
    expect(lines).toEqual([
      `config.yaml:14: \\x1b]0;pwned\\x07${'k'.repeat(30)}... (70 more characters): unknown key`,
    ]);
  });

  it('excerpt escapes controls, bidirectional overrides and backslashes, and cuts long text', () => {
    expect(excerpt('a\x00b\u202Ec\\d')).toBe('a\\x00b\\u{202e}c\\\\d');
    expect(excerpt('é🙂ok')).toBe('é🙂ok');
    expect(excerpt('🙂'.repeat(5), 2)).toBe('🙂🙂... (3 more characters)');
  });
});

describe('values', () => {
  it('refuses a NUL, an escape sequence or a bidirectional override in a product name', () => {
    for (const name of ['"Cola\\0"', '"Cola\\e[31m"', '"Cola\\u202Eloc"', '"Co\\tla"']) {
      const lines = refusal(parse(MINIMAL_CONFIG.replace('name: Cola', `name: ${name}`)));
      expect(lines).toEqual([
        `config.yaml:8: products[0].name: ${name.replace(/\\/g, '\\\\')} must be printable text (no control or format characters)`,
      ]);
    }
    expect(() =>
      parse(MINIMAL_CONFIG.replace('name: Cola', 'name: "Räksmörgås 🙂"'))(),
    ).not.toThrow();
  });

  it('refuses a product name longer than the display line', () => {
    const lines = refusal(parse(MINIMAL_CONFIG.replace('name: Cola', `name: ${'C'.repeat(41)}`)));
    expect(lines).toEqual(['config.yaml:8: products[0].name: is longer than 40 characters']);
  });

  it('takes VAT between 0 and 50 percent', () => {
    const vat = (rate: string) =>
      MINIMAL_CONFIG.replace('name: Shop', `name: Shop\n  vatRate: '${rate}'`);
    expect(refusal(parse(vat('1000')))).toEqual([
      `config.yaml:6: merchant.vatRate: '1000' is not a VAT rate between 0 and 50 percent`,
    ]);
    expect(refusal(parse(vat('-5')))[0]).toMatch(/is not a decimal amount/);
    for (const ok of ['0', '12.5', '25', '50'])
      expect(parseConfigText(vat(ok), 'config.yaml', {}).merchant.vatRate).toBe(ok);
  });

  it('refuses prices whose minor units would not be exact, and huge or negative numbers anywhere', () => {
    const lines = refusal(
      parse(
        MINIMAL_CONFIG.replace('"25.00"', '"999999999999999.99"')
          .replace('relayPin: 17', 'relayPin: 17\n    pulseMs: -300\n    stock: 1e400')
          .replace('cancelPin: 26', 'cancelPin: 26\n  debounceMs: 99999999999999999999'),
      ),
    );
    expect(lines).toEqual([
      'config.yaml:9: products[0].price: "999999999999999.99" is above the highest price 1000000.00',
      'config.yaml:12: products[0].pulseMs: -300 is below the minimum 20',
      'config.yaml:13: products[0].stock: 1e400 is not a finite number',
      'config.yaml:16: buttons.debounceMs: 99999999999999999999 is above the maximum 500',
    ]);
  });

  it('refuses one relay board driven two ways', () => {
    const second = `
  - slot: 2
    name: Water
    price: "12.00"
    buttonPin: 6
    relayPin: 27
    relayActiveLevel: low
`;
    const lines = refusal(
      parse(MINIMAL_CONFIG.replace('relayPin: 17\n', `relayPin: 17\n${second.slice(1)}`)),
    );
    expect(lines).toEqual([
      'config.yaml:7: products: relayActiveLevel differs between products; the relay board is driven one way for every slot, so give every product the same relayActiveLevel',
    ]);
  });

  it('refuses control characters in paths, hosts and ids', () => {
    const lines = refusal(
      parse(
        MINIMAL_CONFIG.replace(
          'mode: demo',
          'mode: demo\nstateDirectory: "/var/lib/x\\0y"\nseqr:\n  terminalId: "ab\\ncd"\nprinter:\n  type: tcp\n  host: "printer; rm -rf /"',
        ),
      ),
    );
    expect(lines).toEqual([
      'config.yaml:2: stateDirectory: "/var/lib/x\\\\0y" must be printable text (no control or format characters)',
      'config.yaml:4: seqr.terminalId: "ab\\\\ncd" must be printable text (no control or format characters)',
      'config.yaml:7: printer.host: "printer; rm -rf /" must be a host name or an IP address',
    ]);
  });
});

describe('kiosk address', () => {
  const kiosk = (lines: string) =>
    MINIMAL_CONFIG.replace('mode: demo', `mode: demo\nkiosk:\n${lines}`);

  it('refuses a non-loopback host unless allowRemote says so too, and says why', () => {
    expect(refusal(parse(kiosk('  host: 0.0.0.0')))).toEqual([
      'config.yaml:3: kiosk.host: "0.0.0.0" is not a loopback address: the kiosk page would be open to the network, where anyone could press the buttons. Keep 127.0.0.1, or also set kiosk.allowRemote: true; remote browsers then need the token `seqr-vend status` shows',
    ]);
    for (const host of ['192.168.1.20', 'kiosk.local', '::', '::ffff:10.0.0.1'])
      expect(refusal(parse(kiosk(`  host: "${host}"`)))[0]).toMatch(/is not a loopback address/);
  });

  it('refuses allowRemote on a loopback host (it would change nothing)', () => {
    expect(refusal(parse(kiosk('  allowRemote: true')))).toEqual([
      'config.yaml:3: kiosk.allowRemote: true needs kiosk.host set to a non-loopback address (this machine\'s LAN address, or 0.0.0.0 for every interface); with "127.0.0.1" the page is local only',
    ]);
    // "yes" is not `true`: the host is refused as well.
    expect(refusal(parse(kiosk('  host: 0.0.0.0\n  allowRemote: "yes"')))).toEqual([
      expect.stringMatching(/^config\.yaml:3: kiosk\.host: "0\.0\.0\.0" is not a loopback address/),
      'config.yaml:4: kiosk.allowRemote: expected true or false, got "yes"',
    ]);
  });

  it('takes loopback hosts alone and a LAN address with allowRemote', () => {
    for (const host of ['127.0.0.1', '127.0.0.2', 'localhost', '::1', '::ffff:127.0.0.1'])
      expect(parseConfigText(kiosk(`  host: "${host}"`), 'config.yaml', {}).kiosk).toMatchObject({
        host,
        allowRemote: false,
      });
    expect(
      parseConfigText(kiosk('  host: 0.0.0.0\n  allowRemote: true'), 'config.yaml', {}).kiosk,
    ).toMatchObject({ host: '0.0.0.0', allowRemote: true });
  });
});
