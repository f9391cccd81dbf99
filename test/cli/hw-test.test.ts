// `seqr-vend hw-test` on the fakes (FakeGpio) and on the stand-ins the hardware tests use: a
// sysfs GPIO tree that behaves like the kernel's, a file for /dev/fb0 with its sysfs geometry,
// a file for the USB printer, and the SEQR simulator over loopback.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TERMINAL_PASSWORD_CREDENTIAL, writeCredential } from '../../config/credentials.js';
import { parseConfigText } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { runCli } from '../../daemon/cli/cli.js';
import {
  HwTestUsage,
  parseHwTestArgs,
  runHwTest,
  type HwTestArgs,
  type HwTestOptions,
} from '../../daemon/cli/hw-test.js';
import { startControlServer } from '../../daemon/service/control-socket.js';
import { FakeGpio } from '../../hardware/gpio/fake-gpio.js';
import { openSysfsGpio } from '../../hardware/gpio/sysfs-gpio.js';
import { TEST_CORNER } from '../../hardware/display/test-pattern.js';
import { startSimulator } from '../../simulator/index.js';
import { decodeQr, frameToRgba } from '../display/support.js';
import { decodeEscPos, readRasterQr } from '../hardware/support/escpos-decoder.js';
import { LAYOUTS, kernelIo, makeSysfsTree, setValue } from '../hardware/support/sysfs-tree.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'seqr-hwtest-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function config(overrides: Record<string, unknown> = {}): Config {
  return parseConfigText(
    JSON.stringify({
      mode: 'production',
      machine: { name: 'Bench' },
      merchant: { name: 'Bench AB', address: 'Testgatan 1' },
      seqr: { endpoint: 'http://127.0.0.1:9/soap', terminalId: 'bench-terminal' },
      products: [
        {
          slot: 1,
          name: 'Cola',
          price: '25.00',
          buttonPin: 5,
          relayPin: 17,
          pulseMs: 50,
          dropSensor: { pin: 16, activeLevel: 'low', windowMs: 400 },
        },
        { slot: 2, name: 'Water', price: '18.50', buttonPin: 6, relayPin: 27, soldOutPin: 20 },
      ],
      buttons: { cancelPin: 26, debounceMs: 30 },
      control: { socketPath: path.join(dir, 'control.sock') },
      credentialsDirectory: path.join(dir, 'credentials'),
      ...overrides,
    }),
    'config.yaml',
    {},
  );
}

interface Run {
  readonly done: Promise<number>;
  readonly out: () => string;
  readonly err: () => string;
  readonly stop: AbortController;
}

function run(test: HwTestArgs, options: Partial<HwTestOptions> & { config: Config }): Run {
  let out = '';
  let err = '';
  const stop = new AbortController();
  const done = runHwTest(test, {
    env: {},
    stdout: { write: (t: string) => (out += t) },
    stderr: { write: (t: string) => (err += t) },
    confirm: () => Promise.resolve(false),
    stop: stop.signal,
    ...options,
  });
  return { done, out: () => out, err: () => err, stop };
}

async function until(what: string, test: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('hw-test arguments', () => {
  it('takes one test, the slot for relay, --yes and --config', () => {
    expect(parseHwTestArgs(['relay', '2', '--yes', '--config', '/x.yaml'])).toEqual({
      test: 'relay',
      slot: 2,
      yes: true,
      help: false,
      configPath: '/x.yaml',
    });
    expect(parseHwTestArgs(['buttons'])).toMatchObject({ test: 'buttons', yes: false });
    for (const bad of [[], ['blink'], ['relay'], ['relay', 'one'], ['buttons', '3']])
      expect(() => parseHwTestArgs(bad)).toThrow(HwTestUsage);
  });

  it('prints its usage with exit 64 on a bad test name, from the command line', async () => {
    let err = '';
    const code = await runCli(['hw-test', 'blink'], {
      stdout: { write: () => undefined },
      stderr: { write: (t: string) => (err += t) },
      env: {},
    });
    expect(code).toBe(64);
    expect(err).toContain('unknown test "blink"');
    expect(err).toContain('relay SLOT');
  });
});

describe('hw-test with the daemon running', () => {
  it('stops with E_DAEMON_RUNNING when the control socket answers, and tests nothing', async () => {
    const server = await startControlServer({
      path: path.join(dir, 'control.sock'),
      status: () => ({ state: 'idle' }),
    });
    const gpio = new FakeGpio();
    try {
      const test = run(
        { test: 'relay', slot: 1, yes: true, help: false },
        { config: config(), openGpio: () => Promise.resolve(gpio) },
      );
      await expect(test.done).rejects.toMatchObject({ code: 'E_DAEMON_RUNNING' });
      expect(gpio.writes).toEqual([]);

      // From the command line: the message and exit 1.
      const yaml = path.join(dir, 'config.yaml');
      writeFileSync(yaml, JSON.stringify({ ...configInput(), gpio: { backend: 'sysfs' } }));
      let err = '';
      const code = await runCli(['hw-test', 'printer', '--config', yaml], {
        stdout: { write: () => undefined },
        stderr: { write: (t: string) => (err += t) },
        env: {},
      });
      expect(code).toBe(1);
      expect(err).toMatch(/E_DAEMON_RUNNING: the daemon is running .*systemctl stop seqr-vend/);
    } finally {
      await server.close();
    }
  });

  it('goes on when the socket file is left over from a daemon that is gone', async () => {
    writeFileSync(path.join(dir, 'control.sock'), '');
    const test = run(
      { test: 'printer', yes: false, help: false },
      { config: config({ printer: { type: 'none' } }) },
    );
    expect(await test.done).toBe(1);
    expect(test.err()).toContain('E_PRINTER_NONE');
  });

  function configInput(): Record<string, unknown> {
    return {
      mode: 'production',
      machine: { name: 'Bench' },
      merchant: { name: 'Bench AB' },
      seqr: { endpoint: 'http://127.0.0.1:9/soap', terminalId: 't' },
      products: [{ slot: 1, name: 'Cola', price: '25.00', buttonPin: 5, relayPin: 17 }],
      buttons: { cancelPin: 26 },
      control: { socketPath: path.join(dir, 'control.sock') },
    };
  }
});

describe('hw-test buttons', () => {
  it('prints each debounced press and release with its pin until stopped (FakeGpio)', async () => {
    const gpio = new FakeGpio();
    const test = run(
      { test: 'buttons', yes: false, help: false },
      { config: config(), openGpio: () => Promise.resolve(gpio) },
    );
    await until('the buttons open', () => test.out().includes('Press each button'));
    gpio.inject(5, 0);
    gpio.inject(5, 1); // chatter inside the 30 ms window
    gpio.inject(5, 0);
    await pause(60);
    gpio.inject(5, 1);
    await until('the release', () => test.out().includes('released'));
    gpio.inject(26, 0);
    await until('the cancel press', () => /GPIO26 +cancel pressed/.test(test.out()));
    test.stop.abort();
    expect(await test.done).toBe(0);
    const events = test
      .out()
      .split('\n')
      .filter((l) => /pressed|released/.test(l))
      .map((l) => l.replace(/^\S+\s+/, ''));
    expect(events).toEqual([
      'GPIO5   slot 1 (Cola) pressed',
      'GPIO5   slot 1 (Cola) released',
      'GPIO26  cancel pressed',
    ]);
    expect(test.out()).toContain('GPIO6   slot 2 (Water)');
    expect(gpio.claimed(5)).toBeUndefined();
  });

  it('reads the buttons through the sysfs backend over a fake Pi 4 tree', async () => {
    const tree = makeSysfsTree(LAYOUTS.pi4);
    try {
      const test = run(
        { test: 'buttons', yes: false, help: false },
        {
          config: config({ buttons: { cancelPin: 26, activeLevel: 'high', pull: 'down' } }),
          openGpio: () =>
            openSysfsGpio({
              root: tree.root,
              io: kernelIo(tree.root, LAYOUTS.pi4),
              edgeDetection: 'poll',
            }),
        },
      );
      await until('the buttons open', () => test.out().includes('Press each button'));
      setValue(tree.root, 512 + 6, 1);
      await until('the press', () => test.out().includes('slot 2 (Water) pressed'));
      setValue(tree.root, 512 + 6, 0);
      await until('the release', () => test.out().includes('slot 2 (Water) released'));
      test.stop.abort();
      expect(await test.done).toBe(0);
      expect(test.out()).toMatch(/GPIO6 +slot 2 \(Water\) pressed/);
    } finally {
      tree.cleanup();
    }
  });

  it('refuses in demo mode or with the fake backend: there is no GPIO to test', async () => {
    const test = run(
      { test: 'buttons', yes: false, help: false },
      { config: config({ gpio: { backend: 'fake' } }) },
    );
    expect(await test.done).toBe(1);
    expect(test.err()).toContain('gpio.backend is fake');
  });
});

describe('hw-test relay', () => {
  it('asks first, and drives nothing when the answer is no', async () => {
    const gpio = new FakeGpio();
    const asked: string[] = [];
    const test = run(
      { test: 'relay', slot: 1, yes: false, help: false },
      {
        config: config(),
        openGpio: () => Promise.resolve(gpio),
        confirm: (q) => {
          asked.push(q);
          return Promise.resolve(false);
        },
      },
    );
    expect(await test.done).toBe(1);
    expect(asked).toEqual(['Pulse it now? A product may come out. [y/N] ']);
    expect(test.out()).toContain('slot 1 (Cola): relay GPIO17 energised high for 50 ms');
    expect(test.out()).toContain('not confirmed: nothing was driven');
    expect(gpio.writes).toEqual([]);
  });

  it('pulses once for the configured length and reports the drop sensor seeing the product', async () => {
    const gpio = new FakeGpio();
    gpio.inject(16, 1); // the beam is clear
    const test = run(
      { test: 'relay', slot: 1, yes: false, help: false },
      {
        config: config(),
        openGpio: () => Promise.resolve(gpio),
        confirm: () => Promise.resolve(true),
      },
    );
    await until('the relay on', () => gpio.level(17) === 1);
    gpio.inject(16, 0); // the beam breaks
    expect(await test.done).toBe(0);
    expect(test.out()).toMatch(/pulsed; drop sensor GPIO16: product seen/);
    const relay = gpio.writes.filter((w) => w.pin === 17).map((w) => w.level);
    // Claimed released, one pulse, released; closing drives the safe level once more.
    expect(relay).toEqual([0, 1, 0, 0]);
    const on = gpio.writes.find((w) => w.pin === 17 && w.level === 1)?.at ?? 0;
    const off = gpio.writes.filter((w) => w.pin === 17 && w.level === 0)[1]?.at ?? 0;
    expect(off - on).toBeGreaterThanOrEqual(50);
  });

  it('says so when the drop sensor sees nothing, and when the sold-out switch stops the pulse', async () => {
    const gpio = new FakeGpio();
    gpio.inject(16, 1);
    const nothing = run(
      { test: 'relay', slot: 1, yes: true, help: false },
      { config: config(), openGpio: () => Promise.resolve(gpio) },
    );
    expect(await nothing.done).toBe(1);
    expect(nothing.out()).toContain('drop sensor GPIO16: NOTHING seen within 400 ms');

    const empty = new FakeGpio();
    empty.inject(20, 0); // the sold-out switch of slot 2 is active (low)
    const soldOut = run(
      { test: 'relay', slot: 2, yes: true, help: false },
      { config: config(), openGpio: () => Promise.resolve(empty) },
    );
    expect(await soldOut.done).toBe(1);
    expect(soldOut.out()).toContain(
      'not pulsed: the sold-out switch GPIO20 says the slot is empty',
    );
    expect(empty.writes.filter((w) => w.pin === 27 && w.level === 1)).toEqual([]);
  });

  it('pulses the relay through the sysfs backend over a fake Pi 4 tree, ignoring stock counts', async () => {
    const tree = makeSysfsTree(LAYOUTS.pi4);
    const io = kernelIo(tree.root, LAYOUTS.pi4);
    try {
      const test = run(
        { test: 'relay', slot: 2, yes: true, help: false },
        {
          config: config({
            products: [
              { slot: 2, name: 'Water', price: '18.50', buttonPin: 6, relayPin: 27, stock: 0 },
            ],
          }),
          openGpio: () => openSysfsGpio({ root: tree.root, io, edgeDetection: 'poll' }),
        },
      );
      expect(await test.done).toBe(0);
      expect(test.out()).toContain('pulsed (');
      expect(io.writes.filter((w) => w.startsWith('gpio539/'))).toEqual([
        'gpio539/direction=low',
        'gpio539/value=1',
        'gpio539/value=0',
        'gpio539/value=0', // closing drives the safe level once more
      ]);
    } finally {
      tree.cleanup();
    }
  });

  it('refuses a slot the configuration does not have', async () => {
    const test = run({ test: 'relay', slot: 9, yes: true, help: false }, { config: config() });
    expect(await test.done).toBe(64);
    expect(test.err()).toContain('no slot 9 in the configuration (slots: 1, 2)');
  });
});

describe('hw-test sensor', () => {
  it('prints the drop sensor and sold-out switch levels, then every change', async () => {
    const gpio = new FakeGpio();
    gpio.inject(16, 1);
    gpio.inject(20, 1);
    const test = run(
      { test: 'sensor', yes: false, help: false },
      { config: config(), openGpio: () => Promise.resolve(gpio) },
    );
    await until('the levels', () => test.out().includes('sold-out switch'));
    expect(test.out()).toContain('GPIO16  drop sensor: beam clear (level 1)');
    expect(test.out()).toContain('GPIO20  slot 2 sold-out switch: loaded (level 1)');
    gpio.inject(16, 0);
    await until('the change', () => test.out().includes('beam broken (level 0)'));
    test.stop.abort();
    expect(await test.done).toBe(0);
    expect(gpio.claimed(16)).toBeUndefined();
  });
});

describe('hw-test display', () => {
  function framebuffer(width: number, height: number, bpp: 16 | 32) {
    const sys = path.join(dir, 'sys');
    const stride = (width * bpp) / 8 + 64; // padding after each row, as some drivers have
    mkdirSync(path.join(sys, 'fb0'), { recursive: true });
    writeFileSync(path.join(sys, 'fb0', 'virtual_size'), `${width},${height}\n`);
    writeFileSync(path.join(sys, 'fb0', 'bits_per_pixel'), `${bpp}\n`);
    writeFileSync(path.join(sys, 'fb0', 'stride'), `${stride}\n`);
    const device = path.join(dir, 'fb0');
    writeFileSync(device, Buffer.alloc(stride * height));
    return { sys, device, geometry: { width, height, bitsPerPixel: bpp, stride } };
  }

  it.each([
    [0, 16, 'RGB565'],
    [90, 32, 'XRGB8888'],
  ] as const)(
    'draws the pattern and a QR code as the daemon would (rotation %i, %i bpp)',
    async (rotation, bpp, format) => {
      const fb = framebuffer(800, 480, bpp);
      const test = run(
        { test: 'display', yes: false, help: false },
        {
          config: config({ display: { sink: 'framebuffer', device: fb.device, rotation } }),
          graphicsRoot: fb.sys,
        },
      );
      expect(await test.done, test.err()).toBe(0);
      const [w, h] = rotation === 90 ? [480, 800] : [800, 480];
      const payload = `SEQR-VEND TEST ${w}X${h} ${format} ROT ${rotation}`;
      expect(test.out()).toContain(`800x480 pixels, ${bpp} bpp ${format}, stride`);
      expect(test.out()).toContain(`screens are drawn at ${w}x${h}`);
      expect(test.out()).toContain(`scans as "${payload}"`);
      const rgba = frameToRgba(readFileSync(fb.device), fb.geometry);
      expect(decodeQr(rgba, 800, 480)).toBe(payload);
      // The red corner square is where the customer's top left is: the device's top left at 0
      // degrees, its top right when the panel is turned 90 degrees clockwise.
      const [x, y] = rotation === 0 ? [10, 10] : [800 - 11, 10];
      const i = (y * 800 + x) * 4;
      expect([rgba[i], rgba[i + 1], rgba[i + 2]]).toEqual([...TEST_CORNER]);
    },
  );

  it('reports a missing framebuffer with E_DISPLAY_WRITE', async () => {
    const test = run(
      { test: 'display', yes: false, help: false },
      {
        config: config({ display: { sink: 'framebuffer', device: path.join(dir, 'fb9') } }),
        graphicsRoot: path.join(dir, 'nothing'),
      },
    );
    expect(await test.done).toBe(1);
    expect(test.err()).toMatch(/hw-test display: E_DISPLAY_WRITE: /);
  });
});

describe('hw-test printer', () => {
  it('prints a test slip with the status to the printer device', async () => {
    const device = path.join(dir, 'lp0');
    writeFileSync(device, '');
    const test = run(
      { test: 'printer', yes: false, help: false },
      { config: config({ printer: { type: 'usb', path: device, width: 58, qr: 'raster' } }) },
    );
    expect(await test.done, test.err()).toBe(0);
    expect(test.out()).toContain(`printer ${device}: 58 mm paper, raster QR`);
    expect(test.out()).toContain('status: unknown (the printer does not answer status queries)');
    const job = decodeEscPos(readFileSync(device));
    const text = job.lines.map((l) => l.text).join('\n');
    expect(text).toContain('Bench AB');
    expect(text).toContain('TEST SLIP - NOT A RECEIPT');
    expect(text).toContain('Reference: status unknown');
    expect(job.rasters.map(readRasterQr)).toEqual(['SEQR-VEND PRINTER TEST']);
    expect(job.cuts).toBe(1);
  });

  it('reports a printer that is not there with its code', async () => {
    const test = run(
      { test: 'printer', yes: false, help: false },
      { config: config({ printer: { type: 'usb', path: path.join(dir, 'missing') } }) },
    );
    expect(await test.done).toBe(1);
    expect(test.err()).toMatch(/hw-test printer: E_PRINTER_OFFLINE: /);
  });
});

describe('hw-test seqr', () => {
  it('times benchmarkingNop round trips and checks the terminal credentials against SEQR', async () => {
    const sim = await startSimulator({
      host: '127.0.0.1',
      port: 0,
      terminal: { id: 'bench-terminal', password: 'bench-password-1' },
    });
    try {
      await writeCredential(
        path.join(dir, 'credentials'),
        TERMINAL_PASSWORD_CREDENTIAL,
        'bench-password-1',
      );
      const ok = run(
        { test: 'seqr', yes: false, help: false },
        { config: config({ seqr: { endpoint: sim.soapUrl, terminalId: 'bench-terminal' } }) },
      );
      expect(await ok.done, ok.err()).toBe(0);
      expect(ok.out()).toMatch(/benchmarkingNop: \d+ ms, \d+ ms, \d+ ms/);
      expect(ok.out()).toMatch(
        /terminal bench-terminal: credentials accepted \(getPaymentStatus in \d+ ms\)/,
      );
      expect(sim.control.invoices()).toEqual([]);

      await writeCredential(
        path.join(dir, 'credentials'),
        TERMINAL_PASSWORD_CREDENTIAL,
        'Wr0ng-pass-77',
      );
      const refused = run(
        { test: 'seqr', yes: false, help: false },
        { config: config({ seqr: { endpoint: sim.soapUrl, terminalId: 'bench-terminal' } }) },
      );
      expect(await refused.done).toBe(1);
      expect(refused.err()).toMatch(/hw-test seqr: E_SEQR_AUTH: /);
      expect(refused.out() + refused.err()).not.toContain('Wr0ng-pass-77');
    } finally {
      await sim.close();
    }
  });

  it('reports an endpoint nobody answers on with E_SEQR_UNREACHABLE', async () => {
    const test = run({ test: 'seqr', yes: false, help: false }, { config: config() });
    expect(await test.done).toBe(1);
    expect(test.err()).toMatch(/hw-test seqr: E_SEQR_UNREACHABLE: /);
  });
});
