// Customer display: render + convert + whole-frame write of the pay screen through the real
// FramebufferDisplay into a temp file standing in for /dev/fb0 (fake sysfs beside it).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Screen } from '../daemon/ports/display.js';
import { loadFaces } from '../hardware/display/font.js';
import { FramebufferDisplay } from '../hardware/display/framebuffer-display.js';
import { ScreenRenderer } from '../hardware/display/render.js';
import { SAMPLE_SCREENS } from '../hardware/display/sample-screens.js';
import { latencyFigures, rssMiB, type Bench, type BenchResult, type Figure } from './lib.js';

const pay = SAMPLE_SCREENS.pay as Extract<Screen, { kind: 'pay' }>;

function fakeFb(
  dir: string,
  width: number,
  height: number,
  bpp: 16 | 32,
): { device: string; sysfsRoot: string } {
  const sysfsRoot = path.join(dir, `sys-${width}-${bpp}`);
  mkdirSync(path.join(sysfsRoot, 'fb0'), { recursive: true });
  const stride = (width * bpp) / 8;
  writeFileSync(path.join(sysfsRoot, 'fb0', 'virtual_size'), `${width},${height}`);
  writeFileSync(path.join(sysfsRoot, 'fb0', 'bits_per_pixel'), String(bpp));
  writeFileSync(path.join(sysfsRoot, 'fb0', 'stride'), String(stride));
  const device = path.join(dir, `fb0-${width}-${bpp}`, 'fb0');
  mkdirSync(path.dirname(device));
  writeFileSync(device, Buffer.alloc(stride * height));
  return { device, sysfsRoot };
}

async function measure(
  dir: string,
  width: number,
  height: number,
  bpp: 16 | 32,
  runs: number,
): Promise<BenchResult> {
  const fb = fakeFb(dir, width, height, bpp);
  const display = new FramebufferDisplay({ locale: 'sv', ...fb });
  await display.show(SAMPLE_SCREENS.idle);
  const full: number[] = [];
  for (let i = 0; i < runs; i++) {
    // A new invoice each time: the whole screen changes.
    const screen: Screen = {
      ...pay,
      qrPayload: `HTTP://SEQR.SE/R2015102918671${String(1000 + i)}`,
    };
    const t = performance.now();
    await display.show(screen);
    full.push(performance.now() - t);
  }
  await display.show({ ...pay, secondsLeft: 60 });
  const tick: number[] = [];
  for (let s = 59; s > 59 - runs && s >= 0; s--) {
    const t = performance.now();
    await display.show({ ...pay, secondsLeft: s });
    tick.push(performance.now() - t);
  }
  const frameBytes = display.geometry ? display.geometry.stride * display.geometry.height : 0;
  await display.close();
  const format = bpp === 16 ? 'RGB565' : 'XRGB8888';
  return {
    title: `display pay ${width}x${height} ${format}`,
    figures: [
      ...latencyFigures('new screen: render+convert+write', full),
      ...latencyFigures('time-left tick: redraw strip+convert+write', tick),
      { name: 'renderer RGBA buffer', value: (width * height * 4) / 2 ** 20, unit: 'MiB' },
      { name: 'device frame buffer', value: frameBytes / 2 ** 20, unit: 'MiB' },
    ],
    note: `${runs} runs each; written to a temp file standing in for /dev/fb0`,
  };
}

const bench: Bench = async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'seqr-display-bench-'));
  try {
    const rss0 = rssMiB();
    const t0 = performance.now();
    loadFaces();
    const t1 = performance.now();
    const renderer = new ScreenRenderer({ width: 800, height: 480, locale: 'sv' });
    renderer.render(pay);
    const t2 = performance.now();
    const first: Figure[] = [
      { name: 'font load (DejaVu Sans + Bold)', value: t1 - t0, unit: 'ms' },
      { name: 'first render of pay 800x480 after font load', value: t2 - t1, unit: 'ms' },
      { name: 'first frame total', value: t2 - t0, unit: 'ms' },
      { name: 'RSS after fonts + one 800x480 renderer', value: rssMiB() - rss0, unit: 'MiB' },
    ];
    const small = await measure(dir, 800, 480, 16, 40);
    const large = await measure(dir, 1920, 1080, 32, 15);
    first.push({ name: 'RSS delta after all runs', value: rssMiB() - rss0, unit: 'MiB' });
    return [{ title: 'display first frame', figures: first }, small, large];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

export default bench;
