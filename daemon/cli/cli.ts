/**
 * `seqr-vend <command>`: one binary for the daemon and the operator's commands. Every command
 * resolves with its exit status and never throws; what it prints goes to the given streams.
 */
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { readResellerPassword, readTerminalPassword } from '../../config/credentials.js';
import { demoConfig } from '../../config/demo.js';
import {
  DEFAULT_CONFIG_PATH,
  EXIT_CONFIG,
  checkConfig,
  exitCodeFor,
  loadConfig,
} from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { runSafeState } from '../../hardware/dispenser/safe-state.js';
import { startApp, reconciliationGateway, type App } from '../app.js';
import { VendError, errorCodeOf } from '../errors.js';
import type { LineSink } from '../log.js';
import { ledgerPath } from '../ledger/sqlite-ledger.js';
import { systemClock } from '../ports/clock.js';
import { SeqrClient } from '../seqr/client.js';
import { SeqrPaymentGateway } from '../seqr/gateway.js';
import { packageInfo } from '../package-root.js';
import { installSignalHandlers, type SignalTarget } from '../runtime/signals.js';
import { requestControl } from '../service/control-socket.js';
import { followLogs, parsePriority, PRIORITIES } from '../service/logs.js';
import { registerTerminal } from '../service/register-terminal.js';
import { CONFIG_OPTION, parseCommandArgs, takeConfigOption, UsageError } from './args.js';
import {
  HW_TEST_USAGE,
  HwTestUsage,
  parseHwTestArgs,
  runHwTest,
  type HwTestArgs,
} from './hw-test.js';
import { runLedgerCommand } from './ledger-commands.js';

export interface CliIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  readonly env: NodeJS.ProcessEnv;
  /** The daemon's stop signals; its exit code is set there. Default `process`. */
  readonly signals?: SignalTarget;
  /** Called with the running app (tests stop it through it). */
  readonly onStarted?: (app: App) => void;
}

export const USAGE = `usage: seqr-vend [command] [--config PATH]

Without a command, runs the daemon: with --config, that configuration file; without, the demo
(built-in SEQR simulator, virtual hardware, kiosk page on http://127.0.0.1:8080/).

  run [--config PATH]              run the daemon (the default command)
  check-config [--config PATH]     validate the configuration and credentials; exit 78 if invalid
  status [--config PATH] [--json]  what the running daemon is doing (control socket)
  logs [--no-follow] [-n N] [-p PRIORITY]
                                   the daemon's journal, formatted, in local time; -p warning
                                   (journalctl's names or 0-7) shows that and more severe only
  safe-state [--config PATH]       drive every relay output to its safe level (systemd ExecStopPost)
  hw-test <buttons|relay SLOT|sensor|display|printer|seqr> [--config PATH] [--yes]
                                   test the hardware with the daemon stopped ('hw-test --help')
  register-terminal [--config PATH] [--external-id ID] [--name NAME]
                                   register this machine as a SEQR terminal, store its password
                                   (both names default to machine.name)
  sales | pending | refund | close-period | report   the ledger (see 'seqr-vend sales --help')
  gateway [--config PATH]          the SEQR callback gateway (createPurchase, notificationUrl) that
                                   relays to machines over MQTT (default /etc/seqr-vend/gateway.yaml)
  fleet [command]                  the operator's fleet broker: live table, commands, sales
                                   collector (see 'seqr-vend fleet --help')
  --version, --help

The configuration defaults to ${DEFAULT_CONFIG_PATH} for every command but run.
`;

const LEDGER_COMMANDS = new Set(['sales', 'pending', 'refund', 'close-period', 'report']);

/** Runs `argv` (without node and the script). */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const first = argv[0];
  const command = first === undefined || first.startsWith('-') ? 'run' : first;
  const rest = command === first ? argv.slice(1) : argv;
  try {
    switch (command) {
      case 'run':
        return await runDaemon(rest, io);
      case 'check-config':
        return await checkConfigCommand(rest, io);
      case 'status':
        return await statusCommand(rest, io);
      case 'logs':
        return await logsCommand(rest, io);
      case 'safe-state':
        return await safeStateCommand(rest, io);
      case 'hw-test':
        return await hwTestCommand(rest, io);
      case 'register-terminal':
        return await registerCommand(rest, io);
      case 'gateway':
        return await gatewayCommand(rest, io);
      case 'fleet': {
        // Imported only here: the daemon and the other commands never load the MQTT client.
        const { runFleetCommand } = await import('./fleet-commands.js');
        return await runFleetCommand(rest, { ...io, interrupted });
      }
      case 'help':
        io.stdout.write(USAGE);
        return 0;
      default:
        if (LEDGER_COMMANDS.has(command)) return await ledgerCommand(command, rest, io);
        io.stderr.write(`seqr-vend: unknown command "${command}"\n\n${USAGE}`);
        return 64;
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(
        `seqr-vend ${command}: ${err.message} (seqr-vend --help lists the options)\n`,
      );
      return 64;
    }
    const code = errorCodeOf(err);
    const message = err instanceof Error ? err.message : String(err);
    io.stderr.write(`seqr-vend ${command}: ${code ? `${code}: ` : ''}${message}\n`);
    return exitCodeFor(err);
  }
}

/** Resolves on the first SIGINT or SIGTERM (for the long-running fleet commands). */
function interrupted(): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
}

function options(
  argv: readonly string[],
  extra: Record<string, { type: 'string' | 'boolean'; short?: string }> = {},
) {
  return parseCommandArgs(argv, {
    ...CONFIG_OPTION,
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean' },
    ...extra,
  }).values as Record<string, string | boolean | undefined>;
}

function configPath(values: Record<string, string | boolean | undefined>): string {
  const path = values['config'];
  return typeof path === 'string' ? path : DEFAULT_CONFIG_PATH;
}

async function runDaemon(argv: readonly string[], io: CliIo): Promise<number> {
  const values = options(argv);
  if (values['help'] === true) {
    io.stdout.write(USAGE);
    return 0;
  }
  if (values['version'] === true) {
    io.stdout.write(`seqr-vend ${packageInfo().version}\n`);
    return 0;
  }
  const path = values['config'];
  const config: Config = typeof path === 'string' ? loadConfig(path, io.env) : demoConfig(io.env);
  const tty = (io.stdout as { isTTY?: boolean }).isTTY === true;
  // In a terminal (written synchronously, like the default fd 1 sink) the start-up log lines wait
  // until the kiosk's address has been printed, so it is the first line a person sees.
  const held = tty ? new HeldLines(io.stdout) : undefined;
  const starting = startApp({
    config,
    env: io.env,
    prettyLogs: tty,
    ...(held ? { logDestination: held } : {}),
  });
  // Signals are taken from the start: systemd may stop the service the moment READY=1 arrives,
  // before startApp has returned. Such a stop (and its log lines) waits for the start to finish.
  const later =
    (level: 'info' | 'warn' | 'error') =>
    (fields: object, msg: string): void => {
      void starting.then(
        (app) => {
          app.log[level](fields, msg);
        },
        () => undefined,
      );
    };
  const handlers = installSignalHandlers(
    { stop: () => starting.then((app) => app.stop()) },
    { info: later('info'), warn: later('warn'), error: later('error') },
    io.signals ?? process,
  );
  let app: App;
  try {
    app = await starting;
  } catch (err) {
    handlers.uninstall();
    throw err;
  } finally {
    if (held) {
      const kiosk = await starting.then(
        (a) => a.kiosk,
        () => undefined,
      );
      if (kiosk) io.stdout.write(`Virtual kiosk: ${kiosk.url}  (Ctrl-C stops)\n\n`);
      held.release();
    }
  }
  io.onStarted?.(app);
  await handlers.stopped;
  handlers.uninstall();
  return Number(io.signals?.exitCode ?? process.exitCode ?? 0);
}

async function gatewayCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const values = options(argv);
  if (values['help'] === true) {
    io.stdout.write(USAGE);
    return 0;
  }
  const { DEFAULT_GATEWAY_CONFIG_PATH, loadGatewayConfig } = await import('../gateway/config.js');
  const { runGateway } = await import('../gateway/run.js');
  const path = values['config'];
  const config = loadGatewayConfig(typeof path === 'string' ? path : DEFAULT_GATEWAY_CONFIG_PATH);
  const gateway = await runGateway({
    config,
    env: io.env,
    logDestination: io.stdout,
    prettyLogs: (io.stdout as { isTTY?: boolean }).isTTY === true,
  });
  const handlers = installSignalHandlers(
    { stop: () => gateway.stop() },
    gateway.log,
    io.signals ?? process,
  );
  await handlers.stopped;
  handlers.uninstall();
  return Number(io.signals?.exitCode ?? process.exitCode ?? 0);
}

/** A log sink that keeps lines until {@link release}, then passes them through. */
class HeldLines implements LineSink {
  readonly #sink: LineSink;
  #held: string[] | undefined = [];

  constructor(sink: LineSink) {
    this.#sink = sink;
  }

  write(chunk: string): void {
    if (this.#held) this.#held.push(chunk);
    else this.#sink.write(chunk);
  }

  release(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const line of held) this.#sink.write(line);
  }
}

async function checkConfigCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const path = configPath(options(argv));
  const result = await checkConfig(path, io.env);
  (result.ok ? io.stdout : io.stderr).write(`${result.lines.join('\n')}\n`);
  return result.ok ? 0 : EXIT_CONFIG;
}

async function statusCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const values = options(argv, { json: { type: 'boolean' } });
  const path = values['config'];
  const config = typeof path === 'string' ? loadConfig(path, io.env) : demoConfigOr(io.env);
  const status = await requestControl(config.control.socketPath, 'status');
  if (values['json'] === true) {
    io.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
    return 0;
  }
  io.stdout.write(formatStatus(status));
  return 0;
}

/** The production config if it exists, else the demo's (a laptop running `npm start`). */
function demoConfigOr(env: NodeJS.ProcessEnv): Config {
  // A broken production config is reported, never silently replaced by the demo's.
  return existsSync(DEFAULT_CONFIG_PATH) ? loadConfig(DEFAULT_CONFIG_PATH, env) : demoConfig(env);
}

/** `status` as aligned `key: value` lines. */
export function formatStatus(status: unknown): string {
  const lines: string[] = [];
  const walk = (value: unknown, prefix: string): void => {
    if (value !== null && typeof value === 'object')
      for (const [k, v] of Object.entries(value)) walk(v, prefix ? `${prefix}.${k}` : k);
    else {
      const text =
        typeof value === 'string'
          ? value
          : value === null || value === undefined
            ? '-'
            : JSON.stringify(value);
      lines.push(`${prefix.padEnd(22)} ${text}`);
    }
  };
  walk(status, '');
  return `${lines.join('\n')}\n`;
}

async function logsCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    'no-follow': { type: 'boolean' },
    lines: { type: 'string', short: 'n' },
    priority: { type: 'string', short: 'p' },
  });
  const lines = values.lines === undefined ? undefined : Number(values.lines);
  if (lines !== undefined && (!Number.isInteger(lines) || lines < 0))
    throw new UsageError(`-n must be a whole number, got "${values.lines ?? ''}"`);
  const priority = values.priority === undefined ? undefined : parsePriority(values.priority);
  if (values.priority !== undefined && priority === undefined)
    throw new UsageError(
      `-p takes a priority (${PRIORITIES.join(', ')}), its number 0-7 or a range FROM..TO, ` +
        `got "${values.priority}"`,
    );
  return followLogs({
    follow: values['no-follow'] !== true,
    ...(lines === undefined ? {} : { lines }),
    ...(priority === undefined ? {} : { priority }),
    colour: (io.stdout as { isTTY?: boolean }).isTTY === true,
    out: io.stdout,
    env: io.env,
  });
}

async function safeStateCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const config = loadConfig(configPath(options(argv)), io.env);
  if (config.mode === 'demo' || config.gpio.backend === 'fake') {
    io.stdout.write('safe-state: virtual hardware, nothing to drive\n');
    return 0;
  }
  const levels = new Set(config.products.map((p) => p.relayActiveLevel));
  let failed = 0;
  for (const level of levels) {
    const outcomes = await runSafeState({
      gpio: {
        backend: config.gpio.backend,
        ...(config.gpio.sysfsBase === undefined ? {} : { sysfsBase: config.gpio.sysfsBase }),
        ...(config.gpio.chip === undefined ? {} : { chip: config.gpio.chip }),
      },
      relayPins: config.products.filter((p) => p.relayActiveLevel === level).map((p) => p.relayPin),
      relayActiveLevel: level === 'high' ? 1 : 0,
    });
    for (const o of outcomes) {
      if (o.ok) io.stdout.write(`GPIO${String(o.pin)}: safe\n`);
      else {
        failed += 1;
        const why = o.error instanceof Error ? o.error.message : String(o.error);
        io.stderr.write(`GPIO${String(o.pin)}: FAILED (${why})\n`);
      }
    }
  }
  return failed === 0 ? 0 : 1;
}

async function hwTestCommand(argv: readonly string[], io: CliIo): Promise<number> {
  let args: HwTestArgs;
  try {
    args = parseHwTestArgs(argv);
  } catch (err) {
    if (!(err instanceof HwTestUsage) && !isParseArgsError(err)) throw err;
    io.stderr.write(`seqr-vend hw-test: ${err.message}\n\n${HW_TEST_USAGE}`);
    return 64;
  }
  if (args.help) {
    io.stdout.write(HW_TEST_USAGE);
    return 0;
  }
  const config = loadConfig(args.configPath ?? DEFAULT_CONFIG_PATH, io.env);
  // Ctrl-C ends `buttons` and `sensor`; the adapters then release their lines.
  const stop = new AbortController();
  const signals = io.signals ?? process;
  const onSignal = (): void => {
    stop.abort();
  };
  signals.on('SIGINT', onSignal);
  signals.on('SIGTERM', onSignal);
  const rl = process.stdin.isTTY
    ? createInterface({ input: process.stdin, output: process.stderr })
    : undefined;
  try {
    return await runHwTest(args, {
      config,
      env: io.env,
      stdout: io.stdout,
      stderr: io.stderr,
      stop: stop.signal,
      confirm: async (question) => {
        if (!rl) {
          io.stderr.write(`${question}\nno terminal to answer: add --yes\n`);
          return false;
        }
        return /^y(es)?$/i.test((await rl.question(question)).trim());
      },
    });
  } finally {
    rl?.close();
    signals.off('SIGINT', onSignal);
    signals.off('SIGTERM', onSignal);
  }
}

function isParseArgsError(err: unknown): err is Error {
  return err instanceof TypeError && (err as { code?: unknown }).code !== undefined;
}

async function registerCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const values = options(argv, {
    'external-id': { type: 'string' },
    name: { type: 'string' },
  });
  const path = configPath(values);
  const config = loadConfig(path, io.env);
  // The machine name is both the merchant's id of this till and the name on the buyer's phone
  // unless the operator says otherwise.
  const given = (key: string): string | undefined => {
    const value = values[key];
    return typeof value === 'string' ? value : undefined;
  };
  const externalId = given('external-id') ?? config.machine.name;
  const name = given('name') ?? config.machine.name;
  if (config.seqr.endpoint === undefined || config.seqr.reseller === undefined)
    throw new VendError(
      'E_CONFIG_INVALID',
      `${path}: register-terminal needs seqr.endpoint and seqr.reseller`,
    );
  const password = await readResellerPassword(config, io.env);
  const client = await SeqrClient.create({
    endpoint: config.seqr.endpoint,
    reseller: { ...config.seqr.reseller, password },
    deadlines: config.seqr.deadlines,
  });
  try {
    const done = await registerTerminal({
      register: (terminal) => client.registerTerminal(terminal),
      credentialsDirectory: config.credentialsDirectory,
      externalTerminalId: externalId,
      name,
      configPath: path,
    });
    io.stdout.write(
      `registered: terminal id ${done.terminalId}\npassword stored in ${done.credentialFile}\n` +
        (done.configUpdated
          ? `seqr.terminalId written to ${path}\n`
          : `set seqr.terminalId: ${done.terminalId} in ${path}\n`),
    );
    return 0;
  } finally {
    client.close();
  }
}

async function ledgerCommand(command: string, argv: readonly string[], io: CliIo): Promise<number> {
  // --config is ours; everything else goes to the ledger command.
  const { config: path, rest } = takeConfigOption(argv);
  const config = path === undefined ? demoConfigOr(io.env) : loadConfig(path, io.env);
  const needsSeqr = command === 'refund' || command === 'close-period' || command === 'report';
  let client: SeqrClient | undefined;
  if (needsSeqr && config.seqr.endpoint !== undefined && config.seqr.terminalId !== undefined) {
    const terminal = {
      id: config.seqr.terminalId,
      password: await readTerminalPassword(config, io.env),
    };
    const reseller =
      config.seqr.reseller === undefined
        ? undefined
        : {
            ...config.seqr.reseller,
            password: await readResellerPassword(config, io.env),
          };
    client = await SeqrClient.create({
      endpoint: config.seqr.endpoint,
      terminal,
      ...(reseller ? { reseller } : {}),
      deadlines: config.seqr.deadlines,
    });
  }
  const rl =
    process.stdin.isTTY && command === 'refund'
      ? createInterface({ input: process.stdin, output: process.stderr })
      : undefined;
  try {
    return await runLedgerCommand([command, ...rest], {
      ledgerPath: ledgerPath(config.stateDirectory),
      stdout: io.stdout,
      stderr: io.stderr,
      clock: systemClock,
      cashierId: config.machine.name,
      ...(rl ? { prompt: (q: string) => rl.question(q) } : {}),
      ...(client
        ? {
            gateway: new SeqrPaymentGateway(client),
            reconciliation: reconciliationGateway(client),
          }
        : {}),
      ...(config.seqr.terminalId === undefined ? {} : { terminalId: config.seqr.terminalId }),
    });
  } finally {
    rl?.close();
    client?.close();
  }
}
