// The ledger's read path: every row is validated, a damaged or foreign row is E_LEDGER_CORRUPT
// naming the row, and ledgers written before failures were typed still read (and recover).
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { viewOf } from '../../daemon/core/projection.js';
import { VendError } from '../../daemon/errors.js';
import { legacyFailure } from '../../daemon/ledger/rows.js';
import { APPLICATION_ID, SCHEMA_VERSION, SqliteLedger } from '../../daemon/ledger/sqlite-ledger.js';
import type { LedgerEntry } from '../../daemon/ports/ledger.js';
import { ManualClock } from '../../daemon/runtime/manual-clock.js';
import { createRuntime } from '../../daemon/runtime/runtime.js';
import { FakePaymentGateway } from '../../daemon/seqr/fake-gateway.js';
import { FakeButtons } from '../../hardware/buttons/fake-buttons.js';
import { FakeDispenser } from '../../hardware/dispenser/fake-dispenser.js';
import { FakeDisplay } from '../../hardware/display/fake-display.js';
import { FakePrinter } from '../../hardware/printer/fake-printer.js';
import { testConfig } from '../support/core-config.js';
import { captureLog } from '../support/harness.js';
import { SEK, saleEntries, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => void;
let file: string;
beforeEach(() => {
  ({ dir, cleanup } = tempDir());
  file = path.join(dir, 'ledger.sqlite');
});
afterEach(() => {
  cleanup();
});

function corrupt(sql: string, ...params: unknown[]): void {
  const db = new Database(file);
  db.prepare(sql).run(...params);
  db.close();
}

async function expectCorrupt(fn: () => unknown, row: RegExp): Promise<void> {
  let caught: unknown;
  try {
    await fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(VendError);
  expect((caught as VendError).code).toBe('E_LEDGER_CORRUPT');
  expect((caught as VendError).message).toMatch(row);
}

async function seeded(): Promise<void> {
  const ledger = SqliteLedger.open({ path: file });
  let at = 1000;
  for (const e of saleEntries('sold')) await ledger.record(e, at++);
  for (const e of saleEntries('open').slice(0, 4)) await ledger.record(e, at++);
  await ledger.close();
}

describe('the ledger read path', () => {
  it('an entry row that is not JSON: E_LEDGER_CORRUPT naming the row, from openTransactions and entries', async () => {
    await seeded();
    corrupt('UPDATE entries SET body = \'{"type":"status.se\' WHERE seq = 12');
    const ledger = SqliteLedger.open({ path: file });
    await expectCorrupt(() => ledger.openTransactions(), /entry row 12 is not JSON/);
    expect(() => ledger.entries('open')).toThrow(/entry row 12/);
    // Other transactions still read.
    expect(ledger.entries('sold')).toHaveLength(9);
    await ledger.close();
  });

  it('a foreign or damaged entry (valid JSON, wrong shape): E_LEDGER_CORRUPT with the field at fault', async () => {
    await seeded();
    for (const [body, why] of [
      ['{"type":"coffee.brewed","txId":"open"}', /entry row 11 is not a seqr-vend record \(type: /],
      [
        '{"type":"status.seen","txId":"open","status":"PAYED","version":2}',
        /entry row 11 .*status/,
      ],
      [
        '{"type":"refund.failed","txId":"open","failure":{"code":"E_NOT_A_CODE"}}',
        /entry row 11 .*failure\.code/,
      ],
      ['[1,2,3]', /entry row 11 is not a seqr-vend record/],
    ] as const) {
      corrupt('UPDATE entries SET body = ? WHERE seq = 11', body);
      const ledger = SqliteLedger.open({ path: file, readonly: true });
      await expectCorrupt(() => ledger.openTransactions(), why);
      await ledger.close();
    }
  });

  it('a damaged projection row: E_LEDGER_CORRUPT naming the transaction, for readers and for the next write', async () => {
    await seeded();
    corrupt('UPDATE transactions SET view = \'{"txId":"open"}\' WHERE tx_id = \'open\'');
    const ledger = SqliteLedger.open({ path: file });
    await expectCorrupt(() => ledger.transaction('open'), /transaction row open/);
    await expectCorrupt(() => ledger.transactions(), /transaction row open/);
    await expectCorrupt(() => ledger.paidBetween(0, 10_000), /transaction row open/);
    await expectCorrupt(
      () => ledger.record({ type: 'dispense.started', txId: 'open', slot: 1 }, 2000),
      /transaction row open/,
    );
    expect(ledger.entries('open')).toHaveLength(4);
    await ledger.close();
  });

  it('a damaged period row: E_LEDGER_CORRUPT naming the period', async () => {
    const ledger = SqliteLedger.open({ path: file });
    ledger.savePeriod({
      periodId: 'P1',
      terminalId: 'T1',
      openedAt: 0,
      closedAt: 1,
      reportId: 'r',
      state: 'marked',
    });
    corrupt(`UPDATE periods SET body = '{"periodId":"P1","state":"lost"}' WHERE period_id = 'P1'`);
    await expectCorrupt(() => ledger.period('P1'), /period row P1/);
    await expectCorrupt(() => ledger.lastPeriod('T1'), /period row P1/);
    await ledger.close();
  });

  it('reads legacy failure strings as typed failures, with the gateway meaning of refund codes', () => {
    expect(legacyFailure('E_SEQR_RESULT:97', 'refund')).toEqual({
      code: 'E_REFUND_REFUSED',
      resultCode: 97,
    });
    expect(legacyFailure('E_SEQR_RESULT:98', 'refund')).toEqual({
      code: 'E_REFUND_EXCEEDS_PAYMENT',
      resultCode: 98,
    });
    expect(legacyFailure('E_SEQR_RESULT:93', 'refund')).toEqual({
      code: 'E_SEQR_RESULT',
      resultCode: 93,
    });
    expect(legacyFailure('E_SEQR_AUTH:20', 'refund')).toEqual({
      code: 'E_SEQR_AUTH',
      resultCode: 20,
    });
    expect(legacyFailure('E_SEQR_TIMEOUT', 'refund')).toEqual({ code: 'E_SEQR_TIMEOUT' });
    expect(legacyFailure('E_PRINTER_OFFLINE')).toEqual({ code: 'E_PRINTER_OFFLINE' });
    // refundFailureCode wrote E_UNKNOWN for errors outside the catalogue.
    expect(legacyFailure('E_UNKNOWN', 'refund')).toEqual({ code: 'E_UNEXPECTED' });
    expect(legacyFailure('gibberish')).toEqual({ code: 'E_UNEXPECTED' });
  });
});

/** A version-2 ledger as the previous release wrote it: string failure codes. */
function writeVersion2(entries: readonly LedgerEntry[] | readonly Record<string, unknown>[]): void {
  const db = new Database(file);
  db.exec(`
    CREATE TABLE entries (seq INTEGER PRIMARY KEY AUTOINCREMENT, tx_id TEXT NOT NULL,
      type TEXT NOT NULL, at INTEGER NOT NULL, body TEXT NOT NULL);
    CREATE INDEX entries_tx ON entries (tx_id, seq);
    CREATE TABLE transactions (tx_id TEXT PRIMARY KEY, opened_at INTEGER NOT NULL,
      first_seq INTEGER NOT NULL, slot INTEGER NOT NULL, paid_at INTEGER, ers_reference TEXT,
      closed TEXT, view TEXT NOT NULL);
    CREATE INDEX transactions_open ON transactions (closed, first_seq);
    CREATE INDEX transactions_ers ON transactions (ers_reference);
    CREATE INDEX transactions_paid ON transactions (paid_at);
    CREATE TABLE periods (period_id TEXT PRIMARY KEY, terminal_id TEXT NOT NULL,
      closed_at INTEGER NOT NULL, body TEXT NOT NULL);
    CREATE INDEX periods_terminal ON periods (terminal_id, closed_at);`);
  const insert = db.prepare('INSERT INTO entries (tx_id, type, at, body) VALUES (?, ?, ?, ?)');
  const views = new Map<string, { first: number; slot: number; body: Record<string, unknown> }>();
  let at = 1000;
  for (const e of entries as Record<string, unknown>[]) {
    const txId = String(e['txId']);
    const { lastInsertRowid } = insert.run(txId, String(e['type']), at++, JSON.stringify(e));
    const view = views.get(txId) ?? { first: Number(lastInsertRowid), slot: 1, body: { txId } };
    // The old projection kept failures as strings.
    if (e['type'] === 'refund.failed') view.body['refundError'] = e['code'];
    views.set(txId, view);
  }
  const upsert = db.prepare(
    'INSERT INTO transactions (tx_id, opened_at, first_seq, slot, view) VALUES (?, ?, ?, ?, ?)',
  );
  for (const [txId, v] of views) upsert.run(txId, 1000, v.first, v.slot, JSON.stringify(v.body));
  db.pragma(`application_id = ${APPLICATION_ID}`);
  db.pragma('user_version = 2');
  db.close();
}

describe('upgrading a ledger with string failure codes', () => {
  it('keeps every entry, reads old failures typed, and refolds the projection', async () => {
    const refused = [
      ...saleEntries('refused').slice(0, 5),
      { type: 'dispense.finished', txId: 'refused', outcome: 'notDelivered' },
      { type: 'refund.requested', txId: 'refused', amount: SEK(2500), initiator: 'refundWorker' },
      { type: 'refund.failed', txId: 'refused', code: 'E_SEQR_RESULT:97' },
    ];
    const busy = [
      ...saleEntries('busy').slice(0, 5),
      { type: 'dispense.finished', txId: 'busy', outcome: 'notDelivered' },
      { type: 'refund.requested', txId: 'busy', amount: SEK(2500) },
      { type: 'refund.failed', txId: 'busy', code: 'E_SEQR_RESULT:93' },
    ];
    const paper = [
      ...saleEntries('paper').slice(0, 6),
      { type: 'receipt.unprinted', txId: 'paper', code: 'E_PRINTER_OFFLINE' },
      { type: 'tx.closed', txId: 'paper', outcome: 'sold' },
    ];
    writeVersion2([...refused, ...busy, ...paper]);

    const ledger = SqliteLedger.open({ path: file });
    const db = new Database(file, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    // The log itself is never rewritten.
    expect(db.prepare('SELECT count(*) AS n FROM entries').get()).toEqual({ n: 24 });
    db.close();
    expect(ledger.transaction('refused')).toMatchObject({
      refund: 'failed',
      refundAttempts: 1,
      refundFailure: { code: 'E_REFUND_REFUSED', resultCode: 97 },
    });
    expect(ledger.transaction('refused')).not.toHaveProperty('refundError');
    expect(ledger.transaction('busy')).toMatchObject({
      refundFailure: { code: 'E_SEQR_RESULT', resultCode: 93 },
    });
    expect(ledger.transaction('paper')).toMatchObject({
      closed: 'sold',
      receipt: 'unprinted',
      receiptFailure: { code: 'E_PRINTER_OFFLINE' },
    });
    expect(ledger.entries('refused').at(-1)).toMatchObject({
      type: 'refund.failed',
      failure: { code: 'E_REFUND_REFUSED', resultCode: 97 },
    });
    const open = await ledger.openTransactions();
    expect([...open.keys()]).toEqual(['refused', 'busy']);
    expect(open.get('busy')?.at(-1)).toEqual(
      expect.objectContaining({ failure: { code: 'E_SEQR_RESULT', resultCode: 93 } }),
    );
    await ledger.close();
  });
});

describe('start-up recovery from an upgraded ledger', () => {
  it('a refund refused for good before the upgrade (97) is flagged and never sent; a busy one (93) is refunded', async () => {
    const clock = new ManualClock(1_763_800_000_000);
    const fake = new FakePaymentGateway({ clock });
    const paid = async (txId: string): Promise<string> => {
      const { reference } = await fake.issueInvoice({
        clientInvoiceId: txId,
        title: 't',
        itemDescription: 'Cola',
        price: SEK(2500),
        cashierId: 'm',
      });
      fake.pay(reference);
      return (await fake.getStatus(reference, 0)).ersReference!;
    };
    const legacy = async (txId: string, code: string) => [
      ...saleEntries(txId, { ers: await paid(txId) }).slice(0, 5),
      { type: 'dispense.finished', txId, outcome: 'notDelivered' },
      { type: 'refund.requested', txId, amount: SEK(2500), initiator: 'refundWorker' },
      { type: 'refund.failed', txId, code },
    ];
    writeVersion2([
      ...(await legacy('refused', 'E_SEQR_RESULT:97')),
      ...(await legacy('busy', 'E_SEQR_RESULT:93')),
    ]);
    const callsBefore = fake.calls.length;

    const ledger = SqliteLedger.open({ path: file });
    const slots = testConfig.products.map((p) => p.slot);
    const runtime = createRuntime({
      gateway: fake,
      buttons: new FakeButtons({ clock, slots }),
      dispenser: new FakeDispenser({ clock, slots }),
      display: new FakeDisplay(),
      printer: new FakePrinter({ clock }),
      ledger,
      clock,
      log: captureLog().log,
      config: testConfig,
    });
    await runtime.start();
    for (let i = 0; i < 50; i++) await clock.advanceAsync(100);
    expect(runtime.state().kind).toBe('idle');
    expect(fake.calls.slice(callsBefore).map((c) => [c.method, c.outcome])).toEqual([
      ['refund', 'ok'],
    ]);
    expect(ledger.transaction('refused')).toMatchObject({ closed: 'flagged', refundAttempts: 1 });
    expect(ledger.transaction('busy')).toMatchObject({ closed: 'refunded', refundedMinor: 2500 });
    expect(viewOf(ledger.entries('busy'))).toEqual(ledger.transaction('busy'));
    await runtime.stop();
  });
});
