/**
 * The ledger layer's background work beside the runtime: the end-of-day reports. (Start-up
 * recovery and refund retries are the core's: see daemon/core/recovery.ts and background.ts.)
 */
import type { Config } from '../../config/schema.js';
import { EndOfDayScheduler } from '../ledger/end-of-day.js';
import type { Logger } from '../log.js';
import type { Clock } from '../ports/clock.js';
import type { SqliteLedger } from '../ledger/sqlite-ledger.js';
import { reconciliationGateway, type Seqr } from './seqr.js';
import type { StopOrder } from './stop-order.js';

export interface WorkerDeps {
  readonly clock: Clock;
  readonly log: Logger;
  readonly seqr: Seqr;
}

/**
 * With `endOfDay` and a reseller credential, starts the end-of-day reports, registered with the
 * stop order.
 */
export function startWorkers(
  config: Config,
  ledger: SqliteLedger,
  stopOrder: StopOrder,
  deps: WorkerDeps,
): void {
  const { clock, log, seqr } = deps;
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
