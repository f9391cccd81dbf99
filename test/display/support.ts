import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import jsQRModule from 'jsqr';
import type { FramebufferGeometry } from '../../hardware/display/framebuffer-format.js';

// jsqr is CommonJS with an ES-style `export default` in its typings.
const jsQR = jsQRModule.default;

/**
 * A fake sysfs tree (`<dir>/sys/fb0/{virtual_size,bits_per_pixel,stride}`) and, unless
 * `createDevice` is false, a file standing in for /dev/fb0 (`<dir>/fb0`, filled with 0x5a).
 */
export function fakeFramebuffer(
  dir: string,
  g: FramebufferGeometry,
  createDevice = true,
): { device: string; sysfsRoot: string } {
  const sysfsRoot = path.join(dir, 'sys');
  mkdirSync(path.join(sysfsRoot, 'fb0'), { recursive: true });
  writeFileSync(path.join(sysfsRoot, 'fb0', 'virtual_size'), `${g.width},${g.height}\n`);
  writeFileSync(path.join(sysfsRoot, 'fb0', 'bits_per_pixel'), `${g.bitsPerPixel}\n`);
  writeFileSync(path.join(sysfsRoot, 'fb0', 'stride'), `${g.stride}\n`);
  const device = path.join(dir, 'fb0');
  if (createDevice) writeFileSync(device, Buffer.alloc(g.stride * g.height, 0x5a));
  return { device, sysfsRoot };
}

/** Reads a device frame back into RGBA (the inverse of the conversion, at device orientation). */
export function frameToRgba(frame: Uint8Array, g: FramebufferGeometry): Uint8ClampedArray {
  const out = new Uint8ClampedArray(g.width * g.height * 4);
  for (let y = 0; y < g.height; y++) {
    for (let x = 0; x < g.width; x++) {
      const o = y * g.stride + (x * g.bitsPerPixel) / 8;
      const i = (y * g.width + x) * 4;
      if (g.bitsPerPixel === 16) {
        const v = frame[o]! | (frame[o + 1]! << 8);
        out[i] = ((v >> 11) & 0x1f) * (255 / 31);
        out[i + 1] = ((v >> 5) & 0x3f) * (255 / 63);
        out[i + 2] = (v & 0x1f) * (255 / 31);
      } else {
        out[i] = frame[o + 2]!;
        out[i + 1] = frame[o + 1]!;
        out[i + 2] = frame[o]!;
      }
      out[i + 3] = 255;
    }
  }
  return out;
}

/** The text jsQR finds in an RGBA picture, or undefined. */
export function decodeQr(
  rgba: Uint8Array | Uint8ClampedArray,
  width: number,
  height: number,
): string | undefined {
  const data =
    rgba instanceof Uint8ClampedArray
      ? rgba
      : new Uint8ClampedArray(rgba.buffer, rgba.byteOffset, rgba.byteLength);
  return jsQR(data, width, height, { inversionAttempts: 'dontInvert' })?.data;
}

/** The resolutions every screen is checked at (landscape and portrait, smallest to largest). */
export const RESOLUTIONS: readonly (readonly [number, number])[] = [
  [320, 240],
  [480, 320],
  [800, 480],
  [480, 800],
  [1024, 600],
  [1920, 1080],
];
