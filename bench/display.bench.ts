// Customer display through the real FramebufferDisplay into a temp file standing in for /dev/fb0
// (fake sysfs beside it): whole frames, time-left ticks (damaged rows only), frames per press, and
// the footprint of a fresh process that loads the display module and draws one frame.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Screen } from '../daemon/ports/display.js';
import { atlasPath } from '../hardware/display/font.js';
import { FramebufferDisplay } from '../hardware/display/framebuffer-display.js';
import type { Rotation } from '../hardware/display/framebuffer-format.js';
import { SAMPLE_SCREENS } from '../hardware/display/sample-screens.js';
import { latencyFigures, percentile, type Bench, type BenchResult, type Figure } from './lib.js';

const pay = SAMPLE_SCREENS.pay as Extract<Screen, { kind: 'pay' }>;

/** Panels measured: device size and format, and how the panel is turned. */
const CASES: readonly {
  width: number;
  height: number;
  bpp: 16 | 32;
  rotation: Rotation;
  runs: number;
}[] = [
  { width: 800, height: 480, bpp: 16, rotation: 0, runs: 40 },
  { width: 800, height: 480, bpp: 32, rotation: 0, runs: 40 },
  { width: 800, height: 480, bpp: 16, rotation: 90, runs: 20 },
  { width: 1920, height: 1080, bpp: 32, rotation: 0, runs: 15 },
];

let seq = 0;
function fakeFb(
  dir: string,
  width: number,
  height: number,
  bpp: 16 | 32,
): { device: string; sysfsRoot: string } {
  const sysfsRoot = path.join(dir, `sys-${++seq}`);
  mkdirSync(path.join(sysfsRoot, 'fb0'), { recursive: true });
  const stride = (width * bpp) / 8;
  writeFileSync(path.join(sysfsRoot, 'fb0', 'virtual_size'), `${width},${height}`);
  writeFileSync(path.join(sysfsRoot, 'fb0', 'bits_per_pixel'), String(bpp));
  writeFileSync(path.join(sysfsRoot, 'fb0', 'stride'), String(stride));
  const device = path.join(dir, `dev-${seq}`, 'fb0');
  mkdirSync(path.dirname(device));
  writeFileSync(device, Buffer.alloc(stride * height));
  return { device, sysfsRoot };
}

/** A pay screen for a new invoice: the whole picture changes. */
const invoice = (i: number, secondsLeft = 60): Extract<Screen, { kind: 'pay' }> => ({
  ...pay,
  qrPayload: `HTTP://SEQR.SE/R2015102918671${String(1000 + i)}`,
  secondsLeft,
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function measure(dir: string, c: (typeof CASES)[number]): Promise<BenchResult> {
  const fb = fakeFb(dir, c.width, c.height, c.bpp);
  const display = new FramebufferDisplay({ locale: 'sv', ...fb, rotation: c.rotation });
  await display.show(SAMPLE_SCREENS.idle);
  const full: number[] = [];
  for (let i = 0; i < c.runs; i++) {
    const t = performance.now();
    await display.show(invoice(i));
    full.push(performance.now() - t);
  }
  await display.show(invoice(-1, 60));
  const tick: number[] = [];
  const bytesBefore = display.bytesWritten;
  for (let s = 59; s > 59 - c.runs && s >= 0; s--) {
    const t = performance.now();
    await display.show({ ...invoice(-1), secondsLeft: s });
    tick.push(performance.now() - t);
  }
  const bytesPerTick = (display.bytesWritten - bytesBefore) / tick.length;
  // A press: "one moment" at once, the pay screen when the invoice is back.
  const press = async (invoiceMs: number, i: number): Promise<{ ms: number; frames: number }> => {
    await display.show(SAMPLE_SCREENS.idle);
    const frames = display.framesWritten;
    const t = performance.now();
    const preparing = display.show(SAMPLE_SCREENS.preparing);
    await sleep(invoiceMs);
    await Promise.all([preparing, display.show(invoice(1000 + i))]);
    return { ms: performance.now() - t, frames: display.framesWritten - frames };
  };
  const quick: { ms: number; frames: number }[] = [];
  for (let i = 0; i < 10; i++) quick.push(await press(5, i));
  const slow: { ms: number; frames: number }[] = [];
  for (let i = 0; i < 3; i++) slow.push(await press(300, 100 + i));
  const frame = display.geometry ? display.geometry.stride * display.geometry.height : 0;
  await display.close();
  const format = c.bpp === 16 ? 'RGB565' : 'XRGB8888';
  const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  return {
    title: `display ${c.width}x${c.height} ${format}${c.rotation ? ` turned ${c.rotation}` : ''}`,
    figures: [
      ...latencyFigures('new pay screen: render+convert+write whole frame', full),
      ...latencyFigures('time-left tick: redraw strip+convert+write damaged rows', tick),
      { name: 'bytes written per tick', value: bytesPerTick / 1024, unit: 'KiB' },
      { name: 'whole frame', value: frame / 1024, unit: 'KiB' },
      ...latencyFigures(
        'press -> pay frame written, invoice back after 5 ms',
        quick.map((p) => p.ms),
      ),
      {
        name: 'whole frames per press, invoice in 5 ms',
        value: mean(quick.map((p) => p.frames)),
        unit: 'count',
      },
      {
        name: 'whole frames per press, invoice in 300 ms',
        value: mean(slow.map((p) => p.frames)),
        unit: 'count',
      },
    ],
    note: `${c.runs} runs each; 10 + 3 presses; written to a temp file standing in for /dev/fb0`,
  };
}

interface ChildTimes {
  readonly importMs: number;
  readonly atlasMs: number;
  readonly frameMs: number;
}

function statusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
}

/**
 * Spawns `args` with Node, waits for its first stdout line, reads its RSS from /proc, then closes
 * its stdin (it exits).
 */
async function spawnAndMeasure(
  args: readonly string[],
): Promise<{ line: string; ms: number; rss: number; hwm: number }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      resolve();
    });
  });
  try {
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString('utf8');
        const nl = out.indexOf('\n');
        if (nl >= 0) resolve(out.slice(0, nl));
      });
      child.once('error', reject);
      child.once('exit', (code) => {
        reject(new Error(`child exited ${String(code)} before reporting`));
      });
    });
    const ms = performance.now() - t0;
    const pid = child.pid ?? 0;
    return { line, ms, rss: statusKiB(pid, 'VmRSS'), hwm: statusKiB(pid, 'VmHWM') };
  } finally {
    child.stdin.end();
    await exited;
  }
}

async function footprint(dir: string): Promise<BenchResult> {
  const runs = 5;
  const script = fileURLToPath(new URL('./display-footprint.js', import.meta.url));
  const samples: { times: ChildTimes; ms: number; rss: number; hwm: number }[] = [];
  const bare: number[] = [];
  for (let i = 0; i < runs; i++) {
    const fb = fakeFb(dir, 800, 480, 16);
    const r = await spawnAndMeasure([script, fb.device, fb.sysfsRoot]);
    samples.push({ times: JSON.parse(r.line) as ChildTimes, ms: r.ms, rss: r.rss, hwm: r.hwm });
    const idle = await spawnAndMeasure([
      '-e',
      "process.stdout.write('ready\\n'); process.stdin.resume(); process.stdin.on('end', () => process.exit(0));",
    ]);
    bare.push(idle.rss);
  }
  const p50 = (xs: readonly number[]): number => percentile(xs, 50);
  const rss = p50(samples.map((s) => s.rss)) / 1024;
  const bareRss = p50(bare) / 1024;
  const figures: Figure[] = [
    { name: 'spawn -> first frame written p50', value: p50(samples.map((s) => s.ms)), unit: 'ms' },
    {
      name: 'import of the display module p50',
      value: p50(samples.map((s) => s.times.importMs)),
      unit: 'ms',
    },
    { name: 'glyph atlas load p50', value: p50(samples.map((s) => s.times.atlasMs)), unit: 'ms' },
    {
      name: 'first frame (idle) render+convert+write p50',
      value: p50(samples.map((s) => s.times.frameMs)),
      unit: 'ms',
    },
    { name: 'RSS after the first frame p50', value: rss, unit: 'MiB' },
    { name: 'peak RSS (VmHWM) p50', value: p50(samples.map((s) => s.hwm)) / 1024, unit: 'MiB' },
    { name: 'bare node RSS p50', value: bareRss, unit: 'MiB' },
    { name: 'RSS over bare node', value: rss - bareRss, unit: 'MiB' },
    { name: 'glyph atlas file', value: statSync(atlasPath()).size / 1024, unit: 'KiB' },
  ];
  return {
    title: 'display footprint, fresh process, 800x480 RGB565',
    figures,
    note: `${runs} spawned processes (node ${process.version}) each loading only the display module and drawing one idle frame; RSS from /proc/<pid>/status; bare node = node -e waiting on stdin`,
  };
}

const bench: Bench = async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'seqr-display-bench-'));
  try {
    const results = [await footprint(dir)];
    for (const c of CASES) results.push(await measure(dir, c));
    return results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

export default bench;
