import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { VendError } from '../../daemon/errors.js';
import type { Box } from './render.js';

/** How the panel is mounted: the picture is turned clockwise by this many degrees. */
export type Rotation = 0 | 90 | 180 | 270;

/** The framebuffer as the kernel reports it. */
export interface FramebufferGeometry {
  /** Visible pixels per row and rows, in the device's own orientation. */
  readonly width: number;
  readonly height: number;
  /** 16 = RGB565, 32 = XRGB8888, both little-endian (what the Raspberry Pi's fbdev uses). */
  readonly bitsPerPixel: 16 | 32;
  /** Bytes from one row to the next (`fix.line_length`); at least `width * bitsPerPixel / 8`. */
  readonly stride: number;
}

/** Configuration values that replace what sysfs says (any subset). */
export type GeometryOverride = Partial<{
  width: number;
  height: number;
  bitsPerPixel: number;
  stride: number;
}>;

async function readAttr(dir: string, name: string): Promise<string> {
  try {
    return (await readFile(path.join(dir, name), 'utf8')).trim();
  } catch (err) {
    throw new VendError('E_DISPLAY_WRITE', `cannot read framebuffer attribute ${dir}/${name}`, {
      cause: err,
      retryable: true,
    });
  }
}

function parsePair(text: string, what: string): [number, number] {
  const match = /^(\d+)[,x](\d+)/.exec(text);
  if (!match) throw new VendError('E_DISPLAY_FORMAT', `unreadable framebuffer ${what}: "${text}"`);
  return [Number(match[1]), Number(match[2])];
}

/**
 * Checks a geometry: sizes positive, 16 or 32 bpp, stride holding a row. Throws `E_DISPLAY_FORMAT`.
 */
export function checkGeometry(g: {
  width: number;
  height: number;
  bitsPerPixel: number;
  stride: number;
}): FramebufferGeometry {
  const { width, height, bitsPerPixel, stride } = g;
  if (bitsPerPixel !== 16 && bitsPerPixel !== 32)
    throw new VendError(
      'E_DISPLAY_FORMAT',
      `framebuffer has ${bitsPerPixel} bits per pixel; only 16 (RGB565) and 32 (XRGB8888) are supported`,
    );
  for (const [name, v] of Object.entries({ width, height, stride })) {
    if (!Number.isInteger(v) || v <= 0)
      throw new VendError(
        'E_DISPLAY_FORMAT',
        `framebuffer ${name} is not a positive integer: ${v}`,
      );
  }
  if (stride < (width * bitsPerPixel) / 8)
    throw new VendError(
      'E_DISPLAY_FORMAT',
      `framebuffer stride ${stride} is shorter than a row of ${width} pixels at ${bitsPerPixel} bpp`,
    );
  return { width, height, bitsPerPixel, stride };
}

/**
 * Reads `<sysfsRoot>/<name>/{virtual_size,bits_per_pixel,stride}` (and `modes`, whose first entry
 * is the visible size when the virtual one is larger for panning), then applies `override`.
 * sysfs is not read at all when the override gives all four values. Rejects with
 * `E_DISPLAY_WRITE` (retryable) when a file is missing, `E_DISPLAY_FORMAT` when unusable.
 */
export async function readGeometry(
  sysfsRoot: string,
  name: string,
  override: GeometryOverride = {},
): Promise<FramebufferGeometry> {
  const { width, height, bitsPerPixel, stride } = override;
  if (
    width !== undefined &&
    height !== undefined &&
    bitsPerPixel !== undefined &&
    stride !== undefined
  )
    return checkGeometry({ width, height, bitsPerPixel, stride });
  const dir = path.join(sysfsRoot, name);
  const [vw, vh] = parsePair(await readAttr(dir, 'virtual_size'), 'virtual_size');
  const bpp = Number(await readAttr(dir, 'bits_per_pixel'));
  const sysStride = Number(await readAttr(dir, 'stride'));
  let visible: [number, number] = [vw, vh];
  const modes = await readFile(path.join(dir, 'modes'), 'utf8').catch(() => '');
  const mode = /^[A-Z]?:?(\d+)x(\d+)/.exec(modes.trim());
  if (mode) {
    const [mw, mh] = [Number(mode[1]), Number(mode[2])];
    if (mw > 0 && mh > 0 && mw <= vw && mh <= vh) visible = [mw, mh];
  }
  return checkGeometry({
    width: width ?? visible[0],
    height: height ?? visible[1],
    bitsPerPixel: bitsPerPixel ?? bpp,
    stride: stride ?? sysStride,
  });
}

/** Size of the picture to render for a panel: width and height swap at 90 and 270 degrees. */
export function logicalSize(
  geometry: FramebufferGeometry,
  rotation: Rotation,
): { width: number; height: number } {
  return rotation === 90 || rotation === 270
    ? { width: geometry.height, height: geometry.width }
    : { width: geometry.width, height: geometry.height };
}

/** Bytes of one whole frame: `stride * height`. */
export function frameBytes(geometry: FramebufferGeometry): number {
  return geometry.stride * geometry.height;
}

/**
 * The device rows holding the logical rectangle `rect` of a picture turned by `rotation`, as the
 * byte range `[start, end)` of the frame (whole rows, stride included); undefined when `rect` lies
 * outside the picture. A strip across a panel mounted at 90 or 270 degrees spans many device rows.
 */
export function deviceRows(
  geometry: FramebufferGeometry,
  rotation: Rotation,
  rect: Box,
): { start: number; end: number } | undefined {
  const { width: lw, height: lh } = logicalSize(geometry, rotation);
  const x0 = Math.max(0, rect.x);
  const y0 = Math.max(0, rect.y);
  const x1 = Math.min(lw, rect.x + rect.w);
  const y1 = Math.min(lh, rect.y + rect.h);
  if (x1 <= x0 || y1 <= y0) return undefined;
  const dh = geometry.height;
  // First and last device row (inclusive) of the logical rows y0..y1-1 / columns x0..x1-1.
  let first: number;
  let last: number;
  switch (rotation) {
    case 0:
      [first, last] = [y0, y1 - 1];
      break;
    case 90:
      [first, last] = [x0, x1 - 1];
      break;
    case 180:
      [first, last] = [dh - y1, dh - 1 - y0];
      break;
    case 270:
      [first, last] = [dh - x1, dh - 1 - x0];
      break;
  }
  return { start: first * geometry.stride, end: (last + 1) * geometry.stride };
}

/**
 * Converts the rectangle `rect` of an opaque RGBA picture (the logical size for `rotation`; its
 * bytes 4-aligned, as the renderer's are) into the device frame `out` (`frameBytes` long),
 * addressing rows by stride. RGB565 packs
 * `r5 g6 b5` little-endian; XRGB8888 stores the bytes B, G, R, 0xFF. Bytes outside the converted
 * pixels (stride padding, other rectangles) are left as they are.
 */
export function convertRect(
  rgba: Uint8Array,
  geometry: FramebufferGeometry,
  rotation: Rotation,
  out: Uint8Array,
  rect: Box,
): void {
  const { width: lw, height: lh } = logicalSize(geometry, rotation);
  const { width: dw, height: dh, stride } = geometry;
  const bytes = geometry.bitsPerPixel / 8;
  const x0 = Math.max(0, rect.x);
  const y0 = Math.max(0, rect.y);
  const x1 = Math.min(lw, rect.x + rect.w);
  const y1 = Math.min(lh, rect.y + rect.h);
  // Device offset of logical (x, y) = base + x * stepX + y * stepY.
  let base: number;
  let stepX: number;
  let stepY: number;
  switch (rotation) {
    case 0:
      [base, stepX, stepY] = [0, bytes, stride];
      break;
    case 90:
      [base, stepX, stepY] = [(dw - 1) * bytes, stride, -bytes];
      break;
    case 180:
      [base, stepX, stepY] = [(dh - 1) * stride + (dw - 1) * bytes, -bytes, -stride];
      break;
    case 270:
      [base, stepX, stepY] = [(dh - 1) * stride, -stride, bytes];
      break;
  }
  // One word per pixel read; the channels' places in it depend on the machine's byte order.
  const words = new Uint32Array(rgba.buffer, rgba.byteOffset, rgba.byteLength >> 2);
  const [rs, gs, bs] = LITTLE_ENDIAN ? [0, 8, 16] : [24, 16, 8];
  if (geometry.bitsPerPixel === 16) {
    for (let y = y0; y < y1; y++) {
      let i = y * lw + x0;
      let o = base + x0 * stepX + y * stepY;
      for (let x = x0; x < x1; x++, i++, o += stepX) {
        const p = words[i] ?? 0;
        const v =
          (((p >>> rs) & 0xf8) << 8) | (((p >>> gs) & 0xfc) << 3) | (((p >>> bs) & 0xff) >> 3);
        out[o] = v & 0xff;
        out[o + 1] = v >> 8;
      }
    }
    return;
  }
  for (let y = y0; y < y1; y++) {
    let i = y * lw + x0;
    let o = base + x0 * stepX + y * stepY;
    for (let x = x0; x < x1; x++, i++, o += stepX) {
      const p = words[i] ?? 0;
      out[o] = (p >>> bs) & 0xff;
      out[o + 1] = (p >>> gs) & 0xff;
      out[o + 2] = (p >>> rs) & 0xff;
      out[o + 3] = 0xff;
    }
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
