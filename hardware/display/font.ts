import { createRequire } from 'node:module';
import path from 'node:path';
import * as PImage from 'pureimage';

/** The part of an opentype.js 0.4 font this module uses (pureimage loads it; it ships no types). */
interface OpentypeGlyph {
  readonly index: number;
  readonly advanceWidth?: number;
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
  getPath(text: string, x: number, y: number, size: number): { commands: PathCommand[] };
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

  /** Fills `text` as one path (holes stay open) in the context's current fill style. */
  draw(ctx: PathSink, text: string, x: number, baseline: number, size: number): void {
    ctx.beginPath();
    for (const c of this.#font.getPath(text, x, baseline, size).commands) {
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
