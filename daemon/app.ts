/**
 * The composition root: the only place that picks concrete adapters. From a validated
 * configuration it opens the ledger, SEQR, the hardware and the display, settles what a crash left
 * open, starts the vending runtime and the background workers, and tells systemd it is ready.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';
import { readResellerPassword, readTerminalPassword } from '../config/credentials.js';
import type { Config } from '../config/schema.js';
import { openGpioButtons } from '../hardware/buttons/gpio-buttons.js';
import { FakeButtons } from '../hardware/buttons/fake-buttons.js';
import { FakeDispenser, type RelayEdge } from '../hardware/dispenser/fake-dispenser.js';
import { openGpioDispenser } from '../hardware/dispenser/gpio-dispenser.js';
import { createDisplay, formatMoney } from '../hardware/display/index.js';
import { openGpio } from '../hardware/gpio/open-gpio.js';
import type { Level } from '../hardware/gpio/gpio.js';
import { EscPosPrinter } from '../hardware/printer/escpos-printer.js';
import { RECEIPT_LABELS } from '../hardware/printer/receipt-encoder.js';
import { FakePrinter } from '../hardware/printer/fake-printer.js';
import { NoPrinter } from '../hardware/printer/no-printer.js';
import { startSimulator } from '../simulator/index.js';
import type { SeqrSimulator } from '../simulator/types.js';
import type { CoreConfig } from './core/config.js';
import { DEFAULT_TIMINGS } from './core/config.js';
import type { State } from './core/types.js';
import { VendError, errorCodeOf } from './errors.js';
import { startKiosk, type Kiosk } from './kiosk/index.js';
import { EndOfDayScheduler, type ReconciliationGateway } from './ledger/end-of-day.js';
import { recover } from './ledger/recovery.js';
import { RefundWorker, viewOf } from './ledger/refunds.js';
import { SqliteLedger, ledgerPath } from './ledger/sqlite-ledger.js';
import { SecretSet, createLogger, type LineSink, type Logger } from './log.js';
import type { Buttons } from './ports/buttons.js';
import { systemClock, type Clock } from './ports/clock.js';
import type { Dispenser } from './ports/dispenser.js';
import type { Display } from './ports/display.js';
import type { Ledger } from './ports/ledger.js';
import type { PaymentGateway } from './ports/payment-gateway.js';
import type { Printer } from './ports/printer.js';
import { createRuntime, type Runtime } from './runtime/runtime.js';
import { SeqrResultError } from './seqr/call-errors.js';
import { SeqrClient, type SeqrResellerCredentials } from './seqr/client.js';
import { SeqrPaymentGateway } from './seqr/gateway.js';
import { startControlServer, type ControlServer } from './service/control-socket.js';
import { createNotifier, type Notifier } from './service/sd-notify.js';

/** The simulator's terminal password, used in demo mode when no credential file exists. */
const SIMULATOR_DEFAULT_PASSWORD = '12345678';

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

/** The virtual hardware of demo mode, which the kiosk page and tests drive. */
export interface VirtualHardware {
  readonly buttons: FakeButtons;
  readonly dispenser: FakeDispenser;
  readonly printer: FakePrinter;
}

/** What `seqr-vend status` shows, through the control socket. */
export interface StatusSnapshot {
  readonly mode: Config['mode'];
  readonly machine: string;
  readonly state: string;
  readonly status: string;
  readonly transaction?: {
    readonly txId: string;
    readonly slot: number;
    readonly product: string;
    readonly invoiceReference?: string;
  };
  readonly seqr: {
    readonly endpoint: string;
    readonly reachable: boolean | null;
    readonly lastCallAt: string | null;
    readonly lastRoundTripMs: number | null;
    readonly lastError: string | null;
  };
  readonly printer: string;
  readonly today: {
    readonly sales: number;
    readonly totalMinor: number;
    readonly currency: string;
  };
  readonly pending: number;
  readonly uptimeS: number;
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
  /** The daemon's status, as `seqr-vend status` shows it. */
  status(): Promise<StatusSnapshot>;
  /**
   * Orderly stop: no new input, a running dispense finishes, outputs safe, workers stopped, ledger
   * closed, then SEQR, kiosk and simulator. Idempotent; rejects with the first close that failed.
   */
  stop(): Promise<void>;
}

/**
 * Starts the daemon. Resolves once it is READY: configuration read, ledger open, start-up
 * recovery done, hardware and display up, the runtime taking buttons, READY=1 sent. Rejects (after
 * closing whatever it opened) when any of that fails: a daemon that cannot keep its record or
 * reach its hardware must not trade.
 */
export async function startApp(options: AppOptions): Promise<App> {
  const { config } = options;
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
  const demo = config.mode === 'demo';
  const closers: (() => Promise<void> | void)[] = [];
  const closeAll = async (): Promise<void> => {
    const failures: unknown[] = [];
    for (const close of closers.reverse()) {
      try {
        await close();
      } catch (err) {
        failures.push(err);
        log.error({ err }, 'closing failed');
      }
    }
    closers.length = 0;
    if (failures.length > 0)
      throw failures[0] instanceof Error
        ? failures[0]
        : new VendError('E_UNEXPECTED', 'closing failed', { cause: failures[0] });
  };

  try {
    // SEQR: the in-process simulator in demo mode unless an endpoint is configured.
    let simulator: SeqrSimulator | undefined;
    let endpoint = config.seqr.endpoint;
    let terminal: { id: string; password: string };
    let reseller: SeqrResellerCredentials | undefined;
    if (demo && endpoint === undefined) {
      simulator = await startSimulator({ host: '127.0.0.1', port: 0, clock });
      const sim = simulator;
      closers.push(() => sim.close());
      endpoint = sim.soapUrl;
      terminal = { ...sim.terminal };
      reseller = { ...sim.reseller };
    } else {
      if (endpoint === undefined || config.seqr.terminalId === undefined)
        throw new VendError(
          'E_CONFIG_INVALID',
          'seqr.endpoint and seqr.terminalId are required (in demo mode, terminalId whenever endpoint is set)',
        );
      const password = await readTerminalPassword(config, env).catch((err: unknown) => {
        if (demo) return SIMULATOR_DEFAULT_PASSWORD;
        throw err;
      });
      terminal = { id: config.seqr.terminalId, password };
      if (config.seqr.reseller)
        reseller = await readResellerPassword(config, env).then(
          (password) => ({ ...config.seqr.reseller, password }) as SeqrResellerCredentials,
          (err: unknown) => {
            log.warn(
              { code: errorCodeOf(err) },
              'no reseller password: end-of-day reports are off',
            );
            return undefined;
          },
        );
    }
    secrets.add(terminal.password);
    if (reseller) secrets.add(reseller.password);

    const client = await SeqrClient.create({
      endpoint,
      terminal,
      ...(reseller ? { reseller } : {}),
      deadlineMs: config.seqr.deadlineMs,
      ...(config.seqr.caFile ? { ca: await readCa(config.seqr.caFile) } : {}),
    });
    closers.push(() => {
      client.close();
    });
    const health = new SeqrHealth(clock);
    const gateway = health.watch(new SeqrPaymentGateway(client, { clock }));

    // The ledger before anything can move: no trading without a record.
    mkdirSync(config.stateDirectory, { recursive: true, mode: 0o750 });
    const ledger = SqliteLedger.open({ path: ledgerPath(config.stateDirectory) });
    let ledgerClosed = false;
    closers.push(async () => {
      if (!ledgerClosed) await ledger.close();
    });
    const tracked = new DispenseTracker(ledger);

    // Hardware.
    let virtual: VirtualHardware | undefined;
    let buttons: Buttons;
    let dispenser: Dispenser;
    let printer: Printer;
    if (demo || config.gpio.backend === 'fake') {
      const slots = config.products.map((p) => p.slot);
      const stock = Object.fromEntries(
        config.products.flatMap((p) => (p.stock === undefined ? [] : [[p.slot, p.stock]])),
      );
      // The demo machine has a drop sensor, so the kiosk can show a product that does not drop.
      const dropWindowMs =
        config.products.find((p) => p.dropSensor)?.dropSensor?.windowMs ??
        (demo ? 1_500 : undefined);
      virtual = {
        buttons: new FakeButtons({ clock, slots, stuckMs: config.buttons.stuckMs }),
        dispenser: new FakeDispenser({
          clock,
          slots,
          stock,
          pulseMs: config.products[0]?.pulseMs ?? 300,
          ...(dropWindowMs === undefined ? {} : { dropWindowMs }),
        }),
        printer: new FakePrinter({ clock, keepReceipts: 100 }),
      };
      ({ buttons, dispenser, printer } = virtual);
      if (config.virtual.recordFile)
        closers.push(recordRelays(virtual.dispenser, config.virtual.recordFile, tracked));
    } else {
      const gpio = await openGpio(
        {
          backend: config.gpio.backend,
          ...(config.gpio.sysfsBase === undefined ? {} : { sysfsBase: config.gpio.sysfsBase }),
          ...(config.gpio.chip === undefined ? {} : { chip: config.gpio.chip }),
        },
        {
          clock,
          onError: (err) => {
            log.error({ code: err.code, err }, 'GPIO failure');
          },
        },
      );
      const level = (l: 'high' | 'low'): Level => (l === 'high' ? 1 : 0);
      const bias = ({ up: 'pull-up', down: 'pull-down', none: 'disable' } as const)[
        config.buttons.pull
      ];
      const b = config.buttons;
      buttons = await openGpioButtons({
        gpio,
        clock,
        debounceMs: b.debounceMs,
        stuckMs: b.stuckMs,
        buttons: [
          ...config.products.map((p) => ({
            button: { kind: 'product', slot: p.slot } as const,
            pin: p.buttonPin,
            activeLevel: level(b.activeLevel),
            bias,
          })),
          { button: { kind: 'cancel' }, pin: b.cancelPin, activeLevel: level(b.activeLevel), bias },
        ],
      });
      const drop = config.products.find((p) => p.dropSensor)?.dropSensor;
      dispenser = await openGpioDispenser({
        gpio,
        clock,
        relayActiveLevel: level(config.products[0]?.relayActiveLevel ?? 'high'),
        slots: config.products.map((p) => ({
          slot: p.slot,
          relayPin: p.relayPin,
          pulseMs: p.pulseMs,
          ...(p.stock === undefined ? {} : { stock: p.stock }),
          ...(p.soldOutPin === undefined
            ? {}
            : { soldOut: { pin: p.soldOutPin, activeLevel: level(p.soldOutActiveLevel) } }),
        })),
        ...(drop
          ? {
              dropSensor: {
                pin: drop.pin,
                activeLevel: level(drop.activeLevel),
                windowMs: drop.windowMs,
              },
            }
          : {}),
      });
      const p = config.printer;
      printer =
        p.type === 'none'
          ? new NoPrinter()
          : new EscPosPrinter({
              clock,
              device: p.type === 'usb' ? p.path : `tcp://${p.host}:${String(p.port)}`,
              deadlineMs: p.jobDeadlineMs,
              layout: { paperMm: p.width, qrMode: p.qr, labels: RECEIPT_LABELS[config.locale] },
            });
    }

    let runtimeOwnsAdapters = false;
    const adapters = [buttons, dispenser, printer];
    closers.push(async () => {
      if (!runtimeOwnsAdapters) for (const adapter of adapters) await adapter.close();
    });

    // The display: the kiosk page in demo mode, else the configured sink.
    let kiosk: Kiosk | undefined;
    let display: Display;
    if (virtual && config.kiosk.enabled) {
      const turned = config.display.rotation === 90 || config.display.rotation === 270;
      const w = config.display.width ?? 800;
      const h = config.display.height ?? 480;
      const kioskOn = (port: number): Promise<Kiosk> =>
        startKiosk({
          host: config.kiosk.host,
          port,
          locale: config.locale,
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
      kiosk = await kioskOn(config.kiosk.port).catch((err: unknown) => {
        // `npm start` on a laptop whose port 8080 is taken still opens, on a free port.
        const cause =
          err instanceof Error ? (err.cause as NodeJS.ErrnoException | undefined) : undefined;
        if (!demo || cause?.code !== 'EADDRINUSE' || config.kiosk.port === 0) throw err;
        log.warn({ port: config.kiosk.port }, 'kiosk port in use: taking a free one');
        return kioskOn(0);
      });
      const k = kiosk;
      closers.push(() => k.close());
      display = kiosk.display;
      log.info({ url: kiosk.url }, 'virtual kiosk listening');
    } else {
      display = createDisplay(config.display, config.locale, {
        clock,
        ...(options.sysfsRoot === undefined ? {} : { sysfsRoot: options.sysfsRoot }),
        onStatus: (status) => {
          log.info({ display: status }, 'display status');
        },
      });
    }
    const shown = display;
    closers.push(async () => {
      if (!runtimeOwnsAdapters) await shown.close();
    });

    // Whatever a crash or power cut left open, settled with SEQR before the first customer.
    const summary = await recover({
      ledger: tracked,
      gateway,
      dispenser,
      clock,
      logger: log.child({ component: 'recovery' }),
      cashierId: config.machine.name,
      maxCustomerAgeMs: config.recovery.maxCustomerAgeMs,
      pollIntervalMs: config.timeouts.pollIntervalMs,
    });
    log.info({ recovery: summary }, 'start-up recovery done');

    const runtime = createRuntime({
      gateway,
      buttons,
      dispenser,
      display,
      printer,
      // Failed refunds belong to the RefundWorker; the core resolves what recovery left open.
      ledger: withoutFailedRefunds(tracked),
      clock,
      log,
      config: coreConfig(config, terminal.id),
    });
    // From here runtime.stop() closes the adapters and the ledger.
    runtimeOwnsAdapters = true;
    closers.push(() =>
      runtime.stop().finally(() => {
        ledgerClosed = true;
      }),
    );
    await runtime.start();

    const opsLog = log.child({ component: 'refunds' });
    const refunds = new RefundWorker({
      ledger,
      gateway,
      clock,
      logger: opsLog,
      cashierId: config.machine.name,
    });
    refunds.start();
    closers.push(() => refunds.stop());
    if (config.endOfDay !== undefined) {
      if (reseller === undefined)
        log.warn({}, 'endOfDay is set but no reseller credential: end-of-day reports are off');
      else {
        const eod = new EndOfDayScheduler({
          at: config.endOfDay,
          ledger,
          reconciliation: reconciliationGateway(client),
          clock,
          logger: log.child({ component: 'endOfDay' }),
          terminalId: terminal.id,
        });
        const due = eod.start();
        log.info({ next: new Date(due).toISOString() }, 'end of day scheduled');
        closers.push(async () => {
          eod.stop();
          await eod.running;
        });
      }
    }

    const status = async (): Promise<StatusSnapshot> => {
      const state = runtime.state();
      const tx = transactionOf(state);
      const dayStart = new Date(clock.now());
      dayStart.setHours(0, 0, 0, 0);
      const today = ledger.paidBetween(dayStart.getTime() - 1, clock.now());
      const printerState = await printer
        .state()
        .catch((err: unknown) => errorCodeOf(err) ?? 'E_UNEXPECTED');
      return {
        mode: config.mode,
        machine: config.machine.name,
        state: state.kind,
        status: statusLine(state),
        ...(tx ? { transaction: tx } : {}),
        seqr: health.snapshot(endpoint),
        printer: printerState,
        today: { sales: today.count, totalMinor: today.totalMinor, currency: config.currency },
        pending: (await ledger.openTransactions()).size,
        uptimeS: Math.round((clock.now() - startedAt) / 1000),
      };
    };

    mkdirSync(path.dirname(config.control.socketPath), { recursive: true });
    const control: ControlServer = await startControlServer({
      path: config.control.socketPath,
      status,
    });
    closers.push(() => control.close());

    let lastStatus = '';
    const unsubscribe = runtime.onTransition(({ to }) => {
      const line = statusLine(to);
      if (line === lastStatus) return;
      lastStatus = line;
      void notifier.status(line);
    });
    closers.push(unsubscribe);
    let stopping = false;
    closers.push(notifier.startWatchdog(() => !stopping, clock));
    lastStatus = statusLine(runtime.state());
    await notifier.ready(lastStatus);
    log.info({ startMs: clock.now() - startedAt, mode: config.mode, status: lastStatus }, 'ready');

    let stopped: Promise<void> | undefined;
    const app: App = {
      config,
      runtime,
      log,
      ledger,
      ...(simulator ? { simulator } : {}),
      ...(virtual ? { virtual } : {}),
      ...(kiosk ? { kiosk } : {}),
      status,
      stop() {
        stopped ??= (async () => {
          stopping = true;
          await notifier.stopping('stopping');
          log.info({}, 'stopping');
          await closeAll();
          log.info({}, 'stopped');
        })();
        return stopped;
      },
    };
    return app;
  } catch (err) {
    log.fatal({ code: errorCodeOf(err), err }, 'start-up failed');
    await closeAll().catch(() => undefined);
    throw err;
  }
}

/** The core's view of the configuration. */
export function coreConfig(config: Config, terminalId: string): CoreConfig {
  const t = config.timeouts;
  return {
    ...DEFAULT_TIMINGS,
    products: config.products.map((p) => ({
      slot: p.slot,
      buttonLabel: String(p.slot),
      name: p.name,
      price: { minor: p.priceMinor, currency: config.currency },
      taxRatePercent: config.merchant.vatBasisPoints / 100,
    })),
    machineName: config.machine.name,
    merchant: {
      name: config.merchant.name,
      ...(config.merchant.address === '' ? {} : { address: config.merchant.address.split('\n') }),
      terminalId,
    },
    paymentWindowMs: t.paymentWindowMs,
    stillPayingWindowMs: t.stillPayingWindowMs,
    pollIntervalMs: t.pollIntervalMs,
    thankYouMs: t.thankYouMs,
    messageMs: t.outcomeMs,
    dispenseDeadlineMs: Math.max(t.dispenseTimeoutMs, maxDispenseMs(config) + 1_000),
    outOfServiceBackoffMaxMs: t.outOfServiceRetryMs,
    outOfServiceBackoffMinMs: Math.min(
      DEFAULT_TIMINGS.outOfServiceBackoffMinMs,
      t.outOfServiceRetryMs,
    ),
  };
}

/** The longest a dispense can take: its pulse, or the drop window when one is longer. */
function maxDispenseMs(config: Config): number {
  return Math.max(...config.products.map((p) => Math.max(p.pulseMs, p.dropSensor?.windowMs ?? 0)));
}

/** The open transaction of a state, for `status`. */
function transactionOf(state: State): StatusSnapshot['transaction'] {
  if (!('purchase' in state)) return undefined;
  const { purchase } = state;
  return {
    txId: purchase.txId,
    slot: purchase.product.slot,
    product: purchase.product.name,
    ...('invoice' in state ? { invoiceReference: state.invoice.reference } : {}),
  };
}

const OUT_OF_SERVICE: Readonly<Record<string, string>> = {
  seqrUnreachable: 'SEQR unreachable',
  seqrCredentials: 'SEQR refused the terminal credentials',
  hardwareFault: 'hardware fault',
  starting: 'starting',
};

/** The STATUS= line `systemctl status` shows. */
export function statusLine(state: State): string {
  switch (state.kind) {
    case 'starting':
      return 'starting: recovering open transactions';
    case 'idle':
    case 'notice':
      return 'idle';
    case 'invoicing':
      return `issuing invoice for slot ${String(state.purchase.product.slot)}`;
    case 'awaitingPayment':
      return `awaiting payment ${state.invoice.reference}`;
    case 'cancelling':
      return `cancelling ${state.invoice.reference}`;
    case 'dispensing':
      return `dispensing slot ${String(state.purchase.product.slot)} for ${state.invoice.reference}`;
    case 'refunding':
      return `refunding ${state.invoice.reference}`;
    case 'finishing':
      return `finishing ${state.invoice.reference}`;
    case 'outOfService':
      return `out of service: ${OUT_OF_SERVICE[state.reason] ?? state.reason}`;
  }
}

/** SEQR reachability and the last round-trip time, for `status`. */
class SeqrHealth {
  readonly #clock: Clock;
  #reachable: boolean | null = null;
  #lastAt: number | null = null;
  #lastMs: number | null = null;
  #lastError: string | null = null;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** The gateway, with every call's outcome and duration noted. */
  watch(gateway: PaymentGateway): PaymentGateway {
    const timed =
      <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
      async (...args: A): Promise<R> => {
        const start = this.#clock.now();
        try {
          const result = await call(...args);
          this.#note(start, true, null);
          return result;
        } catch (err) {
          // A resultCode is an answer: SEQR was reached.
          this.#note(start, err instanceof SeqrResultError, errorCodeOf(err) ?? 'E_UNEXPECTED');
          throw err;
        }
      };
    return {
      issueInvoice: timed(gateway.issueInvoice.bind(gateway)),
      getStatus: timed(gateway.getStatus.bind(gateway)),
      cancelInvoice: timed(gateway.cancelInvoice.bind(gateway)),
      submitReceipt: timed(gateway.submitReceipt.bind(gateway)),
      refund: timed(gateway.refund.bind(gateway)),
    };
  }

  snapshot(endpoint: string): StatusSnapshot['seqr'] {
    return {
      endpoint,
      reachable: this.#reachable,
      lastCallAt: this.#lastAt === null ? null : new Date(this.#lastAt).toISOString(),
      lastRoundTripMs: this.#lastMs,
      lastError: this.#lastError,
    };
  }

  #note(start: number, reached: boolean, error: string | null): void {
    this.#reachable = reached;
    this.#lastAt = start;
    this.#lastMs = this.#clock.now() - start;
    this.#lastError = error;
  }
}

/**
 * The ledger, noting which transaction's dispense was started last, so that a relay recording can
 * name the transaction and invoice a pulse belongs to.
 */
class DispenseTracker implements Ledger {
  readonly #ledger: SqliteLedger;
  #txId: string | undefined;

  constructor(ledger: SqliteLedger) {
    this.#ledger = ledger;
  }

  record: Ledger['record'] = async (entry, at) => {
    await this.#ledger.record(entry, at);
    if (entry.type === 'dispense.started') this.#txId = entry.txId;
  };

  openTransactions: Ledger['openTransactions'] = () => this.#ledger.openTransactions();
  close: Ledger['close'] = () => this.#ledger.close();

  /** The transaction of the dispense started last, with its invoice reference. */
  current(): { txId: string; invoiceReference: string | null } | undefined {
    if (this.#txId === undefined) return undefined;
    return {
      txId: this.#txId,
      invoiceReference: this.#ledger.transaction(this.#txId)?.invoiceReference ?? null,
    };
  }
}

/** The ledger as the runtime sees it: open transactions whose refund failed are left out. */
function withoutFailedRefunds(ledger: Ledger): Ledger {
  return {
    record: (entry, at) => ledger.record(entry, at),
    close: () => ledger.close(),
    openTransactions: async () =>
      new Map(
        [...(await ledger.openTransactions())].filter(([, e]) => viewOf(e)?.refund !== 'failed'),
      ),
  };
}

/**
 * Appends every relay edge of the virtual dispenser to `file` as a JSON line, synced to disk
 * before the pulse goes on: the crash-torture harness compares it with SEQR's records.
 * Returns the closer.
 */
function recordRelays(
  dispenser: FakeDispenser,
  file: string,
  tracker: DispenseTracker,
): () => void {
  mkdirSync(path.dirname(file), { recursive: true });
  const fd = openSync(file, 'a');
  const off = dispenser.onRelay((edge: RelayEdge) => {
    const line = JSON.stringify({ ...edge, ...(tracker.current() ?? {}) });
    writeSync(fd, `${line}\n`);
    fsyncSync(fd);
  });
  return () => {
    off();
    closeSync(fd);
  };
}

/** The reconciliation calls of the SOAP client, for the end-of-day worker. */
export function reconciliationGateway(client: SeqrClient): ReconciliationGateway {
  return {
    async markPeriod(terminalId) {
      const { transactionPeriodId } = await client.markTransactionPeriod({
        TERMINALID: terminalId,
      });
      return transactionPeriodId;
    },
    async executeReport(periodId, reportId, terminalId) {
      try {
        const report = await client.executeReport({
          reportId,
          parameters: { transactionPeriodId: periodId, TERMINALID: terminalId },
        });
        const content =
          report.contentString ??
          (report.content === undefined
            ? ''
            : Buffer.from(report.content, 'base64').toString('utf8'));
        return {
          kind: 'ready',
          report: {
            content,
            ...(report.title === undefined ? {} : { title: report.title }),
            ...(report.mimeType === undefined ? {} : { mimeType: report.mimeType }),
          },
        };
      } catch (err) {
        if (err instanceof SeqrResultError && err.resultCode === 2) return { kind: 'notReady' };
        throw err;
      }
    },
  };
}

async function readCa(file: string): Promise<Buffer> {
  return readFile(file).catch((err: unknown) => {
    throw new VendError('E_CONFIG_INVALID', `seqr.caFile ${file} cannot be read`, { cause: err });
  });
}

/** A log sink that also feeds the kiosk page's journal view. */
class LineFeed implements LineSink {
  readonly #sink: LineSink;
  readonly #listeners = new Set<(line: string) => void>();

  constructor(sink: LineSink) {
    this.#sink = sink;
  }

  write(chunk: string): void {
    this.#sink.write(chunk);
    for (const listener of this.#listeners) listener(chunk);
  }

  subscribe(listener: (line: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
