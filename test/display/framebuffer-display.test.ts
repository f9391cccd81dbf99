import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Screen } from '../../daemon/ports/display.js';
import { ManualClock } from '../../daemon/runtime/manual-clock.js';
import {
  FramebufferDisplay,
  type DisplayStatus,
  type FramebufferDisplayOptions,
} from '../../hardware/display/framebuffer-display.js';
import type { FramebufferGeometry, Rotation } from '../../hardware/display/framebuffer-format.js';
import { ScreenRenderer } from '../../hardware/display/render.js';
import { SAMPLE_QR_PAYLOAD, SAMPLE_SCREENS } from '../../hardware/display/sample-screens.js';
import { DISPLAY_LOCALES } from '../../hardware/display/screen-text.js';
import { decodeQr, fakeFramebuffer as fakeFramebufferIn, frameToRgba } from './support.js';

const dirs: string[] = [];
const displays: FramebufferDisplay[] = [];
afterEach(async () => {
  await Promise.all(displays.splice(0).map((d) => d.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A temp dir with a fake sysfs tree and a file standing in for /dev/fb0. */
function fakeFramebuffer(
  g: FramebufferGeometry,
  createDevice = true,
): { device: string; sysfsRoot: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'seqr-fb-'));
  dirs.push(dir);
  return fakeFramebufferIn(dir, g, createDevice);
}

function display(options: FramebufferDisplayOptions): FramebufferDisplay {
  const d = new FramebufferDisplay(options);
  displays.push(d);
  return d;
}

/** Geometry with each row padded beyond its pixels (stride wider than the row). */
function padded(width: number, height: number, bitsPerPixel: 16 | 32): FramebufferGeometry {
  return { width, height, bitsPerPixel, stride: (width * bitsPerPixel) / 8 + 64 };
}

function maxChannelDiff(a: Uint8ClampedArray, b: Uint8Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    if (i % 4 === 3) continue;
    max = Math.max(max, Math.abs(a[i]! - b[i]!));
  }
  return max;
}

const kinds = Object.keys(SAMPLE_SCREENS) as Screen['kind'][];
const MATRIX: readonly (readonly [number, number])[] = [
  [320, 240],
  [480, 320],
  [800, 480],
  [480, 800],
  [1280, 720],
];

describe('FramebufferDisplay frames', () => {
  for (const [width, height] of MATRIX) {
    for (const bpp of [16, 32] as const) {
      it(`writes every screen in both languages at ${width}x${height}, ${bpp} bpp, padded stride`, async () => {
        const g = padded(width, height, bpp);
        for (const locale of DISPLAY_LOCALES) {
          const fb = fakeFramebuffer(g);
          const d = display({ locale, ...fb, transientHoldMs: 0 });
          const reference = new ScreenRenderer({ width, height, locale });
          for (const kind of kinds) {
            const label = `${kind}/${locale}/${width}x${height}/${bpp}`;
            await d.show(SAMPLE_SCREENS[kind]);
            const bytes = readFileSync(fb.device);
            expect(bytes.length, label).toBe(g.stride * height);
            const image = frameToRgba(bytes, g);
            const expected = reference.render(SAMPLE_SCREENS[kind]).rgba;
            expect(maxChannelDiff(image, expected), label).toBeLessThanOrEqual(bpp === 16 ? 8 : 0);
            let padding = 0;
            for (let y = 0; y < height; y++)
              for (let o = (width * bpp) / 8; o < g.stride; o++)
                padding |= bytes[y * g.stride + o]!;
            expect(padding, `${label}: pixels written into the stride padding`).toBe(0);
            if (kind === 'pay' || kind === 'stillPaying')
              expect(decodeQr(image, width, height), label).toBe(SAMPLE_QR_PAYLOAD);
          }
        }
      }, 120_000);
    }
  }

  it('writes a decodable QR at 1920x1080 XRGB8888 and RGB565', async () => {
    for (const bpp of [16, 32] as const) {
      const g = padded(1920, 1080, bpp);
      const fb = fakeFramebuffer(g);
      await display({ locale: 'en', ...fb }).show(SAMPLE_SCREENS.pay);
      expect(decodeQr(frameToRgba(readFileSync(fb.device), g), 1920, 1080)).toBe(SAMPLE_QR_PAYLOAD);
    }
  });

  it.each([90, 270] as Rotation[])(
    'draws portrait on a landscape panel turned %i degrees',
    async (rotation) => {
      const g = padded(800, 480, 16);
      const fb = fakeFramebuffer(g);
      const d = display({ locale: 'sv', ...fb, rotation });
      await d.show(SAMPLE_SCREENS.pay);
      const device = frameToRgba(readFileSync(fb.device), g);
      // Undo the rotation and compare with a portrait render.
      const portrait = new Uint8ClampedArray(480 * 800 * 4);
      for (let ly = 0; ly < 800; ly++)
        for (let lx = 0; lx < 480; lx++) {
          const [dx, dy] = rotation === 90 ? [799 - ly, lx] : [ly, 479 - lx];
          portrait.set(
            device.subarray((dy * 800 + dx) * 4, (dy * 800 + dx) * 4 + 4),
            (ly * 480 + lx) * 4,
          );
        }
      expect(decodeQr(portrait, 480, 800)).toBe(SAMPLE_QR_PAYLOAD);
      const expected = new ScreenRenderer({ width: 480, height: 800, locale: 'sv' }).render(
        SAMPLE_SCREENS.pay,
      );
      expect(maxChannelDiff(portrait, expected.rgba)).toBeLessThanOrEqual(8);
    },
  );
});

describe('FramebufferDisplay behaviour', () => {
  const g = padded(480, 320, 16);
  const pay = SAMPLE_SCREENS.pay as Extract<Screen, { kind: 'pay' }>;

  it('does not rewrite a frame that did not change', async () => {
    const fb = fakeFramebuffer(g);
    const d = display({ locale: 'en', ...fb });
    await d.show(SAMPLE_SCREENS.idle);
    writeFileSync(fb.device, Buffer.alloc(g.stride * g.height, 7));
    await d.show(SAMPLE_SCREENS.idle);
    expect(readFileSync(fb.device).every((b) => b === 7)).toBe(true);
    expect(d.framesWritten).toBe(1);
  });

  it('updates the time left by writing only the rows that changed', async () => {
    const fb = fakeFramebuffer(g);
    const d = display({ locale: 'en', ...fb });
    await d.show(pay);
    const frame = g.stride * g.height;
    expect(d.bytesWritten).toBe(frame);
    // Anything outside the damaged rows is left alone on the device.
    writeFileSync(fb.device, Buffer.alloc(frame, 7));
    await d.show({ ...pay, secondsLeft: 41 });
    expect([d.framesWritten, d.rowWrites]).toEqual([1, 1]);
    const tick = d.bytesWritten - frame;
    expect(tick % g.stride).toBe(0);
    expect(tick).toBeLessThan(frame / 5);
    const bytes = readFileSync(fb.device);
    const written = [...Array(g.height).keys()].filter((y) =>
      bytes.subarray(y * g.stride, (y + 1) * g.stride).some((b) => b !== 7),
    );
    expect(written.length * g.stride).toBe(tick);
    expect(written.at(-1)! - written[0]! + 1).toBe(written.length);
  });

  describe('time-left ticks leave the device as a full render of the last screen', () => {
    const ticks = async (
      geometry: FramebufferGeometry,
      rotation: Rotation,
      device: string,
      sysfsRoot: string,
    ): Promise<FramebufferDisplay> => {
      const d = display({ locale: 'sv', device, sysfsRoot, rotation });
      await d.show(SAMPLE_SCREENS.idle);
      await d.show({ ...pay, secondsLeft: 60 });
      // Into the last quarter (the bar turns orange), and across a minute boundary.
      for (let s = 59; s >= 10; s -= 7) await d.show({ ...pay, secondsLeft: s });
      return d;
    };
    for (const bpp of [16, 32] as const) {
      for (const rotation of [0, 90, 180, 270] as Rotation[]) {
        it(`${bpp} bpp, turned ${rotation} degrees`, async () => {
          const geometry = padded(480, 320, bpp);
          const fb = fakeFramebuffer(geometry);
          const d = await ticks(geometry, rotation, fb.device, fb.sysfsRoot);
          const frame = geometry.stride * geometry.height;
          expect([d.framesWritten, d.rowWrites]).toEqual([2, 8]);
          const perTick = (d.bytesWritten - 2 * frame) / 8;
          // Upright, the strip is a few rows; turned, it crosses most rows but not all.
          expect(perTick).toBeLessThan(rotation % 180 === 0 ? frame / 5 : frame);
          const fresh = fakeFramebuffer(geometry);
          await display({ locale: 'sv', ...fresh, rotation }).show({ ...pay, secondsLeft: 10 });
          expect(readFileSync(fb.device).equals(readFileSync(fresh.device))).toBe(true);
        });
      }
    }
  });

  it('writes only the latest of screens shown in quick succession', async () => {
    const fb = fakeFramebuffer(g);
    const d = display({ locale: 'en', ...fb });
    const first = d.show(SAMPLE_SCREENS.idle);
    const second = d.show(SAMPLE_SCREENS.preparing);
    const third = d.show(pay);
    await Promise.all([first, second, third]);
    expect(d.framesWritten).toBe(1);
    expect(decodeQr(frameToRgba(readFileSync(fb.device), g), 480, 320)).toBe(SAMPLE_QR_PAYLOAD);
  });

  describe('"one moment" on a press', () => {
    const settle = async (): Promise<void> => {
      for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
    };
    const setup = async (): Promise<{
      d: FramebufferDisplay;
      clock: ManualClock;
      device: string;
    }> => {
      const clock = new ManualClock();
      const fb = fakeFramebuffer(g);
      const d = display({ locale: 'en', ...fb, clock, transientHoldMs: 200 });
      await d.show(SAMPLE_SCREENS.idle);
      return { d, clock, device: fb.device };
    };
    const rendered = async (screen: Screen): Promise<Buffer> => {
      const fresh = fakeFramebuffer(g);
      await display({ locale: 'en', ...fresh, transientHoldMs: 0 }).show(screen);
      return readFileSync(fresh.device);
    };

    it('is never drawn when the pay screen follows within the hold: one frame per press', async () => {
      const { d, clock, device } = await setup();
      const preparing = d.show(SAMPLE_SCREENS.preparing);
      await settle();
      clock.advance(150);
      await settle();
      expect(d.framesWritten).toBe(1);
      await Promise.all([preparing, d.show(pay)]);
      expect(d.framesWritten).toBe(2);
      expect(readFileSync(device).equals(await rendered(pay))).toBe(true);
      expect(clock.pending).toBe(0);
    });

    it('is drawn once the hold is over, as feedback while invoicing is slow', async () => {
      const { d, clock, device } = await setup();
      let shown = false;
      const preparing = d.show(SAMPLE_SCREENS.preparing).then(() => (shown = true));
      await settle();
      clock.advance(199);
      await settle();
      expect([shown, d.framesWritten]).toEqual([false, 1]);
      clock.advance(1);
      await preparing;
      expect(d.framesWritten).toBe(2);
      expect(readFileSync(device).equals(await rendered(SAMPLE_SCREENS.preparing))).toBe(true);
      await d.show(pay);
      expect(d.framesWritten).toBe(3);
    });

    it('is dropped when the display closes during the hold', async () => {
      const { d } = await setup();
      const preparing = expect(d.show(SAMPLE_SCREENS.preparing)).rejects.toMatchObject({
        code: 'E_CLOSED',
      });
      await settle();
      await d.close();
      await preparing;
      expect(d.framesWritten).toBe(1);
    });
  });

  it('never ends on a stale screen when a show arrives during a write', async () => {
    const fb = fakeFramebuffer(g);
    const d = display({ locale: 'en', ...fb });
    const first = d.show(pay);
    await Promise.resolve();
    await Promise.resolve();
    const last = d.show(SAMPLE_SCREENS.thankYou);
    await Promise.all([first, last]);
    const ref = fakeFramebuffer(g);
    await display({ locale: 'en', ...ref }).show(SAMPLE_SCREENS.thankYou);
    expect(readFileSync(fb.device).equals(readFileSync(ref.device))).toBe(true);
  });

  it('reports a missing device, retries with backoff and shows the latest screen once it appears', async () => {
    const clock = new ManualClock();
    const statuses: DisplayStatus[] = [];
    let notify: (() => void) | undefined;
    const nextStatus = (): Promise<void> =>
      new Promise((resolve) => {
        notify = resolve;
      });
    const fb = fakeFramebuffer(g, false);
    const d = display({
      locale: 'en',
      ...fb,
      clock,
      retryInitialMs: 1000,
      retryMaxMs: 4000,
      onStatus: (s) => {
        statuses.push(s);
        notify?.();
      },
    });
    await expect(d.show(SAMPLE_SCREENS.idle)).rejects.toMatchObject({
      code: 'E_DISPLAY_WRITE',
      retryable: true,
    });
    await expect(d.show(pay)).rejects.toMatchObject({ code: 'E_DISPLAY_WRITE' });
    expect(statuses.map((s) => (s.state === 'failing' ? s.retryInMs : 0))).toEqual([1000, 2000]);

    let next = nextStatus();
    clock.advance(1999);
    expect(statuses).toHaveLength(2);
    clock.advance(1);
    await next;
    expect(statuses.at(-1)).toMatchObject({ state: 'failing', attempt: 3, retryInMs: 4000 });

    writeFileSync(fb.device, Buffer.alloc(g.stride * g.height));
    next = nextStatus();
    clock.advance(4000);
    await next;
    expect(statuses.at(-1)).toEqual({ state: 'recovered', afterAttempts: 3 });
    // The retried screen is the latest one shown (pay), not the first (idle).
    expect(decodeQr(frameToRgba(readFileSync(fb.device), g), 480, 320)).toBe(SAMPLE_QR_PAYLOAD);
    expect(clock.pending).toBe(0);
  });

  it('reports a pixel format it cannot draw as E_DISPLAY_FORMAT', async () => {
    const fb = fakeFramebuffer({ width: 480, height: 320, bitsPerPixel: 16, stride: 960 });
    writeFileSync(path.join(fb.sysfsRoot, 'fb0', 'bits_per_pixel'), '24\n');
    const d = display({ locale: 'en', ...fb, clock: new ManualClock() });
    await expect(d.show(SAMPLE_SCREENS.idle)).rejects.toMatchObject({ code: 'E_DISPLAY_FORMAT' });
  });

  it('rejects shows after close with E_CLOSED and closes idempotently', async () => {
    const fb = fakeFramebuffer(g);
    const d = display({ locale: 'en', ...fb });
    await d.show(SAMPLE_SCREENS.idle);
    await d.close();
    await d.close();
    await expect(d.show(SAMPLE_SCREENS.idle)).rejects.toMatchObject({ code: 'E_CLOSED' });
  });
});
