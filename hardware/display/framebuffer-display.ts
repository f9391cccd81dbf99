import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Display, Screen } from '../../daemon/ports/display.js';
import { systemClock, type Clock, type TimerHandle } from '../../daemon/ports/clock.js';
import { VendError } from '../../daemon/errors.js';
import {
  convertRect,
  deviceRows,
  frameBytes,
  logicalSize,
  readGeometry,
  type FramebufferGeometry,
  type GeometryOverride,
  type Rotation,
} from './framebuffer-format.js';
import { LatestScreen, TRANSIENT_HOLD_MS } from './latest-screen.js';
import { ScreenRenderer } from './render.js';
import type { DisplayLocale } from './screen-text.js';

/** Reported on every failed attempt and once on recovery, for the journal. */
export type DisplayStatus =
  | {
      readonly state: 'failing';
      readonly error: VendError;
      /** Consecutive failed attempts, starting at 1. */
      readonly attempt: number;
      readonly retryInMs: number;
    }
  | { readonly state: 'recovered'; readonly afterAttempts: number };

export interface FramebufferDisplayOptions {
  readonly locale: DisplayLocale;
  /** Default `/dev/fb0`. */
  readonly device?: string;
  /** Default `/sys/class/graphics`; the attributes are read from `<sysfsRoot>/<basename(device)>`. */
  readonly sysfsRoot?: string;
  /** Values that replace what sysfs reports (configuration). */
  readonly geometry?: GeometryOverride;
  /** Default 0. */
  readonly rotation?: Rotation;
  /** Timers for the retry backoff and the transient-screen hold. Default: the system clock. */
  readonly clock?: Clock;
  /** How long "one moment" waits for the pay screen before it is drawn. Default 200 ms. */
  readonly transientHoldMs?: number;
  /** First retry delay, doubled per failure up to `retryMaxMs`. Defaults 1000 and 30000 ms. */
  readonly retryInitialMs?: number;
  readonly retryMaxMs?: number;
  readonly onStatus?: (status: DisplayStatus) => void;
}

function writeError(message: string, cause: unknown): VendError {
  if (cause instanceof VendError) return cause;
  return new VendError('E_DISPLAY_WRITE', message, { cause, retryable: true });
}

/**
 * The customer display on a Linux framebuffer. Each screen is rendered into memory, converted to
 * the device's pixel format (RGB565 or XRGB8888, rows by stride, rotated as mounted) and written
 * as one whole frame with a single positional write at offset 0 of a descriptor opened once, so a
 * partial picture is never visible. A screen identical to the one on the device is not rewritten;
 * the per-second time-left update re-renders and re-converts only the time-left strip and writes
 * only the device rows that hold it, with one positional write at their offset. "One moment" is
 * held back briefly (`TRANSIENT_HOLD_MS`) and skipped when the pay screen follows within that time.
 *
 * The device and its sysfs geometry are looked up on the first `show`, not at construction: when
 * either is missing or a write fails, `show` rejects with `E_DISPLAY_WRITE` (or
 * `E_DISPLAY_FORMAT`), `onStatus` reports it, and the adapter retries the latest screen with
 * exponential backoff until it is written (`onStatus` then reports `recovered`). A newer `show`
 * is tried at once and replaces the screen being retried.
 */
export class FramebufferDisplay implements Display {
  readonly #options: FramebufferDisplayOptions;
  readonly #device: string;
  readonly #clock: Clock;
  readonly #queue: LatestScreen;
  #handle: FileHandle | undefined;
  #geometry: FramebufferGeometry | undefined;
  #renderer: ScreenRenderer | undefined;
  #frame: Buffer | undefined;
  /** The device may not hold `#frame` (after a failed write or a reopen). */
  #deviceStale = true;
  #failures = 0;
  #retryTimer: TimerHandle | undefined;
  #closed = false;
  #framesWritten = 0;
  #rowWrites = 0;
  #bytesWritten = 0;

  constructor(options: FramebufferDisplayOptions) {
    this.#options = options;
    this.#device = options.device ?? '/dev/fb0';
    this.#clock = options.clock ?? systemClock;
    this.#queue = new LatestScreen((screen) => this.#write(screen), {
      clock: this.#clock,
      holdMs: options.transientHoldMs ?? TRANSIENT_HOLD_MS,
    });
  }

  /** Whole frames written to the device so far (skipped unchanged screens do not count). */
  get framesWritten(): number {
    return this.#framesWritten;
  }

  /** Writes of only the damaged rows (time-left updates) so far. */
  get rowWrites(): number {
    return this.#rowWrites;
  }

  /** Bytes written to the device so far, whole frames and damaged rows. */
  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  /** The geometry in use, once the device was opened. */
  get geometry(): FramebufferGeometry | undefined {
    return this.#geometry;
  }

  show(screen: Screen): Promise<void> {
    return this.#queue.submit(screen);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#retryTimer !== undefined) this.#clock.clearTimeout(this.#retryTimer);
    await this.#queue.close();
    await this.#closeHandle();
  }

  async #closeHandle(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    this.#deviceStale = true;
    await handle?.close().catch(() => undefined);
  }

  async #openDevice(): Promise<FileHandle> {
    if (this.#handle) return this.#handle;
    const geometry = await readGeometry(
      this.#options.sysfsRoot ?? '/sys/class/graphics',
      path.basename(this.#device),
      this.#options.geometry,
    );
    const rotation = this.#options.rotation ?? 0;
    const { width, height } = logicalSize(geometry, rotation);
    if (this.#renderer?.width !== width || this.#renderer.height !== height) {
      this.#renderer = new ScreenRenderer({ width, height, locale: this.#options.locale });
    }
    if (
      this.#geometry?.stride !== geometry.stride ||
      this.#geometry.bitsPerPixel !== geometry.bitsPerPixel ||
      this.#geometry.height !== geometry.height
    ) {
      this.#frame = undefined;
    }
    this.#geometry = geometry;
    try {
      this.#handle = await open(this.#device, 'r+');
    } catch (err) {
      throw writeError(`cannot open the framebuffer ${this.#device}`, err);
    }
    this.#deviceStale = true;
    return this.#handle;
  }

  async #write(screen: Screen): Promise<void> {
    if (this.#retryTimer !== undefined) {
      this.#clock.clearTimeout(this.#retryTimer);
      this.#retryTimer = undefined;
    }
    try {
      const handle = await this.#openDevice();
      const geometry = this.#geometry;
      const renderer = this.#renderer;
      if (!geometry || !renderer) throw new Error('framebuffer opened without geometry');
      const rotation = this.#options.rotation ?? 0;
      const frame = renderer.render(screen);
      let buffer = this.#frame;
      let dirty = frame.dirty;
      if (!buffer) {
        buffer = Buffer.alloc(frameBytes(geometry));
        this.#frame = buffer;
        dirty = { x: 0, y: 0, w: frame.width, h: frame.height };
      }
      if (dirty) convertRect(frame.rgba, geometry, rotation, buffer, dirty);
      // The device holds the previous frame unless it is stale: then only the damaged rows change.
      const rows = this.#deviceStale
        ? { start: 0, end: buffer.length }
        : dirty && deviceRows(geometry, rotation, dirty);
      if (rows) {
        const length = rows.end - rows.start;
        try {
          const { bytesWritten } = await handle.write(buffer, rows.start, length, rows.start);
          if (bytesWritten !== length)
            throw new Error(`short write: ${bytesWritten} of ${length} bytes`);
        } catch (err) {
          await this.#closeHandle();
          throw writeError(`cannot write a frame to ${this.#device}`, err);
        }
        this.#deviceStale = false;
        this.#bytesWritten += length;
        if (length === buffer.length) this.#framesWritten++;
        else this.#rowWrites++;
      }
      if (this.#failures > 0) {
        this.#options.onStatus?.({ state: 'recovered', afterAttempts: this.#failures });
        this.#failures = 0;
      }
    } catch (err) {
      const error = writeError(`cannot show a screen on ${this.#device}`, err);
      this.#failures++;
      const initial = this.#options.retryInitialMs ?? 1000;
      const retryInMs = Math.min(
        this.#options.retryMaxMs ?? 30_000,
        initial * 2 ** Math.min(this.#failures - 1, 20),
      );
      this.#options.onStatus?.({ state: 'failing', error, attempt: this.#failures, retryInMs });
      if (!this.#closed) {
        this.#retryTimer = this.#clock.setTimeout(() => {
          this.#retryTimer = undefined;
          if (!this.#queue.hasPending) this.#queue.submit(screen).catch(() => undefined);
        }, retryInMs);
      }
      throw error;
    }
  }
}
