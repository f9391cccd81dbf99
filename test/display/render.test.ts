import { readFileSync } from 'node:fs';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import type { Screen } from '../../daemon/ports/display.js';
import { loadFaces } from '../../hardware/display/font.js';
import { GOLDEN_SETS, goldenName } from '../../hardware/display/golden.js';
import { encodePng } from '../../hardware/display/png.js';
import { QUIET_MODULES, qrMatrix } from '../../hardware/display/qr.js';
import { ScreenRenderer, wrapText, type Box, type Frame } from '../../hardware/display/render.js';
import {
  LONGEST_PRODUCT_NAME,
  SAMPLE_QR_PAYLOAD,
  SAMPLE_SCREENS,
  SAMPLE_VARIANTS,
  sampleScreen,
  type SampleName,
  SAMPLE_UPS_CODE,
} from '../../hardware/display/sample-screens.js';
import { DISPLAY_LOCALES } from '../../hardware/display/screen-text.js';
import { decodeQr, RESOLUTIONS } from './support.js';

const inside = (a: Box, b: Box): boolean =>
  a.x >= b.x && a.y >= b.y && a.x + a.w <= b.x + b.w && a.y + a.h <= b.y + b.h;
const intersects = (a: Box, b: Box): boolean =>
  a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

/** Every pixel that is not background lies inside a drawn element's box. */
function strayInk(frame: Frame): number {
  const mask = new Uint8Array(frame.width * frame.height);
  for (const { box } of frame.elements) {
    for (let y = Math.max(0, box.y); y < Math.min(frame.height, box.y + box.h); y++)
      mask.fill(
        1,
        y * frame.width + Math.max(0, box.x),
        y * frame.width + Math.min(frame.width, box.x + box.w),
      );
  }
  const [r, g, b] = frame.background;
  let stray = 0;
  for (let p = 0; p < mask.length; p++) {
    if (mask[p]) continue;
    const i = p * 4;
    if (frame.rgba[i] !== r || frame.rgba[i + 1] !== g || frame.rgba[i + 2] !== b) stray++;
  }
  return stray;
}

function checkLayout(frame: Frame, label: string): void {
  const canvas: Box = { x: 0, y: 0, w: frame.width, h: frame.height };
  const els = frame.elements;
  for (const el of els) {
    expect(inside(el.region, canvas), `${label}: region of ${el.text ?? el.kind}`).toBe(true);
    expect(inside(el.box, el.region), `${label}: ${el.text ?? el.kind} leaves its region`).toBe(
      true,
    );
  }
  for (let i = 0; i < els.length; i++)
    for (let j = i + 1; j < els.length; j++)
      expect(
        intersects(els[i]!.box, els[j]!.box),
        `${label}: "${els[i]!.text ?? els[i]!.kind}" overlaps "${els[j]!.text ?? els[j]!.kind}"`,
      ).toBe(false);
  expect(strayInk(frame), `${label}: pixels drawn outside every element`).toBe(0);
}

describe('wrapText', () => {
  const measure = (s: string): number => s.length * 10;

  it('wraps at word boundaries within the width', () => {
    expect(wrapText('aa bb cc dd', 50, 3, measure)).toEqual(['aa bb', 'cc dd']);
  });

  it('shortens what does not fit in maxLines with an ellipsis', () => {
    const lines = wrapText('aaaa bbbb cccc dddd eeee', 90, 2, measure);
    expect(lines).toEqual(['aaaa bbbb', 'cccc ddd…']);
    for (const l of lines) expect(measure(l)).toBeLessThanOrEqual(90);
  });

  it('breaks a word longer than a line', () => {
    const lines = wrapText('abcdefghijkl', 50, 5, measure);
    expect(lines.join('')).toBe('abcdefghijkl');
    for (const l of lines) expect(measure(l)).toBeLessThanOrEqual(50);
  });
});

describe('QR', () => {
  it('encodes the SEQR payload in alphanumeric mode, error correction M, version 2', () => {
    const m = qrMatrix(SAMPLE_QR_PAYLOAD);
    expect(m.modes).toEqual(['Alphanumeric']);
    expect(m.version).toBe(2);
    expect(m.size).toBe(25);
  });

  it('still encodes a payload outside the alphanumeric set', () => {
    expect(qrMatrix('http://seqr.se/r1').modes).not.toEqual(['Alphanumeric']);
  });
});

describe('ScreenRenderer', () => {
  const kinds = [...Object.keys(SAMPLE_SCREENS), ...Object.keys(SAMPLE_VARIANTS)] as SampleName[];

  for (const [width, height] of RESOLUTIONS) {
    it(`lays out every screen in both languages at ${width}x${height} without clipping or overlap`, () => {
      for (const locale of DISPLAY_LOCALES) {
        const renderer = new ScreenRenderer({ width, height, locale });
        for (const kind of kinds) {
          const frame = renderer.render(sampleScreen(kind));
          const label = `${kind}/${locale}/${width}x${height}`;
          checkLayout(frame, label);
          const texts = frame.elements.map((e) => e.text ?? '');
          if ('product' in sampleScreen(kind)) {
            // The longest name is either shown whole or visibly shortened, never cut silently.
            const joined = texts.join(' ');
            expect(joined.includes(LONGEST_PRODUCT_NAME) || joined.includes('…'), label).toBe(true);
          }
          const qr = frame.elements.find((e) => e.kind === 'qr');
          if (kind === 'pay' || kind === 'stillPaying') {
            expect(qr?.modulePx, label).toBeGreaterThanOrEqual(2);
            expect(Number.isInteger(qr?.modulePx)).toBe(true);
            expect(qr?.box.w).toBe((25 + 2 * QUIET_MODULES) * qr!.modulePx!);
            expect(decodeQr(frame.rgba, width, height), label).toBe(SAMPLE_QR_PAYLOAD);
          } else if (kind === 'upsIdle') {
            // The static code of pay first, then choose, scannable at every resolution.
            expect(qr?.modulePx, label).toBeGreaterThanOrEqual(2);
            expect(decodeQr(frame.rgba, width, height), label).toBe(SAMPLE_UPS_CODE);
          } else {
            expect(qr, label).toBeUndefined();
          }
        }
      }
    }, 120_000);
  }

  it('draws the QR dark on white with a quiet zone of at least four modules', () => {
    const frame = new ScreenRenderer({ width: 800, height: 480, locale: 'en' }).render(
      SAMPLE_SCREENS.pay,
    );
    const qr = frame.elements.find((e) => e.kind === 'qr')!;
    const px = qr.modulePx!;
    const quiet = QUIET_MODULES * px;
    const at = (x: number, y: number): number => frame.rgba[(y * frame.width + x) * 4]!;
    let notWhite = 0;
    for (let d = 0; d < quiet; d++) {
      for (let t = 0; t < qr.box.w; t++) {
        for (const v of [
          at(qr.box.x + t, qr.box.y + d),
          at(qr.box.x + d, qr.box.y + t),
          at(qr.box.x + t, qr.box.y + qr.box.h - 1 - d),
          at(qr.box.x + qr.box.w - 1 - d, qr.box.y + t),
        ])
          if (v !== 255) notWhite++;
      }
    }
    expect(notWhite).toBe(0);
    // The top-left finder pattern's corner module is black across its whole integer square.
    let notBlack = 0;
    for (let y = 0; y < px; y++)
      for (let x = 0; x < px; x++)
        if (at(qr.box.x + quiet + x, qr.box.y + quiet + y) !== 0) notBlack++;
    expect(notBlack).toBe(0);
  });

  it('redraws only the time-left strip when only the seconds change, to the same pixels', () => {
    const pay = SAMPLE_SCREENS.pay as Extract<Screen, { kind: 'pay' }>;
    for (const [width, height] of [
      [800, 480],
      [480, 800],
    ] as const) {
      const renderer = new ScreenRenderer({ width, height, locale: 'sv' });
      renderer.render({ ...pay, secondsLeft: 60 });
      const next = { ...pay, secondsLeft: 9 };
      const frame = renderer.render(next);
      const timer = frame.elements.filter((e) => e.dynamic);
      expect(timer.map((e) => e.kind).sort()).toEqual(['bar', 'text']);
      expect(frame.dirty).toBeDefined();
      expect(frame.dirty!.w * frame.dirty!.h).toBeLessThan((width * height) / 10);
      const fresh = new ScreenRenderer({ width, height, locale: 'sv' }).render(next);
      expect(Buffer.compare(frame.rgba, fresh.rgba)).toBe(0);
      expect(renderer.render(next).dirty).toBeUndefined();
    }
  });

  it('lays the whole screen out again when the time left needs another width (100:00 -> 99:59)', () => {
    const pay = SAMPLE_SCREENS.pay as Extract<Screen, { kind: 'pay' }>;
    const renderer = new ScreenRenderer({ width: 800, height: 480, locale: 'en' });
    renderer.render({ ...pay, secondsLeft: 6000, totalSeconds: 6000 });
    const next = { ...pay, secondsLeft: 5999, totalSeconds: 6000 };
    const frame = renderer.render(next);
    expect(frame.dirty).toEqual({ x: 0, y: 0, w: 800, h: 480 });
    const fresh = new ScreenRenderer({ width: 800, height: 480, locale: 'en' }).render(next);
    expect(Buffer.compare(frame.rgba, fresh.rgba)).toBe(0);
    expect(renderer.render({ ...next, secondsLeft: 5998 }).dirty!.h).toBeLessThan(60);
  });

  it('keeps a long list of long product names inside the screen', () => {
    const products = Array.from({ length: 10 }, (_, i) => ({
      slot: i + 1,
      buttonLabel: String(i + 1),
      name: `${LONGEST_PRODUCT_NAME} ${i}`,
      price: { minor: 999_999, currency: 'SEK' },
      soldOut: i % 3 === 0,
    }));
    for (const [width, height] of [
      [320, 240],
      [480, 800],
    ] as const) {
      const frame = new ScreenRenderer({ width, height, locale: 'sv' }).render({
        kind: 'idle',
        machineName: 'M',
        products,
      });
      checkLayout(frame, `idle x10 ${width}x${height}`);
    }
  });

  it('measures text as it draws it (kerning included)', () => {
    const { regular } = loadFaces();
    expect(regular.width('AVA', 100)).toBeLessThan(
      regular.width('A', 100) * 2 + regular.width('V', 100),
    );
  });

  it('refuses a resolution it cannot lay out', () => {
    expect(() => new ScreenRenderer({ width: 100, height: 480, locale: 'en' })).toThrow(
      expect.objectContaining({ code: 'E_DISPLAY_FORMAT' }),
    );
  });
});

describe('golden images (regenerate with `npm run screens` after an intended layout change)', () => {
  for (const { width, height, kinds } of GOLDEN_SETS) {
    for (const locale of DISPLAY_LOCALES) {
      it(`${width}x${height} ${locale}`, () => {
        const renderer = new ScreenRenderer({ width, height, locale });
        for (const kind of kinds) {
          const name = goldenName(kind, locale, width, height);
          const golden = PNG.sync.read(
            readFileSync(new URL(`../../hardware/display/golden/${name}`, import.meta.url)),
          );
          const frame = renderer.render(sampleScreen(kind));
          expect([golden.width, golden.height]).toEqual([width, height]);
          let differing = 0;
          for (let p = 0; p < width * height; p++) {
            for (let c = 0; c < 3; c++) {
              if (Math.abs(golden.data[p * 4 + c]! - frame.rgba[p * 4 + c]!) > 48) {
                differing++;
                break;
              }
            }
          }
          expect(differing / (width * height), name).toBeLessThan(0.002);
        }
      });
    }
  }

  it('encodes PNGs that decode to the same pixels', () => {
    const frame = new ScreenRenderer({ width: 320, height: 240, locale: 'en' }).render(
      SAMPLE_SCREENS.thankYou,
    );
    const png = PNG.sync.read(encodePng(frame.rgba, 320, 240));
    expect(Buffer.compare(png.data, frame.rgba)).toBe(0);
  });
});
