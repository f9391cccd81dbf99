/**
 * The composition root: the only place that picks concrete adapters, and the one place that owns
 * the start and stop order. From a validated configuration it opens SEQR, the ledger, the hardware
 * and the display (daemon/app/), settles what a crash left open, starts the vending runtime, the
 * background workers and the service interfaces, and tells systemd it is ready. Stop closes the
 * same parts in reverse.
 */
import { mkdirSync } from 'node:fs';
import pino from 'pino';
import { applyOverlay, readOverlay } from '../config/overlay.js';
import type { Config } from '../config/schema.js';
import type { SeqrSimulator } from '../simulator/types.js';
import { coreConfig } from './app/core-config.js';
import { openDisplay } from './app/display.js';
import { catalogView, serveGateway, startFleetLink, stockSinceRefills } from './app/fleet.js';
import { openHardware, recordRelaysIfAsked, type VirtualHardware } from './app/hardware.js';
import { LineFeed } from './app/log-feed.js';
import { openSeqr } from './app/seqr.js';
import { startService } from './app/service.js';
import { statusReader, type StatusSnapshot } from './app/status.js';
import { reportStartFailure } from './app/start-failure.js';
import { StopOrder } from './app/stop-order.js';
import { startWorkers } from './app/workers.js';
import type { FleetAgent } from './fleet/agent.js';
import { Catalog } from './fleet/catalog.js';
import type { Kiosk } from './kiosk/index.js';
import { SqliteLedger, ledgerPath } from './ledger/sqlite-ledger.js';
import { SecretSet, createLogger, type LineSink, type Logger } from './log.js';
import { systemClock, type Clock } from './ports/clock.js';
import { createRuntime, type Runtime } from './runtime/runtime.js';
import { createNotifier, type Notifier } from './service/sd-notify.js';
import { errorCodeOf } from './errors.js';

export { coreConfig } from './app/core-config.js';
export { openHardware, type Hardware, type VirtualHardware } from './app/hardware.js';
export { reconciliationGateway } from './app/seqr.js';
export { statusLine, type StatusSnapshot } from './app/status.js';

export interface AppOptions {
  /** A validated configuration: `demoConfig(env)` or `loadConfig(path, env)`. */
  readonly config: Config;
  /** Default `process.env` (credentials directory, systemd's NOTIFY_SOCKET and watchdog). */
  readonly env?: NodeJS.ProcessEnv;
  /** Default the system clock; tests and benchmarks may pass a ManualClock. */
  readonly clock?: Clock;
  /** Where log lines go. Default fd 1, written synchronously. */
  readonly logDestination?: LineSink;
  /** The sysfs graphics class directory for the framebuffer sink. Default `/sys/class/graphics`. */
  readonly sysfsRoot?: string;
  /** Human-readable log lines (a terminal) instead of JSON; ignored under journald. Default false. */
  readonly prettyLogs?: boolean;
  /** systemd notifications. Default {@link createNotifier} on the environment. */
  readonly notifier?: Notifier;
}

export interface App {
  readonly config: Config;
  readonly runtime: Runtime;
  readonly log: Logger;
  readonly ledger: SqliteLedger;
  /** The in-process SEQR simulator (demo mode without `seqr.endpoint`). */
  readonly simulator?: SeqrSimulator;
  /** Demo mode's virtual hardware. */
  readonly virtual?: VirtualHardware;
  /** The virtual kiosk web page, when `kiosk.enabled`. */
  readonly kiosk?: Kiosk;
  /** The fleet agent, when `fleet` is configured. */
  readonly fleet?: FleetAgent;
  /** The daemon's status, as `seqr-vend status` shows it. */
  status(): Promise<StatusSnapshot>;
  /**
   * Orderly stop: no new input, a running dispense finishes, outputs safe, workers stopped, ledger
   * closed, then SEQR, kiosk and simulator. Idempotent; rejects with the first close that failed.
   */
  stop(): Promise<void>;
}

/**
 * Starts the daemon. Resolves once it is READY: configuration read, ledger open, hardware and
 * display up, start-up recovery planned by the core (which resolves what a crash left open before
 * the first sale, also while SEQR is out of reach), the runtime taking buttons, READY=1 sent.
 * Rejects (after closing whatever it opened) when any of that fails: a daemon that cannot keep
 * its record or reach its hardware must not trade.
 */
export async function startApp(options: AppOptions): Promise<App> {
  // Remote changes (fleet commands) stored in the state directory apply over the file.
  const overlay = readOverlay(options.config.stateDirectory);
  const { config } = applyOverlay(options.config, overlay);
  const env = options.env ?? process.env;
  const clock = options.clock ?? systemClock;
  const startedAt = clock.now();
  const secrets = new SecretSet();
  const logLines = new LineFeed(
    options.logDestination ?? pino.destination({ dest: 1, sync: true }),
  );
  const log = createLogger({
    level: config.log.level,
    destination: logLines,
    secrets,
    env,
    pretty: options.prettyLogs ?? false,
  });
  const notifier = options.notifier ?? createNotifier({ env, log });
  // Each part is registered as soon as it is open; stop (or a failed start) closes in reverse.
  const stopOrder = new StopOrder(log);

  try {
    const seqr = await openSeqr(config, { env, clock, log, secrets, stopOrder });

    // The ledger before anything can move: no trading without a record.
    mkdirSync(config.stateDirectory, { recursive: true, mode: 0o750 });
    const ledger = SqliteLedger.open({ path: ledgerPath(config.stateDirectory) });
    let ledgerClosed = false;
    stopOrder.add(async () => {
      if (!ledgerClosed) await ledger.close();
    });

    const hardware = await openHardware(stockSinceRefills(config, overlay, ledger), { clock, log });
    const { virtual, buttons, dispenser, printer } = hardware;
    const tracked = await recordRelaysIfAsked(config, hardware, ledger, stopOrder);
    // Until the runtime starts, the adapters are closed here; from then on runtime.stop() does.
    let runtimeOwnsAdapters = false;
    stopOrder.add(async () => {
      if (!runtimeOwnsAdapters) await hardware.close();
    });

    const { display, kiosk, kioskToken } = await openDisplay(config, {
      clock,
      log,
      stopOrder,
      sysfsRoot: options.sysfsRoot,
      virtual,
      simulator: seqr.simulator,
      logLines,
      secrets,
    });
    stopOrder.add(async () => {
      if (!runtimeOwnsAdapters) await display.close();
    });

    // Demo mode with UPS: the simulated SEQR calls a gateway in this process.
    const local =
      seqr.simulator && config.ups && config.fleet === undefined
        ? await (
            await import('./app/local-gateway.js')
          ).startLocalGateway({ simulator: seqr.simulator, log, stopOrder })
        : undefined;

    // Whatever a crash or power cut left open is the core's start-up recovery (its `starting`
    // phase), settled with SEQR before the first customer; failed refunds are its retries.
    const runtime = createRuntime({
      gateway: seqr.gateway,
      buttons,
      dispenser,
      display,
      printer,
      ledger: tracked,
      clock,
      log,
      config: coreConfig(config, seqr.terminal.id, overlay.maintenance, local),
    });
    if (local) serveGateway(local.relay, runtime);
    runtimeOwnsAdapters = true;
    stopOrder.add(() =>
      runtime.stop().finally(() => {
        ledgerClosed = true;
      }),
    );
    await runtime.start();

    startWorkers(config, ledger, stopOrder, { clock, log, seqr });

    const catalog = new Catalog(config);
    // The status reads the fleet link once it is started, below.
    const fleetLink: { agent?: FleetAgent } = {};
    const status = statusReader({
      config,
      clock,
      startedAt,
      runtime,
      ledger,
      printer,
      health: seqr.health,
      endpoint: seqr.endpoint,
      catalog: () => catalogView(catalog, (slot) => dispenser.stock(slot)),
      fleet: () => fleetLink.agent?.status(),
      ...(kiosk ? { kiosk: { url: kiosk.url, ...(kioskToken ? { token: kioskToken } : {}) } } : {}),
    });
    const fleet = await startFleetLink(config, {
      env,
      clock,
      log,
      secrets,
      stopOrder,
      seqr,
      ledger,
      runtime,
      dispenser,
      catalog,
      status,
      startedAt,
    });
    if (fleet) fleetLink.agent = fleet;
    const service = await startService(config, { clock, notifier, runtime, status, stopOrder });
    const statusText = await service.ready();
    // sinceProcessStartMs is what systemd waits for (Node's start and the imports included);
    // startMs counts from startApp only.
    log.info(
      {
        sinceProcessStartMs: Math.round(process.uptime() * 1000),
        startMs: clock.now() - startedAt,
        mode: config.mode,
        status: statusText,
      },
      'ready',
    );
    // Deferred until now unless a start-up recovery call already needed it (SeqrClient.deferred).
    seqr.client.prepare().catch((err: unknown) => {
      log.error({ err, code: errorCodeOf(err) }, 'the SEQR client cannot be built');
    });

    let stopped: Promise<void> | undefined;
    return {
      config,
      runtime,
      log,
      ledger,
      ...(seqr.simulator ? { simulator: seqr.simulator } : {}),
      ...(virtual ? { virtual } : {}),
      ...(kiosk ? { kiosk } : {}),
      ...(fleet ? { fleet } : {}),
      status,
      stop() {
        stopped ??= (async () => {
          await service.stopping();
          log.info({}, 'stopping');
          await stopOrder.closeAll();
          log.info({}, 'stopped');
        })();
        return stopped;
      },
    };
  } catch (err) {
    const reported = reportStartFailure(err, log);
    await stopOrder.closeAll().catch(() => undefined);
    throw reported;
  }
}
