import type { ButtonId } from '../../daemon/ports/buttons.js';
import { systemClock } from '../../daemon/ports/clock.js';
import { FakeButtons } from '../../hardware/buttons/fake-buttons.js';
import { openGpioButtons } from '../../hardware/buttons/gpio-buttons.js';
import { FakeGpio } from '../../hardware/gpio/fake-gpio.js';
import { openGpio } from '../../hardware/gpio/open-gpio.js';
import { openSysfsGpio } from '../../hardware/gpio/sysfs-gpio.js';
import { ManualClock } from '../../daemon/runtime/manual-clock.js';
import { HW_SKIP, hwGpioConfig, hwLoop } from '../hardware/support/hw-env.js';
import { LAYOUTS, kernelIo, makeSysfsTree, setValue } from '../hardware/support/sysfs-tree.js';
import { describeButtonsContract } from './buttons.contract.js';

const STUCK_MS = 2000;
const PINS: Record<string, number> = { 'product:1': 5, 'product:2': 6, cancel: 13 };
const pinOf = (b: ButtonId): number => PINS[b.kind === 'cancel' ? 'cancel' : `product:${b.slot}`]!;
const wiring = [
  { button: { kind: 'product', slot: 1 } as const, pin: 5 },
  { button: { kind: 'product', slot: 2 } as const, pin: 6 },
  { button: { kind: 'cancel' } as const, pin: 13 },
];

describeButtonsContract('FakeButtons', () => {
  const clock = new ManualClock();
  const buttons = new FakeButtons({ clock, stuckMs: STUCK_MS });
  return Promise.resolve({
    buttons,
    clock,
    stuckMs: STUCK_MS,
    press: (b) => {
      buttons.press(b);
      return Promise.resolve();
    },
    hold: (b) => {
      buttons.hold(b);
      return Promise.resolve();
    },
    release: (b) => {
      buttons.release(b);
      return Promise.resolve();
    },
    wait: (ms) => clock.advanceAsync(ms),
  });
});

describeButtonsContract('GpioButtons on the fake GPIO backend', async () => {
  const clock = new ManualClock();
  const gpio = new FakeGpio({ clock });
  const buttons = await openGpioButtons({ gpio, clock, buttons: wiring, stuckMs: STUCK_MS });
  // Active-low with pull-up: pressed = 0. Bounce on each edge, as real contacts do.
  const edge = async (pin: number, level: 0 | 1): Promise<void> => {
    gpio.inject(pin, level);
    await clock.advanceAsync(1);
    gpio.inject(pin, level === 0 ? 1 : 0);
    await clock.advanceAsync(1);
    gpio.inject(pin, level);
  };
  return {
    buttons,
    clock,
    stuckMs: STUCK_MS,
    press: async (b) => {
      await edge(pinOf(b), 0);
      await clock.advanceAsync(60);
      await edge(pinOf(b), 1);
    },
    hold: (b) => edge(pinOf(b), 0),
    release: (b) => edge(pinOf(b), 1),
    wait: (ms) => clock.advanceAsync(ms),
  };
});

describeButtonsContract('GpioButtons on the sysfs backend over a fake Pi 5 tree', async () => {
  const clock = new ManualClock();
  const tree = makeSysfsTree(LAYOUTS.pi5);
  const gpio = await openSysfsGpio({
    root: tree.root,
    clock,
    io: kernelIo(tree.root, LAYOUTS.pi5),
    edgeDetection: 'poll',
    pollMs: 2,
  });
  // Inputs idle high (pull-up) before the adapter claims them.
  const buttons = await openGpioButtons({ gpio, clock, buttons: wiring, stuckMs: STUCK_MS });
  for (const pin of Object.values(PINS)) setValue(tree.root, 571 + pin, 1);
  // Poll reads are real file reads: step the clock in poll periods with real pauses between.
  const pump = async (ms: number): Promise<void> => {
    for (let t = 0; t < ms; t += 2) {
      await clock.advanceAsync(2);
      await new Promise((r) => setTimeout(r, 1));
    }
  };
  await pump(100);
  return {
    buttons,
    clock,
    stuckMs: STUCK_MS,
    press: async (b) => {
      setValue(tree.root, 571 + pinOf(b), 0);
      await pump(60);
      setValue(tree.root, 571 + pinOf(b), 1);
      await pump(10);
    },
    hold: async (b) => {
      setValue(tree.root, 571 + pinOf(b), 0);
      await pump(10);
    },
    release: async (b) => {
      setValue(tree.root, 571 + pinOf(b), 1);
      await pump(10);
    },
    wait: async (ms) => {
      await pump(Math.min(ms, 100));
      await clock.advanceAsync(Math.max(0, ms - 100));
      await pump(10);
    },
    dispose: async () => {
      await gpio.close();
      tree.cleanup();
    },
  };
});

describeButtonsContract(
  'GpioButtons on real GPIO (jumper from SEQR_VEND_HW_LOOP out to in)',
  async () => {
    const loop = hwLoop();
    const gpio = await openGpio(hwGpioConfig());
    const drive = await gpio.claimOutput(loop.out, { initial: 1 });
    const stuckMs = 300;
    const buttons = await openGpioButtons({
      gpio,
      clock: systemClock,
      stuckMs,
      buttons: [{ button: { kind: 'product', slot: 1 }, pin: loop.in }],
    });
    const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
    return {
      buttons,
      clock: systemClock,
      stuckMs,
      press: async () => {
        await drive.write(0);
        await sleep(60);
        await drive.write(1);
      },
      hold: () => drive.write(0),
      release: () => drive.write(1),
      wait: sleep,
      dispose: () => gpio.close(),
    };
  },
  HW_SKIP,
);
