import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as PImage from 'pureimage';
import { describe, expect, it } from 'vitest';
import type { Screen } from '../../daemon/ports/display.js';
import { ATLAS_FACES, buildAtlas, sourceAtlasPath } from '../../hardware/display/build-glyphs.js';
import { atlasPath, loadFaces, type Face } from '../../hardware/display/font.js';
import { decodeAtlas } from '../../hardware/display/glyph-atlas.js';
import { ScreenRenderer } from '../../hardware/display/render.js';
import { SAMPLE_SCREENS } from '../../hardware/display/sample-screens.js';
import {
  DISPLAY_LOCALES,
  formatMoney,
  screenText,
  type ScreenText,
} from '../../hardware/display/screen-text.js';

/** Every screen variant the core can ask for. */
function everyScreen(): Screen[] {
  const { pay, notDelivered, problem, outOfService } = SAMPLE_SCREENS;
  if (pay.kind !== 'pay' || notDelivered.kind !== 'notDelivered') throw new Error('samples');
  if (problem.kind !== 'problem' || outOfService.kind !== 'outOfService')
    throw new Error('samples');
  return [
    ...Object.values(SAMPLE_SCREENS),
    { ...SAMPLE_SCREENS.idle, products: [] } as Screen,
    { ...pay, secondsLeft: 6000 },
    ...(['refunding', 'refunded', 'pending'] as const).map((refund) => ({
      ...notDelivered,
      refund,
    })),
    ...(['paymentFailed', 'cancelledInApp', 'invoiceFailed', 'connectionLost'] as const).map(
      (p) => ({ ...problem, problem: p }),
    ),
    ...(['seqrUnreachable', 'seqrCredentials', 'hardwareFault', 'starting'] as const).map(
      (reason) => ({ ...outOfService, reason }),
    ),
  ];
}

function strings(text: ScreenText): string[] {
  return [
    text.title,
    ...text.lines,
    text.product?.name ?? '',
    text.product?.price ?? '',
    ...(text.products ?? []).flatMap((p) => [p.button, p.name, p.price]),
    text.payment?.timeLeft ?? '',
    text.footer ?? '',
  ];
}

describe('glyph atlas', () => {
  const faces = loadFaces();
  const both: readonly [string, Face][] = [
    ['regular', faces.regular],
    ['bold', faces.bold],
  ];

  it('is what `npm run glyphs` makes of the pinned fonts (regenerate after changing either)', () => {
    expect(atlasPath()).toBe(sourceAtlasPath());
    expect(buildAtlas().equals(readFileSync(atlasPath()))).toBe(true);
  });

  it('covers every text of every screen in both languages, and prices in common currencies', () => {
    const texts = everyScreen().flatMap((screen) =>
      DISPLAY_LOCALES.flatMap((locale) => strings(screenText(screen, locale))),
    );
    for (const currency of ['SEK', 'EUR', 'NOK', 'DKK', 'USD', 'GBP', 'PLN', 'CHF', 'ISK'])
      for (const locale of DISPLAY_LOCALES)
        texts.push(formatMoney({ minor: 123_456_789, currency }, locale));
    texts.push('…', 'ÅÄÖåäöÉéÜüßøØæÆ', 'Łódź, Kraków, Škoda, Čokolada', '€ £ ¥ ¢ ¤ −');
    for (const [name, face] of both) expect(face.missing(texts.join('')), name).toEqual([]);
  });

  it('draws a character it lacks as one box of ink, and says which it lacks', () => {
    const { regular } = faces;
    expect(regular.missing('Té 中😀 x中')).toEqual(['中', '😀']);
    // One replacement box per character, also for one outside the Basic Multilingual Plane.
    expect(regular.width('😀', 40)).toBe(regular.width('中', 40));
    expect(regular.width('😀', 40)).toBeGreaterThan(regular.width('i', 40));
    const target = { data: new Uint8Array(100 * 60 * 4).fill(255), width: 100, height: 60 };
    regular.draw(target, '😀', 10, 45, 40, [0, 0, 0]);
    let ink = 0;
    for (let i = 0; i < target.data.length; i += 4) if (target.data[i]! < 128) ink++;
    expect(ink).toBeGreaterThan(100);
    // A product name full of them still lays out inside the screen.
    const idle = SAMPLE_SCREENS.idle;
    if (idle.kind !== 'idle') throw new Error('sample');
    const frame = new ScreenRenderer({ width: 480, height: 320, locale: 'sv' }).render({
      ...idle,
      products: [{ ...idle.products[0]!, name: '中文名 😀😀😀 \u0007' }],
    });
    for (const el of frame.elements) expect(el.box.x + el.box.w).toBeLessThanOrEqual(480);
  });

  it('rejects a file that is not a whole atlas', () => {
    const bytes = readFileSync(atlasPath());
    expect(() => decodeAtlas(bytes.subarray(0, bytes.length - 1))).toThrow(/truncated/);
    expect(() => decodeAtlas(Buffer.concat([bytes, Buffer.alloc(2)]))).toThrow(/trailing/);
    expect(() => decodeAtlas(Buffer.from('PK\u0003\u0004 not an atlas'))).toThrow(/not a glyph/);
  });

  it('rasterises every glyph exactly as the golden images were drawn (pureimage 0.4 from the TTF)', () => {
    const dir = path.join(
      path.dirname(createRequire(import.meta.url).resolve('dejavu-fonts-ttf/package.json')),
      'ttf',
    );
    const size = 24;
    for (const [name, face] of both) {
      const file = ATLAS_FACES[name as keyof typeof ATLAS_FACES];
      const font = PImage.registerFont(path.join(dir, file), `test ${file}`).loadSync()
        .font as unknown as ReferenceFont;
      const chars = Array.from('ÅÄÖåäöjgÉ€…').concat(
        Array.from({ length: 0x17f - 0x21 }, (_, i) => String.fromCodePoint(0x21 + i)).filter(
          (c) => face.missing(c).length === 0,
        ),
      );
      let mismatched = 0;
      chars.forEach((ch, i) => {
        const offset = (i % 4) / 4;
        const W = 80;
        const H = 60;
        const target = { data: new Uint8Array(W * H * 4).fill(255), width: W, height: H };
        face.draw(target, ch, 20 + offset, 40, size, [0, 0, 0]);
        const expected = new Uint8Array(W * H).fill(255);
        const mask = referenceMask(font, ch, size, offset);
        if (mask)
          for (let y = 0; y < mask.h; y++)
            for (let x = 0; x < mask.w; x++)
              expected[(40 + mask.dy + y) * W + 20 + mask.dx + x] =
                255 - mask.coverage[y * mask.w + x]!;
        for (let p = 0; p < W * H; p++)
          if (target.data[p * 4] !== expected[p]) {
            mismatched++;
            break;
          }
      });
      expect(mismatched, name).toBe(0);
    }
  }, 60_000);
});

interface ReferenceFont {
  readonly unitsPerEm: number;
  charToGlyph(c: string): {
    getPath(x: number, y: number, size: number): { commands: ReferenceCommand[] };
    getMetrics(): { xMin: number; xMax: number; yMin: number; yMax: number };
  };
}
type ReferenceCommand =
  | { type: 'M' | 'L'; x: number; y: number }
  | { type: 'Q'; x1: number; y1: number; x: number; y: number }
  | { type: 'Z' };

/** A glyph's coverage as the renderer made it before the atlas: pureimage filling the TTF path. */
function referenceMask(
  font: ReferenceFont,
  ch: string,
  size: number,
  offset: number,
): { dx: number; dy: number; w: number; h: number; coverage: Uint8Array } | undefined {
  const glyph = font.charToGlyph(ch);
  const scale = size / font.unitsPerEm;
  const m = glyph.getMetrics();
  if (glyph.getPath(0, 0, size).commands.length === 0) return undefined;
  const left = Math.floor(offset + m.xMin * scale) - 1;
  const up = Math.floor(-m.yMax * scale) - 1;
  const w = Math.ceil(offset + m.xMax * scale) + 1 - left;
  const h = Math.ceil(-m.yMin * scale) + 1 - up;
  const bitmap = PImage.make(w, h);
  bitmap.data.fill(255);
  const ctx = bitmap.getContext('2d');
  ctx.imageSmoothingEnabled = true;
  ctx.fillStyle = 'rgb(0,0,0)';
  ctx.beginPath();
  for (const c of glyph.getPath(offset - left, -up, size).commands) {
    if (c.type === 'M') ctx.moveTo(c.x, c.y);
    else if (c.type === 'L') ctx.lineTo(c.x, c.y);
    else if (c.type === 'Q') ctx.quadraticCurveTo(c.x1, c.y1, c.x, c.y);
    else ctx.closePath();
  }
  ctx.fill();
  const coverage = new Uint8Array(w * h);
  for (let p = 0; p < coverage.length; p++) coverage[p] = 255 - bitmap.data[p * 4]!;
  return { dx: left, dy: up, w, h, coverage };
}
