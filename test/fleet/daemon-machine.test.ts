// The daemon's side of the fleet port, over a real SQLite ledger: a remote refund only of a
// flagged purchase, at most what was paid, never twice, decided by the core's refund rules; the
// refund reaches the sales outbox as a second event.
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configSchema } from '../../config/schema.js';
import { Catalog } from '../../daemon/fleet/catalog.js';
import { createDaemonMachine } from '../../daemon/fleet/daemon-machine.js';
import { SqliteLedger, ledgerPath } from '../../daemon/ledger/sqlite-ledger.js';
import { systemClock } from '../../daemon/ports/clock.js';
import type { LedgerEntry } from '../../daemon/ports/ledger.js';
import type { RefundRequest } from '../../daemon/ports/payment-gateway.js';
import { saleEntries } from '../ledger/helpers.js';
import { tempDir } from './support.js';

let dir: string;
let remove: () => void;
let ledger: SqliteLedger;
beforeEach(() => {
  ({ dir, remove } = tempDir());
  ledger = SqliteLedger.open({ path: ledgerPath(path.join(dir, 'state')) });
});
afterEach(async () => {
  await ledger.close();
  remove();
});

function machine(refunds: RefundRequest[]) {
  const config = configSchema({ stateDirectory: dir, controlSocket: `${dir}/c.sock` }).parse({
    mode: 'demo',
    machine: { name: 'm' },
    merchant: { name: 'x' },
    products: [{ slot: 1, name: 'Cola', price: '25.00', buttonPin: 5, relayPin: 17 }],
    buttons: { cancelPin: 26 },
    stateDirectory: dir,
  });
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
  return createDaemonMachine({
    status: () => Promise.reject(new Error('not used')),
    fullStatus: () => Promise.resolve({}),
    soldOut: () => [],
    stock: () => undefined,
    onTransition: () => () => undefined,
    ledger,
    catalog: new Catalog(config),
    live: { catalog: () => undefined, maintenance: () => undefined, refill: () => undefined },
    currency: 'SEK',
    terminalId: 't',
    refunds: {
      gateway: {
        refund: (request) => {
          refunds.push(request);
          return Promise.resolve({ refundReference: `r-${String(refunds.length)}` });
        },
      },
      logger: quiet,
      cashierId: 'm',
    },
    clock: systemClock,
    startedAt: 0,
  });
}

async function record(entries: LedgerEntry[]): Promise<void> {
  for (const e of entries) await ledger.record(e, Date.now());
}

describe('remote refund of a flagged purchase', () => {
  it('refunds a flagged purchase once, closes it refunded and streams the refund', async () => {
    await record([
      ...saleEntries('f').slice(0, 5),
      { type: 'dispense.finished', txId: 'f', outcome: 'uncertain' },
      { type: 'tx.closed', txId: 'f', outcome: 'flagged' },
    ]);
    const refunds: RefundRequest[] = [];
    const m = machine(refunds);
    await expect(m.commands.refundFlagged('f', 2_600)).rejects.toMatchObject({
      code: 'E_FLEET_COMMAND_REFUSED',
      message: expect.stringMatching(/at most 2500/) as unknown,
    });
    expect(await m.commands.refundFlagged('f', 1_000)).toMatchObject({
      refundedMinor: 1_000,
      outcome: 'confirmed',
    });
    expect(ledger.transaction('f')?.closed).toBe('flagged');
    expect(await m.commands.refundFlagged('f')).toMatchObject({
      refundedMinor: 2_500,
      refundReference: 'r-2',
    });
    expect(ledger.transaction('f')?.closed).toBe('refunded');
    await expect(m.commands.refundFlagged('f')).rejects.toMatchObject({
      code: 'E_FLEET_COMMAND_REFUSED',
    });
    expect(refunds.map((r) => r.amount.minor)).toEqual([1_000, 1_500]);
    expect(ledger.outbox(0, 10).map((e) => [e.txId, e.outcome, e.refundedMinor])).toEqual([
      ['f', 'flagged', 0],
      ['f', 'refunded', 2_500],
    ]);
  });

  it('refuses a purchase that is not flagged, or unknown', async () => {
    await record(saleEntries('s'));
    const refunds: RefundRequest[] = [];
    const m = machine(refunds);
    await expect(m.commands.refundFlagged('s')).rejects.toMatchObject({
      code: 'E_FLEET_COMMAND_REFUSED',
      message: expect.stringMatching(/only a flagged purchase.*sold/) as unknown,
    });
    await expect(m.commands.refundFlagged('nope')).rejects.toMatchObject({
      code: 'E_FLEET_COMMAND_REFUSED',
    });
    expect(refunds).toEqual([]);
  });
});
