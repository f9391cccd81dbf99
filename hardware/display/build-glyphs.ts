// `npm run glyphs`: writes the glyph atlas (glyph-atlas.ts) of the characters the screens can
// show, from the DejaVu TTFs, into hardware/display/glyphs/ beside the fonts' licence; the build
// copies both into dist/. Run it after changing GLYPH_RANGES or the fonts package; a test fails
// while the committed atlas differs from what this writes. Needs the dev dependencies (pureimage
// parses the TTFs with opentype.js); the daemon never loads this module.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as PImage from 'pureimage';
import {
  ATLAS_FILE,
  encodeAtlas,
  PathOp,
  REPLACEMENT,
  type AtlasFace,
  type AtlasGlyph,
} from './glyph-atlas.js';

/**
 * Unicode ranges in the atlas (where DejaVu has the glyph): ASCII, Latin-1 (Swedish and other
 * Western European letters, ¤ £ ¥ ¢), Latin Extended-A (Central European names, zł), the spaces,
 * dashes, quotes, bullet and ellipsis of General Punctuation (including the no-break spaces
 * `Intl.NumberFormat` puts into prices), currency symbols (€ ₹ ₽ ...), ™ and the minus sign.
 */
export const GLYPH_RANGES: readonly (readonly [number, number])[] = [
  [0x20, 0x7e],
  [0xa0, 0xff],
  [0x100, 0x17f],
  [0x2007, 0x200a],
  [0x2010, 0x2027],
  [0x202f, 0x202f],
  [0x2030, 0x2030],
  [0x2039, 0x203a],
  [0x20a0, 0x20bf],
  [0x2122, 0x2122],
  [0x2212, 0x2212],
];

/** The fonts, by the names the renderer asks for. */
export const ATLAS_FACES = { regular: 'DejaVuSans.ttf', bold: 'DejaVuSans-Bold.ttf' } as const;

/** The part of an opentype.js 0.4 font read here (pureimage loads it; it ships no types). */
interface OpentypeGlyph {
  readonly index: number;
  readonly advanceWidth?: number;
  readonly path: { readonly commands: readonly Command[] };
}
type Command =
  | { readonly type: 'M' | 'L'; readonly x: number; readonly y: number }
  | {
      readonly type: 'Q';
      readonly x1: number;
      readonly y1: number;
      readonly x: number;
      readonly y: number;
    }
  | { readonly type: 'C' }
  | { readonly type: 'Z' };
interface OpentypeFont {
  readonly unitsPerEm: number;
  readonly ascender: number;
  readonly descender: number;
  readonly names: { readonly fullName?: { readonly en?: string } };
  readonly glyphs: { get(index: number): OpentypeGlyph };
  charToGlyphIndex(c: string): number;
  charToGlyph(c: string): OpentypeGlyph;
  getKerningValue(left: OpentypeGlyph, right: OpentypeGlyph): number;
}

/** Directory of the `dejavu-fonts-ttf` package (TTFs under ttf/, LICENSE at the top). */
function fontPackage(): string {
  return path.dirname(createRequire(import.meta.url).resolve('dejavu-fonts-ttf/package.json'));
}

function atlasGlyph(glyph: OpentypeGlyph, codePoint: number, font: string): AtlasGlyph {
  const ops: PathOp[] = [];
  const coords: number[] = [];
  for (const c of glyph.path.commands) {
    switch (c.type) {
      case 'M':
      case 'L':
        ops.push(PathOp[c.type]);
        coords.push(c.x, c.y);
        break;
      case 'Q':
        ops.push(PathOp.Q);
        coords.push(c.x1, c.y1, c.x, c.y);
        break;
      case 'Z':
        ops.push(PathOp.Z);
        break;
      case 'C':
        throw new Error(`${font} U+${codePoint.toString(16)}: cubic curve in a TrueType outline`);
    }
  }
  return { codePoint, advance: glyph.advanceWidth ?? 0, ops, coords };
}

function atlasFace(file: string): AtlasFace {
  const registered = PImage.registerFont(path.join(fontPackage(), 'ttf', file), `atlas ${file}`);
  const font = registered.loadSync().font as unknown as OpentypeFont;
  const chosen: OpentypeGlyph[] = [font.glyphs.get(0)];
  const glyphs: AtlasGlyph[] = [atlasGlyph(font.glyphs.get(0), REPLACEMENT, file)];
  for (const [from, to] of GLYPH_RANGES) {
    for (let cp = from; cp <= to; cp++) {
      const char = String.fromCodePoint(cp);
      if (font.charToGlyphIndex(char) === 0) continue;
      const glyph = font.charToGlyph(char);
      chosen.push(glyph);
      glyphs.push(atlasGlyph(glyph, cp, file));
    }
  }
  const kerning: [number, number, number][] = [];
  // Glyph 0 never kerns (opentype.js 0.4 cannot look it up: index 0 is falsy there).
  chosen.forEach((left, l) => {
    chosen.forEach((right, r) => {
      const value = l > 0 && r > 0 ? font.getKerningValue(left, right) : 0;
      if (value !== 0) kerning.push([l, r, value]);
    });
  });
  return {
    name: font.names.fullName?.en ?? file,
    unitsPerEm: font.unitsPerEm,
    ascender: font.ascender,
    descender: font.descender,
    glyphs,
    kerning,
  };
}

/** The atlas bytes for the pinned fonts: the same input always gives the same bytes. */
export function buildAtlas(): Buffer {
  return encodeAtlas([atlasFace(ATLAS_FACES.regular), atlasFace(ATLAS_FACES.bold)]);
}

/** The atlas in the sources (what `npm run glyphs` writes and the build copies). */
export function sourceAtlasPath(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // Compiled to dist/hardware/display/: write into the source tree.
  const sources = here.includes(`${path.sep}dist${path.sep}`)
    ? path.resolve(here, '../../../hardware/display')
    : here;
  return path.join(sources, ATLAS_FILE);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const atlas = buildAtlas();
  // The sources, and the build beside this module when it runs from dist/.
  const files = new Set([sourceAtlasPath(), fileURLToPath(new URL(ATLAS_FILE, import.meta.url))]);
  for (const file of files) {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, atlas);
    copyFileSync(path.join(fontPackage(), 'LICENSE'), path.join(path.dirname(file), 'LICENSE'));
    console.log(`${path.relative(process.cwd(), file)}: ${atlas.length} bytes`);
  }
}
