import type { Screen } from '../../daemon/ports/display.js';
import { VendError } from '../../daemon/errors.js';
import { loadFaces, type Face, type Faces } from './font.js';
import { QUIET_MODULES, qrMatrix, type QrMatrix } from './qr.js';
import {
  screenText,
  type DisplayLocale,
  type ProductRowText,
  type ScreenText,
} from './screen-text.js';

/** An integer pixel rectangle. */
export interface Box {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
}

/**
 * Something drawn, with the box that holds all its pixels and the layout region it was given.
 * Tests check every box lies inside its region and the canvas and that no two boxes intersect.
 */
export interface DrawnElement {
  readonly kind: 'text' | 'qr' | 'bar' | 'badge';
  readonly box: Box;
  readonly region: Box;
  /** The text drawn (text, badge), or the QR payload. */
  readonly text?: string;
  /** The QR's pixels per module. */
  readonly modulePx?: number;
  /** Redrawn by the per-second time-left update. */
  readonly dynamic: boolean;
}

/** A rendered screen: the renderer's own RGBA buffer (reused by the next render). */
export interface Frame {
  readonly width: number;
  readonly height: number;
  /** Row-major RGBA, `width * height * 4` bytes, opaque. */
  readonly rgba: Uint8Array;
  readonly background: Rgb;
  readonly elements: readonly DrawnElement[];
  /** What changed since the previous render: the whole frame, the time-left strip, or nothing. */
  readonly dirty: Box | undefined;
}

export type Rgb = readonly [number, number, number];

export interface RendererOptions {
  /** Pixels, after any rotation of the panel (portrait when height > width). */
  readonly width: number;
  readonly height: number;
  readonly locale: DisplayLocale;
}

const WHITE: Rgb = [255, 255, 255];
const INK: Rgb = [26, 26, 26];
const MUTED: Rgb = [105, 105, 105];
const TRACK: Rgb = [222, 222, 222];
const BLUE: Rgb = [11, 61, 145];
const GREEN: Rgb = [20, 110, 50];
const RED: Rgb = [164, 22, 26];
const ORANGE: Rgb = [190, 80, 0];

const packed = new Uint8Array(4);
const packedWord = new Uint32Array(packed.buffer);

/** `color` at full opacity as one word of the RGBA buffer, in the machine's byte order. */
function opaqueWord([r, g, b]: Rgb): number {
  packed.set([r, g, b, 255]);
  return packedWord[0] ?? 0;
}

/** Smallest and largest resolution the layout is designed for. */
export const MIN_SIZE = 160;
export const MAX_SIZE = 4096;

function accentOf(kind: Screen['kind']): Rgb {
  switch (kind) {
    case 'thankYou':
    case 'dispensing':
    case 'upsSettle':
      return GREEN;
    case 'notDelivered':
    case 'problem':
    case 'outOfService':
      return RED;
    case 'idle':
    case 'preparing':
    case 'pay':
    case 'stillPaying':
    case 'cancelling':
    case 'cancelled':
    case 'upsIdle':
    case 'upsConfirm':
    case 'upsChoose':
      return BLUE;
  }
}

type Op =
  | {
      readonly kind: 'text';
      readonly face: Face;
      readonly size: number;
      readonly color: Rgb;
      readonly x: number;
      readonly baseline: number;
      readonly text: string;
      readonly box: Box;
      readonly region: Box;
      readonly dynamic: boolean;
      /** Right-aligned at this x (the time left): placed again when only the text changes. */
      readonly right?: number;
    }
  | {
      readonly kind: 'qr';
      readonly matrix: QrMatrix;
      readonly payload: string;
      readonly modulePx: number;
      readonly box: Box;
      readonly region: Box;
    }
  | {
      readonly kind: 'bar';
      readonly fraction: number;
      readonly color: Rgb;
      readonly box: Box;
      readonly region: Box;
    }
  | {
      readonly kind: 'badge';
      readonly color: Rgb;
      readonly label: Op & { kind: 'text' };
      readonly box: Box;
      readonly region: Box;
    };

type Block =
  | {
      readonly type: 'text';
      readonly text: string;
      readonly bold: boolean;
      /** Font size in units of `u` (1/100 of the shorter side). */
      readonly size: number;
      readonly color: Rgb;
      readonly maxLines: number;
      readonly align: 'left' | 'center';
      /** Space above, in `u`. */
      readonly gap: number;
    }
  | {
      readonly type: 'table';
      readonly rows: readonly ProductRowText[];
      readonly size: number;
      readonly gap: number;
    }
  | {
      readonly type: 'timer';
      readonly text: string;
      /** The longest text the timer can show (same layout for every second). */
      readonly widest: string;
      readonly fraction: number;
      readonly size: number;
      readonly gap: number;
    }
  | {
      readonly type: 'qr';
      readonly matrix: QrMatrix;
      readonly payload: string;
      readonly gap: number;
    };

/**
 * Splits `text` into at most `maxLines` lines no wider than `width`; words longer than a line are
 * broken; whatever does not fit is shortened with an ellipsis. Never returns a line wider than
 * `width` (a lone ellipsis in a very narrow column is the limit).
 */
export function wrapText(
  text: string,
  width: number,
  maxLines: number,
  measure: (s: string) => number,
): string[] {
  const words = text.split(/\s+/).filter((w) => w.length > 0);
  const lines: string[] = [];
  let current = '';
  const push = (): void => {
    lines.push(current);
    current = '';
  };
  for (const word of words) {
    const candidate = current === '' ? word : `${current} ${word}`;
    if (measure(candidate) <= width) {
      current = candidate;
      continue;
    }
    if (current !== '') push();
    let rest = word;
    while (measure(rest) > width && rest.length > 1) {
      let cut = rest.length - 1;
      while (cut > 1 && measure(rest.slice(0, cut)) > width) cut--;
      current = rest.slice(0, cut);
      push();
      rest = rest.slice(cut);
    }
    current = rest;
  }
  if (current !== '') push();
  if (lines.length <= maxLines) return lines;
  const kept = lines.slice(0, maxLines);
  kept[maxLines - 1] = ellipsize(lines.slice(maxLines - 1).join(' '), width, measure);
  return kept;
}

function ellipsize(text: string, width: number, measure: (s: string) => number): string {
  if (measure(text) <= width) return text;
  let end = text.length;
  while (end > 0 && measure(`${text.slice(0, end).trimEnd()}…`) > width) end--;
  return `${text.slice(0, end).trimEnd()}…`;
}

interface Placed {
  readonly ops: Op[];
  readonly height: number;
}

/** Lays blocks out in a column; `measureOnly` skips nothing but positions are relative to `top`. */
class Column {
  readonly #faces: Faces;
  readonly #u: number;
  readonly #scale: number;

  constructor(faces: Faces, u: number, scale: number) {
    this.#faces = faces;
    this.#u = u;
    this.#scale = scale;
  }

  px(units: number): number {
    return Math.max(1, Math.round(units * this.#u * this.#scale));
  }

  /** Places `blocks` from `top` down inside `region`; a qr block takes `qrSide` pixels. */
  place(blocks: readonly Block[], region: Box, top: number, qrSide: number): Placed {
    const ops: Op[] = [];
    let y = top;
    for (const block of blocks) {
      y += this.px(block.gap);
      y += this.#placeBlock(block, region, y, qrSide, ops);
    }
    return { ops, height: y - top };
  }

  #placeBlock(block: Block, region: Box, y: number, qrSide: number, ops: Op[]): number {
    switch (block.type) {
      case 'text': {
        const face = block.bold ? this.#faces.bold : this.#faces.regular;
        const size = this.px(block.size);
        const pad = face.pad(size);
        const lines = wrapText(block.text, region.w - 2 * pad, block.maxLines, (s) =>
          face.width(s, size),
        );
        const lh = face.lineHeight(size);
        lines.forEach((line, i) => {
          const width = face.width(line, size);
          const x =
            block.align === 'left' ? region.x + pad : Math.floor(region.x + (region.w - width) / 2);
          const baseline = y + i * lh + Math.ceil(face.ascent(size)) + 1;
          ops.push(textOp(face, size, block.color, x, baseline, line, region, false));
        });
        return lines.length * lh;
      }
      case 'table':
        return this.#placeTable(block.rows, this.px(block.size), region, y, ops);
      case 'timer': {
        const face = this.#faces.bold;
        const size = this.px(block.size);
        const lh = face.lineHeight(size);
        const reserve = Math.ceil(face.width(block.widest, size)) + 2 * face.pad(size);
        const gap = this.px(3);
        const barH = Math.max(4, Math.round(size * 0.7));
        const barW = region.w - reserve - gap;
        const bar: Box = { x: region.x, y: y + Math.round((lh - barH) / 2), w: barW, h: barH };
        ops.push({
          kind: 'bar',
          fraction: block.fraction,
          color: barColor(block.fraction),
          box: bar,
          region,
        });
        const textRegion: Box = { x: region.x + region.w - reserve, y, w: reserve, h: lh };
        const right = textRegion.x + textRegion.w - face.pad(size);
        const baseline = y + Math.ceil(face.ascent(size)) + 1;
        ops.push(timerText(face, size, right, baseline, block.text, region));
        return lh;
      }
      case 'qr': {
        const modulePx = Math.floor(qrSide / (block.matrix.size + 2 * QUIET_MODULES));
        const side = modulePx * (block.matrix.size + 2 * QUIET_MODULES);
        const x = region.x + Math.floor((region.w - side) / 2);
        ops.push({
          kind: 'qr',
          matrix: block.matrix,
          payload: block.payload,
          modulePx,
          box: { x, y, w: side, h: side },
          region,
        });
        return side;
      }
    }
  }

  #placeTable(
    rows: readonly ProductRowText[],
    size: number,
    region: Box,
    top: number,
    ops: Op[],
  ): number {
    const { regular, bold } = this.#faces;
    const lh = Math.max(regular.lineHeight(size), bold.lineHeight(size));
    const rowGap = this.px(1.5);
    const badge = lh;
    const gap = this.px(3);
    const priceW = Math.max(
      0,
      ...rows.map((r) => Math.ceil(bold.width(r.price, size)) + 2 * bold.pad(size)),
    );
    const nameX = region.x + badge + gap;
    const nameW = region.x + region.w - priceW - gap - nameX;
    rows.forEach((row, i) => {
      const y = top + i * (lh + rowGap);
      const baseline = y + Math.ceil(bold.ascent(size)) + 1;
      const color = row.soldOut ? MUTED : INK;
      const labelW = bold.width(row.button, size);
      const labelSize = labelW > badge - 2 * bold.pad(size) ? Math.floor(size * 0.7) : size;
      const lw = bold.width(row.button, labelSize);
      const labelBaseline =
        y + Math.round((lh + bold.ascent(labelSize) - bold.descent(labelSize)) / 2);
      const badgeBox: Box = { x: region.x, y, w: badge, h: badge };
      ops.push({
        kind: 'badge',
        color: row.soldOut ? MUTED : BLUE,
        label: textOp(
          bold,
          labelSize,
          WHITE,
          Math.round(region.x + (badge - lw) / 2),
          labelBaseline,
          row.button,
          badgeBox,
          false,
        ),
        box: badgeBox,
        region,
      });
      const pad = regular.pad(size);
      const name = ellipsize(row.name, nameW - 2 * pad, (s) => regular.width(s, size));
      const nameRegion: Box = { x: nameX, y, w: nameW, h: lh };
      ops.push(textOp(regular, size, color, nameX + pad, baseline, name, nameRegion, false));
      const pw = bold.width(row.price, size);
      const px = region.x + region.w - bold.pad(size) - pw;
      ops.push(textOp(bold, size, color, px, baseline, row.price, region, false));
    });
    return rows.length === 0 ? 0 : rows.length * (lh + rowGap) - rowGap;
  }
}

function textOp(
  face: Face,
  size: number,
  color: Rgb,
  x: number,
  baseline: number,
  text: string,
  region: Box,
  dynamic: boolean,
): Op & { kind: 'text' } {
  return {
    kind: 'text',
    face,
    size,
    color,
    x,
    baseline,
    text,
    box: face.inkBox(text, x, baseline, size),
    region,
    dynamic,
  };
}

/** The time left, right-aligned at `right`. */
function timerText(
  face: Face,
  size: number,
  right: number,
  baseline: number,
  text: string,
  region: Box,
): Op & { kind: 'text' } {
  const x = right - face.width(text, size);
  return { ...textOp(face, size, INK, x, baseline, text, region, true), right };
}

function barColor(fraction: number): Rgb {
  return fraction < 0.25 ? ORANGE : BLUE;
}

/** The longest text the time left can show with as many digits (the layout reserves its width). */
function widestTime(timeLeft: string): string {
  return timeLeft.replace(/\d/g, '8').replace(/^8:/, '88:');
}

const isDynamic = (op: Op): boolean => op.kind === 'bar' || (op.kind === 'text' && op.dynamic);

/** The ops of a pay screen laid out before, with the time left and its bar set to `payment`. */
function retime(ops: readonly Op[], payment: NonNullable<ScreenText['payment']>): Op[] {
  return ops.map((op): Op => {
    if (op.kind === 'bar')
      return { ...op, fraction: payment.fractionLeft, color: barColor(payment.fractionLeft) };
    if (op.kind === 'text' && op.right !== undefined)
      return timerText(op.face, op.size, op.right, op.baseline, payment.timeLeft, op.region);
    return op;
  });
}

const QR_MIN_MODULE_PX = 2;

/** The layout of a whole screen, fitted at the largest text scale at which everything fits. */
function layout(
  text: ScreenText,
  kind: Screen['kind'],
  width: number,
  height: number,
  faces: Faces,
): Op[] {
  const u = Math.min(width, height) / 100;
  const m = Math.round(4 * u);
  const full: Box = { x: m, y: m, w: width - 2 * m, h: height - 2 * m };
  const accent = accentOf(kind);
  const title = (maxLines: number, align: 'left' | 'center'): Block => ({
    type: 'text',
    text: text.title,
    bold: true,
    size: 8.5,
    color: accent,
    maxLines,
    align,
    gap: 0,
  });
  const body = (
    line: string,
    align: 'left' | 'center',
    size = 5,
    gap = 2,
    extra: { bold?: boolean; color?: Rgb; maxLines?: number } = {},
  ): Block => ({
    type: 'text',
    text: line,
    bold: extra.bold ?? false,
    size,
    color: extra.color ?? INK,
    maxLines: extra.maxLines ?? 3,
    align,
    gap,
  });
  const productBlocks = (align: 'left' | 'center'): Block[] =>
    text.product
      ? [
          body(text.product.name, align, 6, 3, { maxLines: 2 }),
          body(text.product.price, align, 7.5, 1, { bold: true }),
        ]
      : [];
  const footer: Block[] = text.footer
    ? [body(text.footer, 'center', 3.8, 2, { color: MUTED, maxLines: 1 })]
    : [];

  for (let scale = 1; scale > 0.2; scale *= 0.92) {
    const col = new Column(faces, u, scale);
    const fits = (placed: Placed, room: number): boolean => placed.height <= room;
    const stacked = (
      top: readonly Block[],
      bottom: readonly Block[],
      region: Box,
      center: boolean,
    ): Op[] | undefined => {
      const b = col.place(bottom, region, 0, 0);
      const room = region.h - b.height - (bottom.length > 0 ? col.px(3) : 0);
      const t = col.place(top, region, 0, 0);
      if (!fits(t, room)) return undefined;
      const topY = region.y + (center ? Math.floor((room - t.height) / 2) : 0);
      return [
        ...col.place(top, region, topY, 0).ops,
        ...col.place(bottom, region, region.y + region.h - b.height, 0).ops,
      ];
    };

    const qrPayload = text.payment?.qrPayload ?? text.code;
    if (qrPayload !== undefined) {
      const { payment } = text;
      const matrix = qrMatrix(qrPayload);
      const modules = matrix.size + 2 * QUIET_MODULES;
      // A static code (UPS idle) has no countdown.
      const timer: Block[] = payment
        ? [
            {
              type: 'timer',
              text: payment.timeLeft,
              widest: widestTime(payment.timeLeft),
              fraction: payment.fractionLeft,
              size: 5,
              gap: 2,
            },
          ]
        : [];
      const lines = text.lines.map((l) => body(l, 'left'));
      if (width >= height) {
        const side = Math.min(full.h, Math.floor(width * 0.56));
        const modulePx = Math.floor(side / modules);
        if (modulePx < QR_MIN_MODULE_PX) break;
        const qrSide = modulePx * modules;
        const qrRegion: Box = { x: width - m - qrSide, y: m, w: qrSide, h: full.h };
        const left: Box = { x: m, y: m, w: qrRegion.x - 2 * m, h: full.h };
        const ops = stacked(
          [title(2, 'left'), ...productBlocks('left'), ...lines],
          timer,
          left,
          false,
        );
        if (!ops) continue;
        const qrBlock: Block = { type: 'qr', matrix, payload: qrPayload, gap: 0 };
        const qrTop = m + Math.floor((full.h - qrSide) / 2);
        return [...ops, ...col.place([qrBlock], qrRegion, qrTop, qrSide).ops];
      }
      const top = [title(2, 'center'), ...productBlocks('center')];
      const bottom = [...text.lines.map((l) => body(l, 'center')), ...timer];
      const t = col.place(top, full, 0, 0);
      const b = col.place(bottom, full, 0, 0);
      const gap = col.px(3);
      const side = Math.min(full.w, full.h - t.height - b.height - 2 * gap);
      const modulePx = Math.floor(side / modules);
      // Smaller text before a QR too small to scan from arm's length.
      if (modulePx < (scale > 0.5 ? QR_MIN_MODULE_PX + 1 : QR_MIN_MODULE_PX)) continue;
      const qrSide = modulePx * modules;
      const spare = full.h - t.height - b.height - 2 * gap - qrSide;
      const y0 = m + Math.floor(spare / 2);
      const qrBlock: Block = { type: 'qr', matrix, payload: qrPayload, gap: 0 };
      return [
        ...col.place(top, full, y0, 0).ops,
        ...col.place([qrBlock], full, y0 + t.height + gap, qrSide).ops,
        ...col.place(bottom, full, y0 + t.height + gap + qrSide + gap, 0).ops,
      ];
    }

    if (text.products) {
      const blocks: Block[] = [title(1, 'left')];
      if (text.products.length > 0)
        blocks.push({ type: 'table', rows: text.products, size: 5.5, gap: 4 });
      const ops = stacked(
        blocks,
        [...text.lines.map((l) => body(l, 'left', 4.5, 1.5)), ...footer],
        full,
        false,
      );
      if (ops && col.px(5.5) * 3 <= full.w) return ops;
      continue;
    }

    const blocks: Block[] = [
      title(3, 'center'),
      ...productBlocks('center'),
      ...text.lines.map((l, i) => body(l, 'center', 5, i === 0 ? 5 : 2)),
    ];
    const ops = stacked(blocks, footer, full, true);
    if (ops) return ops;
  }
  throw new RangeError(`screen does not fit ${width}x${height}`);
}

/**
 * Equal for two screens that differ only in the time left, as long as the layout reserves the same
 * width for it (a countdown from 10:00 or 100:00 reserves more than one from 9:59).
 */
function staticKey(screen: Screen, text: ScreenText): string {
  const rest = JSON.stringify(screen, (key, value: unknown) => (key === 'secondsLeft' ? 0 : value));
  return text.payment ? `${rest}\n${widestTime(text.payment.timeLeft)}` : rest;
}

function union(boxes: readonly Box[]): Box | undefined {
  if (boxes.length === 0) return undefined;
  const x = Math.min(...boxes.map((b) => b.x));
  const y = Math.min(...boxes.map((b) => b.y));
  const r = Math.max(...boxes.map((b) => b.x + b.w));
  const bottom = Math.max(...boxes.map((b) => b.y + b.h));
  return { x, y, w: r - x, h: bottom - y };
}

/**
 * Renders screens into one RGBA buffer of a fixed size. Holds `width * height * 4` bytes plus the
 * shared fonts. When only the time left changed since the previous render (the per-second update
 * of the pay screens), the layout is kept, only the time-left strip is redrawn and reported dirty.
 */
export class ScreenRenderer {
  readonly width: number;
  readonly height: number;
  readonly locale: DisplayLocale;
  readonly #faces: Faces;
  readonly #bitmap: { readonly data: Uint8Array; readonly width: number; readonly height: number };
  /** The same pixels, one word each (fills). */
  readonly #words: Uint32Array;
  #last: { key: string; full: string; ops: readonly Op[]; background: Rgb } | undefined;

  constructor(options: RendererOptions) {
    const { width, height } = options;
    for (const [name, v] of [
      ['width', width],
      ['height', height],
    ] as const) {
      if (!Number.isInteger(v) || v < MIN_SIZE || v > MAX_SIZE)
        throw new VendError(
          'E_DISPLAY_FORMAT',
          `display ${name} must be an integer in ${MIN_SIZE}..${MAX_SIZE}: ${v}`,
        );
    }
    this.width = width;
    this.height = height;
    this.locale = options.locale;
    this.#faces = loadFaces();
    this.#bitmap = { data: new Uint8Array(width * height * 4), width, height };
    this.#words = new Uint32Array(this.#bitmap.data.buffer, 0, width * height);
  }

  /** Bytes of pixel memory this renderer holds. */
  get bufferBytes(): number {
    return this.#bitmap.data.byteLength;
  }

  /** Draws `screen`; the returned frame's buffer is valid until the next call. */
  render(screen: Screen): Frame {
    const full = JSON.stringify(screen);
    const last = this.#last;
    if (last?.full === full) return this.#frame(last.ops, last.background, undefined);
    const text = screenText(screen, this.locale);
    const key = staticKey(screen, text);
    const background = WHITE;
    if (last?.key === key && text.payment) {
      const ops = retime(last.ops, text.payment);
      const dynamic = ops.filter(isDynamic);
      const dirty = union([...last.ops.filter(isDynamic), ...dynamic].map((op) => op.box));
      if (dirty) {
        this.#fill(dirty, background);
        for (const op of dynamic) this.#paint(op);
      }
      this.#last = { key, full, ops, background };
      return this.#frame(ops, background, dirty);
    }
    const ops = layout(text, screen.kind, this.width, this.height, this.#faces);
    this.#fill({ x: 0, y: 0, w: this.width, h: this.height }, background);
    for (const op of ops) this.#paint(op);
    this.#last = { key, full, ops, background };
    return this.#frame(ops, background, { x: 0, y: 0, w: this.width, h: this.height });
  }

  #frame(ops: readonly Op[], background: Rgb, dirty: Box | undefined): Frame {
    return {
      width: this.width,
      height: this.height,
      rgba: this.#bitmap.data,
      background,
      dirty,
      elements: ops.map((op): DrawnElement => {
        switch (op.kind) {
          case 'text':
            return {
              kind: 'text',
              box: op.box,
              region: op.region,
              text: op.text,
              dynamic: op.dynamic,
            };
          case 'qr':
            return {
              kind: 'qr',
              box: op.box,
              region: op.region,
              text: op.payload,
              modulePx: op.modulePx,
              dynamic: false,
            };
          case 'bar':
            return { kind: 'bar', box: op.box, region: op.region, dynamic: true };
          case 'badge':
            return {
              kind: 'badge',
              box: op.box,
              region: op.region,
              text: op.label.text,
              dynamic: false,
            };
        }
      }),
    };
  }

  #fill(box: Box, color: Rgb): void {
    const word = opaqueWord(color);
    const x0 = Math.max(0, box.x);
    const x1 = Math.min(this.width, box.x + box.w);
    const y0 = Math.max(0, box.y);
    const y1 = Math.min(this.height, box.y + box.h);
    if (x1 <= x0) return;
    for (let y = y0; y < y1; y++) this.#words.fill(word, y * this.width + x0, y * this.width + x1);
  }

  #paint(op: Op): void {
    switch (op.kind) {
      case 'text':
        op.face.draw(this.#bitmap, op.text, op.x, op.baseline, op.size, op.color);
        return;
      case 'qr': {
        this.#fill(op.box, WHITE);
        const { size, modules } = op.matrix;
        const origin = QUIET_MODULES * op.modulePx;
        for (let my = 0; my < size; my++) {
          for (let mx = 0; mx < size; mx++) {
            if (modules[my * size + mx] !== 1) continue;
            this.#fill(
              {
                x: op.box.x + origin + mx * op.modulePx,
                y: op.box.y + origin + my * op.modulePx,
                w: op.modulePx,
                h: op.modulePx,
              },
              [0, 0, 0],
            );
          }
        }
        return;
      }
      case 'bar': {
        this.#fill(op.box, TRACK);
        const filled = Math.round(op.box.w * op.fraction);
        if (filled > 0) this.#fill({ ...op.box, w: filled }, op.color);
        return;
      }
      case 'badge':
        this.#fill(op.box, op.color);
        this.#paint(op.label);
        return;
    }
  }
}
