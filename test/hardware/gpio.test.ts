import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { errorCodeOf } from '../../daemon/errors.js';
import { isPi5 } from '../../hardware/gpio/board.js';
import {
  gpiomonArgs,
  gpiosetArgs,
  gpiogetArgs,
  parseGpiodVersion,
  parseGpiodetect,
  parseGpioget,
  parseGpiomonLine,
  pickHeaderChip,
} from '../../hardware/gpio/gpiod-cli.js';
import { openRpioGpio, type RpioModule } from '../../hardware/gpio/rpio-gpio.js';
import { findHeaderChip, sysfsNumber } from '../../hardware/gpio/sysfs-map.js';
import { openSysfsGpio } from '../../hardware/gpio/sysfs-gpio.js';
import { decodeStatus } from '../../hardware/printer/escpos-printer.js';
import { ManualClock } from '../../daemon/runtime/manual-clock.js';
import { LAYOUTS, kernelIo, makeSysfsTree, preExportOutput } from './support/sysfs-tree.js';

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe('BCM -> sysfs number from the header chip label', () => {
  it.each([
    ['Pi 3, legacy base 0', LAYOUTS.pi3Legacy, 'pinctrl-bcm2835', 17],
    ['Pi 3 / Zero 2 W on 6.6+', LAYOUTS.pi3, 'pinctrl-bcm2835', 529],
    ['Pi 4 on 6.6+', LAYOUTS.pi4, 'pinctrl-bcm2711', 529],
    ['Pi 5 with gpio-brcmstb decoys', LAYOUTS.pi5, 'pinctrl-rp1', 588],
  ])('%s', async (_name, layout, label, gpio17) => {
    const tree = makeSysfsTree(layout);
    try {
      const chip = await findHeaderChip(tree.root);
      expect(chip.label).toBe(label);
      expect(sysfsNumber(chip, 17)).toBe(gpio17);
    } finally {
      tree.cleanup();
    }
  });

  it('fails with every label seen when no known label is present', async () => {
    const tree = makeSysfsTree(LAYOUTS.unknown);
    try {
      const err = await rejection(findHeaderChip(tree.root));
      expect(errorCodeOf(err)).toBe('E_GPIO_CHIP_NOT_FOUND');
      expect(String(err)).toContain('gpio-mockup-A (base 512)');
      expect(String(err)).toContain('tegra234-gpio');
    } finally {
      tree.cleanup();
    }
  });

  it('uses the config override without reading the tree, and refuses bcm >= ngpio', async () => {
    expect(sysfsNumber(await findHeaderChip('/nonexistent', 400), 4)).toBe(404);
    expect(errorCodeOf(await rejection(findHeaderChip('/nonexistent')))).toBe('E_GPIO_UNAVAILABLE');
    expect(() => sysfsNumber({ label: 'pinctrl-bcm2711', base: 512, ngpio: 58 }, 58)).toThrow(
      /outside/,
    );
  });
});

describe('sysfs backend on a fake tree', () => {
  it('claims an output glitch-free: direction high/low on a fresh export, value only on a restart', async () => {
    const tree = makeSysfsTree(LAYOUTS.pi4);
    try {
      const io = kernelIo(tree.root, LAYOUTS.pi4);
      preExportOutput(tree.root, 512 + 27, 0);
      const gpio = await openSysfsGpio({ root: tree.root, io, clock: new ManualClock() });
      await gpio.claimOutput(17, { initial: 1 });
      await gpio.claimOutput(27, { initial: 1 });
      expect(io.writes).toContain('gpio529/direction=high');
      expect(io.writes.filter((w) => w.startsWith('gpio539/'))).toEqual(['gpio539/value=1']);
      expect(readFileSync(path.join(tree.root, 'gpio539', 'value'), 'utf8').trim()).toBe('1');
      expect(errorCodeOf(await rejection(gpio.claimOutput(17, { initial: 1 })))).toBe(
        'E_GPIO_LINE',
      );
      await gpio.close();
    } finally {
      tree.cleanup();
    }
  });
});

describe('libgpiod command lines, v1 and v2', () => {
  it('detects the major version and finds the header chip by label, whatever its number', () => {
    expect(parseGpiodVersion('gpiodetect (libgpiod) v1.6.3\nCopyright')).toBe(1);
    expect(parseGpiodVersion('gpiodetect (libgpiod) v2.2.1')).toBe(2);
    const chips = parseGpiodetect(
      'gpiochip0 [gpio-brcmstb@107d508500] (32 lines)\ngpiochip10 [gpio-brcmstb@107d517c00] (17 lines)\ngpiochip13 [pinctrl-rp1] (54 lines)\n',
    );
    expect(pickHeaderChip(chips)).toEqual({ name: 'gpiochip13', label: 'pinctrl-rp1', lines: 54 });
    expect(pickHeaderChip(chips, 'gpiochip0')?.label).toBe('gpio-brcmstb@107d508500');
  });

  it('builds v1 and v2 arguments', () => {
    expect(gpiomonArgs(1, 'gpiochip0', 5, 'pull-up', 'falling')).toEqual([
      '--line-buffered',
      '--bias=pull-up',
      '--falling-edge',
      '--format=%o %e %s %n',
      'gpiochip0',
      '5',
    ]);
    expect(gpiomonArgs(2, 'gpiochip4', 5, 'disable', 'both')).toEqual([
      '--chip',
      'gpiochip4',
      '--bias',
      'disabled',
      '--edges',
      'both',
      '--event-clock',
      'monotonic',
      '--format',
      '%o %E %S',
      '5',
    ]);
    expect(gpiosetArgs(1, 'gpiochip0', 17, 1)).toEqual(['--mode=signal', 'gpiochip0', '17=1']);
    expect(gpiosetArgs(2, 'gpiochip0', 17, 0)).toEqual(['--chip', 'gpiochip0', '--banner', '17=0']);
    expect(gpiogetArgs(2, 'gpiochip0', 6, 'as-is')).toEqual([
      '--chip',
      'gpiochip0',
      '--numeric',
      '6',
    ]);
  });

  it('parses gpioget and gpiomon output of both versions', () => {
    expect(parseGpioget('1\n')).toBe(1);
    expect(parseGpioget('"17"=inactive\n')).toBe(0);
    expect(parseGpiomonLine(1, '5 1 1234 000000500')).toEqual({
      offset: 5,
      level: 1,
      monotonicNs: 1234000000500n,
    });
    expect(parseGpiomonLine(2, '5 falling 1234.5')).toEqual({
      offset: 5,
      level: 0,
      monotonicNs: 1234500000000n,
    });
    expect(parseGpiomonLine(2, 'Monitoring line ...')).toBeUndefined();
  });
});

describe('rpio guard', () => {
  const fakeRpio = (warn?: string): RpioModule & { inits: number } => {
    let listener: ((m: string) => void) | undefined;
    return {
      inits: 0,
      INPUT: 0,
      OUTPUT: 1,
      PULL_OFF: 0,
      PULL_DOWN: 1,
      PULL_UP: 2,
      POLL_BOTH: 3,
      PIN_PRESERVE: 0,
      on: (_e, l) => (listener = l),
      removeListener: () => (listener = undefined),
      init(opts) {
        expect(opts.mapping).toBe('gpio');
        this.inits++;
        if (warn) listener?.(warn);
      },
      open: () => undefined,
      mode: () => undefined,
      read: () => 0,
      write: () => undefined,
      poll: () => undefined,
      close: () => undefined,
    };
  };

  it('refuses a Pi 5 before loading rpio', async () => {
    const board = {
      model: 'Raspberry Pi 5 Model B Rev 1.0',
      compatible: ['raspberrypi,5-model-b', 'brcm,bcm2712'],
    };
    expect(isPi5(board)).toBe(true);
    const rpio = fakeRpio();
    const err = await rejection(openRpioGpio({ board, load: () => Promise.resolve(rpio) }));
    expect(errorCodeOf(err)).toBe('E_GPIO_UNSUPPORTED');
    expect(rpio.inits).toBe(0);
  });

  it('treats the silent fall-back to mock mode as fatal', async () => {
    const board = { model: 'Raspberry Pi 4 Model B', compatible: ['brcm,bcm2711'] };
    const rpio = fakeRpio('Hardware auto-detect failed, running in raspi-3 mock mode');
    expect(
      errorCodeOf(await rejection(openRpioGpio({ board, load: () => Promise.resolve(rpio) }))),
    ).toBe('E_GPIO_UNSUPPORTED');
    const ok = await openRpioGpio({ board, load: () => Promise.resolve(fakeRpio()) });
    expect(ok.name).toBe('rpio');
  });
});

describe('printer status bytes (DLE EOT 1 / 4)', () => {
  it.each([
    [0x12, 0x12, 'ready'],
    [0x12, 0x1e, 'paperLow'],
    [0x1a, 0x72, 'paperOut'],
    [0x1a, 0x12, 'offline'],
    [0x12, undefined, 'ready'],
    [0x00, 0x12, 'unknown'],
    [undefined, undefined, 'unknown'],
  ] as const)('printer %s paper %s -> %s', (printer, paper, state) => {
    expect(decodeStatus(printer, paper)).toBe(state);
  });
});
