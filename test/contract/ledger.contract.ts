import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { errorCodeOf } from '../../daemon/errors.js';
import type { Ledger, LedgerEntry, StoredEntry } from '../../daemon/ports/ledger.js';

/** A Ledger plus a second look at its storage. */
export interface LedgerRig {
  readonly ledger: Ledger;
  /**
   * A fresh Ledger over the same storage, opened while `ledger` is still open (as after a crash:
   * nothing was closed or flushed on the way). The suite closes it.
   */
  reopen(): Promise<Ledger>;
  dispose?(): Promise<void>;
}

const requested = (txId: string, slot = 1): LedgerEntry => ({
  type: 'invoice.requested',
  txId,
  slot,
  productName: `Product ${String(slot)}`,
  price: { minor: 2500, currency: 'SEK' },
});
const issued = (txId: string, n: number): LedgerEntry => ({
  type: 'invoice.issued',
  txId,
  invoiceReference: String(20261130000000000 + n),
});
const paid = (txId: string): LedgerEntry => ({
  type: 'status.seen',
  txId,
  status: 'PAID',
  version: 3,
  ersReference: `ers-${txId}`,
});
const closed = (txId: string): LedgerEntry => ({ type: 'tx.closed', txId, outcome: 'sold' });

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (err: unknown) => err,
  );
}

/** The entries as recorded, without the stored position. */
const recorded = (entries: readonly StoredEntry[] | undefined): unknown[] =>
  (entries ?? []).map((entry) =>
    Object.fromEntries(Object.entries(entry).filter(([k]) => k !== 'seq')),
  );

/**
 * The Ledger contract (daemon/ports/ledger.ts): `record` resolves only once the entry is stored
 * for good (a ledger reopened over the same storage has it); entries of a transaction come back in
 * the order recorded, with their time, each field as recorded; `openTransactions` lists the
 * transactions without `tx.closed`, oldest first, `receiptsOwed` the sales whose receipt SEQR
 * still owes an answer to; a refused write (E_LEDGER_WRITE) stores
 * nothing; `close` is idempotent and the ledger then rejects E_CLOSED.
 */
export function describeLedgerContract(name: string, makeRig: () => Promise<LedgerRig>): void {
  describe(`Ledger contract: ${name}`, () => {
    let rig: LedgerRig;
    const opened: Ledger[] = [];
    beforeEach(async () => {
      rig = await makeRig();
    });
    afterEach(async () => {
      for (const l of opened.splice(0)) await l.close();
      await rig.ledger.close();
      await rig.dispose?.();
    });
    const reopen = async (): Promise<Ledger> => {
      const l = await rig.reopen();
      opened.push(l);
      return l;
    };

    it('has an entry once record resolved, also for a ledger reopened over the same storage', async () => {
      const { ledger } = rig;
      await ledger.record(requested('tx-1'), 1_000);
      await ledger.record(issued('tx-1', 1), 1_010);
      for (const view of [ledger, await reopen()]) {
        const open = await view.openTransactions();
        expect(recorded(open.get('tx-1'))).toEqual([
          { ...requested('tx-1'), at: 1_000 },
          { ...issued('tx-1', 1), at: 1_010 },
        ]);
      }
    });

    it('keeps a reservation (pay first, then choose) from reservation.requested to tx.closed, across a reopen', async () => {
      const { ledger } = rig;
      const sek = (minor: number) => ({ minor, currency: 'SEK' });
      const steps: LedgerEntry[] = [
        { type: 'reservation.requested', txId: 'r-1', offered: sek(50_000), amount: sek(10_000) },
        { type: 'reservation.issued', txId: 'r-1', invoiceReference: '77' },
        { type: 'reservation.reserved', txId: 'r-1', amount: sek(10_000) },
        {
          type: 'vend.started',
          txId: 'r-1',
          vend: 1,
          slot: 2,
          productName: 'Water',
          price: sek(1_500),
        },
        { type: 'vend.finished', txId: 'r-1', vend: 1, outcome: 'delivered' },
        {
          type: 'reservation.settling',
          txId: 'r-1',
          total: sek(1_500),
          rows: [{ slot: 2, productName: 'Water', unitPrice: sek(1_500), quantity: 1 }],
        },
      ];
      for (const [i, entry] of steps.entries()) await ledger.record(entry, 100 + i);
      // Read back field for field: a stored entry's own position (`seq`) and time (`at`) sit
      // beside the entry's fields and never replace one of them.
      for (const view of [ledger, await reopen()])
        expect(
          (await view.openTransactions())
            .get('r-1')
            ?.map((e) =>
              Object.fromEntries(Object.entries(e).filter(([k]) => k !== 'seq' && k !== 'at')),
            ),
        ).toEqual(steps);
      await expect(
        ledger.record(
          { type: 'reservation.requested', txId: 'r-1', offered: sek(1), amount: sek(1) },
          200,
        ),
      ).rejects.toMatchObject({ code: 'E_LEDGER_WRITE' });
      await ledger.record({ type: 'reservation.committed', txId: 'r-1' }, 201);
      await ledger.record({ type: 'tx.closed', txId: 'r-1', outcome: 'sold' }, 202);
      expect((await ledger.openTransactions()).has('r-1')).toBe(false);
    });

    it('keeps each transaction in the order recorded, also when transactions interleave', async () => {
      const { ledger } = rig;
      await ledger.record(requested('a', 1), 1);
      await ledger.record(requested('b', 2), 2);
      await ledger.record(issued('b', 2), 3);
      await ledger.record(issued('a', 1), 4);
      await ledger.record(paid('a'), 5);
      const open = await ledger.openTransactions();
      expect([...open.keys()]).toEqual(['a', 'b']);
      expect(open.get('a')?.map((e) => e.type)).toEqual([
        'invoice.requested',
        'invoice.issued',
        'status.seen',
      ]);
      expect(open.get('b')?.map((e) => e.at)).toEqual([2, 3]);
      const seqs = [...open.values()].flat().map((e) => e.seq);
      expect(new Set(seqs).size).toBe(seqs.length);
      for (const entries of open.values())
        for (let i = 1; i < entries.length; i++)
          expect(entries[i]!.seq).toBeGreaterThan(entries[i - 1]!.seq);
    });

    it('stores concurrent records in call order', async () => {
      const { ledger } = rig;
      await ledger.record(requested('c'), 1);
      await Promise.all([
        ledger.record(issued('c', 7), 2),
        ledger.record(paid('c'), 3),
        ledger.record({ type: 'dispense.started', txId: 'c', slot: 1 }, 4),
      ]);
      const open = await ledger.openTransactions();
      expect(open.get('c')?.map((e) => e.type)).toEqual([
        'invoice.requested',
        'invoice.issued',
        'status.seen',
        'dispense.started',
      ]);
    });

    it('lists only transactions without tx.closed, oldest first; a closed one stays closed', async () => {
      const { ledger } = rig;
      for (const [i, tx] of ['old', 'done', 'new'].entries())
        await ledger.record(requested(tx), 10 * (i + 1));
      await ledger.record(closed('done'), 40);
      await ledger.record({ type: 'receipt.submitted', txId: 'done' }, 50);
      for (const view of [ledger, await reopen()])
        expect([...(await view.openTransactions()).keys()]).toEqual(['old', 'new']);
      await ledger.record(closed('old'), 60);
      await ledger.record(closed('old'), 70);
      expect([...(await ledger.openTransactions()).keys()]).toEqual(['new']);
    });

    it('lists the sales whose receipt SEQR has neither taken nor refused for good, oldest first, with every entry', async () => {
      const { ledger } = rig;
      const sale = async (tx: string, n: number, ...tail: LedgerEntry[]): Promise<void> => {
        for (const e of [
          requested(tx),
          issued(tx, n),
          paid(tx),
          { type: 'dispense.started', txId: tx, slot: 1 } as const,
          { type: 'dispense.finished', txId: tx, outcome: 'delivered' } as const,
          closed(tx),
          ...tail,
        ])
          await ledger.record(e, 100 * n);
      };
      const failure = { code: 'E_SEQR_TIMEOUT' } as const;
      await sale('owed', 1);
      await sale('taken', 2, { type: 'receipt.submitted', txId: 'taken' });
      await sale('retried', 3, { type: 'receipt.submitFailed', txId: 'retried', failure });
      await sale('refused', 4, {
        type: 'receipt.submitFailed',
        txId: 'refused',
        failure: { code: 'E_SEQR_RESULT', resultCode: 23 },
        refused: true,
      });
      await ledger.record(requested('open'), 500);
      await ledger.record(issued('open', 5), 501);
      for (const view of [ledger, await reopen()]) {
        const owed = await view.receiptsOwed();
        expect([...owed.keys()]).toEqual(['owed', 'retried']);
        expect(owed.get('retried')?.map((e) => e.type)).toEqual([
          'invoice.requested',
          'invoice.issued',
          'status.seen',
          'dispense.started',
          'dispense.finished',
          'tx.closed',
          'receipt.submitFailed',
        ]);
      }
      await ledger.record({ type: 'receipt.submitted', txId: 'retried' }, 600);
      expect([...(await ledger.receiptsOwed()).keys()]).toEqual(['owed']);
    });

    it('refuses with E_LEDGER_WRITE, storing nothing, an entry of an unknown transaction or a second invoice.requested', async () => {
      const { ledger } = rig;
      await ledger.record(requested('known', 1), 1);
      const orphan = await rejection(ledger.record(paid('unknown'), 2));
      expect(errorCodeOf(orphan)).toBe('E_LEDGER_WRITE');
      const again = await rejection(ledger.record(requested('known', 2), 3));
      expect(errorCodeOf(again)).toBe('E_LEDGER_WRITE');
      for (const view of [ledger, await reopen()]) {
        const open = await view.openTransactions();
        expect([...open.keys()]).toEqual(['known']);
        expect(recorded(open.get('known'))).toEqual([{ ...requested('known', 1), at: 1 }]);
      }
    });

    it('close is idempotent; record and openTransactions after close reject E_CLOSED', async () => {
      const { ledger } = rig;
      await ledger.record(requested('tx'), 1);
      await ledger.close();
      await ledger.close();
      expect(errorCodeOf(await rejection(ledger.record(issued('tx', 1), 2)))).toBe('E_CLOSED');
      expect(errorCodeOf(await rejection(ledger.openTransactions()))).toBe('E_CLOSED');
      expect(errorCodeOf(await rejection(ledger.receiptsOwed()))).toBe('E_CLOSED');
      // What was recorded before the close is kept.
      expect([...(await (await reopen()).openTransactions()).keys()]).toEqual(['tx']);
    });
  });
}
