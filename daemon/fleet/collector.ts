/**
 * `seqr-vend fleet collect`: a small consumer of every machine's sales stream that stores each
 * event once in SQLite. It keeps a persistent broker session (QoS 1), so events published while
 * it is away wait at the broker, and it acknowledges an event only after it is stored: a crash
 * between the two gets the event again, and the primary key (machine, event id) stores it once.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { connect, type IPublishPacket, type MqttClient } from 'mqtt';
import { decodeSale, type SaleMessage } from './codec.js';
import { sendAtOnce } from './link.js';
import { clientOptions, type BrokerAccess } from './operator.js';
import { fleetFilters, parseTopic } from './topics.js';

export interface SlotTotals {
  readonly machine: string;
  readonly slot: number;
  readonly currency: string;
  readonly sold: number;
  readonly soldMinor: number;
  readonly refunded: number;
  readonly refundedMinor: number;
  readonly flagged: number;
}

/** The collector's database: one row per (machine, event id), whatever arrives twice. */
export class SalesStore {
  readonly #db: Database.Database;
  readonly #insert: Database.Statement;

  private constructor(db: Database.Database) {
    this.#db = db;
    this.#insert = db.prepare(`
      INSERT INTO sales (machine, id, seq, tx_id, outcome, slot, product, amount_minor, currency,
                         refunded_minor, ers_reference, closed_at, received_at, body)
      VALUES (@machine, @id, @seq, @txId, @outcome, @slot, @product, @amountMinor, @currency,
              @refundedMinor, @ersReference, @closedAt, @receivedAt, @body)
      ON CONFLICT (machine, id) DO NOTHING`);
  }

  static open(file: string): SalesStore {
    mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec(`
      CREATE TABLE IF NOT EXISTS sales (
        machine        TEXT    NOT NULL,
        id             TEXT    NOT NULL,
        seq            INTEGER NOT NULL,
        tx_id          TEXT    NOT NULL,
        outcome        TEXT    NOT NULL,
        slot           INTEGER NOT NULL,
        product        TEXT    NOT NULL,
        amount_minor   INTEGER NOT NULL,
        currency       TEXT    NOT NULL,
        refunded_minor INTEGER NOT NULL,
        ers_reference  TEXT,
        closed_at      TEXT    NOT NULL,
        received_at    INTEGER NOT NULL,
        body           TEXT    NOT NULL,
        PRIMARY KEY (machine, id)
      );
      CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    `);
    return new SalesStore(db);
  }

  /** Stores `sale` unless (machine, id) is already there. Durable when it returns. */
  store(sale: SaleMessage, receivedAt: number): 'stored' | 'duplicate' {
    const { changes } = this.#insert.run({
      machine: sale.machine,
      id: sale.id,
      seq: sale.seq,
      txId: sale.txId,
      outcome: sale.outcome,
      slot: sale.slot,
      product: sale.product,
      amountMinor: sale.amountMinor,
      currency: sale.currency,
      refundedMinor: sale.refundedMinor,
      ersReference: sale.ersReference ?? null,
      closedAt: sale.closedAt,
      receivedAt,
      body: JSON.stringify(sale),
    });
    if (changes === 0) this.#count('duplicates');
    return changes === 0 ? 'duplicate' : 'stored';
  }

  /** Messages that were not sale events (counted, not stored). */
  rejected(): void {
    this.#count('rejected');
  }

  counter(name: 'duplicates' | 'rejected'): number {
    return (
      this.#db
        .prepare<[string], { value: number }>('SELECT value FROM counters WHERE name = ?')
        .get(name)?.value ?? 0
    );
  }

  /** Every stored event of a machine, in the machine's order. */
  events(machine: string): SaleMessage[] {
    return this.#db
      .prepare<[string], { body: string }>('SELECT body FROM sales WHERE machine = ? ORDER BY seq')
      .all(machine)
      .map((r) => JSON.parse(r.body) as SaleMessage);
  }

  count(): number {
    return this.#db.prepare<[], { n: number }>('SELECT count(*) AS n FROM sales').get()?.n ?? 0;
  }

  /**
   * Totals per machine and slot, each purchase counted by its latest event (a flagged purchase
   * refunded later counts as refunded).
   */
  totals(): SlotTotals[] {
    return this.#db
      .prepare<[], SlotTotals>(
        `WITH latest AS (
           SELECT s.* FROM sales s
           WHERE s.seq = (SELECT max(seq) FROM sales t WHERE t.machine = s.machine AND t.tx_id = s.tx_id)
         )
         SELECT machine, slot, currency,
           sum(outcome = 'sold') AS sold,
           sum(CASE WHEN outcome = 'sold' THEN amount_minor ELSE 0 END) AS soldMinor,
           sum(outcome = 'refunded') AS refunded,
           sum(CASE WHEN outcome = 'refunded' THEN refunded_minor ELSE 0 END) AS refundedMinor,
           sum(outcome = 'flagged') AS flagged
         FROM latest GROUP BY machine, slot, currency ORDER BY machine, slot`,
      )
      .all();
  }

  close(): void {
    this.#db.close();
  }

  #count(name: string): void {
    this.#db
      .prepare(
        'INSERT INTO counters (name, value) VALUES (?, 1) ON CONFLICT (name) DO UPDATE SET value = value + 1',
      )
      .run(name);
  }
}

export interface CollectorOptions {
  readonly access: BrokerAccess;
  /** The persistent session's client id: keep it across runs so nothing is missed meanwhile. */
  readonly clientId: string;
  readonly store: SalesStore;
  /** After each event handled. */
  readonly onEvent?: (sale: SaleMessage, outcome: 'stored' | 'duplicate') => void;
  readonly onError?: (err: Error) => void;
}

/** A running collector. */
export class Collector {
  readonly #client: MqttClient;

  private constructor(client: MqttClient) {
    this.#client = client;
  }

  static start(options: CollectorOptions): Collector {
    const { access, store } = options;
    const client = sendAtOnce(
      connect(access.url, {
        ...clientOptions(access, options.clientId),
        clean: false,
        reconnectPeriod: 1_000,
        properties: { sessionExpiryInterval: 7 * 86_400, receiveMaximum: 64 },
      }),
    );
    // The PUBACK goes out only once this returns: stored first, acknowledged after.
    client.handleMessage = (packet: IPublishPacket, done: (err?: Error) => void) => {
      try {
        const parsed = parseTopic(access.prefix, packet.topic);
        const sale = decodeSale(packet.payload);
        // The topic is the authority on the machine (the broker's ACL confines each to its own).
        if (!parsed || !sale || sale.machine !== parsed.machineId) store.rejected();
        else {
          const outcome = store.store(sale, Date.now());
          options.onEvent?.(sale, outcome);
        }
        done();
      } catch (err) {
        // Not acknowledged: the broker delivers it again.
        const error = err instanceof Error ? err : new Error(String(err));
        options.onError?.(error);
        done(error);
      }
    };
    client.on('connect', (connack) => {
      if (!connack.sessionPresent)
        client.subscribe(fleetFilters(access.prefix).sales, { qos: 1 }, (err) => {
          if (err) options.onError?.(err);
        });
    });
    client.on('error', (err) => options.onError?.(err));
    return new Collector(client);
  }

  get connected(): boolean {
    return this.#client.connected;
  }

  async stop(): Promise<void> {
    await this.#client.endAsync();
  }
}
