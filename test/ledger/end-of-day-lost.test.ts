// markTransactionPeriod whose answer is lost (issue 14): SEQR may have closed a period whose id
// never arrived. The end-of-day work against the SEQR simulator over its SOAP contract (its
// periods and reports are the referee), the ledger on SQLite, one ManualClock for both.
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { reconciliationGateway } from '../../daemon/app.js';
import { closePeriod } from '../../daemon/ledger/end-of-day.js';
import { SqliteLedger } from '../../daemon/ledger/sqlite-ledger.js';
import { ManualClock, yieldToLoop } from '../../daemon/runtime/manual-clock.js';
import { SeqrClient } from '../../daemon/seqr/client.js';
import { SeqrPaymentGateway } from '../../daemon/seqr/gateway.js';
import { startSimulator, type SeqrSimulator } from '../../simulator/index.js';
import { MemoryLogger, SEK, saleEntries, tempDir } from './helpers.js';

const T0 = Date.UTC(2026, 10, 22, 12, 0, 0);
let clock: ManualClock;
let sim: SeqrSimulator;
let client: SeqrClient;
let ledger: SqliteLedger;
let cleanup: () => void;

beforeEach(async () => {
  clock = new ManualClock(T0);
  sim = await startSimulator({ clock, missingAckMode: 'NO_ACKNOWLEDGMENT' });
  client = await SeqrClient.create({
    endpoint: sim.soapUrl,
    terminal: sim.terminal,
    reseller: sim.reseller,
    deadlineMs: 3_000,
  });
  const tmp = tempDir();
  cleanup = tmp.cleanup;
  ledger = SqliteLedger.open({ path: path.join(tmp.dir, 'ledger.sqlite') });
});
afterEach(async () => {
  client.close();
  await sim.close();
  await ledger.close();
  cleanup();
});

/** A sale paid (and committed) at SEQR now, recorded in the ledger as the daemon would. */
async function sale(txId: string, minor: number): Promise<void> {
  const seqr = new SeqrPaymentGateway(client, { clock });
  const { reference } = await seqr.issueInvoice({
    clientInvoiceId: txId,
    title: 'Corner Cafe',
    itemDescription: 'Cola',
    price: SEK(minor),
    cashierId: 'm',
  });
  sim.control.pay(reference);
  const status = await seqr.getStatus(reference, 0);
  for (const e of saleEntries(txId, { price: minor, ers: status.ersReference ?? '' }))
    await ledger.record(e, clock.now());
  clock.advance(1_000);
}

/** Runs `work` to its end, moving the clock to each timer it sets (its retry waits). */
async function drive<T>(work: Promise<T>): Promise<T> {
  let done = false;
  const result = work.finally(() => {
    done = true;
  });
  const finished = (): boolean => done;
  for (let turns = 0; !finished() && turns < 10_000; turns++) {
    const next = clock.nextAt();
    await yieldToLoop();
    if (next !== undefined && !finished()) await clock.advanceAsync(next - clock.now());
    else await new Promise((r) => setTimeout(r, 2));
  }
  return result;
}

const close = (logger: MemoryLogger) =>
  drive(
    closePeriod({
      ledger,
      reconciliation: reconciliationGateway(client),
      clock,
      logger,
      terminalId: sim.terminal.id,
      reportId: 'Reconciliation/STD_RECON_006.xml',
      retryDelayMs: 4_000,
    }),
  );

const periodsAtSeqr = () =>
  sim.control.calls().filter((c) => c.op === 'markTransactionPeriod' && c.fault !== 'reset');

describe('markTransactionPeriod answer lost', () => {
  it('SEQR closed the period: marked again, the next report proves it; the lost one keeps its ledger totals for the operator', async () => {
    const logger = new MemoryLogger();
    await sale('a', 2_500);
    expect(await close(logger)).toMatchObject({ state: 'reported', matched: true });
    await sale('b', 1_550);
    sim.control.injectFault('markTransactionPeriod', { kind: 'answerLost' }, { times: 1 });
    const period = await close(logger);
    // Two periods closed at SEQR for the two marks: the lost one holds sale b.
    expect(periodsAtSeqr()).toHaveLength(3);
    expect(period).toMatchObject({
      state: 'reported',
      matched: true,
      seqr: { count: 0, totalMinor: 0 },
      ledger: { count: 0, totalMinor: 0 },
    });
    const lost = ledger.period(period.afterLost!);
    expect(lost).toMatchObject({ state: 'lost', ledger: { count: 1, totalMinor: 1_550 } });
    expect(logger.codes()).toContain('E_RECONCILIATION_REPORT');
    expect(logger.codes()).not.toContain('E_RECONCILIATION_MISMATCH');
  });

  it('SEQR never got the mark (the connection reset): the next period covers the sales, the lost one is void', async () => {
    const logger = new MemoryLogger();
    await sale('a', 2_500);
    expect(await close(logger)).toMatchObject({ matched: true });
    await sale('b', 1_550);
    await sale('c', 1_000);
    sim.control.injectFault('markTransactionPeriod', { kind: 'reset' }, { times: 1 });
    const period = await close(logger);
    expect(periodsAtSeqr()).toHaveLength(2);
    expect(period).toMatchObject({
      state: 'reported',
      matched: true,
      seqr: { count: 2, totalMinor: 2_550 },
      ledger: { count: 2, totalMinor: 2_550 },
    });
    expect(ledger.period(period.afterLost!)).toMatchObject({ state: 'void' });
    expect(logger.codes()).not.toContain('E_RECONCILIATION_MISMATCH');
  });
});
