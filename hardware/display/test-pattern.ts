import { QUIET_MODULES, qrMatrix } from './qr.js';

type Rgb = readonly [number, number, number];

/** The colour bars, left to right: white, yellow, cyan, green, magenta, red, blue, black. */
export const TEST_BARS: readonly Rgb[] = [
  [255, 255, 255],
  [255, 255, 0],
  [0, 255, 255],
  [0, 255, 0],
  [255, 0, 255],
  [255, 0, 0],
  [0, 0, 255],
  [0, 0, 0],
];
/** The corner square that marks the top left as the customer sees it. */
export const TEST_CORNER: Rgb = [255, 0, 0];
/** Width of the black frame along the four edges, in pixels. */
export const TEST_FRAME_PX = 3;

/**
 * The display test pattern (`seqr-vend hw-test display`): an opaque RGBA picture of the size the
 * daemon renders its screens at (the panel's size after rotation). A black frame along the four
 * edges (the whole picture is visible), colour bars across the top quarter (wrong colour order =
 * wrong pixel format), a red square in the top left corner (where it appears shows the rotation)
 * and `qrPayload` as a QR code, dark on white at an integer scale with its quiet zone, in the
 * middle of the rest.
 */
export function testPattern(width: number, height: number, qrPayload: string): Uint8Array {
  const rgba = new Uint8Array(width * height * 4).fill(255);
  const fill = (x0: number, y0: number, w: number, h: number, [r, g, b]: Rgb): void => {
    for (let y = Math.max(0, y0); y < Math.min(height, y0 + h); y++)
      for (let x = Math.max(0, x0); x < Math.min(width, x0 + w); x++) {
        const i = (y * width + x) * 4;
        rgba[i] = r;
        rgba[i + 1] = g;
        rgba[i + 2] = b;
      }
  };
  const f = TEST_FRAME_PX;
  const barsHeight = Math.floor(height / 4);
  TEST_BARS.forEach((colour, i) => {
    const x0 = f + Math.floor(((width - 2 * f) * i) / TEST_BARS.length);
    const x1 = f + Math.floor(((width - 2 * f) * (i + 1)) / TEST_BARS.length);
    fill(x0, f, x1 - x0, barsHeight, colour);
  });
  const corner = Math.max(8, Math.floor(Math.min(width, height) / 10));
  fill(f, f, corner, corner, TEST_CORNER);
  fill(0, 0, width, f, [0, 0, 0]);
  fill(0, height - f, width, f, [0, 0, 0]);
  fill(0, 0, f, height, [0, 0, 0]);
  fill(width - f, 0, f, height, [0, 0, 0]);

  const qr = qrMatrix(qrPayload);
  const areaTop = f + barsHeight;
  const room = Math.min(width - 2 * f, height - areaTop - f);
  const scale = Math.max(1, Math.floor(room / (qr.size + 2 * QUIET_MODULES)));
  const side = (qr.size + 2 * QUIET_MODULES) * scale;
  const left = Math.floor((width - side) / 2) + QUIET_MODULES * scale;
  const top = areaTop + Math.floor((height - f - areaTop - side) / 2) + QUIET_MODULES * scale;
  for (let y = 0; y < qr.size; y++)
    for (let x = 0; x < qr.size; x++)
      if (qr.modules[y * qr.size + x] === 1)
        fill(left + x * scale, top + y * scale, scale, scale, [0, 0, 0]);
  return rgba;
}
