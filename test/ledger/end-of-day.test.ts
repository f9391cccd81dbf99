import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VendError } from '../../daemon/errors.js';
import {
  EndOfDayScheduler,
  closePeriod,
  nextOccurrence,
  reportTotals,
  type ReconciliationGateway,
  type ReconciliationReport,
} from '../../daemon/ledger/end-of-day.js';
import { SqliteLedger } from '../../daemon/ledger/sqlite-ledger.js';
import { ManualClock, yieldToLoop } from '../../daemon/runtime/manual-clock.js';
import { MemoryLogger, saleEntries, tempDir } from './helpers.js';

/** Runs `work` to its end, moving the clock to each timer it sets (its retry waits). */
async function drive<T>(clock: ManualClock, work: Promise<T>): Promise<T> {
  const state = { done: false };
  const result = work.finally(() => {
    state.done = true;
  });
  for (let turns = 0; !state.done && turns < 10_000; turns++) {
    const next = clock.nextAt();
    if (next === undefined) await yieldToLoop();
    else await clock.advanceAsync(next - clock.now());
  }
  return result;
}

const summary = (count: number, total: string): string =>
  `<TerminalTransactionSummary><Meta><ResellerId>shop</ResellerId><TerminalId>T1</TerminalId>
  <TransactionPeriodId>P</TransactionPeriodId><GeneratedAt>2026-11-22 23:30</GeneratedAt></Meta>
  <Row><TerminalId>T1</TerminalId><SalesCount>${count}</SalesCount><SalesTotal>${total}</SalesTotal></Row>
  </TerminalTransactionSummary>`;

class FakeReconciliation implements ReconciliationGateway {
  readonly marked: string[] = [];
  readonly asked: string[] = [];
  notReadyTimes = 0;
  failTimes = 0;
  constructor(private readonly content: string) {}
  markPeriod(terminalId: string): Promise<string> {
    this.marked.push(terminalId);
    return Promise.resolve(`P${this.marked.length}`);
  }
  executeReport(
    periodId: string,
  ): Promise<{ kind: 'ready'; report: ReconciliationReport } | { kind: 'notReady' }> {
    this.asked.push(periodId);
    if (this.failTimes-- > 0)
      return Promise.reject(new VendError('E_SEQR_TIMEOUT', 'slow', { retryable: true }));
    if (this.notReadyTimes-- > 0) return Promise.resolve({ kind: 'notReady' });
    return Promise.resolve({
      kind: 'ready',
      report: {
        title: `STD_RECON_006_${periodId}.xml`,
        mimeType: 'text/html',
        content: this.content,
      },
    });
  }
}

let dir: string;
let cleanup: () => void;
let ledger: SqliteLedger;
const T0 = Date.UTC(2026, 10, 22, 12, 0, 0);
beforeEach(async () => {
  ({ dir, cleanup } = tempDir());
  ledger = SqliteLedger.open({ path: path.join(dir, 'ledger.sqlite') });
  let at = T0;
  for (const e of saleEntries('a', { price: 2500 })) await ledger.record(e, at++);
  for (const e of saleEntries('b', { price: 1550 })) await ledger.record(e, at++);
  // Issued but never paid: not a sale.
  for (const e of saleEntries('c').slice(0, 3)) await ledger.record(e, at++);
});
afterEach(async () => {
  await ledger.close();
  cleanup();
});

describe('reportTotals', () => {
  it('adds summary rows and counts detail rows', () => {
    expect(reportTotals(summary(3, '5476.52000'))).toEqual({ count: 3, totalMinor: 547652 });
    expect(
      reportTotals(
        '<TransactionDetails><Meta/><Row><SalesAmount>25.00000</SalesAmount><ErsReference>1</ErsReference></Row><Row><SalesAmount>15.5</SalesAmount></Row></TransactionDetails>',
      ),
    ).toEqual({ count: 2, totalMinor: 4050 });
    expect(reportTotals('<X><Meta><ResellerId>s</ResellerId></Meta></X>')).toEqual({
      count: 0,
      totalMinor: 0,
    });
    expect(reportTotals('<html>Internal error</html>')).toBeUndefined();
    expect(reportTotals(summary(1, 'abc'))).toBeUndefined();
  });
});

describe('closePeriod', () => {
  it('stores a matching report after REPORT_NOT_READY and a failed call, retried on the clock', async () => {
    const clock = new ManualClock(T0 + 60_000);
    const seqr = new FakeReconciliation(summary(2, '40.50000'));
    seqr.notReadyTimes = 2;
    seqr.failTimes = 1;
    const logger = new MemoryLogger();
    const start = clock.now();
    const period = await drive(
      clock,
      closePeriod({ ledger, reconciliation: seqr, clock, logger, terminalId: 'T1' }),
    );
    expect(seqr.marked).toEqual(['T1']);
    expect(seqr.asked).toEqual(['P1', 'P1', 'P1', 'P1']);
    expect(clock.now() - start).toBe(3 * 4000);
    expect(period).toMatchObject({
      periodId: 'P1',
      state: 'reported',
      matched: true,
      seqr: { count: 2, totalMinor: 4050 },
      ledger: { count: 2, totalMinor: 4050 },
      openedAt: 0,
    });
    expect(ledger.period('P1')).toEqual(period);
    expect(logger.codes()).toEqual([]);
  });

  it('logs E_RECONCILIATION_MISMATCH when the totals differ, and counts only sales after the previous period', async () => {
    const clock = new ManualClock(T0 + 60_000);
    const logger = new MemoryLogger();
    const first = await drive(
      clock,
      closePeriod({
        ledger,
        reconciliation: new FakeReconciliation(summary(2, '40.50')),
        clock,
        logger,
        terminalId: 'T1',
      }),
    );
    expect(first.matched).toBe(true);
    clock.advance(1000);
    for (const e of saleEntries('d', { price: 1000 })) await ledger.record(e, clock.now());
    clock.advance(1000);
    const seqr = new FakeReconciliation(summary(2, '20.00'));
    seqr.marked.push('earlier');
    const second = await drive(
      clock,
      closePeriod({ ledger, reconciliation: seqr, clock, logger, terminalId: 'T1' }),
    );
    expect(second).toMatchObject({
      periodId: 'P2',
      openedAt: first.closedAt,
      matched: false,
      seqr: { count: 2, totalMinor: 2000 },
      ledger: { count: 1, totalMinor: 1000 },
    });
    expect(logger.codes()).toEqual(['E_RECONCILIATION_MISMATCH']);
  });

  it('gives up after maxAttempts with E_RECONCILIATION_REPORT, keeping the period for a later fetch', async () => {
    const clock = new ManualClock(T0 + 60_000);
    const seqr = new FakeReconciliation(summary(2, '40.50'));
    seqr.notReadyTimes = 100;
    const logger = new MemoryLogger();
    const period = await drive(
      clock,
      closePeriod({
        ledger,
        reconciliation: seqr,
        clock,
        logger,
        terminalId: 'T1',
        maxAttempts: 3,
      }),
    );
    expect(seqr.asked).toHaveLength(3);
    expect(period.state).toBe('reportFailed');
    expect(ledger.period('P1')?.state).toBe('reportFailed');
    expect(logger.codes()).toEqual(['E_RECONCILIATION_REPORT']);
  });
});

describe('scheduling', () => {
  const tz = process.env['TZ'];
  afterEach(() => {
    if (tz === undefined) delete process.env['TZ'];
    else process.env['TZ'] = tz;
  });

  it('finds the next local HH:MM, today or tomorrow, across a DST change', () => {
    process.env['TZ'] = 'Europe/Stockholm';
    const noon = Date.parse('2026-11-22T12:00:00+01:00');
    expect(new Date(nextOccurrence(noon, '23:30')).toISOString()).toBe('2026-11-22T22:30:00.000Z');
    expect(new Date(nextOccurrence(noon, '06:00')).toISOString()).toBe('2026-11-23T05:00:00.000Z');
    expect(nextOccurrence(Date.parse('2026-11-22T23:30:00+01:00'), '23:30')).toBe(
      Date.parse('2026-11-23T23:30:00+01:00'),
    );
    // Summer time ends on 2026-10-25: 23:30 that evening is UTC+1.
    expect(
      new Date(nextOccurrence(Date.parse('2026-10-24T23:40:00+02:00'), '23:30')).toISOString(),
    ).toBe('2026-10-25T22:30:00.000Z');
    expect(() => nextOccurrence(noon, '24:00')).toThrow(/HH:MM/);
  });

  it('closes the period at the configured time on the injected clock and schedules the next day', async () => {
    process.env['TZ'] = 'UTC';
    const clock = new ManualClock(Date.UTC(2026, 10, 22, 23, 0));
    const seqr = new FakeReconciliation(summary(2, '40.50'));
    const scheduler = new EndOfDayScheduler({
      ledger,
      reconciliation: seqr,
      clock,
      logger: new MemoryLogger(),
      terminalId: 'T1',
      at: '23:30',
    });
    expect(scheduler.start()).toBe(Date.UTC(2026, 10, 22, 23, 30));
    clock.advance(29 * 60_000);
    expect(seqr.marked).toEqual([]);
    clock.advance(60_000);
    await scheduler.running;
    expect(seqr.marked).toEqual(['T1']);
    expect(ledger.period('P1')).toMatchObject({
      closedAt: Date.UTC(2026, 10, 22, 23, 30),
      matched: true,
    });
    expect(clock.nextAt()).toBe(Date.UTC(2026, 10, 23, 23, 30));
    scheduler.stop();
  });
});
