import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { applyEntry, type TransactionView } from '../core/projection.js';
import type { SalesTotals } from '../core/reconciliation.js';
import { VendError, type ErrorCode } from '../errors.js';
import type { Ledger, LedgerEntry, StoredEntry } from '../ports/ledger.js';
import { saleEventOf, type SaleEvent } from './outbox.js';
import { parseEntry, parsePeriod, parseView } from './rows.js';

export type { SalesTotals } from '../core/reconciliation.js';

/** The ledger's file name inside the state directory (systemd `StateDirectory`). */
export const LEDGER_FILE = 'ledger.sqlite';

/** The schema version this code writes (SQLite `user_version`). */
export const SCHEMA_VERSION = 4;

/** SQLite `application_id` marking a seqr-vend ledger ("SQVL"). */
export const APPLICATION_ID = 0x5351564c;

export function ledgerPath(stateDirectory: string): string {
  return path.join(stateDirectory, LEDGER_FILE);
}

export interface SqliteLedgerOptions {
  /** The database file; its directory is created when missing (not in read-only mode). */
  readonly path: string;
  /**
   * Read-only: for the operator CLI while the daemon runs. Never migrates or writes; the file must
   * exist at the current schema version.
   */
  readonly readonly?: boolean;
  /** How long a statement waits for another connection's write lock. Default 5000 ms. */
  readonly busyTimeoutMs?: number;
}

/** One closed reconciliation period and, once fetched, its report and the comparison. */
export interface PeriodRecord {
  readonly periodId: string;
  readonly terminalId: string;
  /** The previous period's close (or 0): sales recorded after it and up to `closedAt` belong here. */
  readonly openedAt: number;
  readonly closedAt: number;
  readonly reportId: string;
  /**
   * `lost`: markTransactionPeriod's answer was lost, so SEQR may have closed a period between
   * `markedFrom` and `closedAt` whose id the machine never learnt (`periodId` is a placeholder);
   * the next period's report tells whether it did. `void`: it turned out SEQR closed nothing.
   */
  readonly state: 'marked' | 'reported' | 'reportFailed' | 'lost' | 'void';
  /** When the mark whose answer was lost went out (`lost` periods). */
  readonly markedFrom?: number;
  /** The `lost` period this one follows: its report decides what the lost mark did. */
  readonly afterLost?: string;
  readonly report?: {
    readonly title?: string;
    readonly mimeType?: string;
    readonly content: string;
  };
  /** The report's totals (count of sales, sum in minor units), when it could be read. */
  readonly seqr?: SalesTotals;
  /** The ledger's PAID payments in the period. */
  readonly ledger?: SalesTotals;
  readonly matched?: boolean;
  readonly error?: string;
}

export interface TransactionFilter {
  /** Opened at or after (epoch ms). */
  readonly since?: number;
  /** Opened before (epoch ms). */
  readonly until?: number;
  readonly slot?: number;
}

interface ViewRow {
  tx_id: string;
  view: string;
}
interface EntryRow {
  seq: number;
  at: number;
  body: string;
}
interface PeriodRow {
  period_id: string;
  body: string;
}

/** Schema steps: index i takes `user_version` i to i + 1. Each runs in one transaction. */
const MIGRATIONS: readonly ((db: Database.Database) => void)[] = [
  (db) => {
    db.exec(`
      CREATE TABLE entries (
        seq   INTEGER PRIMARY KEY AUTOINCREMENT,
        tx_id TEXT    NOT NULL,
        type  TEXT    NOT NULL,
        at    INTEGER NOT NULL,
        body  TEXT    NOT NULL
      );
      CREATE INDEX entries_tx ON entries (tx_id, seq);
    `);
  },
  (db) => {
    db.exec(`
      CREATE TABLE transactions (
        tx_id         TEXT PRIMARY KEY,
        opened_at     INTEGER NOT NULL,
        first_seq     INTEGER NOT NULL,
        slot          INTEGER NOT NULL,
        paid_at       INTEGER,
        ers_reference TEXT,
        closed        TEXT,
        view          TEXT NOT NULL
      );
      CREATE INDEX transactions_open ON transactions (closed, first_seq);
      CREATE INDEX transactions_ers ON transactions (ers_reference);
      CREATE INDEX transactions_paid ON transactions (paid_at);
      CREATE TABLE periods (
        period_id   TEXT PRIMARY KEY,
        terminal_id TEXT NOT NULL,
        closed_at   INTEGER NOT NULL,
        body        TEXT NOT NULL
      );
      CREATE INDEX periods_terminal ON periods (terminal_id, closed_at);
    `);
    // Version 1 kept only the log: fold it into the projection.
    refold(db);
  },
  // Version 3 types failures (`failure: { code, resultCode }`, not `code: 'E_SEQR_RESULT:93'`):
  // the projection is folded again from the log, whose old entries read as typed failures.
  refold,
  (db) => {
    // Sale events waiting for the fleet broker's acknowledgement; seq = the tx.closed entry's.
    db.exec(`
      CREATE TABLE outbox (
        seq  INTEGER PRIMARY KEY,
        at   INTEGER NOT NULL,
        body TEXT    NOT NULL
      );
    `);
  },
];

/** Folds the whole log into the projection (`transactions`), replacing what is there. */
function refold(db: Database.Database): void {
  const rows = db.prepare<[], EntryRow>('SELECT seq, at, body FROM entries ORDER BY seq').all();
  const views = new Map<string, { view: TransactionView; firstSeq: number }>();
  for (const row of rows) {
    const entry = parseEntry(row.body, row.seq);
    const known = views.get(entry.txId);
    const next = applyEntry(known?.view, entry, row.at);
    if (typeof next === 'string')
      throw new VendError('E_LEDGER_CORRUPT', `ledger: entry row ${row.seq}: ${next}`);
    views.set(entry.txId, { view: next, firstSeq: known?.firstSeq ?? row.seq });
  }
  const upsert = db.prepare<Record<string, unknown>>(UPSERT_TRANSACTION);
  for (const { view, firstSeq } of views.values()) upsert.run(viewParams(view, firstSeq));
}

const UPSERT_TRANSACTION = `
    INSERT INTO transactions (tx_id, opened_at, first_seq, slot, paid_at, ers_reference, closed, view)
    VALUES (@txId, @openedAt, @firstSeq, @slot, @paidAt, @ersReference, @closed, @view)
    ON CONFLICT (tx_id) DO UPDATE SET paid_at = @paidAt, ers_reference = @ersReference,
      closed = @closed, view = @view`;

function viewParams(view: TransactionView, firstSeq: number): Record<string, unknown> {
  return {
    txId: view.txId,
    openedAt: view.openedAt,
    firstSeq,
    slot: view.slot,
    paidAt: view.paidAt ?? null,
    ersReference: view.ersReference ?? null,
    closed: view.closed ?? null,
    view: JSON.stringify(view),
  };
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function sqliteCode(err: unknown): string {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string'
    ? err.code
    : '';
}

/** Maps an SQLite failure to the catalogue: damage, unreadable, or (while writing) a failed write. */
function translate(err: unknown, doing: string, writing: boolean): VendError {
  if (err instanceof VendError) return err;
  const code = sqliteCode(err);
  let vendCode: ErrorCode;
  if (code === 'SQLITE_CORRUPT' || code.startsWith('SQLITE_CORRUPT_') || code === 'SQLITE_NOTADB')
    vendCode = 'E_LEDGER_CORRUPT';
  else vendCode = writing ? 'E_LEDGER_WRITE' : 'E_LEDGER_UNREADABLE';
  const retryable = code.startsWith('SQLITE_BUSY') || code === 'SQLITE_FULL';
  return new VendError(vendCode, `ledger: ${doing} failed (${code || 'error'})`, {
    cause: err,
    retryable,
  });
}

/**
 * The durable ledger: SQLite in WAL mode with `synchronous=FULL`, so a commit is on disk (the WAL
 * fsynced) before `record` resolves; a power cut after that loses nothing. Every entry is kept in
 * the append-only `entries` table, and the same transaction updates the per-transaction
 * projection (`transactions`), so the two never disagree.
 *
 * Opening checks what it opens: a file that is not a database, fails `quick_check`, belongs to
 * another application, or has a newer schema than {@link SCHEMA_VERSION} throws
 * (`E_LEDGER_CORRUPT`, `E_LEDGER_SCHEMA_TOO_NEW`, `E_LEDGER_UNREADABLE`): the daemon must stop
 * rather than trade without a record. Older schemas are migrated in place, one transaction per
 * step. Every row read is validated (daemon/ledger/rows.ts): a damaged or foreign row is
 * `E_LEDGER_CORRUPT` naming the row.
 *
 * Several connections may share the file (the daemon writes; the CLI reads, and writes operator
 * refunds): writes take the lock up front (`BEGIN IMMEDIATE`) and wait up to `busyTimeoutMs`.
 */
export class SqliteLedger implements Ledger {
  readonly path: string;
  readonly #db: Database.Database;
  readonly #readonly: boolean;
  readonly #statements = new Map<string, Database.Statement>();
  #closed = false;

  private constructor(db: Database.Database, file: string, readonly: boolean) {
    this.#db = db;
    this.path = file;
    this.#readonly = readonly;
  }

  /**
   * The statement for `sql`, compiled once per connection. better-sqlite3 compiles anew on every
   * `prepare()`, and each compiled statement holds native memory until the garbage collector
   * happens to finalise its JavaScript object.
   */
  #prepared<P extends unknown[] | object = unknown[], R = unknown>(
    sql: string,
  ): Database.Statement<P, R> {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement as unknown as Database.Statement<P, R>;
  }

  /** Opens (creating and migrating when writable) the ledger. Throws a `VendError`. */
  static open(options: SqliteLedgerOptions): SqliteLedger {
    const readonly = options.readonly ?? false;
    let db: Database.Database;
    try {
      if (!readonly) mkdirSync(path.dirname(options.path), { recursive: true });
      db = new Database(options.path, { readonly, fileMustExist: readonly });
    } catch (err) {
      throw new VendError('E_LEDGER_UNREADABLE', `ledger: cannot open ${options.path}`, {
        cause: err,
      });
    }
    try {
      db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000))}`);
      SqliteLedger.#prepare(db, options.path, readonly);
      return new SqliteLedger(db, options.path, readonly);
    } catch (err) {
      db.close();
      throw translate(err, `opening ${options.path}`, false);
    }
  }

  static #prepare(db: Database.Database, file: string, readonly: boolean): void {
    const appId = db.pragma('application_id', { simple: true }) as number;
    const version = db.pragma('user_version', { simple: true }) as number;
    if (appId !== 0 && appId !== APPLICATION_ID)
      throw new VendError('E_LEDGER_CORRUPT', `ledger: ${file} is not a seqr-vend ledger`);
    if (version > SCHEMA_VERSION)
      throw new VendError(
        'E_LEDGER_SCHEMA_TOO_NEW',
        `ledger: ${file} has schema version ${version}; this seqr-vend knows up to ${SCHEMA_VERSION}`,
      );
    if (version === 0) {
      const tables = db
        .prepare<[], { n: number }>("SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table'")
        .get();
      if ((tables?.n ?? 0) > 0)
        throw new VendError('E_LEDGER_CORRUPT', `ledger: ${file} is not a seqr-vend ledger`);
    }
    const check = db.pragma('quick_check(1)', { simple: true });
    if (check !== 'ok')
      throw new VendError('E_LEDGER_CORRUPT', `ledger: ${file} fails its integrity check`, {
        cause: new Error(String(check)),
      });
    if (readonly) {
      if (version < SCHEMA_VERSION)
        throw new VendError(
          'E_LEDGER_UNREADABLE',
          `ledger: ${file} has schema version ${version}; start the daemon once to migrate it`,
        );
      return;
    }
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal')
      throw new VendError(
        'E_LEDGER_UNREADABLE',
        `ledger: ${file} cannot use WAL (got ${String(mode)})`,
      );
    db.pragma('synchronous = FULL');
    // 512 KiB of page cache instead of SQLite's 2 MB: appends and lookups by key touch a few
    // pages; the default cache filled as the ledger grew and stayed resident.
    db.pragma('cache_size = -512');
    for (let v = version; v < SCHEMA_VERSION; v++) {
      const step = MIGRATIONS[v];
      if (!step) throw new VendError('E_LEDGER_UNREADABLE', `ledger: no migration from ${v}`);
      db.transaction(() => {
        step(db);
        db.pragma(`application_id = ${APPLICATION_ID}`);
        db.pragma(`user_version = ${v + 1}`);
      }).immediate();
    }
  }

  /** Resolves once the entry and the projection are committed and fsynced. */
  record(entry: LedgerEntry, at: number): Promise<void> {
    try {
      this.recordSync(entry, at);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(asError(err));
    }
  }

  /** {@link record}, synchronously: returns once durable, throws `E_LEDGER_WRITE` otherwise. */
  recordSync(entry: LedgerEntry, at: number): void {
    this.#usable('record');
    if (this.#readonly)
      throw new VendError('E_LEDGER_WRITE', 'ledger: opened read-only, cannot record');
    try {
      this.#db
        .transaction(() => {
          const row = this.#prepared<[string], ViewRow & { first_seq: number }>(
            'SELECT tx_id, view, first_seq FROM transactions WHERE tx_id = ?',
          ).get(entry.txId);
          const view = row ? parseView(row.view, row.tx_id) : undefined;
          const next = applyEntry(view, entry, at);
          if (typeof next === 'string') throw new VendError('E_LEDGER_WRITE', `ledger: ${next}`);
          const { lastInsertRowid } = this.#prepared(
            'INSERT INTO entries (tx_id, type, at, body) VALUES (?, ?, ?, ?)',
          ).run(entry.txId, entry.type, at, JSON.stringify(entry));
          this.#prepared<Record<string, unknown>>(UPSERT_TRANSACTION).run(
            viewParams(next, row?.first_seq ?? Number(lastInsertRowid)),
          );
          if (entry.type === 'tx.closed') {
            const sale = saleEventOf(next, Number(lastInsertRowid));
            if (sale)
              this.#prepared('INSERT INTO outbox (seq, at, body) VALUES (?, ?, ?)').run(
                sale.seq,
                at,
                JSON.stringify(sale),
              );
          }
        })
        .immediate();
    } catch (err) {
      throw translate(err, `recording ${entry.type} of ${entry.txId}`, true);
    }
  }

  openTransactions(): Promise<ReadonlyMap<string, readonly StoredEntry[]>> {
    try {
      return Promise.resolve(this.openTransactionsSync());
    } catch (err) {
      return Promise.reject(asError(err));
    }
  }

  openTransactionsSync(): ReadonlyMap<string, readonly StoredEntry[]> {
    return this.#read('reading open transactions', () => {
      const ids = this.#prepared<[], { tx_id: string }>(
        'SELECT tx_id FROM transactions WHERE closed IS NULL ORDER BY first_seq',
      ).all();
      const open = new Map<string, readonly StoredEntry[]>();
      for (const { tx_id } of ids) open.set(tx_id, this.#entries(tx_id));
      return open;
    });
  }

  receiptsOwed(): Promise<ReadonlyMap<string, readonly StoredEntry[]>> {
    try {
      return Promise.resolve(this.receiptsOwedSync());
    } catch (err) {
      return Promise.reject(asError(err));
    }
  }

  /**
   * Sales whose receipt SEQR has neither taken nor refused for good, oldest first (the `closed`
   * index narrows the scan to sales; the projection says what their receipt is waiting for).
   */
  receiptsOwedSync(): ReadonlyMap<string, readonly StoredEntry[]> {
    return this.#read('reading receipts owed', () => {
      const ids = this.#db
        .prepare<[], { tx_id: string }>(
          `SELECT tx_id FROM transactions WHERE closed = 'sold' AND ers_reference IS NOT NULL
             AND json_extract(view, '$.receiptSubmitted') = 0
             AND json_extract(view, '$.receiptRefused') IS NULL
           ORDER BY first_seq`,
        )
        .all();
      const owed = new Map<string, readonly StoredEntry[]>();
      for (const { tx_id } of ids) owed.set(tx_id, this.#entries(tx_id));
      return owed;
    });
  }

  /** Every entry of one transaction, oldest first. */
  entries(txId: string): readonly StoredEntry[] {
    return this.#read('reading entries', () => this.#entries(txId));
  }

  transaction(txId: string): TransactionView | undefined {
    return this.#read('reading a transaction', () => {
      const row = this.#prepared<[string], ViewRow>(
        'SELECT tx_id, view FROM transactions WHERE tx_id = ?',
      ).get(txId);
      return row ? parseView(row.view, row.tx_id) : undefined;
    });
  }

  /** The transaction whose payment has this ersReference. */
  findByErsReference(ersReference: string): TransactionView | undefined {
    return this.#read('finding a payment', () => {
      const row = this.#prepared<[string], ViewRow>(
        'SELECT tx_id, view FROM transactions WHERE ers_reference = ? ORDER BY first_seq LIMIT 1',
      ).get(ersReference);
      return row ? parseView(row.view, row.tx_id) : undefined;
    });
  }

  /** Transactions, oldest first, optionally by time opened and slot. */
  transactions(filter: TransactionFilter = {}): TransactionView[] {
    return this.#read('listing transactions', () =>
      this.#prepared<[number, number, number | null, number | null], ViewRow>(
        `SELECT tx_id, view FROM transactions WHERE opened_at >= ? AND opened_at < ?
             AND (? IS NULL OR slot = ?) ORDER BY first_seq`,
      )
        .all(
          filter.since ?? Number.MIN_SAFE_INTEGER,
          filter.until ?? Number.MAX_SAFE_INTEGER,
          filter.slot ?? null,
          filter.slot ?? null,
        )
        .map((r) => parseView(r.view, r.tx_id)),
    );
  }

  /** Payments first seen PAID in (`after`, `upTo`]: the ledger's side of a reconciliation. */
  paidBetween(after: number, upTo: number): SalesTotals {
    return this.#read('summing payments', () => {
      const rows = this.#prepared<[number, number], ViewRow>(
        'SELECT tx_id, view FROM transactions WHERE paid_at > ? AND paid_at <= ?',
      ).all(after, upTo);
      let totalMinor = 0;
      for (const r of rows) totalMinor += parseView(r.view, r.tx_id).price.minor;
      return { count: rows.length, totalMinor };
    });
  }

  /** Up to `limit` sale events after `afterSeq` (exclusive), oldest first. */
  outbox(afterSeq: number, limit: number): SaleEvent[] {
    return this.#read('reading the outbox', () =>
      this.#prepared<[number, number], { body: string }>(
        'SELECT body FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?',
      )
        .all(afterSeq, limit)
        .map((r) => JSON.parse(r.body) as SaleEvent),
    );
  }

  /** Removes delivered sale events (the broker acknowledged them). Idempotent. */
  acknowledgeOutbox(seqs: readonly number[]): void {
    this.#usable('acknowledgeOutbox');
    if (seqs.length === 0) return;
    try {
      const remove = this.#prepared('DELETE FROM outbox WHERE seq = ?');
      this.#db
        .transaction(() => {
          for (const seq of seqs) remove.run(seq);
        })
        .immediate();
    } catch (err) {
      throw translate(err, 'acknowledging sale events', true);
    }
  }

  /** How many sale events wait, and when the oldest was written (epoch ms). */
  outboxBacklog(): { readonly pending: number; readonly oldestAt: number | null } {
    return this.#read('reading the outbox', () => {
      const row = this.#prepared<[], { n: number; oldest: number | null }>(
        'SELECT count(*) AS n, min(at) AS oldest FROM outbox',
      ).get();
      return { pending: row?.n ?? 0, oldestAt: row?.oldest ?? null };
    });
  }

  /** Keeps only the newest `keep` sale events (a machine without a fleet broker). */
  trimOutbox(keep: number): number {
    this.#usable('trimOutbox');
    try {
      return this.#prepared(
        'DELETE FROM outbox WHERE seq NOT IN (SELECT seq FROM outbox ORDER BY seq DESC LIMIT ?)',
      ).run(keep).changes;
    } catch (err) {
      throw translate(err, 'trimming the outbox', true);
    }
  }

  /** Inserts or replaces a period. */
  savePeriod(period: PeriodRecord): void {
    this.#usable('savePeriod');
    try {
      this.#prepared(
        `INSERT INTO periods (period_id, terminal_id, closed_at, body) VALUES (?, ?, ?, ?)
           ON CONFLICT (period_id) DO UPDATE SET body = excluded.body, closed_at = excluded.closed_at`,
      ).run(period.periodId, period.terminalId, period.closedAt, JSON.stringify(period));
    } catch (err) {
      throw translate(err, `saving period ${period.periodId}`, true);
    }
  }

  period(periodId: string): PeriodRecord | undefined {
    return this.#read('reading a period', () => {
      const row = this.#prepared<[string], PeriodRow>(
        'SELECT period_id, body FROM periods WHERE period_id = ?',
      ).get(periodId);
      return row ? parsePeriod(row.body, row.period_id) : undefined;
    });
  }

  /** The most recently closed period of a terminal. */
  lastPeriod(terminalId: string): PeriodRecord | undefined {
    return this.#read('reading periods', () => {
      const row = this.#prepared<[string], PeriodRow>(
        'SELECT period_id, body FROM periods WHERE terminal_id = ? ORDER BY closed_at DESC LIMIT 1',
      ).get(terminalId);
      return row ? parsePeriod(row.body, row.period_id) : undefined;
    });
  }

  /** Checkpoints the WAL into the main file and closes. Idempotent. */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#db.close();
    }
    return Promise.resolve();
  }

  #entries(txId: string): StoredEntry[] {
    return this.#prepared<[string], EntryRow>(
      'SELECT seq, at, body FROM entries WHERE tx_id = ? ORDER BY seq',
    )
      .all(txId)
      .map((r) => ({ ...parseEntry(r.body, r.seq), seq: r.seq, at: r.at }));
  }

  #read<T>(doing: string, fn: () => T): T {
    this.#usable(doing);
    try {
      return fn();
    } catch (err) {
      throw translate(err, doing, false);
    }
  }

  #usable(doing: string): void {
    if (this.#closed) throw new VendError('E_CLOSED', `ledger: ${doing} after close`);
  }
}
