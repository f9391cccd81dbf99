import { foldRefund, type TransactionView } from '../core/projection.js';
import {
  closingAfterRefund,
  refundAnswered,
  refundDecision,
  type RefundAnswer,
} from '../core/refunds.js';
import { VendError, describeFailure, failureOf } from '../errors.js';
import { parseCommandArgs, UsageError } from './args.js';
import type { Clock } from '../ports/clock.js';
import type { LedgerEntry } from '../ports/ledger.js';
import { parseDecimal, toDecimalString } from '../ports/money.js';
import type { PaymentGateway } from '../ports/payment-gateway.js';
import {
  DEFAULT_REPORT_ID,
  closePeriod,
  fetchReport,
  type OpsLogger,
  type ReconciliationGateway,
} from '../ledger/end-of-day.js';
import { SqliteLedger, type PeriodRecord } from '../ledger/sqlite-ledger.js';

/** The ledger commands `seqr-vend <command>` dispatches here. */
export const LEDGER_COMMANDS = ['sales', 'pending', 'refund', 'close-period', 'report'] as const;
export type LedgerCommand = (typeof LEDGER_COMMANDS)[number];

/** Exit codes (sysexits where one fits). */
export const EXIT = {
  ok: 0,
  /** The operation ran and failed: refund not confirmed, reconciliation mismatch, not found. */
  failed: 1,
  /** The operator answered no to the confirmation. */
  declined: 2,
  usage: 64,
  /** The ledger is missing or unreadable. */
  noInput: 66,
  /** SEQR access (gateway, terminal id) is not configured. */
  unavailable: 69,
} as const;

export interface LedgerCommandIo {
  /** The ledger file (state directory + `ledger.sqlite`). */
  readonly ledgerPath: string;
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  /** Asks the operator and resolves with the answer line; without it, `refund` needs `--yes`. */
  readonly prompt?: (question: string) => Promise<string>;
  /** For `refund`. */
  readonly gateway?: Pick<PaymentGateway, 'refund'>;
  /** For `close-period` and fetching a `report`. */
  readonly reconciliation?: ReconciliationGateway;
  readonly terminalId?: string;
  /** SEQR cashierId on operator refunds. Default `operator`. */
  readonly cashierId?: string;
  /** now() for records; setTimeout for report retries. */
  readonly clock: Clock;
  readonly logger?: OpsLogger;
  /** Report retry delay (default 4 s), for tests. */
  readonly reportRetryDelayMs?: number;
}

const USAGE = `usage: seqr-vend <command> [options]
  sales [--since DATE] [--until DATE] [--slot N] [--json]
  pending [--since DATE] [--json]
  refund <ersReference> [--amount 12.50] [--yes] [--json]
  close-period [--report-id ID] [--json]
  report <periodId> [--content] [--json]
DATE is YYYY-MM-DD (local midnight) or an ISO 8601 time.
`;

const silentLogger: OpsLogger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/**
 * Runs one ledger command and resolves with its exit code; never throws. Read-only commands
 * (`sales`, `pending`, `report`) open the ledger read-only, so they are safe while the daemon
 * runs (WAL readers never block the writer); `refund` and `close-period` write through their own
 * connection, waiting for the daemon's write lock (busy timeout). Output is a human table, or JSON
 * with `--json`.
 */
export async function runLedgerCommand(
  argv: readonly string[],
  io: LedgerCommandIo,
): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) {
    io.stderr.write(USAGE);
    return EXIT.usage;
  }
  try {
    switch (command) {
      case 'sales':
        return sales(rest, io);
      case 'pending':
        return pending(rest, io);
      case 'refund':
        return await refund(rest, io);
      case 'close-period':
        return await closePeriodCommand(rest, io);
      case 'report':
        return await report(rest, io);
      default:
        io.stderr.write(`unknown command "${command}"\n${USAGE}`);
        return EXIT.usage;
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`${err.message}\n${USAGE}`);
      return EXIT.usage;
    }
    if (err instanceof VendError) {
      io.stderr.write(`${err.code}: ${err.message}\n`);
      return err.code === 'E_LEDGER_UNREADABLE' ||
        err.code === 'E_LEDGER_CORRUPT' ||
        err.code === 'E_LEDGER_SCHEMA_TOO_NEW'
        ? EXIT.noInput
        : EXIT.failed;
    }
    io.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT.failed;
  }
}

function parseDate(text: string, option: string): number {
  const day = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  const ms = day
    ? new Date(Number(day[1]), Number(day[2]) - 1, Number(day[3])).getTime()
    : Date.parse(text);
  if (!Number.isFinite(ms)) throw new UsageError(`${option}: not a date: "${text}"`);
  return ms;
}

function withLedger<T>(io: LedgerCommandIo, readonly: boolean, fn: (l: SqliteLedger) => T): T {
  const ledger = SqliteLedger.open({ path: io.ledgerPath, readonly });
  try {
    return fn(ledger);
  } finally {
    void ledger.close();
  }
}

async function withLedgerAsync<T>(
  io: LedgerCommandIo,
  fn: (l: SqliteLedger) => Promise<T>,
): Promise<T> {
  const ledger = SqliteLedger.open({ path: io.ledgerPath });
  try {
    return await fn(ledger);
  } finally {
    await ledger.close();
  }
}

const money = (minor: number, currency: string): string =>
  `${minor < 0 ? '-' : ''}${toDecimalString({ minor: Math.abs(minor), currency })} ${currency}`;

const iso = (ms: number | undefined): string =>
  ms === undefined ? '' : new Date(ms).toISOString();

/** Left-aligned text columns, right-aligned numbers, two spaces apart. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const numeric = headers.map(
    (_, i) => rows.length > 0 && rows.every((r) => /^-?[\d.,% ]+[A-Z]{0,3}$/.test(r[i] ?? '')),
  );
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return (
    [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n') + '\n'
  );
}

export interface SalesRow {
  readonly slot: number;
  readonly product: string;
  readonly currency: string;
  readonly started: number;
  readonly paid: number;
  readonly sold: number;
  readonly soldMinor: number;
  readonly refunded: number;
  readonly refundedMinor: number;
  readonly cancelled: number;
  readonly flagged: number;
}

export interface SlotRate {
  readonly slot: number;
  readonly dispenses: number;
  readonly failures: number;
  /** failures / dispenses (0 without dispenses). */
  readonly failureRate: number;
}

/** Sales per slot and product, and the dispense failure rate per slot. */
export function salesFigures(views: readonly TransactionView[]): {
  rows: SalesRow[];
  slots: SlotRate[];
} {
  const rows = new Map<string, { -readonly [K in keyof SalesRow]: SalesRow[K] }>();
  const slots = new Map<number, { dispenses: number; failures: number }>();
  for (const v of views) {
    // The out-of-service probe's invoices are no purchases.
    if (v.probe) continue;
    const key = `${v.slot}\u0000${v.productName}\u0000${v.price.currency}`;
    let row = rows.get(key);
    if (!row) {
      row = {
        slot: v.slot,
        product: v.productName,
        currency: v.price.currency,
        started: 0,
        paid: 0,
        sold: 0,
        soldMinor: 0,
        refunded: 0,
        refundedMinor: 0,
        cancelled: 0,
        flagged: 0,
      };
      rows.set(key, row);
    }
    row.started++;
    if (v.paidAt !== undefined) row.paid++;
    if (v.dispense === 'delivered' && v.closed !== 'refunded') {
      row.sold++;
      row.soldMinor += v.price.minor;
    }
    if (v.refundedMinor > 0) {
      row.refunded++;
      row.refundedMinor += v.refundedMinor;
    }
    if (v.closed === 'cancelled' || v.closed === 'failed') row.cancelled++;
    if (v.closed === 'flagged') row.flagged++;
    if (v.dispense !== 'none') {
      const s = slots.get(v.slot) ?? { dispenses: 0, failures: 0 };
      s.dispenses++;
      if (v.dispense === 'notDelivered' || v.dispense === 'uncertain' || v.dispense === 'started')
        s.failures++;
      slots.set(v.slot, s);
    }
  }
  return {
    rows: [...rows.values()].sort((a, b) => a.slot - b.slot || a.product.localeCompare(b.product)),
    slots: [...slots.entries()]
      .sort(([a], [b]) => a - b)
      .map(([slot, s]) => ({
        slot,
        ...s,
        failureRate: s.dispenses === 0 ? 0 : s.failures / s.dispenses,
      })),
  };
}

function sales(args: readonly string[], io: LedgerCommandIo): number {
  const { values } = parseCommandArgs(args, {
    since: { type: 'string' },
    until: { type: 'string' },
    slot: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  const slot = values.slot === undefined ? undefined : Number(values.slot);
  if (slot !== undefined && !Number.isInteger(slot)) throw new UsageError(`--slot: not a number`);
  const filter = {
    ...(values.since === undefined ? {} : { since: parseDate(values.since, '--since') }),
    ...(values.until === undefined ? {} : { until: parseDate(values.until, '--until') }),
    ...(slot === undefined ? {} : { slot }),
  };
  const figures = salesFigures(withLedger(io, true, (l) => l.transactions(filter)));
  if (values.json) {
    io.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
    return EXIT.ok;
  }
  io.stdout.write(
    table(
      [
        'slot',
        'product',
        'started',
        'paid',
        'sold',
        'sold total',
        'refunded',
        'refunded total',
        'cancelled',
        'flagged',
      ],
      figures.rows.map((r) => [
        String(r.slot),
        r.product,
        String(r.started),
        String(r.paid),
        String(r.sold),
        money(r.soldMinor, r.currency),
        String(r.refunded),
        money(r.refundedMinor, r.currency),
        String(r.cancelled),
        String(r.flagged),
      ]),
    ),
  );
  io.stdout.write('\n');
  io.stdout.write(
    table(
      ['slot', 'dispenses', 'failures', 'failure rate'],
      figures.slots.map((s) => [
        String(s.slot),
        String(s.dispenses),
        String(s.failures),
        `${(s.failureRate * 100).toFixed(1)}%`,
      ]),
    ),
  );
  return EXIT.ok;
}

export interface PendingItem {
  readonly txId: string;
  readonly kind:
    | 'open invoice'
    | 'paid, not dispensed'
    | 'uncertain dispense'
    | 'refund unconfirmed'
    | 'refund unverified'
    | 'flagged'
    | 'receipt not printed'
    | 'receipt not submitted'
    | 'receipt refused';
  readonly openedAt: string;
  readonly slot: number;
  readonly product: string;
  readonly amount: string;
  readonly ersReference?: string;
  readonly invoiceReference?: string;
  /** When the machine recorded the payment. */
  readonly paidAt?: string;
  readonly detail?: string;
  /** What the operator can do, for what waits on a person. */
  readonly action?: string;
}

/** The refund command for a payment. */
const refundCommand = (v: TransactionView): string =>
  `seqr-vend refund ${v.ersReference ?? '<ersReference>'}`;

/** The receipt's state in words: what SEQR has not taken yet, and why. */
function receiptOwed(v: TransactionView): string {
  const attempts = v.receiptSubmitAttempts ?? 0;
  return attempts === 0
    ? 'receipt not submitted to SEQR yet (sent automatically)'
    : `receipt not taken by SEQR after ${attempts} attempt${attempts === 1 ? '' : 's'}${v.receiptSubmitFailure ? ` (last ${describeFailure(v.receiptSubmitFailure)})` : ''}; retried automatically`;
}

/** How a dispense without a known outcome ended up unknown. */
function dispenseUnknown(v: TransactionView): string {
  const why =
    v.dispenseDetail ?? (v.dispenseFailure ? describeFailure(v.dispenseFailure) : 'no outcome');
  return `dispense outcome unknown (${why}); the drop sensor recorded no drop`;
}

/**
 * Everything not finished or needing the operator, one line per transaction, with what the
 * operator needs to decide: the payment and invoice references, when it was paid, why it waits
 * and, where a person must act, what to do.
 */
export function pendingItems(views: readonly TransactionView[]): PendingItem[] {
  const items: PendingItem[] = [];
  for (const v of views) {
    let kind: PendingItem['kind'] | undefined;
    let detail: string | undefined;
    let action: string | undefined;
    const uncertain = v.dispense === 'uncertain' || v.dispense === 'started';
    if (v.probe) {
      if (v.closed !== undefined) continue;
      kind = 'open invoice';
      detail = `out-of-service probe ${v.invoiceReference ?? '(not issued)'}: cancelled automatically`;
    } else if (v.refundInferred) {
      kind = 'refund unverified';
      detail =
        'a refund retry was answered 98: an earlier attempt went through without a reference';
      action = 'verify the refund in the SEQR report (seqr-vend report <periodId>)';
    } else if (v.closed === 'refunded') continue;
    else if (v.reservation && v.closed === 'flagged') {
      // Pay first, then choose: products out that may not be paid.
      kind = 'flagged';
      const unknown = v.reservation.vends.filter((x) => x.outcome === 'uncertain').length;
      if (!v.reservation.committed) {
        detail = `pay first, then choose: ${money(v.price.minor, v.price.currency)} delivered, reservation ${v.invoiceReference ?? '(not issued)'} not committed`;
        action =
          'look for the payment in the SEQR report; if SEQR has none, the delivered products are unpaid: settle with the customer';
      } else {
        detail = `pay first, then choose: committed for what was recorded delivered; ${unknown} vend(s) of unknown outcome not charged`;
        action = 'check the slots: a product may have come out without being charged';
      }
    } else if (v.refund === 'requested' || v.refund === 'failed') {
      kind = v.closed === 'flagged' ? 'flagged' : 'refund unconfirmed';
      const failure = v.refundFailure ? describeFailure(v.refundFailure) : 'no answer yet';
      detail = uncertain ? `${dispenseUnknown(v)}; refund: ${failure}` : failure;
      if (v.closed === 'flagged')
        action = `SEQR refused the refund for good: refund the customer another way, or ${refundCommand(v)} once SEQR accepts refunds`;
    } else if (uncertain) {
      kind = 'uncertain dispense';
      detail = dispenseUnknown(v);
      action = `check slot ${v.slot} or ask the customer: if nothing came out, ${refundCommand(v)}; if it did, nothing to do`;
    } else if (v.closed === 'flagged') {
      kind = 'flagged';
      detail =
        v.paidAt === undefined && v.invoiceReference !== undefined
          ? `SEQR did not know invoice ${v.invoiceReference} (54) after a status answer was lost`
          : undefined;
      action =
        v.paidAt === undefined
          ? 'look for a payment to the invoice in the SEQR report; if there is one, refund it'
          : `${refundCommand(v)} if the customer got nothing`;
    } else if (v.closed === undefined && v.paidAt !== undefined) kind = 'paid, not dispensed';
    else if (v.closed === undefined) {
      kind = 'open invoice';
      detail = v.invoiceReference;
    } else if (v.closed === 'sold') {
      const owed = !v.receiptSubmitted && !v.receiptRefused;
      if (v.receiptRefused) {
        kind = 'receipt refused';
        detail = v.receiptSubmitFailure ? describeFailure(v.receiptSubmitFailure) : undefined;
      } else if (v.receipt !== 'printed') {
        kind = 'receipt not printed';
        const failure = v.receiptFailure ? describeFailure(v.receiptFailure) : undefined;
        const parts = [failure, owed ? receiptOwed(v) : undefined].filter(
          (x): x is string => x !== undefined,
        );
        detail = parts.length > 0 ? parts.join('; ') : undefined;
      } else if (owed) {
        kind = 'receipt not submitted';
        detail = receiptOwed(v);
      }
    }
    if (!kind) continue;
    items.push({
      txId: v.txId,
      kind,
      openedAt: iso(v.openedAt),
      slot: v.slot,
      product: v.productName,
      amount: money(v.price.minor, v.price.currency),
      ...(v.ersReference === undefined ? {} : { ersReference: v.ersReference }),
      ...(v.invoiceReference === undefined ? {} : { invoiceReference: v.invoiceReference }),
      ...(v.paidAt === undefined ? {} : { paidAt: iso(v.paidAt) }),
      ...(detail === undefined ? {} : { detail }),
      ...(action === undefined ? {} : { action }),
    });
  }
  return items;
}

function pending(args: readonly string[], io: LedgerCommandIo): number {
  const { values } = parseCommandArgs(args, {
    since: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  const since = values.since === undefined ? undefined : parseDate(values.since, '--since');
  const items = pendingItems(
    withLedger(io, true, (l) => l.transactions(since === undefined ? {} : { since })),
  );
  if (values.json) io.stdout.write(`${JSON.stringify(items, null, 2)}\n`);
  else if (items.length === 0) io.stdout.write('nothing pending\n');
  else
    io.stdout.write(
      table(
        ['opened', 'tx', 'what', 'slot', 'product', 'amount', 'ersReference', 'detail'],
        items.map((i) => [
          i.openedAt,
          i.txId,
          i.kind,
          String(i.slot),
          i.product,
          i.amount,
          i.ersReference ?? '',
          [i.detail, i.action === undefined ? undefined : `-> ${i.action}`]
            .filter((x) => x !== undefined)
            .join(' '),
        ]),
      ),
    );
  return EXIT.ok;
}

async function refund(args: readonly string[], io: LedgerCommandIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    args,
    {
      amount: { type: 'string' },
      yes: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
    true,
  );
  const [ersReference, extra] = positionals;
  if (ersReference === undefined || extra !== undefined)
    throw new UsageError('refund: give exactly one ersReference');
  const amountMinor = values.amount === undefined ? undefined : parseDecimal(values.amount);
  if (values.amount !== undefined && (amountMinor === undefined || amountMinor <= 0))
    throw new UsageError(`--amount: not an amount: "${values.amount}"`);
  if (!io.gateway) {
    io.stderr.write('refund: SEQR is not configured (no terminal credentials)\n');
    return EXIT.unavailable;
  }
  if (!values.yes && !io.prompt)
    throw new UsageError('refund: no terminal to confirm on; add --yes');
  const gateway = io.gateway;
  return withLedgerAsync(io, async (ledger) => {
    const tx = ledger.findByErsReference(ersReference);
    if (!tx) {
      io.stderr.write(`refund: no payment with ersReference ${ersReference} in the ledger\n`);
      return EXIT.failed;
    }
    if (tx.closed === undefined) {
      io.stderr.write(
        `refund: transaction ${tx.txId} is still being handled by the machine; see "seqr-vend pending"\n`,
      );
      return EXIT.failed;
    }
    const remaining = tx.price.minor - tx.refundedMinor;
    const minor = amountMinor ?? remaining;
    if (remaining <= 0 || minor > remaining) {
      io.stderr.write(
        `refund: ${money(tx.refundedMinor, tx.price.currency)} of ${money(tx.price.minor, tx.price.currency)} already refunded; at most ${money(Math.max(0, remaining), tx.price.currency)} can be\n`,
      );
      return EXIT.failed;
    }
    if (!values.yes && io.prompt) {
      const answer = await io.prompt(
        `Refund ${money(minor, tx.price.currency)} of ${tx.productName} (slot ${tx.slot}, paid ${iso(tx.paidAt)}, ersReference ${ersReference})? [y/N] `,
      );
      if (!/^y(es)?$/i.test(answer.trim())) {
        io.stdout.write('not refunded\n');
        return EXIT.declined;
      }
    }
    // The core's refund rules decide; this command only carries them out and records them.
    const logger = io.logger ?? silentLogger;
    const decision = refundDecision(tx, { amountMinor: minor, operator: true });
    if (decision.kind !== 'send') {
      const reason = decision.kind === 'nothing' ? 'already refunded' : decision.reason;
      io.stdout.write(
        values.json
          ? `${JSON.stringify({ txId: tx.txId, kind: decision.kind, reason }, null, 2)}\n`
          : `refund not sent: ${reason}\n`,
      );
      return decision.kind === 'nothing' ? EXIT.ok : EXIT.failed;
    }
    const now = (): number => io.clock.now();
    const requested: Extract<LedgerEntry, { type: 'refund.requested' }> = {
      type: 'refund.requested',
      txId: tx.txId,
      amount: decision.amount,
      initiator: 'operator',
    };
    await ledger.record(requested, now());
    const answer: RefundAnswer = await gateway
      .refund({
        ersReference,
        amount: decision.amount,
        title: `Refund: ${tx.productName} (operator refund)`,
        cashierId: io.cashierId ?? 'operator',
      })
      .then(
        ({ refundReference }) => ({ ok: true as const, refundReference }),
        (err: unknown) => ({ ok: false as const, failure: failureOf(err) }),
      );
    const at = now();
    const before = foldRefund(tx, requested, at);
    const { result, entries, facts } = refundAnswered(tx.txId, before, decision, answer, at, true);
    for (const entry of entries) await ledger.record(entry, at);
    const closing = closingAfterRefund(result, facts, true);
    if (closing !== undefined && tx.closed !== closing)
      await ledger.record({ type: 'tx.closed', txId: tx.txId, outcome: closing }, at);
    switch (result.kind) {
      case 'confirmed':
        logger.info(
          { txId: tx.txId, ersReference, refundReference: result.refundReference },
          'refund confirmed',
        );
        break;
      case 'inferred':
        logger.error(
          { code: 'E_REFUND_UNVERIFIED', txId: tx.txId, ersReference },
          'refund answered 98: an earlier attempt went through; verify it in the SEQR report',
        );
        break;
      case 'failed':
        logger.error(
          {
            txId: tx.txId,
            ersReference,
            ...result.failure,
            failure: result.failure.code,
            code: 'E_REFUND_FAILED',
          },
          'refund not confirmed',
        );
        break;
    }
    if (values.json) io.stdout.write(`${JSON.stringify({ txId: tx.txId, ...result }, null, 2)}\n`);
    else
      switch (result.kind) {
        case 'confirmed':
          io.stdout.write(
            `refunded ${money(decision.amount.minor, tx.price.currency)}: refund ${result.refundReference}\n`,
          );
          break;
        case 'inferred':
          io.stdout.write(
            'SEQR says the payment is already refunded by an earlier attempt (98); verify it in the report\n',
          );
          break;
        case 'failed':
          io.stdout.write(
            `refund not confirmed (${describeFailure(result.failure)})${result.retry ? '; try again later' : `: ${result.reason ?? ''}`}\n`,
          );
          break;
      }
    return result.kind === 'failed' ? EXIT.failed : EXIT.ok;
  });
}

function periodLines(p: PeriodRecord, content: boolean): string {
  const totals = (t: PeriodRecord['seqr']): string =>
    t === undefined
      ? '-'
      : `${t.count} sales, ${toDecimalString({ minor: t.totalMinor, currency: '' })}`;
  const lines = [
    `period     ${p.periodId} (terminal ${p.terminalId})`,
    `from       ${p.openedAt === 0 ? 'the beginning' : iso(p.openedAt)}`,
    `to         ${iso(p.closedAt)}`,
    `report     ${p.reportId}: ${p.state}${p.error === undefined ? '' : ` (${p.error})`}`,
    `SEQR       ${totals(p.seqr)}`,
    `ledger     ${totals(p.ledger)}`,
    `result     ${p.matched === undefined ? 'not compared' : p.matched ? 'match' : 'MISMATCH'}`,
  ];
  if (content && p.report) lines.push('', p.report.content);
  return `${lines.join('\n')}\n`;
}

function endOfDayOptions(
  io: LedgerCommandIo,
  ledger: SqliteLedger,
  reconciliation: ReconciliationGateway,
  terminalId: string,
  reportId?: string,
) {
  return {
    ledger,
    reconciliation,
    clock: io.clock,
    logger: io.logger ?? silentLogger,
    terminalId,
    ...(reportId === undefined ? {} : { reportId }),
    ...(io.reportRetryDelayMs === undefined ? {} : { retryDelayMs: io.reportRetryDelayMs }),
  };
}

async function closePeriodCommand(args: readonly string[], io: LedgerCommandIo): Promise<number> {
  const { values } = parseCommandArgs(args, {
    'report-id': { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  const { reconciliation, terminalId } = io;
  if (!reconciliation || terminalId === undefined) {
    io.stderr.write('close-period: SEQR reseller credentials or terminal id are not configured\n');
    return EXIT.unavailable;
  }
  const period = await withLedgerAsync(io, (ledger) =>
    closePeriod(
      endOfDayOptions(
        io,
        ledger,
        reconciliation,
        terminalId,
        values['report-id'] ?? DEFAULT_REPORT_ID,
      ),
    ),
  );
  io.stdout.write(
    values.json ? `${JSON.stringify(period, null, 2)}\n` : periodLines(period, false),
  );
  return period.matched === true ? EXIT.ok : EXIT.failed;
}

async function report(args: readonly string[], io: LedgerCommandIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    args,
    {
      content: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
    true,
  );
  const [periodId, extra] = positionals;
  if (periodId === undefined || extra !== undefined)
    throw new UsageError('report: give exactly one period id');
  let period = withLedger(io, true, (l) => l.period(periodId));
  if (!period) {
    io.stderr.write(`report: no period ${periodId} in the ledger\n`);
    return EXIT.failed;
  }
  const { reconciliation } = io;
  if (period.state !== 'reported' && reconciliation) {
    const stored = period;
    period = await withLedgerAsync(io, (ledger) =>
      fetchReport(endOfDayOptions(io, ledger, reconciliation, stored.terminalId), stored),
    );
  }
  io.stdout.write(
    values.json ? `${JSON.stringify(period, null, 2)}\n` : periodLines(period, values.content),
  );
  return period.matched === true ? EXIT.ok : EXIT.failed;
}
