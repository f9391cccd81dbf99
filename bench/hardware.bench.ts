import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { systemClock } from '../daemon/ports/clock.js';
import type { EdgeEvent } from '../hardware/gpio/gpio.js';
import { FakeGpio } from '../hardware/gpio/fake-gpio.js';
import { openSysfsGpio } from '../hardware/gpio/sysfs-gpio.js';
import { encodeReceipt } from '../hardware/printer/receipt-encoder.js';
import type { Receipt } from '../daemon/ports/printer.js';
import { latencyFigures, type Bench } from './lib.js';

const RECEIPT: Receipt = {
  merchantName: 'Kaffebaren Åhléns',
  merchantAddress: ['Storgatan 1', '211 34 Malmö'],
  terminalId: 'VEND-07',
  date: '2026-11-22T09:14:05',
  productName: 'Cola Zero 33 cl',
  amount: { minor: 2500, currency: 'SEK' },
  vat: { ratePercent: 12, amount: { minor: 268, currency: 'SEK' } },
  invoiceReference: '12345678901234567',
  ersReference: '987654321',
  qrPayload: 'HTTP://SEQR.SE/R12345678901234567',
};

function nextEdge(watch: (l: (e: EdgeEvent) => void) => () => void): Promise<void> {
  return new Promise((resolve) => {
    const off = watch(() => {
      off();
      resolve();
    });
  });
}

const bench: Bench = async () => {
  const N = 300;
  const fake = new FakeGpio();
  const input = await fake.claimInput(5);
  const fakeSamples: number[] = [];
  for (let i = 0; i < N; i++) {
    const seen = nextEdge((l) => input.watch(l));
    const t = performance.now();
    fake.inject(5, i % 2 === 0 ? 1 : 0);
    await seen;
    fakeSamples.push(performance.now() - t);
  }

  // sysfs stand-in: a fake tree, value file changed on disk, poll detection every 1 ms.
  const root = mkdtempSync(path.join(os.tmpdir(), 'seqr-bench-sysfs-'));
  const chip = path.join(root, 'gpiochip512');
  mkdirSync(chip);
  writeFileSync(path.join(chip, 'label'), 'pinctrl-bcm2711');
  writeFileSync(path.join(chip, 'base'), '512');
  writeFileSync(path.join(chip, 'ngpio'), '58');
  const line = path.join(root, 'gpio517');
  mkdirSync(line);
  for (const [f, v] of [
    ['direction', 'in'],
    ['value', '0'],
    ['edge', 'none'],
    ['active_low', '0'],
  ])
    writeFileSync(path.join(line, f ?? ''), v ?? '');
  const sysfs = await openSysfsGpio({ root, clock: systemClock, edgeDetection: 'poll', pollMs: 1 });
  const sIn = await sysfs.claimInput(5);
  await sIn.read();
  const sysfsSamples: number[] = [];
  for (let i = 0; i < 100; i++) {
    const seen = nextEdge((l) => sIn.watch(l));
    const t = performance.now();
    writeFileSync(path.join(line, 'value'), i % 2 === 0 ? '1' : '0');
    await seen;
    sysfsSamples.push(performance.now() - t);
  }
  await sysfs.close();
  rmSync(root, { recursive: true, force: true });

  const enc = async (qrMode: 'raster' | 'native'): Promise<number[]> => {
    const samples: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t = performance.now();
      await encodeReceipt(RECEIPT, { qrMode });
      samples.push(performance.now() - t);
    }
    return samples;
  };
  const raster = await enc('raster');
  const native = await enc('native');
  const bytes = (await encodeReceipt(RECEIPT)).length;

  return [
    {
      title: 'hardware: edge to event',
      figures: [
        ...latencyFigures('fake GPIO', fakeSamples),
        ...latencyFigures('sysfs stand-in (1 ms poll)', sysfsSamples),
      ],
      note: 'sysfs stand-in polls a regular file; on a Pi the sysfs backend uses epoll (onoff).',
    },
    {
      title: 'hardware: receipt encoding',
      figures: [
        ...latencyFigures('raster QR', raster),
        ...latencyFigures('native QR', native),
        { name: 'raster receipt size', value: bytes / 1024, unit: 'KiB' },
      ],
    },
  ];
};

export default bench;
