import { createRequire } from 'node:module';
import path from 'node:path';
import * as PImage from 'pureimage';

/** The part of an opentype.js 0.4 font this module uses (pureimage loads it; it ships no types). */
interface OpentypeGlyph {
  readonly index: number;
  readonly advanceWidth?: number;
  getPath(x: number, y: number, size: number): { commands: PathCommand[] };
  getMetrics(): { xMin: number; xMax: number; yMin: number; yMax: number };
}
type PathCommand =
  | { readonly type: 'M' | 'L'; readonly x: number; readonly y: number }
  | {
      readonly type: 'Q';
      readonly x1: number;
      readonly y1: number;
      readonly x: number;
      readonly y: number;
    }
  | {
      readonly type: 'C';
      readonly x1: number;
      readonly y1: number;
      readonly x2: number;
      readonly y2: number;
      readonly x: number;
      readonly y: number;
    }
  | { readonly type: 'Z' };
interface OpentypeFont {
  readonly unitsPerEm: number;
  readonly ascender: number;
  readonly descender: number;
  stringToGlyphs(text: string): OpentypeGlyph[];
  getKerningValue(left: OpentypeGlyph, right: OpentypeGlyph): number;
}

/** The drawing calls a face needs from a pureimage context. */
export type PathSink = Pick<
  PImage.Context,
  'beginPath' | 'moveTo' | 'lineTo' | 'quadraticCurveTo' | 'bezierCurveTo' | 'closePath' | 'fill'
>;

/**
 * A loaded TrueType face. Measurement and drawing use the same glyph advances and kerning, so a
 * measured width is the drawn width. `inkBox` bounds every pixel the text can touch, including
 * glyph overhang (DejaVu's `j` reaches 0.06 em left of its origin) and anti-aliasing.
 */
export class Face {
  readonly #font: OpentypeFont;
  readonly #masks = new Map<string, GlyphMask | undefined>();

  constructor(font: OpentypeFont) {
    this.#font = font;
  }

  /** Advance width of `text` at `size` px, kerning included. */
  width(text: string, size: number): number {
    const font = this.#font;
    const glyphs = font.stringToGlyphs(text);
    let units = 0;
    glyphs.forEach((glyph, i) => {
      units += glyph.advanceWidth ?? 0;
      const next = glyphs[i + 1];
      if (next) units += font.getKerningValue(glyph, next);
    });
    return (units / font.unitsPerEm) * size;
  }

  /** Distance from the baseline up to the highest point of any glyph (accented capitals). */
  ascent(size: number): number {
    return (this.#font.ascender / this.#font.unitsPerEm) * size;
  }

  /** Distance from the baseline down to the lowest point of any glyph (positive). */
  descent(size: number): number {
    return (-this.#font.descender / this.#font.unitsPerEm) * size;
  }

  /** Horizontal room to leave on each side for overhang and anti-aliasing. */
  pad(size: number): number {
    return Math.ceil(size * 0.06) + 1;
  }

  /** Vertical distance between baselines that keeps the ink boxes of adjacent lines apart. */
  lineHeight(size: number): number {
    return Math.ceil(this.ascent(size) + this.descent(size)) + 3;
  }

  /** Integer pixel box that contains all ink of `text` drawn with its origin at (x, baseline). */
  inkBox(
    text: string,
    x: number,
    baseline: number,
    size: number,
  ): { x: number; y: number; w: number; h: number } {
    const pad = this.pad(size);
    const left = Math.floor(x - pad);
    const top = Math.floor(baseline - this.ascent(size)) - 1;
    const right = Math.ceil(x + this.width(text, size) + pad);
    const bottom = Math.ceil(baseline + this.descent(size)) + 1;
    return { x: left, y: top, w: right - left, h: bottom - top };
  }

  /**
   * Blends `text` in `color` into an opaque RGBA buffer. Each glyph is rasterised once per size and
   * quarter-pixel offset by pureimage (anti-aliased) into a coverage mask and cached: pureimage's
   * per-pixel compositing is far too slow to run for every frame, a cached mask is a plain blend.
   */
  draw(
    target: { readonly data: Uint8Array; readonly width: number; readonly height: number },
    text: string,
    x: number,
    baseline: number,
    size: number,
    color: readonly [number, number, number],
  ): void {
    const font = this.#font;
    const scale = size / font.unitsPerEm;
    const glyphs = font.stringToGlyphs(text);
    const top = Math.round(baseline);
    let pen = x;
    glyphs.forEach((glyph, i) => {
      const whole = Math.floor(pen);
      const quarter = Math.round((pen - whole) * 4);
      const mask = this.#mask(glyph, size, quarter / 4);
      if (mask) blend(target, mask, whole + Math.floor(quarter / 4), top, color);
      pen += (glyph.advanceWidth ?? 0) * scale;
      const next = glyphs[i + 1];
      if (next) pen += font.getKerningValue(glyph, next) * scale;
    });
  }

  #mask(glyph: OpentypeGlyph, size: number, offset: number): GlyphMask | undefined {
    const key = `${glyph.index}:${size}:${offset}`;
    if (this.#masks.has(key)) return this.#masks.get(key);
    const scale = size / this.#font.unitsPerEm;
    const m = glyph.getMetrics();
    const commands = glyph.getPath(0, 0, size).commands;
    let mask: GlyphMask | undefined;
    if (commands.length > 0 && Number.isFinite(m.xMin)) {
      const left = Math.floor(offset + m.xMin * scale) - 1;
      const up = Math.floor(-m.yMax * scale) - 1;
      const w = Math.ceil(offset + m.xMax * scale) + 1 - left;
      const h = Math.ceil(-m.yMin * scale) + 1 - up;
      const bitmap = PImage.make(w, h);
      bitmap.data.fill(255);
      const ctx = bitmap.getContext('2d');
      ctx.imageSmoothingEnabled = true;
      ctx.fillStyle = 'rgb(0,0,0)';
      fillPath(ctx, glyph.getPath(offset - left, -up, size).commands);
      const coverage = new Uint8Array(w * h);
      for (let p = 0; p < coverage.length; p++) coverage[p] = 255 - (bitmap.data[p * 4] ?? 255);
      mask = { dx: left, dy: up, w, h, coverage };
    }
    this.#masks.set(key, mask);
    return mask;
  }
}

interface GlyphMask {
  /** Offset of the mask from the pen position (whole pixels) and baseline. */
  readonly dx: number;
  readonly dy: number;
  readonly w: number;
  readonly h: number;
  /** 0 = untouched, 255 = fully covered. */
  readonly coverage: Uint8Array;
}

function blend(
  target: { readonly data: Uint8Array; readonly width: number; readonly height: number },
  mask: GlyphMask,
  penX: number,
  baseline: number,
  [r, g, b]: readonly [number, number, number],
): void {
  const { data, width, height } = target;
  for (let my = 0; my < mask.h; my++) {
    const y = baseline + mask.dy + my;
    if (y < 0 || y >= height) continue;
    for (let mx = 0; mx < mask.w; mx++) {
      const a = mask.coverage[my * mask.w + mx] ?? 0;
      const x = penX + mask.dx + mx;
      if (a === 0 || x < 0 || x >= width) continue;
      const i = (y * width + x) * 4;
      const da = data[i] ?? 0;
      const dg = data[i + 1] ?? 0;
      const db = data[i + 2] ?? 0;
      data[i] = da + Math.round(((r - da) * a) / 255);
      data[i + 1] = dg + Math.round(((g - dg) * a) / 255);
      data[i + 2] = db + Math.round(((b - db) * a) / 255);
    }
  }
}

function fillPath(ctx: PathSink, commands: readonly PathCommand[]): void {
  ctx.beginPath();
  for (const c of commands) {
    switch (c.type) {
      case 'M':
        ctx.moveTo(c.x, c.y);
        break;
      case 'L':
        ctx.lineTo(c.x, c.y);
        break;
      case 'Q':
        ctx.quadraticCurveTo(c.x1, c.y1, c.x, c.y);
        break;
      case 'C':
        ctx.bezierCurveTo(c.x1, c.y1, c.x2, c.y2, c.x, c.y);
        break;
      case 'Z':
        ctx.closePath();
        break;
    }
  }
  ctx.fill();
}

export interface Faces {
  readonly regular: Face;
  readonly bold: Face;
}

let loaded: Faces | undefined;

/** Directory of the TTF files of the `dejavu-fonts-ttf` package (its LICENSE ships beside them). */
export function fontDirectory(): string {
  const pkg = createRequire(import.meta.url).resolve('dejavu-fonts-ttf/package.json');
  return path.join(path.dirname(pkg), 'ttf');
}

/**
 * DejaVu Sans regular and bold, parsed once per process (about 80 ms on x86, the bulk of the
 * first frame's time) and shared by every renderer; faces are immutable.
 */
export function loadFaces(): Faces {
  if (!loaded) {
    const dir = fontDirectory();
    const load = (file: string): Face => {
      const registered = PImage.registerFont(path.join(dir, file), `seqr-vend ${file}`);
      const font: unknown = registered.loadSync().font;
      return new Face(font as OpentypeFont);
    };
    loaded = { regular: load('DejaVuSans.ttf'), bold: load('DejaVuSans-Bold.ttf') };
  }
  return loaded;
}
