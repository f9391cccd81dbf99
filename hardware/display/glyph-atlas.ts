/**
 * The glyph atlas: the outlines, advances and kerning of the characters the screens can show,
 * taken from DejaVu Sans and DejaVu Sans Bold by `npm run glyphs` (build-glyphs.ts) so that the
 * daemon never parses a TrueType file. Outlines stay vectors: the layout picks font sizes from the
 * panel's resolution and from how much text has to fit, so bitmaps for every size are not knowable
 * ahead; font.ts rasterises a glyph the first time a size needs it.
 *
 * Binary, little-endian:
 *   "SVGL", u8 version, u8 face count, u16 0
 *   per face:
 *     u16 name length, name (UTF-8), u16 unitsPerEm, i16 ascender, i16 descender, u16 glyph count
 *     per glyph: u32 code point (REPLACEMENT for glyph 0), u16 advance, u16 command count
 *     commands, one byte each (PathOp), padded to an even length
 *     coordinates, i16 in half font units: M and L take x y, Q takes x1 y1 x y, Z none
 *     u32 kerning pair count, per pair: u16 left glyph, u16 right glyph, i16 value (font units)
 */

/** The atlas file, in `glyphs/` beside the display modules (sources and dist/ alike). */
export const ATLAS_FILE = 'glyphs/dejavu-sans.bin';

const MAGIC = 'SVGL';
const VERSION = 1;

/** Code point recorded for glyph 0, drawn for every character the atlas lacks (a box). */
export const REPLACEMENT = 0xffff_ffff;

/** Outline commands, as in a TrueType `glyf` path: move, line, quadratic curve, close. */
export const PathOp = { M: 0, L: 1, Q: 2, Z: 3 } as const;
export type PathOp = (typeof PathOp)[keyof typeof PathOp];

/** Coordinates each command takes. */
export const OP_COORDS: Readonly<Record<PathOp, number>> = { 0: 2, 1: 2, 2: 4, 3: 0 };

export interface AtlasGlyph {
  readonly codePoint: number;
  readonly advance: number;
  readonly ops: readonly PathOp[];
  /** In font units, multiples of 0.5. */
  readonly coords: readonly number[];
}

export interface AtlasFace {
  readonly name: string;
  readonly unitsPerEm: number;
  readonly ascender: number;
  readonly descender: number;
  /** Glyph 0 is the replacement box. */
  readonly glyphs: readonly AtlasGlyph[];
  /** `[left, right, value]` by glyph position in `glyphs`; zero pairs are left out. */
  readonly kerning: readonly (readonly [number, number, number])[];
}

/** A face as loaded: typed arrays, no object per glyph. */
export interface PackedFace {
  readonly name: string;
  readonly unitsPerEm: number;
  readonly ascender: number;
  readonly descender: number;
  /** Code point -> glyph. */
  readonly cmap: ReadonlyMap<number, number>;
  readonly advance: Uint16Array;
  /** Glyph g's commands are `ops[opStart[g] .. opStart[g + 1])`; likewise for coordinates. */
  readonly opStart: Uint32Array;
  readonly coordStart: Uint32Array;
  readonly ops: Uint8Array;
  /** Half font units. */
  readonly coords: Int16Array;
  /** `left << 16 | right`, ascending, with the value at the same position. */
  readonly kernKeys: Uint32Array;
  readonly kernValues: Int16Array;
}

export function encodeAtlas(faces: readonly AtlasFace[]): Buffer {
  const parts: Buffer[] = [];
  const header = Buffer.alloc(8);
  header.write(MAGIC, 0, 'latin1');
  header.writeUInt8(VERSION, 4);
  header.writeUInt8(faces.length, 5);
  parts.push(header);
  for (const face of faces) {
    const name = Buffer.from(face.name, 'utf8');
    const head = Buffer.alloc(2 + name.length + 8);
    head.writeUInt16LE(name.length, 0);
    name.copy(head, 2);
    let o = 2 + name.length;
    o = head.writeUInt16LE(face.unitsPerEm, o);
    o = head.writeInt16LE(face.ascender, o);
    o = head.writeInt16LE(face.descender, o);
    head.writeUInt16LE(face.glyphs.length, o);
    parts.push(head);
    const table = Buffer.alloc(face.glyphs.length * 8);
    face.glyphs.forEach((g, i) => {
      table.writeUInt32LE(g.codePoint, i * 8);
      table.writeUInt16LE(g.advance, i * 8 + 4);
      table.writeUInt16LE(g.ops.length, i * 8 + 6);
    });
    parts.push(table);
    const ops = face.glyphs.flatMap((g) => g.ops);
    const opBytes = Buffer.alloc(ops.length + (ops.length % 2));
    ops.forEach((op, i) => opBytes.writeUInt8(op, i));
    parts.push(opBytes);
    const coords = face.glyphs.flatMap((g) => g.coords);
    const coordBytes = Buffer.alloc(coords.length * 2);
    coords.forEach((c, i) => {
      const half = c * 2;
      if (!Number.isInteger(half) || half < -32768 || half > 32767)
        throw new RangeError(`${face.name}: coordinate ${c} is not a half unit in i16 range`);
      coordBytes.writeInt16LE(half, i * 2);
    });
    parts.push(coordBytes);
    const kern = Buffer.alloc(4 + face.kerning.length * 6);
    kern.writeUInt32LE(face.kerning.length, 0);
    [...face.kerning]
      .sort((a, b) => a[0] - b[0] || a[1] - b[1])
      .forEach(([l, r, v], i) => {
        kern.writeUInt16LE(l, 4 + i * 6);
        kern.writeUInt16LE(r, 6 + i * 6);
        kern.writeInt16LE(v, 8 + i * 6);
      });
    parts.push(kern);
  }
  return Buffer.concat(parts);
}

/** Parses an atlas; throws on anything malformed (a truncated or foreign file). */
export function decodeAtlas(bytes: Uint8Array): PackedFace[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let o = 0;
  const need = (n: number): void => {
    if (o + n > bytes.byteLength) throw new RangeError('glyph atlas is truncated');
  };
  need(8);
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  if (magic !== MAGIC) throw new RangeError('not a glyph atlas');
  if (view.getUint8(4) !== VERSION) throw new RangeError(`glyph atlas version ${view.getUint8(4)}`);
  const count = view.getUint8(5);
  o = 8;
  const faces: PackedFace[] = [];
  for (let f = 0; f < count; f++) {
    need(2);
    const nameLength = view.getUint16(o, true);
    need(2 + nameLength + 8);
    const name = Buffer.from(bytes.subarray(o + 2, o + 2 + nameLength)).toString('utf8');
    o += 2 + nameLength;
    const unitsPerEm = view.getUint16(o, true);
    const ascender = view.getInt16(o + 2, true);
    const descender = view.getInt16(o + 4, true);
    const glyphCount = view.getUint16(o + 6, true);
    o += 8;
    need(glyphCount * 8);
    const cmap = new Map<number, number>();
    const advance = new Uint16Array(glyphCount);
    const opStart = new Uint32Array(glyphCount + 1);
    for (let g = 0; g < glyphCount; g++) {
      const codePoint = view.getUint32(o, true);
      if (codePoint !== REPLACEMENT) cmap.set(codePoint, g);
      advance[g] = view.getUint16(o + 4, true);
      opStart[g + 1] = (opStart[g] ?? 0) + view.getUint16(o + 6, true);
      o += 8;
    }
    const opCount = opStart[glyphCount] ?? 0;
    need(opCount + (opCount % 2));
    const ops = bytes.slice(o, o + opCount);
    o += opCount + (opCount % 2);
    const coordStart = new Uint32Array(glyphCount + 1);
    for (let g = 0; g < glyphCount; g++) {
      let n = 0;
      for (let i = opStart[g] ?? 0; i < (opStart[g + 1] ?? 0); i++) {
        const take = OP_COORDS[ops[i] as PathOp] as number | undefined;
        if (take === undefined) throw new RangeError(`glyph atlas: unknown path command ${ops[i]}`);
        n += take;
      }
      coordStart[g + 1] = (coordStart[g] ?? 0) + n;
    }
    const coordCount = coordStart[glyphCount] ?? 0;
    need(coordCount * 2);
    const coords = new Int16Array(coordCount);
    for (let i = 0; i < coordCount; i++) coords[i] = view.getInt16(o + i * 2, true);
    o += coordCount * 2;
    need(4);
    const kernCount = view.getUint32(o, true);
    o += 4;
    need(kernCount * 6);
    const kernKeys = new Uint32Array(kernCount);
    const kernValues = new Int16Array(kernCount);
    for (let k = 0; k < kernCount; k++) {
      kernKeys[k] = ((view.getUint16(o, true) << 16) | view.getUint16(o + 2, true)) >>> 0;
      kernValues[k] = view.getInt16(o + 4, true);
      o += 6;
    }
    faces.push({
      name,
      unitsPerEm,
      ascender,
      descender,
      cmap,
      advance,
      opStart,
      coordStart,
      ops,
      coords,
      kernKeys,
      kernValues,
    });
  }
  if (o !== bytes.byteLength) throw new RangeError('glyph atlas has trailing bytes');
  return faces;
}
