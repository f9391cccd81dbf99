/**
 * The customer display: the configured sink (framebuffer, PNG file, terminal), mirrored on the
 * virtual kiosk's page when the kiosk is enabled on virtual hardware. A PNG sink without a file
 * writes nowhere, so with the kiosk (the demo's default) the page alone shows the screens.
 */
import type { Config } from '../../config/schema.js';
import { createDisplay, formatMoney } from '../../hardware/display/index.js';
import { TeeDisplay } from '../../hardware/display/tee-display.js';
import type { SeqrSimulator } from '../../simulator/types.js';
import type { Kiosk } from '../kiosk/index.js';
import type { Logger, SecretSet } from '../log.js';
import type { Clock } from '../ports/clock.js';
import type { Display } from '../ports/display.js';
import { configuredUpsCode } from './core-config.js';
import type { VirtualHardware } from './hardware.js';
import type { LineFeed } from './log-feed.js';
import type { StopOrder } from './stop-order.js';

export interface DisplayDeps {
  readonly clock: Clock;
  readonly log: Logger;
  readonly stopOrder: StopOrder;
  /** The sysfs graphics class directory for the framebuffer sink. */
  readonly sysfsRoot: string | undefined;
  /** Present when the hardware is virtual: the kiosk drives it. */
  readonly virtual: VirtualHardware | undefined;
  /** The in-process SEQR simulator, whose customer app the kiosk plays. */
  readonly simulator: SeqrSimulator | undefined;
  /** The journal lines the kiosk page shows. */
  readonly logLines: LineFeed;
  /** The log's secrets: the kiosk token joins them. */
  readonly secrets: SecretSet;
}

export interface OpenedDisplay {
  readonly display: Display;
  /** The virtual kiosk web page, when `kiosk.enabled` on virtual hardware. */
  readonly kiosk: Kiosk | undefined;
  /** The token remote browsers need, with `kiosk.allowRemote`. */
  readonly kioskToken?: string;
}

/**
 * Opens the display. The kiosk's server is registered with the stop order; the display itself is
 * the caller's to close (the runtime owns it once started).
 */
export async function openDisplay(config: Config, deps: DisplayDeps): Promise<OpenedDisplay> {
  const { clock, log, stopOrder, virtual, simulator, logLines } = deps;
  const configured = (): Display =>
    createDisplay(config.display, config.locale, {
      clock,
      ...(deps.sysfsRoot === undefined ? {} : { sysfsRoot: deps.sysfsRoot }),
      onStatus: (status) => {
        log.info({ display: status }, 'display status');
      },
    });
  if (virtual && config.kiosk.enabled) {
    // Imported only here: a machine without the kiosk never loads it.
    const { startKiosk } = await import('../kiosk/index.js');
    let token: string | undefined;
    if (config.kiosk.allowRemote) {
      const { kioskToken } = await import('../kiosk/access.js');
      token = await kioskToken(config.stateDirectory);
      deps.secrets.add(token);
    }
    const demo = config.mode === 'demo';
    const upsCodeShown = configuredUpsCode(config);
    const turned = config.display.rotation === 90 || config.display.rotation === 270;
    const w = config.display.width ?? 800;
    const h = config.display.height ?? 480;
    const kioskOn = (port: number): Promise<Kiosk> =>
      startKiosk({
        host: config.kiosk.host,
        ...(token === undefined ? {} : { token }),
        port,
        locale: config.locale,
        ...(upsCodeShown === undefined ? {} : { upsCode: upsCodeShown }),
        display: {
          width: turned ? h : w,
          height: turned ? w : h,
          rotation: config.display.rotation,
        },
        products: config.products.map((p) => ({
          slot: p.slot,
          name: p.name,
          price: formatMoney({ minor: p.priceMinor, currency: config.currency }, config.locale),
        })),
        buttons: virtual.buttons,
        dispenser: virtual.dispenser,
        printer: virtual.printer,
        ...(simulator ? { simulator: simulator.control } : {}),
        logLines,
        clock,
      });
    const kiosk = await kioskOn(config.kiosk.port).catch((err: unknown) => {
      // `npm start` on a laptop whose port 8080 is taken still opens, on a free port.
      const cause =
        err instanceof Error ? (err.cause as NodeJS.ErrnoException | undefined) : undefined;
      if (!demo || cause?.code !== 'EADDRINUSE' || config.kiosk.port === 0) throw err;
      log.warn({ port: config.kiosk.port }, 'kiosk port in use: taking a free one');
      return kioskOn(0);
    });
    stopOrder.add(() => kiosk.close());
    log.info({ url: kiosk.url }, 'virtual kiosk listening');
    const writesNowhere = config.display.sink === 'png' && config.display.pngPath === undefined;
    const withToken = token === undefined ? {} : { kioskToken: token };
    if (writesNowhere) return { display: kiosk.display, kiosk, ...withToken };
    return { display: new TeeDisplay([configured(), kiosk.display]), kiosk, ...withToken };
  }
  return { display: configured(), kiosk: undefined };
}
