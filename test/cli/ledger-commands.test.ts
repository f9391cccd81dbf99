import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT, runLedgerCommand, type LedgerCommandIo } from '../../daemon/cli/ledger-commands.js';
import type { ReconciliationGateway } from '../../daemon/ledger/end-of-day.js';
import { SqliteLedger } from '../../daemon/ledger/sqlite-ledger.js';
import type { LedgerEntry } from '../../daemon/ports/ledger.js';
import { ManualClock } from '../../daemon/runtime/manual-clock.js';
import { FakePaymentGateway } from '../../daemon/seqr/fake-gateway.js';
import { SEK, saleEntries, tempDir } from '../ledger/helpers.js';

const T0 = Date.UTC(2026, 10, 20, 10, 0, 0);
let dir: string;
let cleanup: () => void;
let file: string;
let clock: ManualClock;
let seqr: FakePaymentGateway;
/** Each seeded payment's ersReference and invoice reference, as the fake SEQR issued them. */
const ers: Record<string, string> = {};
const invoiceOf: Record<string, string> = {};
/** SEQR calls made while seeding. */
let seeded = 0;
const callsSinceSeed = () => seqr.calls.slice(seeded).map((c) => c.method);

/** The payments the seeded ledger names, paid (and committed) at the fake SEQR. */
async function pay(txId: string, minor: number, product: string): Promise<void> {
  const { reference } = await seqr.issueInvoice({
    clientInvoiceId: txId,
    title: 'Corner Cafe',
    itemDescription: product,
    price: SEK(minor),
    cashierId: 'm',
  });
  seqr.pay(reference);
  ers[txId] = (await seqr.getStatus(reference, 0)).ersReference!;
  invoiceOf[txId] = reference;
}

async function seed(): Promise<void> {
  const ledger = SqliteLedger.open({ path: file });
  let at = T0;
  const put = async (entries: readonly LedgerEntry[]): Promise<void> => {
    for (const e of entries) await ledger.record(e, (at += 1000));
  };
  await put(saleEntries('s1', { slot: 1, price: 2500, product: 'Cola', ers: ers['s1']! }));
  await put(saleEntries('s2', { slot: 1, price: 2500, product: 'Cola', ers: ers['s2']! }));
  await put(saleEntries('s3', { slot: 2, price: 1500, product: 'Chips', ers: ers['s3']! }));
  // Slot 2: paid, nothing came out, refunded.
  await put([
    ...saleEntries('r1', { slot: 2, price: 1500, product: 'Chips', ers: ers['r1']! }).slice(0, 5),
    { type: 'dispense.finished', txId: 'r1', outcome: 'notDelivered', detail: 'noDrop' },
    { type: 'refund.requested', txId: 'r1', amount: SEK(1500) },
    { type: 'refund.confirmed', txId: 'r1', refundReference: 'RF-r1' },
    { type: 'tx.closed', txId: 'r1', outcome: 'refunded' },
  ]);
  // Slot 2: dispense interrupted, flagged.
  await put([
    ...saleEntries('u1', { slot: 2, price: 1500, product: 'Chips', ers: ers['u1']! }).slice(0, 5),
    {
      type: 'dispense.finished',
      txId: 'u1',
      outcome: 'uncertain',
      detail: 'restarted during the dispense',
    },
    { type: 'tx.closed', txId: 'u1', outcome: 'flagged' },
  ]);
  // Cancelled.
  await put([
    ...saleEntries('c1', { slot: 3, price: 1000, product: 'Gum' }).slice(0, 3),
    { type: 'cancel.requested', txId: 'c1' },
    { type: 'status.seen', txId: 'c1', status: 'CANCELED', version: 2 },
    { type: 'tx.closed', txId: 'c1', outcome: 'cancelled' },
  ]);
  // Sold without a receipt (paper out).
  await put([
    ...saleEntries('p1', { slot: 3, price: 1000, product: 'Gum', ers: ers['p1']! }).slice(0, 6),
    { type: 'receipt.unprinted', txId: 'p1', failure: { code: 'E_PRINTER_PAPER_OUT' } },
    { type: 'tx.closed', txId: 'p1', outcome: 'sold' },
  ]);
  // Refund failing, still open.
  await put([
    ...saleEntries('f1', { slot: 1, price: 2500, product: 'Cola', ers: ers['f1']! }).slice(0, 5),
    { type: 'dispense.finished', txId: 'f1', outcome: 'notDelivered' },
    { type: 'refund.requested', txId: 'f1', amount: SEK(2500) },
    { type: 'refund.failed', txId: 'f1', failure: { code: 'E_SEQR_TIMEOUT' } },
  ]);
  // An invoice on the screen right now.
  await put(saleEntries('o1', { slot: 1, price: 2500, product: 'Cola' }).slice(0, 3));
  await ledger.close();
}

function io(
  extra: Partial<LedgerCommandIo> = {},
  withGateway = true,
): LedgerCommandIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    ledgerPath: file,
    stdout: { write: (t: string) => (out += t) },
    stderr: { write: (t: string) => (err += t) },
    clock,
    ...(withGateway ? { gateway: seqr } : {}),
    ...extra,
    out: () => out,
    err: () => err,
  };
}

beforeEach(async () => {
  ({ dir, cleanup } = tempDir());
  file = path.join(dir, 'ledger.sqlite');
  clock = new ManualClock(T0 + 3_600_000);
  seqr = new FakePaymentGateway({ clock });
  for (const [tx, minor, product] of [
    ['s1', 2500, 'Cola'],
    ['s2', 2500, 'Cola'],
    ['s3', 1500, 'Chips'],
    ['r1', 1500, 'Chips'],
    ['u1', 1500, 'Chips'],
    ['p1', 1000, 'Gum'],
    ['f1', 2500, 'Cola'],
  ] as const)
    await pay(tx, minor, product);
  await seqr.refund({ ersReference: ers['r1']!, amount: SEK(1500), title: 'r', cashierId: 'm' });
  seeded = seqr.calls.length;
  await seed();
});
afterEach(() => {
  cleanup();
});

describe('sales', () => {
  it('prints counts and totals per slot and product and failure rates per slot', async () => {
    const o = io();
    expect(await runLedgerCommand(['sales'], o)).toBe(EXIT.ok);
    const text = o.out();
    expect(text).toMatch(/^slot\s+product\s+started\s+paid\s+sold\s+sold total/m);
    expect(text).toMatch(/^\s*1\s+Cola\s+4\s+3\s+2\s+50\.00 SEK\s+0\s+0\.00 SEK\s+0\s+0$/m);
    expect(text).toMatch(/^\s*2\s+Chips\s+3\s+3\s+1\s+15\.00 SEK\s+1\s+15\.00 SEK\s+0\s+1$/m);
    expect(text).toMatch(/^\s*2\s+3\s+2\s+66\.7%$/m);
  });

  it('filters by slot and date and answers JSON', async () => {
    const o = io();
    expect(await runLedgerCommand(['sales', '--slot', '3', '--json'], o)).toBe(EXIT.ok);
    const json = JSON.parse(o.out()) as {
      rows: { product: string; sold: number; cancelled: number }[];
    };
    expect(json.rows).toEqual([expect.objectContaining({ product: 'Gum', sold: 1, cancelled: 1 })]);
    const later = io();
    await runLedgerCommand(
      ['sales', '--since', new Date(T0 + 3_600_000).toISOString(), '--json'],
      later,
    );
    expect(JSON.parse(later.out())).toEqual({ rows: [], slots: [] });
  });

  it('rejects bad options with the usage text', async () => {
    const o = io();
    expect(await runLedgerCommand(['sales', '--since', 'yesterday'], o)).toBe(EXIT.usage);
    expect(o.err()).toMatch(/not a date/);
    expect(await runLedgerCommand(['sales', '--bogus'], io())).toBe(EXIT.usage);
    expect(await runLedgerCommand(['frobnicate'], io())).toBe(EXIT.usage);
  });

  it('reads while another connection holds the write lock (daemon mid-commit)', async () => {
    const writer = new Database(file);
    writer.pragma('busy_timeout = 0');
    writer.exec('BEGIN IMMEDIATE');
    writer.prepare("UPDATE transactions SET closed = 'sold' WHERE tx_id = 'o1'").run();
    const o = io();
    expect(await runLedgerCommand(['pending', '--json'], o)).toBe(EXIT.ok);
    expect((JSON.parse(o.out()) as { txId: string }[]).map((i) => i.txId)).toContain('o1');
    writer.exec('ROLLBACK');
    writer.close();
  });

  it('exits 66 when there is no ledger', async () => {
    const o = io({ ledgerPath: path.join(dir, 'missing.sqlite') });
    expect(await runLedgerCommand(['sales'], o)).toBe(EXIT.noInput);
    expect(o.err()).toMatch(/E_LEDGER_UNREADABLE/);
  });
});

describe('pending', () => {
  it('lists everything unfinished, as a table and as JSON', async () => {
    const o = io();
    expect(await runLedgerCommand(['pending', '--json'], o)).toBe(EXIT.ok);
    const items = JSON.parse(o.out()) as { txId: string; kind: string; detail?: string }[];
    expect(items.map((i) => [i.txId, i.kind])).toEqual([
      ['u1', 'uncertain dispense'],
      ['p1', 'receipt not printed'],
      ['f1', 'refund unconfirmed'],
      ['o1', 'open invoice'],
    ]);
    expect(items.find((i) => i.txId === 'f1')?.detail).toBe('E_SEQR_TIMEOUT');
    // A flagged purchase carries what the operator needs to decide.
    expect(items.find((i) => i.txId === 'u1')).toMatchObject({
      ersReference: ers['u1'],
      invoiceReference: 'inv-u1',
      paidAt: expect.stringMatching(/^2026-11-20T10:/) as unknown,
      detail: expect.stringContaining('restarted during the dispense') as unknown,
      action: `check slot 2 or ask the customer: if nothing came out, seqr-vend refund ${ers['u1']!}; if it did, nothing to do`,
    });
    expect(items.find((i) => i.txId === 'p1')?.detail).toBe(
      'E_PRINTER_PAPER_OUT; receipt not submitted to SEQR yet (sent automatically)',
    );
    const t = io();
    await runLedgerCommand(['pending'], t);
    expect(t.out()).toMatch(
      new RegExp(
        `^\\S+\\s+u1\\s+uncertain dispense\\s+2\\s+Chips\\s+15\\.00 SEK\\s+${ers['u1']!}\\s+dispense outcome unknown \\(restarted during the dispense\\).* -> check slot 2`,
        'm',
      ),
    );
  });

  it('lists a pay-first-then-choose session whose delivered products could not be charged', async () => {
    const ledger = SqliteLedger.open({ path: file });
    let at = T0 + 200_000;
    const sek = (minor: number) => ({ minor, currency: 'SEK' });
    const entries: LedgerEntry[] = [
      { type: 'reservation.requested', txId: 'ups-1', offered: sek(10_000), amount: sek(10_000) },
      { type: 'reservation.issued', txId: 'ups-1', invoiceReference: 'inv-ups-1' },
      { type: 'reservation.reserved', txId: 'ups-1', amount: sek(10_000) },
      {
        type: 'vend.started',
        txId: 'ups-1',
        vend: 1,
        slot: 1,
        productName: 'Cola',
        price: sek(2500),
      },
      { type: 'vend.finished', txId: 'ups-1', vend: 1, outcome: 'delivered' },
      {
        type: 'reservation.settling',
        txId: 'ups-1',
        total: sek(2500),
        rows: [{ slot: 1, productName: 'Cola', unitPrice: sek(2500), quantity: 1 }],
      },
      { type: 'tx.closed', txId: 'ups-1', outcome: 'flagged' },
    ];
    for (const e of entries) await ledger.record(e, (at += 1000));
    await ledger.close();
    const o = io();
    await runLedgerCommand(['pending', '--json'], o);
    const items = JSON.parse(o.out()) as { txId: string; kind: string; detail?: string }[];
    expect(items.find((i) => i.txId === 'ups-1')).toMatchObject({
      kind: 'flagged',
      product: 'Cola',
      invoiceReference: 'inv-ups-1',
      detail: 'pay first, then choose: 25.00 SEK delivered, reservation inv-ups-1 not committed',
      action: expect.stringContaining('unpaid') as unknown,
    });
  });

  it('lists receipts SEQR has not taken (with their attempts) and the ones it refused', async () => {
    const ledger = SqliteLedger.open({ path: file });
    let at = T0 + 100_000;
    const put = async (entries: readonly LedgerEntry[]): Promise<void> => {
      for (const e of entries) await ledger.record(e, (at += 1000));
    };
    await put([
      ...saleEntries('q1', { slot: 1, price: 2500, product: 'Cola', ers: 'ERS-q1' }).slice(0, 7),
      { type: 'receipt.submitFailed', txId: 'q1', failure: { code: 'E_SEQR_TIMEOUT' } },
      {
        type: 'receipt.submitFailed',
        txId: 'q1',
        failure: { code: 'E_SEQR_HTTP', httpStatus: 502 },
      },
      { type: 'tx.closed', txId: 'q1', outcome: 'sold' },
      ...saleEntries('q2', { slot: 1, price: 2500, product: 'Cola', ers: 'ERS-q2' }).slice(0, 7),
      {
        type: 'receipt.submitFailed',
        txId: 'q2',
        failure: { code: 'E_SEQR_RESULT', resultCode: 23, resultName: 'INVALID_ERS_REFERENCE' },
        refused: true,
      },
      { type: 'tx.closed', txId: 'q2', outcome: 'sold' },
    ]);
    expect([...(await ledger.receiptsOwed()).keys()]).toContain('q1');
    expect([...(await ledger.receiptsOwed()).keys()]).not.toContain('q2');
    await ledger.close();
    const o = io();
    await runLedgerCommand(['pending', '--json'], o);
    const items = JSON.parse(o.out()) as { txId: string; kind: string; detail?: string }[];
    expect(items.find((i) => i.txId === 'q1')).toMatchObject({
      kind: 'receipt not submitted',
      detail:
        'receipt not taken by SEQR after 2 attempts (last E_SEQR_HTTP); retried automatically',
    });
    expect(items.find((i) => i.txId === 'q2')).toMatchObject({
      kind: 'receipt refused',
      detail: 'E_SEQR_RESULT (23 INVALID_ERS_REFERENCE)',
    });
  });
});

describe('refund', () => {
  it('asks, refunds the full amount, records it and resolves the flag', async () => {
    const questions: string[] = [];
    const o = io({
      prompt: (q) => {
        questions.push(q);
        return Promise.resolve('y');
      },
    });
    expect(await runLedgerCommand(['refund', ers['u1']!], o)).toBe(EXIT.ok);
    expect(questions[0]).toMatch(/Refund 15\.00 SEK of Chips \(slot 2/);
    expect(o.out()).toMatch(/refunded 15\.00 SEK: refund \d{25}/);
    expect(seqr.refunded(invoiceOf['u1']!)).toBe(1500);
    expect(callsSinceSeed()).toEqual(['refund']);
    const ledger = SqliteLedger.open({ path: file, readonly: true });
    expect(ledger.transaction('u1')).toMatchObject({
      refund: 'confirmed',
      closed: 'refunded',
      refundedMinor: 1500,
    });
    expect(ledger.entries('u1').find((e) => e.type === 'refund.requested')).toMatchObject({
      initiator: 'operator',
    });
    await ledger.close();
    // A second refund of the same payment is refused before reaching SEQR.
    const again = io();
    expect(await runLedgerCommand(['refund', ers['u1']!, '--yes'], again)).toBe(EXIT.failed);
    expect(again.err()).toMatch(/already refunded/);
    expect(callsSinceSeed()).toEqual(['refund']);
  });

  it('does nothing when the operator declines, and needs --yes without a terminal', async () => {
    const o = io({ prompt: () => Promise.resolve('n') });
    expect(await runLedgerCommand(['refund', ers['s1']!], o)).toBe(EXIT.declined);
    expect(await runLedgerCommand(['refund', ers['s1']!], io())).toBe(EXIT.usage);
    expect(callsSinceSeed()).toEqual([]);
  });

  it('refunds a partial amount with --yes --json, then at most the rest', async () => {
    const o = io();
    expect(
      await runLedgerCommand(['refund', ers['s1']!, '--amount', '10.00', '--yes', '--json'], o),
    ).toBe(EXIT.ok);
    expect(JSON.parse(o.out())).toMatchObject({ txId: 's1', kind: 'confirmed' });
    expect(await runLedgerCommand(['refund', ers['s1']!, '--amount', '20', '--yes'], io())).toBe(
      EXIT.failed,
    );
    expect(await runLedgerCommand(['refund', ers['s1']!, '--yes'], io())).toBe(EXIT.ok);
    expect(callsSinceSeed()).toEqual(['refund', 'refund']);
    expect(seqr.refunded(invoiceOf['s1']!)).toBe(2500);
  });

  it('records a refusal as its typed failure; the operator (unlike the daemon) may insist', async () => {
    seqr.failNext({ resultCode: 97 }, 'refund');
    const o = io();
    expect(await runLedgerCommand(['refund', ers['s1']!, '--yes'], o)).toBe(EXIT.failed);
    expect(o.out()).toMatch(
      /refund not confirmed \(E_REFUND_REFUSED \(97 RESELLER_NOT_ALLOWED_TO_DO_REFUND\)\)/,
    );
    const ledger = SqliteLedger.open({ path: file, readonly: true });
    expect(ledger.transaction('s1')).toMatchObject({
      refund: 'failed',
      refundFailure: { code: 'E_REFUND_REFUSED', resultCode: 97, operation: 'refundPayment' },
      closed: 'sold',
    });
    await ledger.close();
    expect(await runLedgerCommand(['refund', ers['s1']!, '--yes'], io())).toBe(EXIT.ok);
    expect(callsSinceSeed()).toEqual(['refund', 'refund']);
    expect(seqr.refunded(invoiceOf['s1']!)).toBe(2500);
  });

  it('refuses unknown payments, open transactions, and works only with SEQR configured', async () => {
    expect(await runLedgerCommand(['refund', 'nope', '--yes'], io())).toBe(EXIT.failed);
    const open = io();
    expect(await runLedgerCommand(['refund', ers['f1']!, '--yes'], open)).toBe(EXIT.failed);
    expect(open.err()).toMatch(/still being handled/);
    expect(await runLedgerCommand(['refund', ers['s1']!, '--yes'], io({}, false))).toBe(
      EXIT.unavailable,
    );
    expect(callsSinceSeed()).toEqual([]);
  });
});

describe('close-period and report', () => {
  const reconciliation = (count: number, total: string): ReconciliationGateway => ({
    markPeriod: () => Promise.resolve('P-1'),
    executeReport: () =>
      Promise.resolve({
        kind: 'ready',
        report: {
          content: `<TerminalTransactionSummary><Meta/><Row><SalesCount>${count}</SalesCount><SalesTotal>${total}</SalesTotal></Row></TerminalTransactionSummary>`,
        },
      }),
  });

  it('closes the period, compares, and shows the stored report', async () => {
    // Paid in the ledger: s1 25 + s2 25 + s3 15 + r1 15 + u1 15 + p1 10 + f1 25 = 130.00 SEK.
    const o = io({ reconciliation: reconciliation(7, '130.00'), terminalId: 'T1' });
    expect(await runLedgerCommand(['close-period'], o)).toBe(EXIT.ok);
    expect(o.out()).toMatch(/^result\s+match$/m);
    const r = io();
    expect(await runLedgerCommand(['report', 'P-1', '--json'], r)).toBe(EXIT.ok);
    expect(JSON.parse(r.out())).toMatchObject({
      periodId: 'P-1',
      matched: true,
      seqr: { count: 7, totalMinor: 13000 },
    });
    const c = io();
    await runLedgerCommand(['report', 'P-1', '--content'], c);
    expect(c.out()).toContain('<SalesCount>7</SalesCount>');
  });

  it('exits 1 and says MISMATCH when SEQR differs', async () => {
    const o = io({ reconciliation: reconciliation(6, '115.00'), terminalId: 'T1' });
    expect(await runLedgerCommand(['close-period'], o)).toBe(EXIT.failed);
    expect(o.out()).toMatch(/MISMATCH/);
    expect(await runLedgerCommand(['report', 'P-404'], io())).toBe(EXIT.failed);
  });

  it('needs reseller access and a terminal id', async () => {
    expect(await runLedgerCommand(['close-period'], io())).toBe(EXIT.unavailable);
  });
});
