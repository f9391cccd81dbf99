import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  checkGeometry,
  convertRect,
  frameBytes,
  logicalSize,
  readGeometry,
  type FramebufferGeometry,
  type Rotation,
} from '../../hardware/display/framebuffer-format.js';

function sysfs(attrs: Record<string, string>): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'seqr-sysfs-'));
  mkdirSync(path.join(root, 'fb0'));
  for (const [name, value] of Object.entries(attrs))
    writeFileSync(path.join(root, 'fb0', name), `${value}\n`);
  return root;
}

describe('readGeometry', () => {
  it('reads size, bits per pixel and stride from sysfs', async () => {
    const root = sysfs({ virtual_size: '800,480', bits_per_pixel: '16', stride: '1664' });
    expect(await readGeometry(root, 'fb0')).toEqual({
      width: 800,
      height: 480,
      bitsPerPixel: 16,
      stride: 1664,
    });
  });

  it('uses the visible mode when the virtual size is larger (panning overallocation)', async () => {
    const root = sysfs({
      virtual_size: '1920,2160',
      bits_per_pixel: '32',
      stride: '7680',
      modes: 'U:1920x1080p-0',
    });
    expect(await readGeometry(root, 'fb0')).toMatchObject({ width: 1920, height: 1080 });
  });

  it('lets configuration override any value, and skips sysfs when all are given', async () => {
    const root = sysfs({ virtual_size: '800,480', bits_per_pixel: '16', stride: '1600' });
    expect(await readGeometry(root, 'fb0', { bitsPerPixel: 32, stride: 3200 })).toEqual({
      width: 800,
      height: 480,
      bitsPerPixel: 32,
      stride: 3200,
    });
    const full = { width: 480, height: 320, bitsPerPixel: 16, stride: 960 };
    expect(await readGeometry('/nonexistent', 'fb0', full)).toEqual(full);
  });

  it('reports a missing device as retryable E_DISPLAY_WRITE', async () => {
    await expect(readGeometry('/nonexistent-sysfs', 'fb0')).rejects.toMatchObject({
      code: 'E_DISPLAY_WRITE',
      retryable: true,
    });
  });

  it('refuses pixel formats and strides it cannot draw with E_DISPLAY_FORMAT', async () => {
    const bpp24 = sysfs({ virtual_size: '800,480', bits_per_pixel: '24', stride: '2400' });
    await expect(readGeometry(bpp24, 'fb0')).rejects.toMatchObject({ code: 'E_DISPLAY_FORMAT' });
    const short = sysfs({ virtual_size: '800,480', bits_per_pixel: '16', stride: '1000' });
    await expect(readGeometry(short, 'fb0')).rejects.toMatchObject({ code: 'E_DISPLAY_FORMAT' });
    const junk = sysfs({ virtual_size: 'wide', bits_per_pixel: '16', stride: '1600' });
    await expect(readGeometry(junk, 'fb0')).rejects.toMatchObject({ code: 'E_DISPLAY_FORMAT' });
    expect(() => checkGeometry({ width: 0, height: 1, bitsPerPixel: 16, stride: 2 })).toThrow();
  });
});

/** A 3x2 picture: red, green, blue / white, black, grey (50,100,150). */
const PIXELS = [
  [255, 0, 0],
  [0, 255, 0],
  [0, 0, 255],
  [255, 255, 255],
  [0, 0, 0],
  [50, 100, 150],
] as const;
const rgba = Uint8Array.from(PIXELS.flatMap(([r, g, b]) => [r, g, b, 255]));

describe('convertRect', () => {
  it('packs RGB565 little-endian, rows by stride, padding untouched', () => {
    const g: FramebufferGeometry = { width: 3, height: 2, bitsPerPixel: 16, stride: 8 };
    const out = new Uint8Array(frameBytes(g)).fill(0xee);
    convertRect(rgba, g, 0, out, { x: 0, y: 0, w: 3, h: 2 });
    const word = (x: number, y: number): number =>
      out[y * 8 + x * 2]! | (out[y * 8 + x * 2 + 1]! << 8);
    expect(word(0, 0)).toBe(0xf800);
    expect(word(1, 0)).toBe(0x07e0);
    expect(word(2, 0)).toBe(0x001f);
    expect(word(0, 1)).toBe(0xffff);
    expect(word(1, 1)).toBe(0x0000);
    expect(word(2, 1)).toBe(((50 >> 3) << 11) | ((100 >> 2) << 5) | (150 >> 3));
    expect([out[6], out[7], out[14], out[15]]).toEqual([0xee, 0xee, 0xee, 0xee]);
  });

  it('stores XRGB8888 as B, G, R, X bytes, rows by stride', () => {
    const g: FramebufferGeometry = { width: 3, height: 2, bitsPerPixel: 32, stride: 16 };
    const out = new Uint8Array(frameBytes(g));
    convertRect(rgba, g, 0, out, { x: 0, y: 0, w: 3, h: 2 });
    expect([...out.subarray(0, 12)]).toEqual([0, 0, 255, 255, 0, 255, 0, 255, 255, 0, 0, 255]);
    expect([...out.subarray(16 + 8, 16 + 12)]).toEqual([150, 100, 50, 255]);
    expect([...out.subarray(12, 16)]).toEqual([0, 0, 0, 0]);
  });

  it('converts only the given rectangle', () => {
    const g: FramebufferGeometry = { width: 3, height: 2, bitsPerPixel: 32, stride: 12 };
    const out = new Uint8Array(frameBytes(g));
    convertRect(rgba, g, 0, out, { x: 1, y: 1, w: 1, h: 1 });
    expect(out.findIndex((b) => b !== 0)).toBe(12 + 4 + 3);
  });

  it.each([0, 90, 180, 270] as Rotation[])('turns the picture %i degrees clockwise', (rotation) => {
    // Device 3x2 at 0/180 degrees; 2x3 at 90/270 (the logical picture is always 3x2).
    const device: FramebufferGeometry =
      rotation % 180 === 0
        ? { width: 3, height: 2, bitsPerPixel: 32, stride: 12 }
        : { width: 2, height: 3, bitsPerPixel: 32, stride: 8 };
    expect(logicalSize(device, rotation)).toEqual({ width: 3, height: 2 });
    const out = new Uint8Array(frameBytes(device));
    convertRect(rgba, device, rotation, out, { x: 0, y: 0, w: 3, h: 2 });
    const red = (dx: number, dy: number): number => out[dy * device.stride + dx * 4 + 2]!;
    // Where the logical top-left (red) pixel lands.
    const corner = { 0: [0, 0], 90: [1, 0], 180: [2, 1], 270: [0, 2] }[rotation];
    expect(red(corner[0]!, corner[1]!)).toBe(255);
    // Logical (1,0) is green: next to red along the logical x axis.
    const green = { 0: [1, 0], 90: [1, 1], 180: [1, 1], 270: [0, 1] }[rotation];
    expect(out[green[1]! * device.stride + green[0]! * 4 + 1]).toBe(255);
  });
});
