import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { PNG } from 'pngjs';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import type { Config } from '../../config/schema.js';
import type { Screen } from '../../daemon/ports/display.js';
import {
  createDisplay,
  FramebufferDisplay,
  PngDisplay,
  TerminalDisplay,
  type DisplaySettings,
} from '../../hardware/display/index.js';
import { ScreenRenderer } from '../../hardware/display/render.js';
import { SAMPLE_QR_PAYLOAD, SAMPLE_SCREENS } from '../../hardware/display/sample-screens.js';
import { terminalPreview, terminalQr } from '../../hardware/display/terminal-display.js';
import { ManualClock } from '../../daemon/runtime/manual-clock.js';
import { decodeQr } from './support.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const pay = SAMPLE_SCREENS.pay as Extract<Screen, { kind: 'pay' }>;

describe('PngDisplay', () => {
  it('writes each new screen as a PNG file and hands it to onFrame', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'seqr-png-'));
    dirs.push(dir);
    const file = path.join(dir, 'screen.png');
    const frames: Screen['kind'][] = [];
    const d = new PngDisplay({
      locale: 'sv',
      width: 480,
      height: 320,
      path: file,
      onFrame: (_png, screen) => frames.push(screen.kind),
    });
    await d.show(pay);
    const png = PNG.sync.read(readFileSync(file));
    expect([png.width, png.height]).toEqual([480, 320]);
    const expected = new ScreenRenderer({ width: 480, height: 320, locale: 'sv' }).render(pay);
    expect(Buffer.compare(png.data, expected.rgba)).toBe(0);
    expect(decodeQr(png.data, 480, 320)).toBe(SAMPLE_QR_PAYLOAD);
    await d.show(pay);
    await d.show({ ...pay, secondsLeft: 10 });
    expect(frames).toEqual(['pay', 'pay']);
    expect(readFileSync(file).equals(d.latestPng!)).toBe(true);
    await d.close();
    await expect(d.show(pay)).rejects.toMatchObject({ code: 'E_CLOSED' });
  });

  it('skips "one moment" when the pay screen follows within the hold, like the framebuffer', async () => {
    const clock = new ManualClock();
    const frames: Screen['kind'][] = [];
    const d = new PngDisplay({
      locale: 'en',
      width: 320,
      height: 240,
      clock,
      onFrame: (_png, screen) => frames.push(screen.kind),
    });
    const preparing = d.show(SAMPLE_SCREENS.preparing);
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(clock.pending).toBe(1);
    await Promise.all([preparing, d.show(pay)]);
    expect(frames).toEqual(['pay']);
    await d.close();
  });

  it('rejects with E_DISPLAY_WRITE when the file cannot be written', async () => {
    const d = new PngDisplay({
      locale: 'en',
      width: 320,
      height: 240,
      path: '/nonexistent/dir/s.png',
    });
    await expect(d.show(SAMPLE_SCREENS.idle)).rejects.toMatchObject({ code: 'E_DISPLAY_WRITE' });
  });
});

/** Turns the half-block lines back into pixels: one pixel per module. */
function halfBlocksToRgba(lines: readonly string[]): { rgba: Uint8ClampedArray; size: number } {
  const rows = lines.map((l) =>
    Array.from(l.replaceAll('\x1b[30;107m', '').replaceAll('\x1b[0m', '')),
  );
  const size = rows[0]!.length;
  const rgba = new Uint8ClampedArray(size * size * 4).fill(255);
  rows.forEach((chars, line) => {
    chars.forEach((ch, x) => {
      const top = ch === '█' || ch === '▀';
      const bottom = ch === '█' || ch === '▄';
      for (const [y, dark] of [
        [line * 2, top],
        [line * 2 + 1, bottom],
      ] as const) {
        if (dark && y < size) rgba.fill(0, (y * size + x) * 4, (y * size + x) * 4 + 3);
      }
    });
  });
  return { rgba, size };
}

/** Scales a picture up by an integer factor (jsQR wants more than one pixel per module). */
function scaleUp(rgba: Uint8ClampedArray, size: number, k: number): Uint8ClampedArray {
  const out = new Uint8ClampedArray(size * k * size * k * 4);
  for (let y = 0; y < size * k; y++)
    for (let x = 0; x < size * k; x++) {
      const s = (Math.floor(y / k) * size + Math.floor(x / k)) * 4;
      out.set(rgba.subarray(s, s + 4), (y * size * k + x) * 4);
    }
  return out;
}

describe('TerminalDisplay', () => {
  it('draws a QR with half blocks and a quiet zone that decodes to the payload', () => {
    const lines = terminalQr(SAMPLE_QR_PAYLOAD);
    expect(lines).toHaveLength(Math.ceil((25 + 8) / 2));
    expect(lines.every((l) => l.startsWith('\x1b[30;107m') && l.endsWith('\x1b[0m'))).toBe(true);
    const { rgba, size } = halfBlocksToRgba(lines);
    expect(size).toBe(33);
    expect(decodeQr(scaleUp(rgba, size, 6), size * 6, size * 6)).toBe(SAMPLE_QR_PAYLOAD);
  });

  it('prints the screen texts and the time left', () => {
    const text = terminalPreview(pay, 'sv').replace(/\u00a0/g, ' ');
    expect(text).toContain('Skanna för att betala');
    expect(text).toContain('25,00 kr');
    expect(text).toContain('0:42 kvar');
    expect(terminalPreview(SAMPLE_SCREENS.idle, 'en')).toContain('[3] Kexchoklad  Sold out');
  });

  it('writes each changed screen once to its output', async () => {
    const output = new PassThrough();
    let written = '';
    output.on('data', (chunk: Buffer) => (written += chunk.toString()));
    const d = new TerminalDisplay({ locale: 'en', output, clear: true });
    await d.show(SAMPLE_SCREENS.thankYou);
    await d.show(SAMPLE_SCREENS.thankYou);
    expect(written.split('\x1b[H\x1b[2J')).toHaveLength(2);
    expect(written).toContain('Thank you!');
    await d.close();
  });
});

describe('createDisplay', () => {
  it('accepts the configuration section as it is', () => {
    expectTypeOf<Config['display']>().toExtend<DisplaySettings>();
  });

  it('builds the configured sink', () => {
    const base = { device: '/dev/fb0', rotation: 0 } as const;
    expect(createDisplay({ ...base, sink: 'framebuffer' }, 'en')).toBeInstanceOf(
      FramebufferDisplay,
    );
    expect(createDisplay({ ...base, sink: 'png' }, 'en')).toBeInstanceOf(PngDisplay);
    expect(
      createDisplay({ ...base, sink: 'terminal' }, 'en', { output: new PassThrough() }),
    ).toBeInstanceOf(TerminalDisplay);
  });
});
