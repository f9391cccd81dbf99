import { rename, writeFile } from 'node:fs/promises';
import type { Display, Screen } from '../../daemon/ports/display.js';
import { systemClock, type Clock } from '../../daemon/ports/clock.js';
import { VendError } from '../../daemon/errors.js';
import { LatestScreen, TRANSIENT_HOLD_MS } from './latest-screen.js';
import { encodePng } from './png.js';
import { ScreenRenderer } from './render.js';
import type { DisplayLocale } from './screen-text.js';

export interface PngDisplayOptions {
  readonly locale: DisplayLocale;
  /** Default 800 x 480. */
  readonly width?: number;
  readonly height?: number;
  /** Written atomically (temporary file, then rename) on every change; omit to keep it in memory. */
  readonly path?: string;
  /** Called with each new picture (the virtual kiosk's web page mirrors it). */
  readonly onFrame?: (png: Buffer, screen: Screen) => void;
  /** Timer for the transient-screen hold. Default: the system clock. */
  readonly clock?: Clock;
  /** How long "one moment" waits for the pay screen before it is drawn. Default 200 ms. */
  readonly transientHoldMs?: number;
}

/**
 * The customer display as PNG pictures: the same renderer as the framebuffer, for the virtual
 * kiosk, the documentation and tests. Same `show` semantics (latest screen wins, unchanged screens
 * are not re-encoded, "one moment" is skipped when the pay screen follows at once); a file that
 * cannot be written rejects with `E_DISPLAY_WRITE`.
 */
export class PngDisplay implements Display {
  readonly #options: PngDisplayOptions;
  readonly #renderer: ScreenRenderer;
  readonly #queue: LatestScreen;
  #latest: Buffer | undefined;
  #closed = false;

  constructor(options: PngDisplayOptions) {
    this.#options = options;
    this.#renderer = new ScreenRenderer({
      width: options.width ?? 800,
      height: options.height ?? 480,
      locale: options.locale,
    });
    this.#queue = new LatestScreen((screen) => this.#write(screen), {
      clock: options.clock ?? systemClock,
      holdMs: options.transientHoldMs ?? TRANSIENT_HOLD_MS,
    });
  }

  /** The last picture shown, as PNG bytes. */
  get latestPng(): Buffer | undefined {
    return this.#latest;
  }

  show(screen: Screen): Promise<void> {
    return this.#queue.submit(screen);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#queue.close();
  }

  async #write(screen: Screen): Promise<void> {
    const frame = this.#renderer.render(screen);
    if (!frame.dirty && this.#latest) return;
    const png = encodePng(frame.rgba, frame.width, frame.height);
    this.#latest = png;
    const file = this.#options.path;
    if (file !== undefined) {
      try {
        await writeFile(`${file}.tmp`, png);
        await rename(`${file}.tmp`, file);
      } catch (err) {
        throw new VendError('E_DISPLAY_WRITE', `cannot write the screen picture ${file}`, {
          cause: err,
          retryable: true,
        });
      }
    }
    this.#options.onFrame?.(png, screen);
  }
}
