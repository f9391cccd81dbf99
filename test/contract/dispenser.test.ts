import { readFileSync } from 'node:fs';
import path from 'node:path';
import { systemClock } from '../../daemon/ports/clock.js';
import { FakeDispenser } from '../../hardware/dispenser/fake-dispenser.js';
import { openGpioDispenser } from '../../hardware/dispenser/gpio-dispenser.js';
import { FakeGpio } from '../../hardware/gpio/fake-gpio.js';
import { openGpio } from '../../hardware/gpio/open-gpio.js';
import { openSysfsGpio } from '../../hardware/gpio/sysfs-gpio.js';
import { ManualClock } from '../../daemon/runtime/manual-clock.js';
import { HW_SKIP, hwGpioConfig, hwLoop } from '../hardware/support/hw-env.js';
import { LAYOUTS, kernelIo, makeSysfsTree } from '../hardware/support/sysfs-tree.js';
import { describeDispenserContract, type RelayEdge } from './dispenser.contract.js';

const PULSE = 300;
const RELAYS: Record<number, number> = { 1: 17, 2: 27, 3: 22 };
const slots = Object.entries(RELAYS).map(([slot, relayPin]) => ({ slot: Number(slot), relayPin }));

describeDispenserContract('FakeDispenser', () => {
  const clock = new ManualClock();
  const dispenser = new FakeDispenser({ clock, pulseMs: PULSE, slots: [1, 2, 3] });
  return Promise.resolve({
    dispenser,
    slots: [1, 2, 3],
    pulseMs: PULSE,
    relayEdges: () => dispenser.relayLog.map(({ slot, energised }) => ({ slot, energised })),
    energised: () =>
      Promise.resolve(dispenser.energised === undefined ? [] : [dispenser.energised]),
    wait: (ms) => clock.advanceAsync(ms),
  });
});

/** Relay edges from a log of physical writes (active-low relays: 0 = energised). */
function edgesFrom(writes: readonly { pin: number; level: 0 | 1 }[]): RelayEdge[] {
  const bySlotPin = new Map(Object.entries(RELAYS).map(([s, p]) => [p, Number(s)]));
  const state = new Map<number, boolean>();
  const edges: RelayEdge[] = [];
  for (const w of writes) {
    const slot = bySlotPin.get(w.pin);
    if (slot === undefined) continue;
    const on = w.level === 0;
    if ((state.get(slot) ?? false) !== on) edges.push({ slot, energised: on });
    state.set(slot, on);
  }
  return edges;
}

describeDispenserContract('GpioDispenser on the fake GPIO backend', async () => {
  const clock = new ManualClock();
  const gpio = new FakeGpio({ clock });
  const dispenser = await openGpioDispenser({ gpio, clock, slots, pulseMs: PULSE });
  return {
    dispenser,
    slots: [1, 2, 3],
    pulseMs: PULSE,
    relayEdges: () => edgesFrom(gpio.writes),
    energised: () =>
      Promise.resolve(slots.filter((s) => gpio.level(s.relayPin) === 0).map((s) => s.slot)),
    wait: (ms) => clock.advanceAsync(ms),
  };
});

describeDispenserContract('GpioDispenser on the sysfs backend over a fake Pi 4 tree', async () => {
  const clock = new ManualClock();
  const tree = makeSysfsTree(LAYOUTS.pi4);
  const io = kernelIo(tree.root, LAYOUTS.pi4);
  const gpio = await openSysfsGpio({ root: tree.root, clock, io, edgeDetection: 'poll' });
  const dispenser = await openGpioDispenser({ gpio, clock, slots, pulseMs: PULSE });
  const base = 512;
  return {
    dispenser,
    slots: [1, 2, 3],
    pulseMs: PULSE,
    relayEdges: () =>
      edgesFrom(
        io.writes.flatMap((w) => {
          const m = /^gpio(\d+)\/(value|direction)=(0|1|high|low)$/.exec(w);
          if (!m) return [];
          const level = m[3] === '1' || m[3] === 'high' ? 1 : 0;
          return [{ pin: Number(m[1]) - base, level: level }];
        }),
      ),
    energised: async () => {
      await io.idle();
      return slots
        .filter(
          (s) =>
            readFileSync(
              path.join(tree.root, `gpio${base + s.relayPin}`, 'value'),
              'utf8',
            ).trim() === '0',
        )
        .map((s) => s.slot);
    },
    // Relay writes are real file writes: let them land before and after moving the clock.
    wait: async (ms) => {
      await io.idle();
      await clock.advanceAsync(ms);
      await io.idle();
    },
    dispose: async () => {
      await gpio.close();
      tree.cleanup();
    },
  };
});

describeDispenserContract(
  'GpioDispenser on real GPIO (relay pin SEQR_VEND_HW_LOOP out, sensed back on in)',
  async () => {
    const loop = hwLoop();
    const gpio = await openGpio(hwGpioConfig());
    const sense = await gpio.claimInput(loop.in, { bias: 'pull-up' });
    const edges: RelayEdge[] = [];
    sense.watch((e) => edges.push({ slot: 1, energised: e.level === 0 }));
    const dispenser = await openGpioDispenser({
      gpio,
      clock: systemClock,
      pulseMs: PULSE,
      slots: [
        { slot: 1, relayPin: loop.out },
        { slot: 2, relayPin: loop.out === 26 ? 19 : 26 },
      ],
    });
    return {
      dispenser,
      slots: [1, 2],
      pulseMs: PULSE,
      relayEdges: () => edges,
      energised: async () => ((await sense.read()) === 0 ? [1] : []),
      wait: (ms) => new Promise((r) => setTimeout(r, ms)),
      dispose: () => gpio.close(),
    };
  },
  HW_SKIP,
);
