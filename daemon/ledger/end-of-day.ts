import { reconcile, type SalesTotals } from '../core/reconciliation.js';
import { VendError, errorCodeOf, failureOf } from '../errors.js';
import type { Clock, TimerHandle } from '../ports/clock.js';
import type { PeriodRecord, SqliteLedger } from './sqlite-ledger.js';

export { reportTotals } from '../core/reconciliation.js';

/** The logging the end-of-day work needs; a pino logger fits. */
export interface OpsLogger {
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
}

/** A reconciliation report as SEQR returns it (executeReport's `report`). */
export interface ReconciliationReport {
  readonly title?: string;
  readonly mimeType?: string;
  /** The report text (`contentString`, or `content` decoded from base64). */
  readonly content: string;
}

/**
 * SEQR's end-of-day calls, as the ledger needs them; the composition root adapts the SOAP
 * client (reseller credentials) to it.
 */
export interface ReconciliationGateway {
  /** markTransactionPeriod with `TERMINALID`: closes the terminal's period. Resolves its id. */
  markPeriod(terminalId: string): Promise<string>;
  /**
   * executeReport with `transactionPeriodId` and `TERMINALID`. `notReady` is resultCode 2
   * (REPORT_NOT_READY): ask again in 3-5 s. Other failures reject.
   */
  executeReport(
    periodId: string,
    reportId: string,
    terminalId: string,
  ): Promise<
    | { readonly kind: 'ready'; readonly report: ReconciliationReport }
    | { readonly kind: 'notReady' }
  >;
}

/** The terminal summary report (per-terminal periods need 006 or 007, API.md §11). */
export const DEFAULT_REPORT_ID = 'Reconciliation/STD_RECON_006.xml';

export interface EndOfDayOptions {
  readonly ledger: SqliteLedger;
  readonly reconciliation: ReconciliationGateway;
  readonly clock: Clock;
  readonly logger: OpsLogger;
  readonly terminalId: string;
  readonly reportId?: string;
  /** Wait before asking again after REPORT_NOT_READY (or a failed call). Default 4 s. */
  readonly retryDelayMs?: number;
  /** executeReport calls at most. Default 10. */
  readonly maxAttempts?: number;
}

/**
 * A failed call as log fields: the operation, HTTP status, fault string and SEQR result the error
 * carries, its code as `failure` (the line's own `code` says what it means for the period).
 */
function failureLog(err: unknown): Readonly<Record<string, string | number>> {
  const { code: failure, ...detail } = failureOf(err);
  return { ...detail, failure };
}

/**
 * True when a failed call may nevertheless have been carried out by SEQR: no answer, or one the
 * client could not read (a SEQR resultCode, or its refusal of the credentials, is an answer).
 */
function outcomeUnknown(err: unknown): boolean {
  const code = errorCodeOf(err);
  return code !== 'E_SEQR_RESULT' && code !== 'E_SEQR_AUTH';
}

/**
 * Closes the terminal's reconciliation period and checks SEQR's report against the ledger:
 * markTransactionPeriod, then executeReport for the returned period id (REPORT_NOT_READY and
 * failed calls retried after `retryDelayMs`, at most `maxAttempts` calls). The period is saved as
 * soon as SEQR closed it, then updated with the report, its totals, the ledger's own totals
 * (payments first seen PAID after the previous period's close, up to this one) and whether they
 * match (the verdict is the core's `reconcile`). A mismatch is logged at error level
 * (`E_RECONCILIATION_MISMATCH`); a report that cannot be fetched or read as
 * `E_RECONCILIATION_REPORT`. Rejects only when markTransactionPeriod fails with an answer.
 *
 * markTransactionPeriod's answer lost (SEQR may have closed a period whose id never arrived): the
 * attempt is saved as a `lost` period (logged `E_RECONCILIATION_REPORT`) and the mark is sent
 * again after `retryDelayMs`. That second period's report then tells what the lost mark did: its
 * totals match the ledger either from the lost mark on (SEQR did close a period: it stays `lost`,
 * with the ledger's totals, for the operator to look up in SEQR's portal) or from the previous
 * period's close (SEQR closed nothing: the lost period becomes `void` and the second one covers
 * its sales). No sale is compared twice, none is left out unnoticed.
 */
export async function closePeriod(options: EndOfDayOptions): Promise<PeriodRecord> {
  const { ledger, reconciliation, clock, logger, terminalId } = options;
  const reportId = options.reportId ?? DEFAULT_REPORT_ID;
  let openedAt = ledger.lastPeriod(terminalId)?.closedAt ?? 0;
  let afterLost: string | undefined;
  for (let attempt = 1; ; attempt++) {
    const markedFrom = clock.now();
    try {
      const periodId = await reconciliation.markPeriod(terminalId);
      return await markedPeriod(options, periodId, openedAt, reportId, afterLost);
    } catch (err) {
      if (!outcomeUnknown(err) || attempt >= MARK_ATTEMPTS) throw err;
      const lost: PeriodRecord = {
        periodId: `lost-${String(markedFrom)}`,
        terminalId,
        openedAt,
        closedAt: clock.now(),
        markedFrom,
        reportId,
        state: 'lost',
        error: 'markTransactionPeriod answer lost: SEQR may have closed a period of unknown id',
      };
      ledger.savePeriod(lost);
      logger.error(
        {
          ...failureLog(err),
          code: 'E_RECONCILIATION_REPORT',
          periodId: lost.periodId,
          terminalId,
          err,
        },
        'markTransactionPeriod answer lost: SEQR may have closed a period of unknown id; marking again to find out',
      );
      openedAt = lost.closedAt;
      afterLost = lost.periodId;
      await wait(clock, options.retryDelayMs ?? 4_000);
    }
  }
}

/** markTransactionPeriod calls per close at most (the first, and one after a lost answer). */
const MARK_ATTEMPTS = 2;

function wait(clock: Clock, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    clock.setTimeout(resolve, ms);
  });
}

async function markedPeriod(
  options: EndOfDayOptions,
  periodId: string,
  openedAt: number,
  reportId: string,
  afterLost?: string,
): Promise<PeriodRecord> {
  const { ledger, clock, logger, terminalId } = options;
  const marked: PeriodRecord = {
    periodId,
    terminalId,
    openedAt,
    closedAt: clock.now(),
    reportId,
    state: 'marked',
    ...(afterLost === undefined ? {} : { afterLost }),
  };
  ledger.savePeriod(marked);
  logger.info({ periodId, terminalId }, 'reconciliation period closed');
  return fetchReport(options, marked);
}

/**
 * The ledger's side of a period's report: from its opening, or, after a lost mark, from whichever
 * start SEQR's totals say it used (the lost mark's answer, the moment it went out, or the close
 * before it). Settles the lost period on the way: `lost` with its ledger totals, or `void`.
 */
function ledgerSide(
  options: EndOfDayOptions,
  period: PeriodRecord,
  content: string,
): { readonly period: PeriodRecord; readonly own: SalesTotals } {
  const { ledger, logger } = options;
  const own = ledger.paidBetween(period.openedAt, period.closedAt);
  const lost = period.afterLost === undefined ? undefined : ledger.period(period.afterLost);
  if (lost?.state !== 'lost') return { period, own };
  const starts = [period.openedAt, lost.markedFrom ?? lost.closedAt];
  for (const start of starts) {
    const side = ledger.paidBetween(start, period.closedAt);
    if (reconcile(content, side).kind !== 'matched') continue;
    // SEQR did close a period at the lost mark: its sales are the ledger's up to then.
    ledger.savePeriod({
      ...lost,
      closedAt: start,
      ledger: ledger.paidBetween(lost.openedAt, start),
    });
    logger.error(
      {
        code: 'E_RECONCILIATION_REPORT',
        periodId: lost.periodId,
        ledger: ledger.paidBetween(lost.openedAt, start),
      },
      'SEQR closed a period at the mark whose answer was lost: compare its report in the SEQR portal with these ledger totals',
    );
    return { period: { ...period, openedAt: start }, own: side };
  }
  const whole = ledger.paidBetween(lost.openedAt, period.closedAt);
  if (reconcile(content, whole).kind === 'matched') {
    ledger.savePeriod({ ...lost, state: 'void', error: 'SEQR closed no period at the lost mark' });
    logger.info(
      { periodId: lost.periodId, next: period.periodId },
      'the mark whose answer was lost closed nothing: the next period covers its sales',
    );
    return { period: { ...period, openedAt: lost.openedAt }, own: whole };
  }
  return { period, own };
}

/** Fetches (again) the report of a saved period and compares it; see {@link closePeriod}. */
export async function fetchReport(
  options: EndOfDayOptions,
  stored: PeriodRecord,
): Promise<PeriodRecord> {
  // A lost mark has no period id to ask for: the period after it settles it.
  if (stored.state === 'lost' || stored.state === 'void') return stored;
  let period = stored;
  const { ledger, reconciliation, clock, logger } = options;
  const delay = options.retryDelayMs ?? 4_000;
  const maxAttempts = options.maxAttempts ?? 10;
  let lastError = 'REPORT_NOT_READY';
  let lastFailure: Readonly<Record<string, string | number>> = {};
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    if (attempt > 1)
      await new Promise<void>((resolve) => {
        clock.setTimeout(resolve, delay);
      });
    let answer: Awaited<ReturnType<ReconciliationGateway['executeReport']>>;
    try {
      answer = await reconciliation.executeReport(
        period.periodId,
        period.reportId,
        period.terminalId,
      );
    } catch (err) {
      lastError = err instanceof VendError ? err.code : 'error';
      lastFailure = failureLog(err);
      logger.warn({ ...failureLog(err), periodId: period.periodId, err }, 'executeReport failed');
      continue;
    }
    if (answer.kind === 'notReady') continue;
    const side = ledgerSide(options, period, answer.report.content);
    const own = side.own;
    period = side.period;
    const verdict = reconcile(answer.report.content, own);
    const report = {
      ...(answer.report.title === undefined ? {} : { title: answer.report.title }),
      ...(answer.report.mimeType === undefined ? {} : { mimeType: answer.report.mimeType }),
      content: answer.report.content,
    };
    if (verdict.kind === 'unreadable') {
      const failed: PeriodRecord = {
        ...period,
        state: 'reportFailed',
        report,
        ledger: own,
        error: 'the report has no sales rows the ledger can read',
      };
      ledger.savePeriod(failed);
      logger.error(
        { code: 'E_RECONCILIATION_REPORT', periodId: period.periodId },
        'reconciliation report could not be read',
      );
      return failed;
    }
    const { seqr } = verdict;
    const matched = verdict.kind === 'matched';
    const done: PeriodRecord = { ...period, state: 'reported', report, seqr, ledger: own, matched };
    ledger.savePeriod(done);
    if (matched) logger.info({ periodId: period.periodId, ...seqr }, 'reconciliation matches');
    else
      logger.error(
        { code: 'E_RECONCILIATION_MISMATCH', periodId: period.periodId, seqr, ledger: own },
        "SEQR's report differs from the ledger",
      );
    return done;
  }
  const failed: PeriodRecord = { ...period, state: 'reportFailed', error: lastError };
  ledger.savePeriod(failed);
  logger.error(
    {
      failure: lastError,
      ...lastFailure,
      code: 'E_RECONCILIATION_REPORT',
      periodId: period.periodId,
    },
    `reconciliation report not obtained after ${maxAttempts} attempts`,
  );
  return failed;
}

/**
 * The next moment (epoch ms) strictly after `now` when the local wall clock shows `hhmm`
 * (`"23:30"`). Local time is the process's time zone (TZ); across a DST change the hour that does
 * not exist resolves as `Date` does (moved forward).
 */
export function nextOccurrence(now: number, hhmm: string): number {
  const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(hhmm);
  if (!m) throw new VendError('E_CONFIG_INVALID', `end-of-day time must be HH:MM, got "${hhmm}"`);
  const [h, min] = [Number(m[1]), Number(m[2])];
  const at = new Date(now);
  at.setHours(h, min, 0, 0);
  while (at.getTime() <= now) {
    at.setDate(at.getDate() + 1);
    at.setHours(h, min, 0, 0);
  }
  return at.getTime();
}

/**
 * Runs {@link closePeriod} every day at `at` (local HH:MM) on the injected clock. A failure is
 * logged and the next day is scheduled as usual.
 */
export class EndOfDayScheduler {
  readonly #options: EndOfDayOptions & { readonly at: string };
  #timer: TimerHandle | undefined;
  #running: Promise<unknown> | undefined;
  #stopped = true;

  constructor(options: EndOfDayOptions & { readonly at: string }) {
    nextOccurrence(0, options.at);
    this.#options = options;
  }

  /** Schedules the next run; returns its time (epoch ms). */
  start(): number {
    this.stop();
    this.#stopped = false;
    const { clock } = this.#options;
    const due = nextOccurrence(clock.now(), this.#options.at);
    this.#timer = clock.setTimeout(
      () => {
        this.#timer = undefined;
        this.#running = closePeriod(this.#options)
          .catch((err: unknown) => {
            this.#options.logger.error(
              { ...failureLog(err), code: 'E_RECONCILIATION_REPORT', err },
              'end of day: closing the period failed',
            );
          })
          .finally(() => {
            this.#running = undefined;
            if (!this.#stopped) this.start();
          });
      },
      Math.max(0, due - clock.now()),
    );
    return due;
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#options.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The run in progress, if any (for an orderly shutdown). */
  get running(): Promise<unknown> | undefined {
    return this.#running;
  }
}
