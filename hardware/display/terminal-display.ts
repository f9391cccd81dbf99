import type { Display, Screen } from '../../daemon/ports/display.js';
import { VendError } from '../../daemon/errors.js';
import { LatestScreen } from './latest-screen.js';
import { QUIET_MODULES, qrMatrix } from './qr.js';
import { screenText, type DisplayLocale } from './screen-text.js';

/**
 * A QR code as text: two module rows per line with half-block characters, black on an explicit
 * white background (ANSI colours) so it scans on dark terminals too, quiet zone included.
 */
export function terminalQr(payload: string): string[] {
  const { size, modules } = qrMatrix(payload);
  const total = size + 2 * QUIET_MODULES;
  const dark = (x: number, y: number): boolean => {
    const mx = x - QUIET_MODULES;
    const my = y - QUIET_MODULES;
    return mx >= 0 && my >= 0 && mx < size && my < size && modules[my * size + mx] === 1;
  };
  const lines: string[] = [];
  for (let y = 0; y < total; y += 2) {
    let line = '\x1b[30;107m';
    for (let x = 0; x < total; x++) {
      const top = dark(x, y);
      const bottom = y + 1 < total && dark(x, y + 1);
      line += top ? (bottom ? '█' : '▀') : bottom ? '▄' : ' ';
    }
    lines.push(`${line}\x1b[0m`);
  }
  return lines;
}

/** The terminal picture of a screen: its texts, the product list, the time left, the QR. */
export function terminalPreview(screen: Screen, locale: DisplayLocale): string {
  const text = screenText(screen, locale);
  const out: string[] = [`== ${text.title} ==`];
  if (text.product) out.push(`${text.product.name} - ${text.product.price}`);
  for (const row of text.products ?? []) out.push(`  [${row.button}] ${row.name}  ${row.price}`);
  if (text.payment) {
    const width = 20;
    const filled = Math.round(width * text.payment.fractionLeft);
    out.push(...terminalQr(text.payment.qrPayload));
    out.push(`[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${text.payment.timeLeft}`);
  }
  if (text.code) out.push(...terminalQr(text.code));
  out.push(...text.lines);
  if (text.footer) out.push(`(${text.footer})`);
  return `${out.join('\n')}\n`;
}

export interface TerminalDisplayOptions {
  readonly locale: DisplayLocale;
  /** Default `process.stdout`. */
  readonly output?: NodeJS.WritableStream;
  /** Clear the terminal before each screen. Default: when the output is a TTY. */
  readonly clear?: boolean;
}

/**
 * The customer display as a terminal preview (the default mode on a laptop). Same `show`
 * semantics as the other sinks; an unchanged preview is not printed again.
 */
export class TerminalDisplay implements Display {
  readonly #output: NodeJS.WritableStream;
  readonly #locale: DisplayLocale;
  readonly #clear: boolean;
  readonly #queue: LatestScreen;
  #last: string | undefined;
  #closed = false;

  constructor(options: TerminalDisplayOptions) {
    this.#output = options.output ?? process.stdout;
    this.#locale = options.locale;
    this.#clear = options.clear ?? ('isTTY' in this.#output && this.#output.isTTY === true);
    this.#queue = new LatestScreen((screen) => this.#write(screen));
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
    const preview = terminalPreview(screen, this.#locale);
    if (preview === this.#last) return;
    this.#last = preview;
    const chunk = (this.#clear ? '\x1b[H\x1b[2J' : '') + preview;
    await new Promise<void>((resolve, reject) => {
      this.#output.write(chunk, (err) => {
        if (err)
          reject(
            new VendError('E_DISPLAY_WRITE', 'cannot write the screen to the terminal', {
              cause: err,
              retryable: true,
            }),
          );
        else resolve();
      });
    });
  }
}
