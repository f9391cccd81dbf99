/**
 * `seqr-vend fleet ...`: the operator's side of the fleet broker. A live table of every machine,
 * commands sent as MQTT 5 requests (each answer printed), and `collect`, the idempotent SQLite
 * consumer of the sales streams. Connection options come from flags or the environment.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { VendError } from '../errors.js';
import { toDecimalString } from '../ports/money.js';
import { Collector, SalesStore } from '../fleet/collector.js';
import type { Reply } from '../fleet/codec.js';
import { FleetOperator, type BrokerAccess, type MachineRow } from '../fleet/operator.js';
import { TOPIC_LEVEL } from '../fleet/topics.js';
import { parseCommandArgs, UsageError } from './args.js';
import { table } from './ledger-commands.js';

export const FLEET_USAGE = `usage: seqr-vend fleet [command] [connection options]

  (no command) [--once]                      live table of every machine (--once: print and exit)
  set-price <machine> <slot> <price>         e.g. set-price kiosk-7 2 "19.50"
  set-product <machine> <slot> [--price P] [--name N] [--enabled true|false]
  refill <machine> <slot> <stock>            the slot now holds <stock> items
  maintenance <machine> on|off               out-of-service screen for servicing
  refund <machine> <txId> [--amount 12.50]   refund a flagged purchase
  end-of-day <machine>                       close the SEQR period now and compare
  status <machine>                           the machine's full status
  collect --db FILE [--client-id ID] [--idle-exit-ms MS]
                                             store every sale event once; prints totals
  collect --db FILE --totals                 print the stored totals and exit

Connection: --broker URL (or SEQR_VEND_FLEET_URL; default mqtt://127.0.0.1:1883),
  --username U (SEQR_VEND_FLEET_USERNAME), --password-file F (SEQR_VEND_FLEET_PASSWORD_FILE),
  --ca F, --cert F --key F, --prefix P (default seqr-vend), --timeout-ms MS (default 10000), --json
`;

export interface FleetIo {
  readonly stdout: { write(text: string): unknown; isTTY?: boolean };
  readonly stderr: { write(text: string): unknown };
  readonly env: NodeJS.ProcessEnv;
  /** Waits until the operator asks to stop (Ctrl-C); for the live `fleet` and `collect`. */
  readonly interrupted?: () => Promise<void>;
}

const CONNECTION = {
  broker: { type: 'string' },
  username: { type: 'string' },
  'password-file': { type: 'string' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  prefix: { type: 'string' },
  'timeout-ms': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = Record<string, string | boolean | undefined>;

function readFile(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new VendError('E_CONFIG_INVALID', `${what} ${file} cannot be read`, { cause: err });
  }
}

function access(values: Values, env: NodeJS.ProcessEnv): BrokerAccess {
  const str = (key: string, envName?: string): string | undefined => {
    const v = values[key];
    return typeof v === 'string' ? v : envName === undefined ? undefined : env[envName];
  };
  const passwordFile = str('password-file', 'SEQR_VEND_FLEET_PASSWORD_FILE');
  const username = str('username', 'SEQR_VEND_FLEET_USERNAME');
  const ca = str('ca');
  const cert = str('cert');
  const key = str('key');
  return {
    url: str('broker', 'SEQR_VEND_FLEET_URL') ?? 'mqtt://127.0.0.1:1883',
    prefix: str('prefix') ?? 'seqr-vend',
    ...(username === undefined ? {} : { username }),
    ...(passwordFile === undefined
      ? {}
      : { password: readFile(passwordFile, '--password-file').toString('utf8').trimEnd() }),
    ...(ca === undefined ? {} : { ca: readFile(ca, '--ca') }),
    ...(cert === undefined ? {} : { cert: readFile(cert, '--cert') }),
    ...(key === undefined ? {} : { key: readFile(key, '--key') }),
  };
}

function machineArg(value: string | undefined): string {
  if (value === undefined || !TOPIC_LEVEL.test(value))
    throw new UsageError(`not a machine id: "${value ?? ''}"`);
  return value;
}

function intArg(value: string | undefined, what: string): number {
  const n = Number(value);
  if (value === undefined || !Number.isInteger(n))
    throw new UsageError(`${what}: not a whole number: "${value ?? ''}"`);
  return n;
}

/** Runs `seqr-vend fleet <argv>`; resolves with the exit status. */
export async function runFleetCommand(argv: readonly string[], io: FleetIo): Promise<number> {
  const first = argv[0];
  const command = first === undefined || first.startsWith('-') ? 'table' : first;
  const rest = command === 'table' ? argv : argv.slice(1);
  try {
    const { values, positionals } = parseCommandArgs(
      rest,
      {
        ...CONNECTION,
        once: { type: 'boolean' },
        amount: { type: 'string' },
        price: { type: 'string' },
        name: { type: 'string' },
        enabled: { type: 'string' },
        db: { type: 'string' },
        'client-id': { type: 'string' },
        'idle-exit-ms': { type: 'string' },
        totals: { type: 'boolean' },
      },
      true,
    );
    if (values.help === true) {
      io.stdout.write(FLEET_USAGE);
      return 0;
    }
    if (command === 'table') return await liveTable(values, io);
    if (command === 'collect') return await collect(values, io);
    const request = commandRequest(command, positionals, values);
    const timeoutMs =
      values['timeout-ms'] === undefined ? 10_000 : intArg(values['timeout-ms'], '--timeout-ms');
    const broker = access(values, io.env);
    const op = await FleetOperator.connect(broker, broker.username ?? 'operator');
    try {
      const reply = await op.request(request.machine, request.name, request.body, timeoutMs);
      printReply(reply, values.json === true, io);
      return reply.status === 'ok' ? 0 : 1;
    } finally {
      await op.close();
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`seqr-vend fleet: ${err.message}\n\n${FLEET_USAGE}`);
      return 64;
    }
    const code = err instanceof VendError ? `${err.code}: ` : '';
    io.stderr.write(
      `seqr-vend fleet: ${code}${err instanceof Error ? err.message : String(err)}\n`,
    );
    return 1;
  }
}

function commandRequest(
  command: string,
  args: readonly string[],
  values: Values,
): { machine: string; name: string; body: unknown } {
  const [m, a, b] = args;
  const machine = machineArg(m);
  const none = (n: number): void => {
    if (args.length !== n)
      throw new UsageError(`${command}: expected ${n - 1} argument(s) after the machine`);
  };
  switch (command) {
    case 'set-price':
      none(3);
      return { machine, name: 'set-product', body: { slot: intArg(a, 'slot'), price: b } };
    case 'set-product': {
      none(2);
      const enabled = values['enabled'];
      if (enabled !== undefined && enabled !== 'true' && enabled !== 'false')
        throw new UsageError('--enabled: true or false');
      return {
        machine,
        name: 'set-product',
        body: {
          slot: intArg(a, 'slot'),
          ...(typeof values['price'] === 'string' ? { price: values['price'] } : {}),
          ...(typeof values['name'] === 'string' ? { name: values['name'] } : {}),
          ...(enabled === undefined ? {} : { enabled: enabled === 'true' }),
        },
      };
    }
    case 'refill':
      none(3);
      return {
        machine,
        name: 'refill',
        body: { slot: intArg(a, 'slot'), stock: intArg(b, 'stock') },
      };
    case 'maintenance':
      none(2);
      if (a !== 'on' && a !== 'off') throw new UsageError('maintenance: on or off');
      return { machine, name: 'maintenance', body: { on: a === 'on' } };
    case 'refund':
      none(2);
      return {
        machine,
        name: 'refund',
        body: {
          txId: a,
          ...(typeof values['amount'] === 'string' ? { amount: values['amount'] } : {}),
        },
      };
    case 'end-of-day':
      none(1);
      return { machine, name: 'end-of-day', body: {} };
    case 'status':
      none(1);
      return { machine, name: 'status', body: {} };
    default:
      throw new UsageError(`unknown fleet command "${command}"`);
  }
}

function printReply(reply: Reply, json: boolean, io: FleetIo): void {
  if (json) {
    (reply.status === 'ok' ? io.stdout : io.stderr).write(`${JSON.stringify(reply, null, 2)}\n`);
    return;
  }
  if (reply.status === 'ok') io.stdout.write(`ok\n${JSON.stringify(reply.data, null, 2)}\n`);
  else io.stderr.write(`${reply.code}: ${reply.error}\n`);
}

const money = (minor: number, currency: string): string =>
  `${toDecimalString({ minor, currency })} ${currency}`;

/** The live table's rows. */
export function fleetTable(rows: readonly MachineRow[]): string {
  return table(
    ['machine', 'online', 'state', 'sales today', 'amount today', 'pending', 'alerts'],
    rows.map((r) => {
      const s = r.state ?? {};
      const today = (s['today'] ?? {}) as {
        sales?: number;
        totalMinor?: number;
        currency?: string;
      };
      return [
        r.machineId,
        r.online === null ? '?' : r.online ? 'yes' : 'NO',
        typeof s['state'] === 'string' ? s['state'] : '-',
        String(today.sales ?? '-'),
        today.totalMinor === undefined ? '-' : money(today.totalMinor, today.currency ?? ''),
        typeof s['pending'] === 'number' ? String(s['pending']) : '-',
        r.alerts.length === 0 ? '-' : r.alerts.join(','),
      ];
    }),
  );
}

async function liveTable(values: Values, io: FleetIo): Promise<number> {
  const broker = access(values, io.env);
  const op = await FleetOperator.connect(broker, broker.username ?? 'operator');
  try {
    if (values['once'] === true || !io.interrupted) {
      await op.watch(() => undefined);
      // Retained messages arrive right after the subscription.
      await new Promise((r) => setTimeout(r, 1_500));
      io.stdout.write(
        values['json'] === true ? `${JSON.stringify(op.rows(), null, 2)}\n` : fleetTable(op.rows()),
      );
      return 0;
    }
    let timer: NodeJS.Timeout | undefined;
    const draw = (): void => {
      timer ??= setTimeout(() => {
        timer = undefined;
        const clear = io.stdout.isTTY === true ? '\u001b[2J\u001b[H' : '';
        io.stdout.write(
          `${clear}${fleetTable(op.rows())}\n${new Date().toISOString()}  (Ctrl-C stops)\n`,
        );
      }, 300);
    };
    await op.watch(draw);
    draw();
    await io.interrupted();
    if (timer) clearTimeout(timer);
    return 0;
  } finally {
    await op.close();
  }
}

function printTotals(store: SalesStore, io: FleetIo, json: boolean): void {
  const totals = store.totals();
  const summary = {
    events: store.count(),
    duplicates: store.counter('duplicates'),
    rejected: store.counter('rejected'),
  };
  if (json) {
    io.stdout.write(`${JSON.stringify({ ...summary, totals }, null, 2)}\n`);
    return;
  }
  io.stdout.write(
    table(
      ['machine', 'slot', 'sold', 'sold total', 'refunded', 'refunded total', 'flagged'],
      totals.map((t) => [
        t.machine,
        String(t.slot),
        String(t.sold),
        money(t.soldMinor, t.currency),
        String(t.refunded),
        money(t.refundedMinor, t.currency),
        String(t.flagged),
      ]),
    ),
  );
  io.stdout.write(
    `${summary.events} events stored, ${summary.duplicates} duplicates ignored, ${summary.rejected} rejected\n`,
  );
}

async function collect(values: Values, io: FleetIo): Promise<number> {
  const db = values['db'];
  if (typeof db !== 'string') throw new UsageError('collect: --db FILE is required');
  const store = SalesStore.open(db);
  try {
    if (values['totals'] === true) {
      printTotals(store, io, values['json'] === true);
      return 0;
    }
    const idleArg = values['idle-exit-ms'];
    const idle = typeof idleArg === 'string' ? intArg(idleArg, '--idle-exit-ms') : undefined;
    const clientId =
      typeof values['client-id'] === 'string'
        ? values['client-id']
        : `seqr-vend-collector-${os.hostname()}`.slice(0, 64);
    let last = Date.now();
    let stored = 0;
    const collector = Collector.start({
      access: access(values, io.env),
      clientId,
      store,
      onEvent: (_sale, outcome) => {
        last = Date.now();
        if (outcome === 'stored') stored++;
      },
      onError: (err) => {
        io.stderr.write(`seqr-vend fleet collect: ${err.message}\n`);
      },
    });
    try {
      const stop: Promise<void>[] = [];
      if (io.interrupted) stop.push(io.interrupted());
      if (idle !== undefined)
        stop.push(
          new Promise((resolve) => {
            const check = setInterval(
              () => {
                if (Date.now() - last >= idle) {
                  clearInterval(check);
                  resolve();
                }
              },
              Math.min(idle, 200),
            );
          }),
        );
      if (stop.length > 0) await Promise.race(stop);
    } finally {
      await collector.stop();
    }
    io.stderr.write(`${stored} new events this run\n`);
    printTotals(store, io, values['json'] === true);
    return 0;
  } finally {
    store.close();
  }
}
