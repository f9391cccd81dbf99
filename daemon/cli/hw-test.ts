/**
 * `seqr-vend hw-test <test>`: the hardware, one device at a time, for the person wiring or
 * servicing the machine, through the same adapters and the same wiring (daemon/app/hardware.ts)
 * the daemon uses. It refuses to run while the daemon runs (the daemon owns the GPIO lines, the
 * display and the printer).
 *
 *   buttons      prints every debounced press and release with its pin, until Ctrl-C
 *   relay SLOT   one pulse of the slot's relay (asks first unless --yes), with the drop sensor's answer
 *   sensor       the drop sensor and sold-out switches: their levels now and every change, until Ctrl-C
 *   display      a test pattern and a QR code, in the geometry, pixel format and rotation of the daemon
 *   printer      the printer's status and a test slip
 *   seqr         benchmarkingNop round trips, and the terminal credentials checked, with their times
 */
import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { readTerminalPassword } from '../../config/credentials.js';
import type { Config } from '../../config/schema.js';
import { openGpioButtons } from '../../hardware/buttons/gpio-buttons.js';
import { openGpioDispenser } from '../../hardware/dispenser/gpio-dispenser.js';
import {
  convertRect,
  frameBytes,
  logicalSize,
  readGeometry,
} from '../../hardware/display/framebuffer-format.js';
import { testPattern } from '../../hardware/display/test-pattern.js';
import type { GpioBackend, InputLine, Level } from '../../hardware/gpio/gpio.js';
import { openGpio } from '../../hardware/gpio/open-gpio.js';
import { buttonWiring, configuredPrinter, dispenserWiring, gpioConfig } from '../app/hardware.js';
import { VendError, errorCodeOf } from '../errors.js';
import type { ButtonId } from '../ports/buttons.js';
import { systemClock, type Clock } from '../ports/clock.js';
import { SeqrResultError } from '../seqr/call-errors.js';
import { SeqrClient } from '../seqr/client.js';
import { requestControl } from '../service/control-socket.js';

export const HW_TESTS = ['buttons', 'relay', 'sensor', 'display', 'printer', 'seqr'] as const;
export type HwTest = (typeof HW_TESTS)[number];

export const HW_TEST_USAGE = `usage: seqr-vend hw-test <test> [--config PATH] [--yes]

Tests the hardware with the daemon stopped (sudo systemctl stop seqr-vend first):
  buttons      every debounced press and release with its pin, until Ctrl-C
  relay SLOT   one pulse of the slot's relay, with the drop sensor's answer (asks first; --yes)
  sensor       drop sensor and sold-out switches, their level now and every change, until Ctrl-C
  display      a test pattern and a QR code, as the daemon draws (geometry, format, rotation)
  printer      the printer's status and a test slip
  seqr         round trips to the SEQR endpoint and a check of the terminal credentials
`;

/** The command line of `seqr-vend hw-test`. */
export interface HwTestArgs {
  readonly test: HwTest;
  readonly slot?: number;
  readonly configPath?: string;
  readonly yes: boolean;
  readonly help: boolean;
}

/** A usage error: the caller prints it with {@link HW_TEST_USAGE} and exits 64. */
export class HwTestUsage extends Error {}

export function parseHwTestArgs(argv: readonly string[]): HwTestArgs {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: {
      config: { type: 'string', short: 'c' },
      yes: { type: 'boolean', short: 'y' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
  const base = {
    yes: values.yes === true,
    help: values.help === true,
    ...(values.config === undefined ? {} : { configPath: values.config }),
  };
  if (base.help) return { test: 'buttons', ...base };
  const [test, slot, ...extra] = positionals;
  if (test === undefined) throw new HwTestUsage('which test? one of ' + HW_TESTS.join(', '));
  if (!(HW_TESTS as readonly string[]).includes(test))
    throw new HwTestUsage(`unknown test "${test}": one of ${HW_TESTS.join(', ')}`);
  if (test === 'relay') {
    const n = Number(slot);
    if (slot === undefined || !Number.isInteger(n))
      throw new HwTestUsage('relay needs the slot number, e.g. seqr-vend hw-test relay 1');
    if (extra.length > 0) throw new HwTestUsage(`unexpected "${extra.join(' ')}"`);
    return { test, slot: n, ...base };
  }
  if (slot !== undefined) throw new HwTestUsage(`unexpected "${[slot, ...extra].join(' ')}"`);
  return { test: test as HwTest, ...base };
}

interface Out {
  write(text: string): unknown;
}

export interface HwTestOptions {
  readonly config: Config;
  readonly env: NodeJS.ProcessEnv;
  readonly stdout: Out;
  readonly stderr: Out;
  /** Default the system clock. */
  readonly clock?: Clock;
  /** Opens the configured GPIO backend. Default: the backend of `config.gpio`. */
  readonly openGpio?: () => Promise<GpioBackend>;
  /** The sysfs graphics class directory (framebuffer geometry). Default `/sys/class/graphics`. */
  readonly graphicsRoot?: string;
  /** Asks a yes/no question of the person at the machine; false when nobody can answer. */
  readonly confirm: (question: string) => Promise<boolean>;
  /** Ends `buttons` and `sensor` (Ctrl-C). */
  readonly stop: AbortSignal;
}

/**
 * Runs one test; resolves with the exit status (0 passed, 1 failed or found a fault) and never
 * rejects for a hardware fault: the fault is printed with its code. Rejects E_DAEMON_RUNNING when
 * the daemon answers on its control socket.
 */
export async function runHwTest(args: HwTestArgs, options: HwTestOptions): Promise<number> {
  await refuseWhileDaemonRuns(options.config.control.socketPath);
  const { config } = options;
  const needsGpio = args.test === 'buttons' || args.test === 'relay' || args.test === 'sensor';
  if (needsGpio && (config.mode === 'demo' || config.gpio.backend === 'fake')) {
    options.stderr.write(
      `hw-test ${args.test}: ${config.mode === 'demo' ? 'demo mode' : 'gpio.backend is fake'}: ` +
        'the buttons, relays and sensors are virtual, there is no GPIO to test\n',
    );
    return 1;
  }
  try {
    switch (args.test) {
      case 'buttons':
        return await buttons(options);
      case 'relay':
        return await relay(args.slot ?? 0, args.yes, options);
      case 'sensor':
        return await sensor(options);
      case 'display':
        return await display(options);
      case 'printer':
        return await printer(options);
      case 'seqr':
        return await seqr(options);
    }
  } catch (err) {
    const code = errorCodeOf(err);
    const message = err instanceof Error ? err.message : String(err);
    options.stderr.write(`hw-test ${args.test}: ${code ? `${code}: ` : ''}${message}\n`);
    return 1;
  }
}

/** Rejects E_DAEMON_RUNNING when something answers on the daemon's control socket. */
async function refuseWhileDaemonRuns(socketPath: string): Promise<void> {
  try {
    await requestControl(socketPath, 'status', 2_000);
  } catch (err) {
    const cause = (err as { cause?: NodeJS.ErrnoException }).cause?.code;
    if (cause === 'ENOENT' || cause === 'ECONNREFUSED') return;
    if (cause === 'EACCES')
      throw new VendError(
        'E_DAEMON_UNREACHABLE',
        `cannot tell whether the daemon is running: permission denied on ${socketPath}; run hw-test as root`,
        { cause: err },
      );
  }
  throw new VendError(
    'E_DAEMON_RUNNING',
    `the daemon is running (it answers on ${socketPath}) and owns the GPIO lines, the display ` +
      'and the printer: sudo systemctl stop seqr-vend, test, then sudo systemctl start seqr-vend',
  );
}

const pin = (n: number): string => `GPIO${String(n)}`;

function clockTime(at: number): string {
  const d = new Date(at);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

function gpioOf(options: HwTestOptions): Promise<GpioBackend> {
  const clock = options.clock ?? systemClock;
  return options.openGpio ? options.openGpio() : openGpio(gpioConfig(options.config), { clock });
}

/** Resolves when `signal` aborts. */
function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else
      signal.addEventListener(
        'abort',
        () => {
          resolve();
        },
        { once: true },
      );
  });
}

async function buttons(options: HwTestOptions): Promise<number> {
  const { config, stdout } = options;
  const clock = options.clock ?? systemClock;
  const wiring = buttonWiring(config);
  const label = (button: ButtonId): string => {
    if (button.kind === 'cancel') return 'cancel';
    const product = config.products.find((p) => p.slot === button.slot);
    return `slot ${String(button.slot)} (${product?.name ?? '?'})`;
  };
  const b = config.buttons;
  stdout.write(
    `Buttons: active ${b.activeLevel}, pull ${b.pull}, debounce ${String(b.debounceMs)} ms\n`,
  );
  for (const w of wiring.buttons) stdout.write(`  ${pin(w.pin).padEnd(7)} ${label(w.button)}\n`);
  const gpio = await gpioOf(options);
  try {
    const opened = await openGpioButtons({
      gpio,
      clock,
      ...wiring,
      onChange: (change) => {
        stdout.write(
          `${clockTime(change.at)}  ${pin(change.pin).padEnd(7)} ${label(change.button)} ` +
            `${change.pressed ? 'pressed' : 'released'}\n`,
        );
      },
    });
    stdout.write('Press each button; Ctrl-C ends.\n');
    const off = opened.subscribe((event) => {
      if (event.type === 'stuck')
        stdout.write(
          `${clockTime(event.at)}  ${label(event.button)} held for ${String(b.stuckMs)} ms: ` +
            'the daemon reports it stuck and ignores it until released\n',
        );
    });
    await aborted(options.stop);
    off();
    await opened.close();
  } finally {
    await gpio.close();
  }
  return 0;
}

async function relay(slot: number, yes: boolean, options: HwTestOptions): Promise<number> {
  const { config, stdout } = options;
  const clock = options.clock ?? systemClock;
  const product = config.products.find((p) => p.slot === slot);
  if (!product) {
    options.stderr.write(
      `hw-test relay: no slot ${String(slot)} in the configuration ` +
        `(slots: ${config.products.map((p) => p.slot).join(', ')})\n`,
    );
    return 64;
  }
  const wiring = dispenserWiring(config);
  const drop = wiring.dropSensor;
  const what =
    `slot ${String(slot)} (${product.name}): relay ${pin(product.relayPin)} energised ` +
    `${wiring.relayActiveLevel === 1 ? 'high' : 'low'} for ${String(product.pulseMs)} ms`;
  stdout.write(
    `${what}\n${drop ? `drop sensor ${pin(drop.pin)}, ${String(drop.windowMs)} ms window` : 'no drop sensor configured'}\n`,
  );
  if (!yes && !(await options.confirm(`Pulse it now? A product may come out. [y/N] `))) {
    stdout.write('not confirmed: nothing was driven\n');
    return 1;
  }
  const gpio = await gpioOf(options);
  try {
    // Stock counters are the daemon's bookkeeping: a test pulse neither needs nor changes them.
    const dispenser = await openGpioDispenser({
      gpio,
      clock,
      ...wiring,
      slots: wiring.slots.map((w) => ({
        slot: w.slot,
        relayPin: w.relayPin,
        ...(w.pulseMs === undefined ? {} : { pulseMs: w.pulseMs }),
        ...(w.soldOut === undefined ? {} : { soldOut: w.soldOut }),
      })),
    });
    try {
      const started = clock.now();
      const result = await dispenser.dispense(slot);
      const ms = clock.now() - started;
      if (result.outcome === 'delivered') {
        stdout.write(
          drop
            ? `pulsed; drop sensor ${pin(drop.pin)}: product seen (${String(ms)} ms)\n`
            : `pulsed (${String(ms)} ms); no drop sensor to confirm the drop\n`,
        );
        return 0;
      }
      if (result.reason === 'soldOut') {
        stdout.write(
          `not pulsed: the sold-out switch ${pin(product.soldOutPin ?? 0)} says the slot is empty\n`,
        );
        return 1;
      }
      stdout.write(
        `pulsed; drop sensor ${pin(drop?.pin ?? 0)}: NOTHING seen within ${String(drop?.windowMs ?? 0)} ms ` +
          '(empty slot, stuck product, or the sensor: run seqr-vend hw-test sensor)\n',
      );
      return 1;
    } finally {
      await dispenser.close();
    }
  } finally {
    await gpio.close();
  }
}

interface SensorInput {
  readonly pin: number;
  readonly activeLevel: Level;
  readonly label: string;
  readonly active: string;
  readonly inactive: string;
  readonly bias: 'as-is' | 'pull-up' | 'pull-down';
}

async function sensor(options: HwTestOptions): Promise<number> {
  const { config, stdout } = options;
  const level = (l: 'high' | 'low'): Level => (l === 'high' ? 1 : 0);
  const inputs = new Map<number, SensorInput>();
  for (const p of config.products) {
    if (p.dropSensor && !inputs.has(p.dropSensor.pin))
      inputs.set(p.dropSensor.pin, {
        pin: p.dropSensor.pin,
        activeLevel: level(p.dropSensor.activeLevel),
        label: 'drop sensor',
        active: 'beam broken',
        inactive: 'beam clear',
        bias: 'as-is',
      });
    if (p.soldOutPin !== undefined)
      inputs.set(p.soldOutPin, {
        pin: p.soldOutPin,
        activeLevel: level(p.soldOutActiveLevel),
        label: `slot ${String(p.slot)} sold-out switch`,
        active: 'empty',
        inactive: 'loaded',
        bias: p.soldOutActiveLevel === 'low' ? 'pull-up' : 'pull-down',
      });
  }
  if (inputs.size === 0) {
    stdout.write('no drop sensor or sold-out switch in the configuration\n');
    return 0;
  }
  const describe = (input: SensorInput, value: Level): string =>
    `${pin(input.pin).padEnd(7)} ${input.label}: ${value === input.activeLevel ? input.active : input.inactive} (level ${String(value)})`;
  stdout.write('Sensors now (changes follow; Ctrl-C ends):\n');
  const gpio = await gpioOf(options);
  const lines: InputLine[] = [];
  try {
    for (const input of inputs.values()) {
      const line = await gpio.claimInput(input.pin, { bias: input.bias, edge: 'both' });
      lines.push(line);
      stdout.write(`  ${describe(input, await line.read())}\n`);
      line.watch((edge) => {
        stdout.write(`${clockTime(edge.at)}  ${describe(input, edge.level)}\n`);
      });
    }
    await aborted(options.stop);
  } finally {
    await Promise.allSettled(lines.map((l) => l.release()));
    await gpio.close();
  }
  return 0;
}

async function display(options: HwTestOptions): Promise<number> {
  const d = options.config.display;
  const { stdout } = options;
  if (d.sink !== 'framebuffer') {
    options.stderr.write(
      `hw-test display: display.sink is ${d.sink}: the test pattern is drawn on a framebuffer only\n`,
    );
    return 1;
  }
  const geometry = await readGeometry(
    options.graphicsRoot ?? '/sys/class/graphics',
    path.basename(d.device),
    Object.fromEntries(
      Object.entries({
        width: d.width,
        height: d.height,
        bitsPerPixel: d.bitsPerPixel,
        stride: d.stride,
      }).filter(([, v]) => v !== undefined),
    ),
  );
  const { width, height } = logicalSize(geometry, d.rotation);
  const format = geometry.bitsPerPixel === 16 ? 'RGB565' : 'XRGB8888';
  const payload = `SEQR-VEND TEST ${String(width)}X${String(height)} ${format} ROT ${String(d.rotation)}`;
  const frame = Buffer.alloc(frameBytes(geometry));
  convertRect(testPattern(width, height, payload), geometry, d.rotation, frame, {
    x: 0,
    y: 0,
    w: width,
    h: height,
  });
  try {
    const handle = await open(d.device, 'r+');
    try {
      await handle.write(frame, 0, frame.length, 0);
    } finally {
      await handle.close();
    }
  } catch (err) {
    throw new VendError('E_DISPLAY_WRITE', `cannot write ${d.device}`, { cause: err });
  }
  stdout.write(
    `framebuffer ${d.device}: ${String(geometry.width)}x${String(geometry.height)} pixels, ` +
      `${String(geometry.bitsPerPixel)} bpp ${format}, stride ${String(geometry.stride)} bytes\n` +
      `rotation ${String(d.rotation)}: screens are drawn at ${String(width)}x${String(height)}\n` +
      'On the display now: a black frame along all four edges; colour bars, left to right white, ' +
      'yellow, cyan, green, magenta, red, blue, black; a red square in the top left corner; ' +
      `a QR code that scans as "${payload}".\n`,
  );
  return 0;
}

async function printer(options: HwTestOptions): Promise<number> {
  const { config, stdout } = options;
  const clock = options.clock ?? systemClock;
  const p = config.printer;
  if (p.type === 'none') {
    options.stderr.write(
      'hw-test printer: E_PRINTER_NONE: printer.type is none: no receipt printer to test\n',
    );
    return 1;
  }
  const device = p.type === 'usb' ? p.path : `tcp://${p.host}:${String(p.port)}`;
  stdout.write(`printer ${device}: ${String(p.width)} mm paper, ${p.qr} QR\n`);
  const printer = configuredPrinter(config, clock);
  try {
    const state = await printer.state();
    stdout.write(
      `status: ${state}${state === 'unknown' ? ' (the printer does not answer status queries)' : ''}\n`,
    );
    const started = clock.now();
    await printer.print({
      merchantName: config.merchant.name,
      ...(config.merchant.address === '' ? {} : { merchantAddress: [config.merchant.address] }),
      terminalId: config.seqr.terminalId ?? 'not registered',
      date: new Date(clock.now()).toISOString(),
      productName: 'TEST SLIP - NOT A RECEIPT',
      amount: { minor: 0, currency: config.currency },
      invoiceReference: 'hw-test',
      ersReference: `status ${state}`,
      qrPayload: 'SEQR-VEND PRINTER TEST',
    });
    stdout.write(`test slip sent in ${String(clock.now() - started)} ms\n`);
    return 0;
  } finally {
    await printer.close();
  }
}

async function seqr(options: HwTestOptions): Promise<number> {
  const { config, stdout, env } = options;
  const clock = options.clock ?? systemClock;
  const endpoint = config.seqr.endpoint;
  if (endpoint === undefined) {
    options.stderr.write(
      'hw-test seqr: no seqr.endpoint (demo mode uses the built-in simulator)\n',
    );
    return 1;
  }
  const id = config.seqr.terminalId;
  const password =
    id === undefined
      ? undefined
      : await readTerminalPassword(config, env).catch((err: unknown) => {
          stdout.write(`terminal password: ${err instanceof Error ? err.message : String(err)}\n`);
          return undefined;
        });
  const ca = config.seqr.caFile
    ? await readFile(config.seqr.caFile).catch((err: unknown) => {
        throw new VendError(
          'E_CONFIG_INVALID',
          `seqr.caFile ${config.seqr.caFile ?? ''} cannot be read`,
          {
            cause: err,
          },
        );
      })
    : undefined;
  const client = await SeqrClient.create({
    endpoint,
    deadlines: config.seqr.deadlines,
    ...(id !== undefined && password !== undefined ? { terminal: { id, password } } : {}),
    ...(ca ? { ca } : {}),
  });
  try {
    stdout.write(`SEQR ${endpoint}\n`);
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const started = clock.now();
      await client.benchmarkingNop();
      times.push(clock.now() - started);
    }
    stdout.write(`benchmarkingNop: ${times.map((t) => `${String(t)} ms`).join(', ')}\n`);
    if (id === undefined || password === undefined) {
      stdout.write('terminal credentials not checked (no seqr.terminalId or no password)\n');
      return id === undefined ? 0 : 1;
    }
    // A status query for an invoice that cannot exist: 54 (unknown reference) means SEQR
    // accepted the terminal id and password; nothing is created or changed.
    const started = clock.now();
    try {
      await client.getPaymentStatus('0', 0);
    } catch (err) {
      if (!(err instanceof SeqrResultError) || err.resultCode !== 54) throw err;
    }
    stdout.write(
      `terminal ${id}: credentials accepted (getPaymentStatus in ${String(clock.now() - started)} ms)\n`,
    );
    return 0;
  } finally {
    client.close();
  }
}
