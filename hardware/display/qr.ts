import QRCode from 'qrcode';

/** White modules around the code on every side (the QR standard asks for at least 4). */
export const QUIET_MODULES = 4;

/** Characters of the QR alphanumeric mode. */
const ALPHANUMERIC = /^[0-9A-Z $%*+\-./:]+$/;

/** A QR code as a square matrix of modules. */
export interface QrMatrix {
  /** Modules per side, without the quiet zone. */
  readonly size: number;
  readonly version: number;
  /** Segment modes used, e.g. `['Alphanumeric']`. */
  readonly modes: readonly string[];
  /** Row-major, `size * size`, 1 = dark. */
  readonly modules: Uint8Array;
}

// The pay screen is laid out again every second with the same payload.
let last: { payload: string; matrix: QrMatrix } | undefined;

/**
 * Encodes `payload` with error correction M. A SEQR payload (`HTTP://SEQR.SE/R<digits>`) is encoded
 * as one alphanumeric segment, the mode the SEQR print guidelines ask for; anything outside that
 * character set (a lower-case URL) falls back to automatic segmentation so it still scans.
 */
export function qrMatrix(payload: string): QrMatrix {
  if (last?.payload === payload) return last.matrix;
  const input = ALPHANUMERIC.test(payload)
    ? [{ data: payload, mode: 'alphanumeric' as const }]
    : payload;
  const code = QRCode.create(input, { errorCorrectionLevel: 'M' });
  const matrix: QrMatrix = {
    size: code.modules.size,
    version: code.version,
    modes: code.segments.map((s) => s.mode.id),
    modules: Uint8Array.from(code.modules.data),
  };
  last = { payload, matrix };
  return matrix;
}
