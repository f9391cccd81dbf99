import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VendError } from '../../daemon/errors.js';
import {
  APPLICATION_ID,
  SCHEMA_VERSION,
  SqliteLedger,
  ledgerPath,
} from '../../daemon/ledger/sqlite-ledger.js';
import { SEK, saleEntries, tempDir } from './helpers.js';
import { transpileForChild } from './transpile.js';

let dir: string;
let cleanup: () => void;
let file: string;
beforeEach(() => {
  ({ dir, cleanup } = tempDir());
  file = ledgerPath(path.join(dir, 'state'));
});
afterEach(() => {
  cleanup();
});

async function expectCode(fn: () => unknown, code: string): Promise<VendError> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(VendError);
    expect((err as VendError).code).toBe(code);
    return err as VendError;
  }
  throw new Error(`expected ${code}`);
}

describe('SqliteLedger', () => {
  it('keeps every entry and the projection across close and reopen', async () => {
    const ledger = SqliteLedger.open({ path: file });
    let at = 1000;
    for (const e of saleEntries('a')) await ledger.record(e, at++);
    for (const e of saleEntries('b', { slot: 2 }).slice(0, 5)) await ledger.record(e, at++);
    await ledger.close();
    await ledger.close();

    const again = SqliteLedger.open({ path: file });
    const open = await again.openTransactions();
    expect([...open.keys()]).toEqual(['b']);
    expect(open.get('b')!.map((e) => e.type)).toEqual([
      'invoice.requested',
      'invoice.issued',
      'status.seen',
      'status.seen',
      'dispense.started',
    ]);
    expect(open.get('b')![0]).toMatchObject({ seq: 10, at: 1009, slot: 2 });
    expect(again.transaction('a')).toMatchObject({
      closed: 'sold',
      dispense: 'delivered',
      receipt: 'printed',
      receiptSubmitted: true,
      ersReference: 'ers-a',
      paidAt: 1003,
      invoiceReference: 'inv-a',
      price: SEK(2500),
    });
    expect(again.transaction('b')).toMatchObject({ dispense: 'started' });
    expect(again.findByErsReference('ers-b')?.txId).toBe('b');
    expect(again.paidBetween(0, 1003)).toEqual({ count: 1, totalMinor: 2500 });
    expect(again.paidBetween(1003, 5000)).toEqual({ count: 1, totalMinor: 2500 });
    await again.close();
  });

  it('runs in WAL mode and stamps its schema version and application id', async () => {
    const ledger = SqliteLedger.open({ path: file });
    await ledger.close();
    const db = new Database(file, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(db.pragma('application_id', { simple: true })).toBe(APPLICATION_ID);
    db.close();
  });

  it('refuses steps of an unknown transaction and a second invoice.requested', async () => {
    const ledger = SqliteLedger.open({ path: file });
    await expectCode(
      () => ledger.record({ type: 'dispense.started', txId: 'ghost', slot: 1 }, 1),
      'E_LEDGER_WRITE',
    );
    const [first] = saleEntries('a');
    await ledger.record(first!, 1);
    await expectCode(() => ledger.record(first!, 2), 'E_LEDGER_WRITE');
    expect(ledger.entries('ghost')).toEqual([]);
    expect(ledger.entries('a')).toHaveLength(1);
    await ledger.close();
  });

  it('rejects a failed write with E_LEDGER_WRITE and keeps log and projection unchanged', async () => {
    const ledger = SqliteLedger.open({ path: file });
    const steps = saleEntries('a');
    await ledger.record(steps[0]!, 1);
    const other = new Database(file);
    other.exec(
      "CREATE TRIGGER fail BEFORE INSERT ON entries WHEN NEW.type = 'invoice.issued' BEGIN SELECT RAISE(ABORT, 'disk says no'); END",
    );
    other.close();
    await expectCode(() => ledger.record(steps[1]!, 2), 'E_LEDGER_WRITE');
    expect(ledger.entries('a')).toHaveLength(1);
    expect(ledger.transaction('a')?.invoiceReference).toBeUndefined();
    await ledger.close();
  });

  it('rejects records after close with E_CLOSED and records in read-only mode with E_LEDGER_WRITE', async () => {
    const ledger = SqliteLedger.open({ path: file });
    await ledger.close();
    await expectCode(() => ledger.record(saleEntries('a')[0]!, 1), 'E_CLOSED');
    const reader = SqliteLedger.open({ path: file, readonly: true });
    await expectCode(() => reader.record(saleEntries('a')[0]!, 1), 'E_LEDGER_WRITE');
    await reader.close();
  });

  it('migrates an empty version-0 file and a version-1 log, folding the log into the projection', async () => {
    const v0file = path.join(dir, 'v0.sqlite');
    writeFileSync(v0file, '');
    const v0 = SqliteLedger.open({ path: v0file });
    expect(await v0.openTransactions()).toEqual(new Map());
    await v0.close();

    const v1file = path.join(dir, 'v1.sqlite');
    const db = new Database(v1file);
    db.exec(`CREATE TABLE entries (seq INTEGER PRIMARY KEY AUTOINCREMENT, tx_id TEXT NOT NULL,
      type TEXT NOT NULL, at INTEGER NOT NULL, body TEXT NOT NULL);
      CREATE INDEX entries_tx ON entries (tx_id, seq);`);
    const insert = db.prepare('INSERT INTO entries (tx_id, type, at, body) VALUES (?, ?, ?, ?)');
    let at = 10;
    for (const e of [...saleEntries('old'), ...saleEntries('open').slice(0, 4)])
      insert.run(e.txId, e.type, at++, JSON.stringify(e));
    db.pragma('user_version = 1');
    db.close();

    const ledger = SqliteLedger.open({ path: v1file });
    expect(ledger.transaction('old')).toMatchObject({ closed: 'sold', dispense: 'delivered' });
    expect(ledger.transaction('open')).toMatchObject({ status: 'PAID', ersReference: 'ers-open' });
    expect([...(await ledger.openTransactions()).keys()]).toEqual(['open']);
    await ledger.record({ type: 'dispense.started', txId: 'open', slot: 1 }, 100);
    expect(ledger.entries('open').at(-1)).toMatchObject({ seq: 14, type: 'dispense.started' });
    await ledger.close();
  });

  it('stops with E_LEDGER_CORRUPT on a garbage file, another application’s database, or a damaged page', async () => {
    const garbage = path.join(dir, 'garbage.sqlite');
    writeFileSync(garbage, Buffer.alloc(8192, 0x5a));
    const err = await expectCode(() => SqliteLedger.open({ path: garbage }), 'E_LEDGER_CORRUPT');
    expect(err.message).toContain(garbage);

    const foreign = path.join(dir, 'foreign.sqlite');
    const db = new Database(foreign);
    db.exec('CREATE TABLE notes (x TEXT)');
    db.close();
    await expectCode(() => SqliteLedger.open({ path: foreign }), 'E_LEDGER_CORRUPT');

    const ledger = SqliteLedger.open({ path: file });
    let at = 0;
    for (let i = 0; i < 40; i++) for (const e of saleEntries(`t${i}`)) await ledger.record(e, at++);
    await ledger.close();
    const { openSync, writeSync, closeSync } = await import('node:fs');
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.alloc(4096 * 3, 0xa5), 0, 4096 * 3, 4096 * 2);
    closeSync(fd);
    await expectCode(() => SqliteLedger.open({ path: file }), 'E_LEDGER_CORRUPT');
  });

  it('stops with E_LEDGER_SCHEMA_TOO_NEW on a newer schema version', async () => {
    const ledger = SqliteLedger.open({ path: file });
    await ledger.close();
    const db = new Database(file);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    const err = await expectCode(
      () => SqliteLedger.open({ path: file }),
      'E_LEDGER_SCHEMA_TOO_NEW',
    );
    expect(err.message).toContain(`schema version ${SCHEMA_VERSION + 1}`);
  });

  it('reports a missing file to a reader as E_LEDGER_UNREADABLE', async () => {
    await expectCode(
      () => SqliteLedger.open({ path: path.join(dir, 'none.sqlite'), readonly: true }),
      'E_LEDGER_UNREADABLE',
    );
  });

  it('lets a read-only connection read while another connection writes, before and after the writer closes', async () => {
    const writer = SqliteLedger.open({ path: file });
    const reader = SqliteLedger.open({ path: file, readonly: true });
    let at = 0;
    for (let i = 0; i < 20; i++) {
      for (const e of saleEntries(`t${i}`)) await writer.record(e, at++);
      expect(reader.transactions()).toHaveLength(i + 1);
      expect(reader.transaction(`t${i}`)?.closed).toBe('sold');
    }
    await writer.close();
    await reader.close();
    const later = SqliteLedger.open({ path: file, readonly: true });
    expect(later.transactions()).toHaveLength(20);
    await later.close();
  });

  it('has every entry a SIGKILLed writer saw resolve', async () => {
    const outDir = path.join(dir, 'child');
    const modulePath = transpileForChild('daemon/ledger/sqlite-ledger.ts', outDir);
    const script = path.join(outDir, 'writer.mjs');
    writeFileSync(
      script,
      `import { SqliteLedger } from ${JSON.stringify(modulePath)};
const ledger = SqliteLedger.open({ path: process.argv[2] });
for (let i = 0; i < 40; i++) {
  const txId = 'k' + i;
  await ledger.record({ type: 'invoice.requested', txId, slot: 1, productName: 'P', price: { minor: 100, currency: 'SEK' } }, i);
  process.stdout.write(txId + '\\n');
}
setInterval(() => {}, 1000);
`,
    );
    const child = spawn(process.execPath, [script, file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const seen: string[] = [];
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split('\n');
        buf = lines.pop()!;
        for (const l of lines) {
          seen.push(l);
          if (seen.length === 25) child.kill('SIGKILL');
        }
      });
      child.on('exit', () => {
        resolve();
      });
      child.on('error', reject);
    });
    expect(stderr).toBe('');
    expect(seen.length).toBeGreaterThanOrEqual(25);
    const ledger = SqliteLedger.open({ path: file });
    for (const txId of seen) expect(ledger.transaction(txId)?.txId).toBe(txId);
    await ledger.close();
  });
});
