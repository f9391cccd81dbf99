import jsQRModule from 'jsqr';

// jsqr is CommonJS with an ES-style `export default` in its typings.
const jsQR = jsQRModule.default;

/** One printed text line with the modes it was printed in. */
export interface PrintedLine {
  readonly text: string;
  readonly align: 'left' | 'center' | 'right';
  readonly bold: boolean;
}

/** A GS v 0 raster image: 1 bit per dot, MSB first, 1 = black. */
export interface Raster {
  readonly widthDots: number;
  readonly height: number;
  readonly bits: Buffer;
}

export interface DecodedJob {
  readonly lines: PrintedLine[];
  readonly qrPayloads: string[];
  readonly rasters: Raster[];
  readonly cuts: number;
  readonly codePages: number[];
}

/** PC858 upper half, only the characters receipts use. */
const CP858: Readonly<Record<number, string>> = {
  0x8f: 'Å',
  0x8e: 'Ä',
  0x99: 'Ö',
  0x86: 'å',
  0x84: 'ä',
  0x94: 'ö',
  0x82: 'é',
  0x90: 'É',
  0x81: 'ü',
  0x9a: 'Ü',
  0xd5: '€',
};

function decodeChar(byte: number, codePage: number): string {
  if (byte < 0x80) return String.fromCharCode(byte);
  if (codePage === 19) return CP858[byte] ?? '\uFFFD';
  // Windows-1252: Latin-1 above 0xA0, the euro sign at 0x80 (Node's TextDecoder treats it as Latin-1).
  if (codePage === 16)
    return byte === 0x80 ? '€' : byte >= 0xa0 ? String.fromCharCode(byte) : '\uFFFD';
  return '\uFFFD';
}

/**
 * Decodes the ESC/POS subset the receipt encoder emits (ESC @, ESC t, ESC a, ESC E, ESC !, GS !,
 * GS ( k, GS v 0, GS V, DLE EOT, LF, VT) into lines, QR payloads, rasters and cuts. Throws on
 * an unknown command, so an unexpected byte sequence fails a test instead of passing silently.
 */
export function decodeEscPos(bytes: Buffer): DecodedJob {
  const lines: PrintedLine[] = [];
  const qrPayloads: string[] = [];
  const rasters: Raster[] = [];
  const codePages: number[] = [];
  let cuts = 0;
  let align: PrintedLine['align'] = 'left';
  let bold = false;
  let codePage = 0;
  let text = '';
  let lineAlign: PrintedLine['align'] = align;
  let lineBold = bold;
  const at = (i: number): number => {
    const b = bytes[i];
    if (b === undefined) throw new Error(`truncated command at ${i}`);
    return b;
  };
  for (let i = 0; i < bytes.length;) {
    const b = at(i);
    if (b === 0x1b) {
      const c = at(i + 1);
      if (c === 0x40) {
        align = 'left';
        bold = false;
        codePage = 0;
        i += 2;
      } else if (c === 0x74) {
        codePage = at(i + 2);
        codePages.push(codePage);
        i += 3;
      } else if (c === 0x61) {
        const n = at(i + 2) % 48;
        align = n === 1 ? 'center' : n === 2 ? 'right' : 'left';
        i += 3;
      } else if (c === 0x45) {
        bold = at(i + 2) === 1;
        i += 3;
      } else if (c === 0x21 || c === 0x64) i += 3;
      else throw new Error(`unknown ESC ${c.toString(16)} at ${i}`);
      continue;
    }
    if (b === 0x1d) {
      const c = at(i + 1);
      if (c === 0x21) i += 3;
      else if (c === 0x56) {
        const m = at(i + 2);
        cuts++;
        i += m >= 65 ? 4 : 3;
      } else if (c === 0x28 && at(i + 2) === 0x6b) {
        const len = at(i + 3) + at(i + 4) * 256;
        const body = bytes.subarray(i + 5, i + 5 + len);
        if (body[0] === 0x31 && body[1] === 0x50 && body[2] === 0x30)
          qrPayloads.push(body.subarray(3).toString('latin1'));
        i += 5 + len;
      } else if (c === 0x76 && at(i + 2) === 0x30) {
        const widthBytes = at(i + 4) + at(i + 5) * 256;
        const height = at(i + 6) + at(i + 7) * 256;
        const size = widthBytes * height;
        rasters.push({
          widthDots: widthBytes * 8,
          height,
          bits: bytes.subarray(i + 8, i + 8 + size),
        });
        i += 8 + size;
      } else throw new Error(`unknown GS ${c.toString(16)} at ${i}`);
      continue;
    }
    if (b === 0x10 && at(i + 1) === 0x04) {
      i += 3;
      continue;
    }
    if (b === 0x0a) {
      lines.push({ text, align: lineAlign, bold: lineBold });
      text = '';
      i++;
      continue;
    }
    if (b === 0x0b) {
      i++;
      continue;
    }
    if (b < 0x20) throw new Error(`unknown control byte ${b.toString(16)} at ${i}`);
    if (text === '') {
      lineAlign = align;
      lineBold = bold;
    }
    text += decodeChar(b, codePage);
    i++;
  }
  if (text !== '') lines.push({ text, align: lineAlign, bold: lineBold });
  return { lines, qrPayloads, rasters, cuts, codePages };
}

/** Decodes a raster image as a QR code with jsQR; undefined when it is not one. */
export function readRasterQr(raster: Raster): string | undefined {
  const { widthDots: w, height: h, bits } = raster;
  const rgba = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const black = ((bits[y * (w / 8) + (x >> 3)] ?? 0) >> (7 - (x & 7))) & 1;
      const v = black ? 0 : 255;
      rgba.set([v, v, v, 255], (y * w + x) * 4);
    }
  return jsQR(rgba, w, h)?.data;
}

/** Splits a capture of several jobs at their cuts (each job ends with a cut and ESC @). */
export function countJobs(bytes: Buffer): number {
  let n = 0;
  for (
    let i = bytes.indexOf(Buffer.from([0x1d, 0x56]));
    i >= 0;
    i = bytes.indexOf(Buffer.from([0x1d, 0x56]), i + 2)
  )
    n++;
  return n;
}
