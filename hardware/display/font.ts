import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ATLAS_FILE, decodeAtlas, PathOp, type PackedFace } from './glyph-atlas.js';

/**
 * A face of the glyph atlas (glyph-atlas.ts). Measurement and drawing use the same glyph advances
 * and kerning, so a measured width is the drawn width. `inkBox` bounds every pixel the text can
 * touch, including glyph overhang (DejaVu's `j` reaches 0.06 em left of its origin) and
 * anti-aliasing. A character the atlas lacks is drawn as the font's replacement box, never
 * skipped: `missing` says which characters of a text those are.
 */
export class Face {
  readonly #face: PackedFace;
  readonly #masks = new Map<string, GlyphMask | undefined>();

  constructor(face: PackedFace) {
    this.#face = face;
  }

  /** The characters of `text` the atlas lacks (drawn as a box), each once, in order. */
  missing(text: string): string[] {
    const out = new Set<string>();
    for (const ch of text) if (!this.#face.cmap.has(ch.codePointAt(0) ?? 0)) out.add(ch);
    return [...out];
  }

  /** Advance width of `text` at `size` px, kerning included. */
  width(text: string, size: number): number {
    const glyphs = this.#glyphs(text);
    let units = 0;
    for (let i = 0; i < glyphs.length; i++) {
      const g = glyphs[i] ?? 0;
      units += this.#face.advance[g] ?? 0;
      const next = glyphs[i + 1];
      if (next !== undefined) units += this.#kerning(g, next);
    }
    return (units / this.#face.unitsPerEm) * size;
  }

  /** Distance from the baseline up to the highest point of any glyph (accented capitals). */
  ascent(size: number): number {
    return (this.#face.ascender / this.#face.unitsPerEm) * size;
  }

  /** Distance from the baseline down to the lowest point of any glyph (positive). */
  descent(size: number): number {
    return (-this.#face.descender / this.#face.unitsPerEm) * size;
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
   * quarter-pixel offset into a coverage mask and cached; drawing is a plain blend of masks.
   */
  draw(
    target: { readonly data: Uint8Array; readonly width: number; readonly height: number },
    text: string,
    x: number,
    baseline: number,
    size: number,
    color: readonly [number, number, number],
  ): void {
    const scale = size / this.#face.unitsPerEm;
    const glyphs = this.#glyphs(text);
    const top = Math.round(baseline);
    let pen = x;
    for (let i = 0; i < glyphs.length; i++) {
      const g = glyphs[i] ?? 0;
      const whole = Math.floor(pen);
      const quarter = Math.round((pen - whole) * 4);
      const mask = this.#mask(g, size, quarter / 4);
      if (mask) blend(target, mask, whole + Math.floor(quarter / 4), top, color);
      pen += (this.#face.advance[g] ?? 0) * scale;
      const next = glyphs[i + 1];
      if (next !== undefined) pen += this.#kerning(g, next) * scale;
    }
  }

  /** Glyph per character (code point); 0, the replacement box, where the atlas has none. */
  #glyphs(text: string): number[] {
    const out: number[] = [];
    for (const ch of text) out.push(this.#face.cmap.get(ch.codePointAt(0) ?? 0) ?? 0);
    return out;
  }

  #kerning(left: number, right: number): number {
    const keys = this.#face.kernKeys;
    const key = ((left << 16) | right) >>> 0;
    let lo = 0;
    let hi = keys.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const k = keys[mid] ?? 0;
      if (k === key) return this.#face.kernValues[mid] ?? 0;
      if (k < key) lo = mid + 1;
      else hi = mid - 1;
    }
    return 0;
  }

  #mask(glyph: number, size: number, offset: number): GlyphMask | undefined {
    const key = `${glyph}:${size}:${offset}`;
    if (this.#masks.has(key)) return this.#masks.get(key);
    const mask = rasterize(this.#face, glyph, size, offset);
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

/** Segments per quadratic curve: plenty at screen sizes (a 40 px glyph's bowl is ~ 20 px). */
const CURVE_STEP = 0.1;

/** Scratch space of `rasterize`, reused (one glyph at a time): edges as ax ay bx by, crossings. */
let edges = new Float64Array(1024);
let crossings = new Float64Array(64);
let edgeCount = 0;

function addEdge(ax: number, ay: number, bx: number, by: number): void {
  if (edgeCount * 4 + 4 > edges.length) {
    const grown = new Float64Array(edges.length * 2);
    grown.set(edges);
    edges = grown;
  }
  const e = edgeCount++ * 4;
  edges[e] = ax;
  edges[e + 1] = ay;
  edges[e + 2] = bx;
  edges[e + 3] = by;
}

/**
 * Rasterises glyph `g` at `size` px with the pen `offset` px right of a pixel edge, into a mask
 * with a one-pixel margin. Anti-aliasing is horizontal: each pixel row is sampled at one height and
 * the pixels where an edge crosses it are covered by the crossing's fraction, spans filled even-odd
 * -- the rasterisation the golden images were drawn with (pureimage 0.4), reproduced exactly, down
 * to the order of floating-point operations.
 */
function rasterize(
  face: PackedFace,
  g: number,
  size: number,
  offset: number,
): GlyphMask | undefined {
  const opFrom = face.opStart[g] ?? 0;
  const opTo = face.opStart[g + 1] ?? 0;
  if (opTo === opFrom) return undefined;
  const c0 = face.coordStart[g] ?? 0;
  const c1 = face.coordStart[g + 1] ?? 0;
  const { coords, ops } = face;
  let xMin = Infinity;
  let xMax = -Infinity;
  let yMin = Infinity;
  let yMax = -Infinity;
  for (let i = c0; i < c1; i += 2) {
    const x = (coords[i] ?? 0) / 2;
    const y = (coords[i + 1] ?? 0) / 2;
    if (x < xMin) xMin = x;
    if (x > xMax) xMax = x;
    if (y < yMin) yMin = y;
    if (y > yMax) yMax = y;
  }
  const scale = size / face.unitsPerEm;
  const left = Math.floor(offset + xMin * scale) - 1;
  const up = Math.floor(-yMax * scale) - 1;
  const w = Math.ceil(offset + xMax * scale) + 1 - left;
  const h = Math.ceil(-yMin * scale) + 1 - up;

  // Flatten the outline into edges, in mask pixels (y down), as opentype.js placed the points.
  const ox = offset - left;
  const oy = -up;
  const s = (1 / face.unitsPerEm) * size;
  edgeCount = 0;
  let cx = 0;
  let cy = 0;
  let sx = 0;
  let sy = 0;
  let c = c0;
  for (let i = opFrom; i < opTo; i++) {
    switch (ops[i] as PathOp) {
      case PathOp.M:
        cx = sx = ox + ((coords[c] ?? 0) / 2) * s;
        cy = sy = oy + (-(coords[c + 1] ?? 0) / 2) * s;
        c += 2;
        break;
      case PathOp.L: {
        const x = ox + ((coords[c] ?? 0) / 2) * s;
        const y = oy + (-(coords[c + 1] ?? 0) / 2) * s;
        addEdge(cx, cy, x, y);
        cx = x;
        cy = y;
        c += 2;
        break;
      }
      case PathOp.Q: {
        const x0 = cx;
        const y0 = cy;
        const x1 = ox + ((coords[c] ?? 0) / 2) * s;
        const y1 = oy + (-(coords[c + 1] ?? 0) / 2) * s;
        const x2 = ox + ((coords[c + 2] ?? 0) / 2) * s;
        const y2 = oy + (-(coords[c + 3] ?? 0) / 2) * s;
        for (let t = CURVE_STEP; t < 1; t += CURVE_STEP) {
          const x = (1 - t) * (1 - t) * x0 + 2 * (1 - t) * t * x1 + t * t * x2;
          const y = (1 - t) * (1 - t) * y0 + 2 * (1 - t) * t * y1 + t * t * y2;
          addEdge(cx, cy, x, y);
          cx = x;
          cy = y;
        }
        c += 4;
        break;
      }
      case PathOp.Z:
        addEdge(cx, cy, sx, sy);
        cx = sx;
        cy = sy;
        break;
    }
  }
  let top = Infinity;
  let bottom = -Infinity;
  for (let e = 0; e < edgeCount * 4; e += 2) {
    const y = edges[e + 1] ?? 0;
    if (y < top) top = y;
    if (y > bottom) bottom = y;
  }

  // Scan rows from one below the outline up (the sample heights keep the outline's fraction).
  const shade = new Uint8Array(w * h).fill(255);
  const table = blendTable();
  if (crossings.length < edgeCount) crossings = new Float64Array(edgeCount * 2);
  for (let y = Math.min(bottom + 1, h); y >= Math.max(top - 1, 0); y--) {
    if (y >= h) continue;
    let n = 0;
    for (let e = 0; e < edgeCount * 4; e += 4) {
      const ay = edges[e + 1] ?? 0;
      const by = edges[e + 3] ?? 0;
      if ((ay < y && by >= y) || (by < y && ay >= y)) {
        const ax = edges[e] ?? 0;
        crossings[n++] = ax + ((y - ay) / (by - ay)) * ((edges[e + 2] ?? 0) - ax);
      }
    }
    const xs = crossings.subarray(0, n).sort();
    const row = Math.floor(y) * w;
    for (let i = 0; i + 1 < n; i += 2) {
      const a = xs[i] ?? 0;
      const b = xs[i + 1] ?? 0;
      const start = Math.floor(a);
      const end = Math.floor(b);
      for (let x = Math.max(start, 0); x <= end && x < w; x++) {
        const alpha =
          x === start
            ? Math.trunc((1 - (a - start)) * 255)
            : x === end
              ? Math.trunc((b - end) * 255)
              : 255;
        shade[row + x] = table[((shade[row + x] ?? 255) << 8) | alpha] ?? 0;
      }
    }
  }
  const coverage = new Uint8Array(w * h);
  for (let p = 0; p < coverage.length; p++) coverage[p] = 255 - (shade[p] ?? 255);
  return { dx: left, dy: up, w, h, coverage };
}

let blendCache: Uint8Array | undefined;

/**
 * `table[shade << 8 | alpha]`: the grey left after painting black at `alpha` over `shade`,
 * computed in floating point and truncated as the golden images' rasteriser did, so repeated
 * blends over a shared pixel round the same way.
 */
function blendTable(): Uint8Array {
  if (!blendCache) {
    blendCache = new Uint8Array(256 * 256);
    for (let shade = 0; shade < 256; shade++)
      for (let alpha = 0; alpha < 256; alpha++) {
        const m = alpha / 255;
        blendCache[(shade << 8) | alpha] = Math.trunc(
          (((shade / 255) * (1 - m)) / (m + (1 - m))) * 255,
        );
      }
  }
  return blendCache;
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

export interface Faces {
  readonly regular: Face;
  readonly bold: Face;
}

let loaded: Faces | undefined;

/** The atlas file beside this module (`dist/hardware/display/glyphs/` once built). */
export function atlasPath(): string {
  return fileURLToPath(new URL(ATLAS_FILE, import.meta.url));
}

/**
 * DejaVu Sans regular and bold from the glyph atlas, read once per process (about 150 kB) and
 * shared by every renderer; faces are immutable apart from their mask caches.
 */
export function loadFaces(): Faces {
  if (!loaded) {
    const file = atlasPath();
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch (err) {
      throw new Error(`the glyph atlas ${file} is missing: the build copies it from the sources`, {
        cause: err,
      });
    }
    const [regular, bold] = decodeAtlas(bytes);
    if (!regular || !bold) throw new Error(`the glyph atlas ${file} lacks a face`);
    loaded = { regular: new Face(regular), bold: new Face(bold) };
  }
  return loaded;
}
