/**
 * The ledger layer's background work around the runtime: start-up recovery before it, the refund
 * worker and the end-of-day reports beside it.
 */
import type { Config } from '../../config/schema.js';
import { EndOfDayScheduler } from '../ledger/end-of-day.js';
import { recover } from '../ledger/recovery.js';
import { RefundWorker, viewOf } from '../ledger/refunds.js';
import type { Logger } from '../log.js';
import type { Clock } from '../ports/clock.js';
import type { Dispenser } from '../ports/dispenser.js';
import type { Ledger } from '../ports/ledger.js';
import type { SqliteLedger } from '../ledger/sqlite-ledger.js';
import { reconciliationGateway, type Seqr } from './seqr.js';
import type { StopOrder } from './stop-order.js';

export interface WorkerDeps {
  readonly clock: Clock;
  readonly log: Logger;
  readonly seqr: Seqr;
}

/** Whatever a crash or power cut left open, settled with SEQR before the first customer. */
export async function recoverAtStart(
  config: Config,
  ledger: Ledger,
  dispenser: Dispenser,
  deps: WorkerDeps,
): Promise<void> {
  const { clock, log, seqr } = deps;
  const summary = await recover({
    ledger,
    gateway: seqr.gateway,
    dispenser,
    clock,
    logger: log.child({ component: 'recovery' }),
    cashierId: config.machine.name,
    maxCustomerAgeMs: config.recovery.maxCustomerAgeMs,
    pollIntervalMs: config.timeouts.pollIntervalMs,
  });
  log.info({ recovery: summary }, 'start-up recovery done');
}

/** The ledger as the runtime sees it: open transactions whose refund failed are left out. */
export function withoutFailedRefunds(ledger: Ledger): Ledger {
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
 * Starts the refund worker and, with `endOfDay` and a reseller credential, the end-of-day
 * reports; both are registered with the stop order.
 */
export function startWorkers(
  config: Config,
  ledger: SqliteLedger,
  stopOrder: StopOrder,
  deps: WorkerDeps,
): void {
  const { clock, log, seqr } = deps;
  const refunds = new RefundWorker({
    ledger,
    gateway: seqr.gateway,
    clock,
    logger: log.child({ component: 'refunds' }),
    cashierId: config.machine.name,
  });
  refunds.start();
  stopOrder.add(() => refunds.stop());
  if (config.endOfDay === undefined) return;
  if (seqr.reseller === undefined) {
    log.warn({}, 'endOfDay is set but no reseller credential: end-of-day reports are off');
    return;
  }
  const eod = new EndOfDayScheduler({
    at: config.endOfDay,
    ledger,
    reconciliation: reconciliationGateway(seqr.client),
    clock,
    logger: log.child({ component: 'endOfDay' }),
    terminalId: seqr.terminal.id,
  });
  const due = eod.start();
  log.info({ next: new Date(due).toISOString() }, 'end of day scheduled');
  stopOrder.add(async () => {
    eod.stop();
    await eod.running;
  });
}
