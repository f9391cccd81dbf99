import type { Display, Screen } from '../../daemon/ports/display.js';
import type { Clock } from '../../daemon/ports/clock.js';
import { FramebufferDisplay, type DisplayStatus } from './framebuffer-display.js';
import type { Rotation } from './framebuffer-format.js';
import { PngDisplay } from './png-display.js';
import type { DisplayLocale } from './screen-text.js';
import { TerminalDisplay } from './terminal-display.js';

export { FramebufferDisplay, type DisplayStatus } from './framebuffer-display.js';
export { PngDisplay } from './png-display.js';
export { TerminalDisplay, terminalPreview } from './terminal-display.js';
export { screenText, formatMoney, type DisplayLocale } from './screen-text.js';

/** The `display` section of the configuration (config/schema.ts), structurally. */
export interface DisplaySettings {
  readonly sink: 'framebuffer' | 'png' | 'terminal';
  readonly device: string;
  readonly pngPath?: string | undefined;
  readonly width?: number | undefined;
  readonly height?: number | undefined;
  readonly bitsPerPixel?: 16 | 32 | undefined;
  readonly stride?: number | undefined;
  readonly rotation: Rotation;
}

export interface DisplayDeps {
  /** Timers: framebuffer retries, the transient-screen hold. Default: the system clock. */
  readonly clock?: Clock;
  /** Framebuffer failures and recovery, for the journal. */
  readonly onStatus?: (status: DisplayStatus) => void;
  /** Every PNG picture (png sink), for the virtual kiosk. */
  readonly onFrame?: (png: Buffer, screen: Screen) => void;
  /** Terminal sink output. Default `process.stdout`. */
  readonly output?: NodeJS.WritableStream;
  /** sysfs class directory. Default `/sys/class/graphics`. */
  readonly sysfsRoot?: string;
}

/** Builds the configured display sink. Nothing is opened until the first `show`. */
export function createDisplay(
  settings: DisplaySettings,
  locale: DisplayLocale,
  deps: DisplayDeps = {},
): Display {
  switch (settings.sink) {
    case 'framebuffer': {
      const geometry = Object.fromEntries(
        Object.entries({
          width: settings.width,
          height: settings.height,
          bitsPerPixel: settings.bitsPerPixel,
          stride: settings.stride,
        }).filter(([, v]) => v !== undefined),
      );
      return new FramebufferDisplay({
        locale,
        device: settings.device,
        geometry,
        rotation: settings.rotation,
        ...(deps.sysfsRoot === undefined ? {} : { sysfsRoot: deps.sysfsRoot }),
        ...(deps.clock === undefined ? {} : { clock: deps.clock }),
        ...(deps.onStatus === undefined ? {} : { onStatus: deps.onStatus }),
      });
    }
    case 'png': {
      const turned = settings.rotation === 90 || settings.rotation === 270;
      const w = settings.width ?? 800;
      const h = settings.height ?? 480;
      return new PngDisplay({
        locale,
        width: turned ? h : w,
        height: turned ? w : h,
        ...(settings.pngPath === undefined ? {} : { path: settings.pngPath }),
        ...(deps.onFrame === undefined ? {} : { onFrame: deps.onFrame }),
        ...(deps.clock === undefined ? {} : { clock: deps.clock }),
      });
    }
    case 'terminal':
      return new TerminalDisplay({
        locale,
        ...(deps.output === undefined ? {} : { output: deps.output }),
      });
  }
}
