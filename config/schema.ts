/**
 * The configuration schema: the single source of the TypeScript type, the defaults and the
 * validation of `/etc/seqr-vend/config.yaml`. `config/config.schema.json` is generated from it
 * (`npm run config:schema`) for operators' editors; `config/load.ts` reads a file through it.
 *
 * Conventions: durations end in `Ms`, GPIO pins are BCM numbers (GPIO17 = 17), money is written as
 * a quoted decimal string (`"25.00"`) and becomes integer minor units (`priceMinor: 2500`), never a
 * float. Secrets never appear here: the terminal password is a systemd credential (see
 * `config/credentials.ts`).
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { parseDecimal } from '../daemon/ports/money.js';

/** Defaults that depend on the environment the daemon runs in (systemd sets both directories). */
export interface EnvironmentDefaults {
  /** Where the ledger lives: `$STATE_DIRECTORY` under systemd, else `/var/lib/seqr-vend`. */
  readonly stateDirectory: string;
  /** The control socket: `$RUNTIME_DIRECTORY/control.sock` under systemd, else `/run/seqr-vend/...`. */
  readonly controlSocket: string;
}

export const STATIC_DEFAULTS: EnvironmentDefaults = {
  stateDirectory: '/var/lib/seqr-vend',
  controlSocket: '/run/seqr-vend/control.sock',
};

/** The environment-dependent defaults for `env` (systemd's `STATE_DIRECTORY`, `RUNTIME_DIRECTORY`). */
export function environmentDefaults(env: NodeJS.ProcessEnv): EnvironmentDefaults {
  // systemd passes a colon-separated list when several directories are configured.
  const first = (value: string | undefined): string | undefined =>
    value?.split(':')[0]?.trim() || undefined;
  const state = first(env['STATE_DIRECTORY']);
  const runtime = first(env['RUNTIME_DIRECTORY']);
  return {
    stateDirectory: state ?? STATIC_DEFAULTS.stateDirectory,
    controlSocket: runtime ? `${runtime}/control.sock` : STATIC_DEFAULTS.controlSocket,
  };
}

/** A BCM GPIO number on the 40-pin header. */
const pin = z.int().min(0).max(27).describe('BCM GPIO number (GPIO17 = 17), 0..27');
const activeLevel = z.enum(['high', 'low']);
const ms = (min: number, max: number) => z.int().min(min).max(max);

/**
 * Characters that do not belong in text shown on the display, printed on a receipt or sent to
 * SEQR: control characters (an ESC would reach the printer as a command), format characters
 * (bidirectional overrides reorder what the operator reads), surrogates, private use, line and
 * paragraph separators.
 */
const NOT_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Zl}\p{Zp}]/u;
const PRINTABLE_MESSAGE = 'must be printable text (no control or format characters)';

/** Whether `text` holds only printable characters (see {@link NOT_PRINTABLE}). */
export function isPrintable(text: string): boolean {
  return !NOT_PRINTABLE.test(text);
}

/** One line of printable text, trimmed, 1..`max` characters. */
const printable = (max: number) =>
  z.string().trim().min(1).max(max).refine(isPrintable, PRINTABLE_MESSAGE);

const absolutePath = z
  .string()
  .max(4_096)
  .regex(/^\//, 'must be an absolute path')
  .refine(isPrintable, PRINTABLE_MESSAGE);

/** A host name or an IP address (IPv6 without brackets). */
const hostText = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9._:-]+$/, 'must be a host name or an IP address');

/** A quoted decimal amount (`"25.00"`) -> the same text, validated; minor units are added later. */
const decimalText = z
  .string()
  .max(40)
  .refine(
    (text) => parseDecimal(text) !== undefined,
    'is not a decimal amount (write e.g. "25.00")',
  );

/** The highest price a slot may have, in minor units (keeps every sum an exact integer). */
export const MAX_PRICE_MINOR = 100_000_000;
/** The highest VAT rate accepted, in percent: no country levies more than 27 %. */
export const MAX_VAT_PERCENT = 50;

/** One product as written, before the price becomes minor units (the fleet overlay reuses it). */
export const productObject = z.strictObject({
  slot: z.int().min(1).max(99).describe('Slot number shown on the machine, 1..99'),
  name: printable(40).describe('Shown on the display and printed on the receipt'),
  price: decimalText
    .refine(
      (text) => (parseDecimal(text) ?? 0) <= MAX_PRICE_MINOR,
      `is above the highest price ${String(MAX_PRICE_MINOR / 100)}.00`,
    )
    .describe('Price as a quoted decimal string, e.g. "25.00"'),
  buttonPin: pin,
  relayPin: pin,
  pulseMs: ms(20, 5_000).default(300).describe('How long the relay is energised per vend'),
  relayActiveLevel: activeLevel.default('high'),
  dropSensor: z
    .strictObject({
      pin,
      activeLevel: activeLevel.default('low'),
      windowMs: ms(100, 30_000)
        .default(2_000)
        .describe('How long after the pulse starts a drop must be seen'),
    })
    .optional(),
  stock: z.int().min(0).max(9_999).optional().describe('Items loaded; counts down per vend'),
  soldOutPin: pin.optional().describe('An input that is active while the slot is empty'),
  soldOutActiveLevel: activeLevel.default('low'),
  enabled: z
    .boolean()
    .default(true)
    .describe('false: not sold (shown unavailable, button ignored)'),
});

export const productSchema = productObject.transform((p) => ({
  ...p,
  priceMinor: parseDecimal(p.price) ?? 0,
}));

const buttonsSchema = z.strictObject({
  cancelPin: pin,
  debounceMs: ms(1, 500).default(30),
  activeLevel: activeLevel.default('low'),
  pull: z.enum(['up', 'down', 'none']).default('up'),
  stuckMs: ms(1_000, 600_000)
    .default(10_000)
    .describe('A button held longer than this is reported stuck and ignored'),
});

const gpioSchema = z.strictObject({
  backend: z.enum(['sysfs', 'rpio', 'gpiod', 'fake']).default('sysfs'),
  sysfsLabel: printable(64)
    .optional()
    .describe('gpiochip label to map BCM numbers through (default: the Pi header chip found)'),
  sysfsBase: z
    .int()
    .min(0)
    .max(65_535)
    .optional()
    .describe('sysfs number of BCM 0; overrides the label'),
  chip: printable(128).optional().describe('gpiod chip name, path or label'),
});

const displaySchema = z.strictObject({
  sink: z.enum(['framebuffer', 'png', 'terminal']).default('framebuffer'),
  device: absolutePath.default('/dev/fb0'),
  pngPath: absolutePath.optional().describe('Where the png sink writes each screen'),
  width: z.int().min(64).max(8_192).optional(),
  height: z.int().min(64).max(8_192).optional(),
  bitsPerPixel: z.literal([16, 32]).optional(),
  stride: z.int().min(1).max(65_536).optional().describe('Bytes per framebuffer line'),
  rotation: z.literal([0, 90, 180, 270]).default(0),
});

const printerCommon = {
  width: z.literal([58, 80]).default(58).describe('Paper width in mm'),
  qr: z.enum(['native', 'raster']).default('raster'),
  jobDeadlineMs: ms(1_000, 60_000).default(10_000),
};

const printerSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('none') }),
  z.strictObject({
    type: z.literal('usb'),
    path: absolutePath.default('/dev/seqr-printer'),
    ...printerCommon,
  }),
  z.strictObject({
    type: z.literal('tcp'),
    host: hostText,
    port: z.int().min(1).max(65_535).default(9_100),
    ...printerCommon,
  }),
]);

const timeoutsSchema = z.strictObject({
  paymentWindowMs: ms(5_000, 300_000)
    .default(30_000)
    .describe('How long the pay screen shows the QR code before it asks "still paying?"'),
  stillPayingWindowMs: ms(0, 300_000)
    .default(30_000)
    .describe(
      'How long "still paying?" (QR still shown; a product button gives a new payment window) stays before the invoice is cancelled. Every unpaid invoice gets it: SEQR does not tell the machine whether the QR was scanned',
    ),
  pollIntervalMs: ms(200, 5_000).default(1_000),
  thankYouMs: ms(500, 60_000).default(5_000),
  outcomeMs: ms(500, 60_000).default(5_000).describe('How long a cancel/failure message shows'),
  outOfServiceRetryMs: ms(1_000, 600_000).default(15_000),
  dispenseTimeoutMs: ms(1_000, 60_000).default(10_000),
});

/** SEQR reverses a payment that no status poll has seen within this time (API.md §9.3). */
export const SEQR_REVERSAL_MS = 20_000;
/**
 * Status polls that must fit into SEQR's reversal window while an invoice may be paid, even if
 * every one of them hangs until its deadline and the next waits a whole poll interval.
 */
export const POLLS_PER_REVERSAL_WINDOW = 4;

/**
 * The SEQR calls with a deadline of their own (`seqr.deadlines`) and its default in ms. The
 * status poll's keeps {@link POLLS_PER_REVERSAL_WINDOW} hung polls inside the reversal window at
 * the default 1 s poll interval; the customer-facing calls (invoice, cancel) stay short; receipts,
 * refunds and the end-of-day calls have time.
 */
export const SEQR_DEADLINE_DEFAULTS = {
  sendInvoice: 5_000,
  getPaymentStatus: 3_000,
  cancelInvoice: 5_000,
  submitPaymentReceipt: 10_000,
  refundPayment: 10_000,
  markTransactionPeriod: 15_000,
  executeReport: 30_000,
  registerTerminal: 15_000,
} as const satisfies Record<string, number>;
export type SeqrDeadlineKey = keyof typeof SEQR_DEADLINE_DEFAULTS;
const DEADLINE_KEYS = Object.keys(SEQR_DEADLINE_DEFAULTS) as SeqrDeadlineKey[];

/**
 * The longest status-poll deadline that keeps {@link POLLS_PER_REVERSAL_WINDOW} polls inside
 * SEQR's reversal window when each hangs until its deadline and is followed by a poll interval:
 * `POLLS × (deadline + pollInterval) <= SEQR_REVERSAL_MS`.
 */
export function maxPollDeadlineMs(pollIntervalMs: number): number {
  return Math.floor(SEQR_REVERSAL_MS / POLLS_PER_REVERSAL_WINDOW) - pollIntervalMs;
}

/**
 * Each call's deadline: its own `seqr.deadlines` entry; else `seqr.deadlineMs` (the one deadline
 * of configurations written before per-call deadlines, kept so they still load); else the
 * default. The status poll never gets a longer deadline from `seqr.deadlineMs` than its default:
 * that key predates the reversal-window rule.
 */
export function resolveSeqrDeadlines(
  own: Readonly<Partial<Record<SeqrDeadlineKey, number | undefined>>>,
  fallbackMs: number | undefined,
): Record<SeqrDeadlineKey, number> {
  const resolved = {} as Record<SeqrDeadlineKey, number>;
  for (const key of DEADLINE_KEYS) {
    const preset = SEQR_DEADLINE_DEFAULTS[key];
    const fallback =
      fallbackMs === undefined
        ? preset
        : key === 'getPaymentStatus'
          ? Math.min(preset, fallbackMs)
          : fallbackMs;
    resolved[key] = own[key] ?? fallback;
  }
  return resolved;
}

const deadlineMs = ms(1_000, 120_000);

const seqrSchema = z.strictObject({
  endpoint: z
    .url({ protocol: /^https?$/ })
    .max(2_048)
    .optional()
    .describe(
      'SOAP endpoint: https, or plain http to this machine (a local proxy or simulator); required in production',
    ),
  terminalId: printable(64).optional().describe('Required in production'),
  reseller: z
    .strictObject({
      id: printable(64),
      userId: printable(64).default('9900'),
    })
    .optional()
    .describe('Reseller user for register-terminal and end-of-day reports'),
  deadlineMs: deadlineMs
    .optional()
    .describe(
      'Deadline of every SEQR call without its own entry in seqr.deadlines; never lengthens the status poll beyond its default',
    ),
  deadlines: z
    .strictObject(
      Object.fromEntries(
        DEADLINE_KEYS.map((key) => [
          key,
          deadlineMs.optional().describe(`default ${SEQR_DEADLINE_DEFAULTS[key]}`),
        ]),
      ) as Record<SeqrDeadlineKey, z.ZodOptional<typeof deadlineMs>>,
    )
    .prefault({})
    .describe(
      `Hard deadline per SEQR call in ms; getPaymentStatus is bounded so that ${POLLS_PER_REVERSAL_WINDOW} hung polls fit in SEQR's ${SEQR_REVERSAL_MS} ms reversal window`,
    ),
  caFile: absolutePath.optional().describe('Extra CA certificate(s), PEM'),
});

/** `HH:MM`, 24 h. */
const clockTime = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a 24-hour time "HH:MM"');

/** One MQTT topic level: the machine id, the topic prefix's parts. */
const topicLevel = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'must be 1-64 letters, digits, "-" or "_"');
const topicPrefix = z
  .string()
  .max(100)
  .regex(
    /^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/,
    'must be topic levels of letters, digits, "-" or "_"',
  );

/** The optional connection to the operator's MQTT broker (README "Fleet"). */
const fleetSchema = z.strictObject({
  url: z
    .url({ protocol: /^mqtts?$/ })
    .describe('Broker URL: mqtts://host:8883 (TLS, certificate verified) or mqtt://host:1883'),
  machineId: topicLevel.describe(
    "This machine's id: MQTT client id, default user name, topic level",
  ),
  username: z.string().min(1).max(100).optional().describe('Default: machineId'),
  prefix: topicPrefix.default('seqr-vend').describe('Topics are <prefix>/<machineId>/...'),
  caFile: absolutePath.optional().describe("The broker's CA certificate(s), PEM"),
  certFile: absolutePath
    .optional()
    .describe('Client certificate (PEM), for brokers that ask for one'),
  keyFile: absolutePath.optional().describe("The client certificate's private key (PEM)"),
  statePeriodMs: ms(1_000, 300_000)
    .default(5_000)
    .describe('Live state is published on change, at most this often'),
  outOfServiceAlertMs: ms(0, 86_400_000)
    .default(300_000)
    .describe('Out of service longer than this raises the outOfService alert'),
  homeAssistant: z
    .strictObject({
      enabled: z.boolean().default(false),
      discoveryPrefix: topicPrefix.default('homeassistant'),
    })
    .prefault({}),
});

/** The SEQR callback gateway this machine's invoices name (README "UPS mode"). */
const gatewaySchema = z.strictObject({
  url: z
    .url({ protocol: /^https?$/ })
    .max(200)
    .refine((u) => !u.endsWith('/'), 'must not end with "/"')
    .describe(
      "The gateway's public base URL (its basePath included): invoices carry <url>/notify/<fleet.machineId> as notificationUrl",
    ),
});

/** Pay first, then choose (SEQR's unattended payment, README "UPS mode"). */
const upsSchema = z.strictObject({
  merchantId: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, "-" or "_"')
    .describe('w of the static code HTTP://SEQR.SE/000/ups?w=<merchantId>&t=<fleet.machineId>'),
  maxCredit: decimalText
    .refine((text) => (parseDecimal(text) ?? 0) > 0, 'must be more than 0')
    .default('100')
    .describe('The most one session reserves, whatever the payer offers'),
  confirmWindowMs: ms(10_000, 600_000)
    .default(60_000)
    .describe('How long the payer has to confirm the reservation in the app'),
  idleTimeoutMs: ms(5_000, 600_000)
    .default(30_000)
    .describe('A session without a press for this long ends (what was taken is charged)'),
  sessionMaxMs: ms(30_000, 3_600_000)
    .default(180_000)
    .describe('A session ends this long after the reservation at the latest'),
  commitTimeoutMs: ms(60_000, 86_400_000)
    .default(600_000)
    .describe(
      "SEQR's commitReservationTimeout: the reservation lapses this long after the payer confirmed",
    ),
});

/**
 * The schema, with the environment-dependent defaults filled in. `configSchema(STATIC_DEFAULTS)`
 * is the one exported as {@link ConfigSchema}; loaders pass {@link environmentDefaults}.
 */
export function configSchema(defaults: EnvironmentDefaults) {
  return z
    .strictObject({
      mode: z
        .enum(['demo', 'production'])
        .describe('demo = built-in SEQR simulator and virtual hardware'),
      machine: z.strictObject({ name: printable(60) }),
      merchant: z
        .strictObject({
          name: printable(60),
          address: z
            .string()
            .trim()
            .max(200)
            .refine(
              (text) => text.split('\n').every(isPrintable),
              'must be printable text (lines, no control or format characters)',
            )
            .refine((text) => text.split('\n').length <= 4, 'has more than 4 lines')
            .default('')
            .describe('Printed on the receipt; up to 4 lines'),
          vatRate: decimalText
            .refine(
              (text) => (parseDecimal(text) ?? 0) <= MAX_VAT_PERCENT * 100,
              `is not a VAT rate between 0 and ${String(MAX_VAT_PERCENT)} percent`,
            )
            .default('25')
            .describe('VAT in percent, e.g. "25" or "12.5"'),
          organisationNumber: z
            .string()
            .trim()
            .max(40)
            .refine(isPrintable, PRINTABLE_MESSAGE)
            .optional(),
        })
        .transform((m) => ({ ...m, vatBasisPoints: parseDecimal(m.vatRate) ?? 0 })),
      locale: z.enum(['en', 'sv']).default('en'),
      currency: z
        .string()
        .regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as SEK')
        .default('SEK'),
      seqr: seqrSchema
        .prefault({})
        .transform((s) => ({ ...s, deadlines: resolveSeqrDeadlines(s.deadlines, s.deadlineMs) })),
      products: z.array(productSchema).min(1).max(32),
      buttons: buttonsSchema,
      gpio: gpioSchema.prefault({}),
      display: displaySchema.prefault({}),
      printer: printerSchema.default({ type: 'none' }),
      timeouts: timeoutsSchema.prefault({}),
      recovery: z
        .strictObject({
          maxCustomerAgeMs: ms(10_000, 3_600_000)
            .default(120_000)
            .describe(
              'A payment found late with nothing dispensed (at start-up, or seen late by a status poll) is dispensed when younger than this, refunded when older: the customer is gone',
            ),
        })
        .prefault({}),
      dispense: z
        .strictObject({
          onInterrupted: z
            .enum(['refund', 'flag'])
            .default('refund')
            .describe(
              'A paid dispense whose outcome is unknown (a restart or relay fault while the relay ran, no drop recorded): refund the customer at once, or flag it for the operator',
            ),
        })
        .prefault({}),
      endOfDay: clockTime.optional().describe('Daily report time, 24 h "HH:MM"; none if absent'),
      fleet: fleetSchema.optional().describe("The operator's MQTT broker; none if absent"),
      gateway: gatewaySchema.optional().describe('SEQR callback gateway; polling only if absent'),
      ups: upsSchema
        .optional()
        .describe(
          'Pay first, then choose (needs gateway and fleet); per-press purchases if absent',
        ),
      stateDirectory: absolutePath.default(defaults.stateDirectory),
      credentialsDirectory: absolutePath
        .default('/etc/seqr-vend/credentials')
        .describe('Root-only files used when not started by systemd ($CREDENTIALS_DIRECTORY)'),
      log: z
        .strictObject({
          level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
        })
        .prefault({}),
      kiosk: z
        .strictObject({
          enabled: z.boolean().optional().describe('The local web page; default on in demo only'),
          host: hostText
            .default('127.0.0.1')
            .describe('A loopback address unless allowRemote is true as well'),
          port: z.int().min(0).max(65_535).default(8_080).describe('0 = any free port'),
          allowRemote: z
            .boolean()
            .default(false)
            .describe(
              'Serve the page beyond this machine (host must then be a non-loopback address); ' +
                'remote browsers need the token `seqr-vend status` shows',
            ),
        })
        .prefault({}),
      virtual: z
        .strictObject({
          recordFile: absolutePath
            .optional()
            .describe(
              'Demo mode: every relay edge of the virtual dispenser appended here as a JSON line, synced before the pulse',
            ),
        })
        .prefault({}),
      control: z
        .strictObject({ socketPath: absolutePath.default(defaults.controlSocket) })
        .prefault({}),
    })
    .transform((c) => ({
      ...c,
      kiosk: { ...c.kiosk, enabled: c.kiosk.enabled ?? c.mode === 'demo' },
    }));
}

export const ConfigSchema = configSchema(STATIC_DEFAULTS);

/** The validated configuration, with every default filled in. Frozen by the loader. */
export type Config = z.output<typeof ConfigSchema>;
/** What an operator writes (defaults optional). */
export type ConfigInput = z.input<typeof ConfigSchema>;
export type ProductConfig = Config['products'][number];
export type PrinterConfig = Config['printer'];
export type FleetConfig = NonNullable<Config['fleet']>;

/** One problem a schema cannot express, with the path it is about. */
export interface SemanticIssue {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

const LOOPBACK_V6 = new BlockList();
LOOPBACK_V6.addAddress('::1', 'ipv6');

/**
 * Whether `host` reaches this machine only: `localhost`, 127.0.0.0/8 or ::1 (also written as an
 * IPv4-mapped or bracketed IPv6 address). Any other name may resolve to a network address.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice('::ffff:'.length) : h;
  if (isIPv4(v4)) return v4.startsWith('127.');
  return isIPv6(h) && LOOPBACK_V6.check(h, 'ipv6');
}

/** `['products', 2, 'price']` -> `products[2].price`. */
export function formatPath(path: readonly (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

type Raw = Record<string, unknown>;
const asRecord = (v: unknown): Raw | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Raw) : undefined;
const asInt = (v: unknown): number | undefined => (Number.isInteger(v) ? (v as number) : undefined);

/**
 * A plain-http URL to this machine (a local TLS proxy, a SEQR simulator on another port): the
 * traffic never leaves the host, so production mode accepts it.
 */
function loopbackHttp(url: string): boolean {
  try {
    const { protocol, hostname } = new URL(url);
    return (
      protocol === 'http:' &&
      (hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname))
    );
  } catch {
    return false;
  }
}

/**
 * Checks across fields, run on the raw (pre-schema) data so they are reported together with the
 * schema's own errors: pins unique across buttons, relays and sensors; slots unique; prices above
 * zero; poll interval shorter than the payment window; drop window not shorter than the pulse;
 * stock and sold-out pin exclusive; one relay level for every slot; the kiosk
 * on a loopback address unless `kiosk.allowRemote` says otherwise (and then not on loopback);
 * production needs an https endpoint (or plain http to this machine), a terminal id, and the
 * reseller user when end-of-day reports are on.
 * Values of the wrong type are skipped here (the schema reports them).
 */
export function semanticIssues(raw: unknown): SemanticIssue[] {
  const issues: SemanticIssue[] = [];
  const root = asRecord(raw);
  if (!root) return issues;
  const pinsSeen = new Map<number, string>();
  const usePin = (value: unknown, path: (string | number)[]) => {
    const p = asInt(value);
    if (p === undefined) return;
    const previous = pinsSeen.get(p);
    if (previous === undefined) pinsSeen.set(p, formatPath(path));
    else issues.push({ path, message: `pin ${p} is already used by ${previous}` });
  };

  const buttons = asRecord(root['buttons']);
  usePin(buttons?.['cancelPin'], ['buttons', 'cancelPin']);

  const slotsSeen = new Map<number, number>();
  const products = Array.isArray(root['products']) ? (root['products'] as unknown[]) : [];
  products.forEach((item, i) => {
    const p = asRecord(item);
    if (!p) return;
    const slot = asInt(p['slot']);
    if (slot !== undefined) {
      const previous = slotsSeen.get(slot);
      if (previous === undefined) slotsSeen.set(slot, i);
      else
        issues.push({
          path: ['products', i, 'slot'],
          message: `slot ${slot} is already used by products[${previous}]`,
        });
    }
    if (typeof p['price'] === 'string' && parseDecimal(p['price']) === 0)
      issues.push({ path: ['products', i, 'price'], message: 'must be more than 0' });
    usePin(p['buttonPin'], ['products', i, 'buttonPin']);
    usePin(p['relayPin'], ['products', i, 'relayPin']);
    const drop = asRecord(p['dropSensor']);
    usePin(drop?.['pin'], ['products', i, 'dropSensor', 'pin']);
    usePin(p['soldOutPin'], ['products', i, 'soldOutPin']);
    if (p['stock'] !== undefined && p['soldOutPin'] !== undefined)
      issues.push({
        path: ['products', i, 'soldOutPin'],
        message: 'give either stock or soldOutPin, not both',
      });
    const pulse = asInt(p['pulseMs']) ?? 300;
    const window = asInt(drop?.['windowMs']) ?? (drop ? 2_000 : undefined);
    if (window !== undefined && window < pulse)
      issues.push({
        path: ['products', i, 'dropSensor', 'windowMs'],
        message: `${window} is shorter than pulseMs (${pulse})`,
      });
  });

  // One relay board serves every slot: the daemon drives every relay output one way.
  const levels = new Set(products.map((p) => asRecord(p)?.['relayActiveLevel'] ?? 'high'));
  if (levels.size > 1)
    issues.push({
      path: ['products'],
      message:
        'relayActiveLevel differs between products; the relay board is driven one way for ' +
        'every slot, so give every product the same relayActiveLevel',
    });

  const kiosk = asRecord(root['kiosk']);
  const host = typeof kiosk?.['host'] === 'string' ? kiosk['host'] : '127.0.0.1';
  const allowRemote = kiosk?.['allowRemote'] === true;
  if (!allowRemote && !isLoopbackHost(host))
    issues.push({
      path: ['kiosk', 'host'],
      message:
        `"${host}" is not a loopback address: the kiosk page would be open to the network, where ` +
        'anyone could press the buttons. Keep 127.0.0.1, or also set kiosk.allowRemote: true; ' +
        'remote browsers then need the token `seqr-vend status` shows',
    });
  if (allowRemote && isLoopbackHost(host))
    issues.push({
      path: ['kiosk', 'allowRemote'],
      message:
        `true needs kiosk.host set to a non-loopback address (this machine's LAN address, or ` +
        `0.0.0.0 for every interface); with "${host}" the page is local only`,
    });

  const timeouts = asRecord(root['timeouts']);
  const poll = asInt(timeouts?.['pollIntervalMs']) ?? 1_000;
  const payment = asInt(timeouts?.['paymentWindowMs']) ?? 30_000;
  if (poll >= payment)
    issues.push({
      path: ['timeouts', 'pollIntervalMs'],
      message: `${poll} must be shorter than timeouts.paymentWindowMs (${payment})`,
    });
  const pollDeadline = pollDeadlineIssue(asRecord(root['seqr']), poll);
  if (pollDeadline) issues.push(pollDeadline);

  const fleet = asRecord(root['fleet']);
  if (fleet && (fleet['certFile'] === undefined) !== (fleet['keyFile'] === undefined))
    issues.push({
      path: ['fleet', fleet['certFile'] === undefined ? 'certFile' : 'keyFile'],
      message: 'give both certFile and keyFile, or neither',
    });

  const ups = asRecord(root['ups']);
  // Demo mode with the built-in simulator runs the gateway in the daemon (no broker needed).
  const builtInSeqr = root['mode'] === 'demo' && asRecord(root['seqr'])?.['endpoint'] === undefined;
  if (ups && root['gateway'] === undefined && !builtInSeqr)
    issues.push({
      path: ['gateway'],
      message: 'is required with ups: SEQR calls the machine through it',
    });
  if (ups && fleet === undefined && !builtInSeqr)
    issues.push({
      path: ['fleet'],
      message:
        'is required with ups: the gateway reaches the machine over the broker, by fleet.machineId',
    });
  if (root['gateway'] !== undefined && fleet === undefined && !ups)
    issues.push({
      path: ['fleet'],
      message: 'is required with gateway: notifications arrive over the broker',
    });
  const sessionMax = asInt(ups?.['sessionMaxMs']) ?? 180_000;
  const commitTimeout = asInt(ups?.['commitTimeoutMs']) ?? 600_000;
  if (ups && sessionMax * 2 > commitTimeout)
    issues.push({
      path: ['ups', 'sessionMaxMs'],
      message: `${sessionMax} must be at most half of ups.commitTimeoutMs (${commitTimeout}): what was taken is committed well before the reservation lapses`,
    });

  const seqrSection = asRecord(root['seqr']);
  if (
    root['mode'] === 'demo' &&
    seqrSection?.['endpoint'] !== undefined &&
    seqrSection['terminalId'] === undefined
  )
    issues.push({
      path: ['seqr', 'terminalId'],
      message:
        'is required with seqr.endpoint: demo mode then talks to that SEQR, not the built-in simulator',
    });

  if (root['mode'] === 'production') {
    const seqr = asRecord(root['seqr']);
    const endpoint = seqr?.['endpoint'];
    if (endpoint === undefined)
      issues.push({ path: ['seqr', 'endpoint'], message: 'is required in production mode' });
    else if (
      typeof endpoint === 'string' &&
      !endpoint.startsWith('https://') &&
      !loopbackHttp(endpoint)
    )
      issues.push({
        path: ['seqr', 'endpoint'],
        message: `"${endpoint}" must use https:// in production mode (plain http:// only to this machine: 127.0.0.1, [::1], localhost)`,
      });
    if (seqr?.['terminalId'] === undefined)
      issues.push({
        path: ['seqr', 'terminalId'],
        message: 'is required in production mode (run `seqr-vend register-terminal`)',
      });
    if (root['endOfDay'] !== undefined && seqr?.['reseller'] === undefined)
      issues.push({
        path: ['endOfDay'],
        message: 'end-of-day reports need the reseller user: add seqr.reseller (id, userId)',
      });
  }
  return issues;
}

/**
 * The reversal-window rule (see {@link maxPollDeadlineMs}) on the status poll's effective
 * deadline, reported at the key that breaks it: `seqr.deadlines.getPaymentStatus` when set, else
 * `timeouts.pollIntervalMs` (the default and `seqr.deadlineMs` never exceed a safe deadline at 1 s).
 */
function pollDeadlineIssue(
  seqr: Raw | undefined,
  pollIntervalMs: number,
): SemanticIssue | undefined {
  const own = asInt(asRecord(seqr?.['deadlines'])?.['getPaymentStatus']);
  const fallback = asInt(seqr?.['deadlineMs']);
  const deadline = resolveSeqrDeadlines(
    own === undefined ? {} : { getPaymentStatus: own },
    fallback,
  ).getPaymentStatus;
  const max = maxPollDeadlineMs(pollIntervalMs);
  if (deadline <= max) return undefined;
  const worst = POLLS_PER_REVERSAL_WINDOW * (deadline + pollIntervalMs);
  const why =
    `${POLLS_PER_REVERSAL_WINDOW} status polls that each hang take ${POLLS_PER_REVERSAL_WINDOW} × ` +
    `(${deadline} ms deadline + ${pollIntervalMs} ms poll interval) = ${worst} ms, longer than the ` +
    `${SEQR_REVERSAL_MS} ms after which SEQR reverses a payment no poll has seen`;
  if (own !== undefined)
    return {
      path: ['seqr', 'deadlines', 'getPaymentStatus'],
      message:
        max >= 1_000
          ? `${own} is too long: ${why}; at most ${max} with timeouts.pollIntervalMs ${pollIntervalMs}`
          : `${own} is too long: ${why}; shorten timeouts.pollIntervalMs (1000 is SEQR's rule)`,
    };
  return {
    path: ['timeouts', 'pollIntervalMs'],
    message: `${pollIntervalMs} is too long for the status poll's ${deadline} ms deadline: ${why}; SEQR's rule is one poll per second`,
  };
}
