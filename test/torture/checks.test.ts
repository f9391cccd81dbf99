// The torture run's verdict on hand-made records: every violation kind is caught, a clean run
// has none, and a relay record torn by a kill loses no later pulse.
import { describe, expect, it } from 'vitest';
import type { TransactionView } from '../../daemon/core/projection.js';
import type { InvoiceSnapshot } from '../../simulator/types.js';
import {
  checkRun,
  parseRelayRecord,
  type CheckInput,
  type RelayRecord,
  type ViolationKind,
} from '../../bench/torture/checks.js';

function invoice(reference: string, over: Partial<InvoiceSnapshot> = {}): InvoiceSnapshot {
  return {
    reference,
    terminalId: 't1',
    status: 'PAID',
    version: 2,
    amount: { currency: 'SEK', value: '25.00' },
    committed: true,
    reversed: false,
    ersReference: `ers-${reference}`,
    refunds: [],
    polls: 3,
    paidAt: 1_000,
    history: [],
    receipts: 1,
    paymentMode: 'IMMEDIATE_DEBIT',
    acknowledgmentMode: 'NO_ACKNOWLEDGMENT',
    ...over,
  };
}

/** A sold transaction; a field set to undefined in `over` is left out. */
function view(
  txId: string,
  reference: string,
  over: { [K in keyof TransactionView]?: TransactionView[K] | undefined } = {},
): TransactionView {
  const fields: Record<string, unknown> = {
    txId,
    openedAt: 900,
    updatedAt: 1_200,
    slot: 1,
    productName: 'Cola',
    price: { minor: 2500, currency: 'SEK' },
    invoiceReference: reference,
    status: 'PAID',
    statusVersion: 2,
    ersReference: `ers-${reference}`,
    paidAt: 1_050,
    cancelRequested: false,
    dispense: 'delivered',
    receipt: 'none',
    receiptSubmitted: true,
    refund: 'none',
    refundAttempts: 0,
    refundedMinor: 0,
    refundInferred: false,
    closed: 'sold',
    closedAt: 1_200,
    ...over,
  };
  return Object.fromEntries(
    Object.entries(fields).filter(([, value]) => value !== undefined),
  ) as unknown as TransactionView;
}

const pulse = (reference: string, txId: string, at = 1_100): RelayRecord[] => [
  { slot: 1, energised: true, at, txId, invoiceReference: reference },
  { slot: 1, energised: false, at: at + 150, txId, invoiceReference: reference },
];

/** A clean run: one sale, one refund after a failed drop, one cancelled invoice. */
function cleanRun(): CheckInput {
  return {
    invoices: [
      invoice('r1'),
      invoice('r2', { refunds: [{ ersReference: 'refund-1', value: '25.00' }] }),
      invoice('r3', { status: 'CANCELED', committed: false, refunds: [] }),
    ],
    relay: [...pulse('r1', 'tx1'), ...pulse('r2', 'tx2', 2_000)],
    ledger: [
      view('tx1', 'r1'),
      view('tx2', 'r2', { dispense: 'notDelivered', refund: 'confirmed', closed: 'refunded' }),
      view('tx3', 'r3', {
        status: 'CANCELED',
        paidAt: undefined,
        dispense: 'none',
        closed: 'cancelled',
      }),
    ],
  };
}

function kinds(input: CheckInput): ViolationKind[] {
  return checkRun(input).violations.map((v) => v.kind);
}

describe('checkRun', () => {
  it('finds nothing wrong in a clean run and counts what happened', () => {
    const result = checkRun(cleanRun());
    expect(result.violations).toEqual([]);
    expect(Object.values(result.byKind).every((n) => n === 0)).toBe(true);
    expect(result.counts).toMatchObject({
      invoices: 3,
      paid: 2,
      pulses: 2,
      refundedAtSeqr: 1,
      ledgerTransactions: 3,
      ledgerOutcomes: { sold: 1, refunded: 1, cancelled: 1 },
    });
  });

  it('a pulse for an invoice SEQR never committed, or for none', () => {
    const run = cleanRun();
    const input: CheckInput = {
      ...run,
      relay: [...run.relay, ...pulse('r3', 'tx3', 3_000), { slot: 2, energised: true, at: 4_000 }],
    };
    expect(kinds(input).filter((k) => k === 'relayWithoutPaid')).toHaveLength(2);
  });

  it('a pulse the ledger had not recorded PAID and dispense.started for', () => {
    const run = cleanRun();
    const input: CheckInput = {
      ...run,
      ledger: [view('tx1', 'r1', { dispense: 'none', closed: 'flagged' }), ...run.ledger.slice(1)],
    };
    expect(kinds(input)).toEqual(['relayBeforeRecord']);
  });

  it('two pulses for one invoice', () => {
    const run = cleanRun();
    expect(kinds({ ...run, relay: [...run.relay, ...pulse('r1', 'tx1', 5_000)] })).toEqual([
      'dispensedTwice',
    ]);
  });

  it('a committed payment the ledger left open, closed cancelled, or never knew', () => {
    const run = cleanRun();
    const input: CheckInput = {
      invoices: [...run.invoices, invoice('r4'), invoice('r5'), invoice('r6')],
      relay: run.relay,
      ledger: [
        ...run.ledger,
        view('tx4', 'r4', { dispense: 'none', closed: undefined }),
        view('tx5', 'r5', { dispense: 'none', closed: 'cancelled' }),
      ],
    };
    expect(kinds(input)).toEqual(['paidUnsettled', 'paidUnsettled', 'paidUnsettled']);
  });

  it('sold without a pulse, refunded without a refund, delivered and refunded', () => {
    const input: CheckInput = {
      invoices: [
        invoice('r1'),
        invoice('r2'),
        invoice('r3', { refunds: [{ ersReference: 'refund-3', value: '25.00' }] }),
      ],
      relay: pulse('r3', 'tx3'),
      ledger: [
        view('tx1', 'r1'),
        view('tx2', 'r2', { dispense: 'notDelivered', refund: 'requested', closed: 'refunded' }),
        view('tx3', 'r3', { closed: 'flagged' }),
      ],
    };
    expect(kinds(input)).toEqual([
      'soldWithoutPulse',
      'refundedWithoutRefund',
      'deliveredAndRefunded',
    ]);
  });

  it('two refunds of one payment', () => {
    const run = cleanRun();
    const twice = invoice('r2', {
      refunds: [
        { ersReference: 'refund-1', value: '25.00' },
        { ersReference: 'refund-2', value: '25.00' },
      ],
    });
    expect(kinds({ ...run, invoices: [run.invoices[0]!, twice, run.invoices[2]!] })).toEqual([
      'refundedTwice',
    ]);
  });

  it('an invoice left ISSUED, pending or PAID-but-unseen at SEQR, a payment reversed', () => {
    const input: CheckInput = {
      invoices: [
        invoice('r1', { status: 'ISSUED', committed: false }),
        invoice('r2', { status: 'PENDING_ISSUER_ACKNOWLEDGE', committed: false }),
        invoice('r3', { status: 'PAID', committed: false }),
        invoice('r4', { status: 'CANCELED', committed: false, reversed: true }),
      ],
      relay: [],
      ledger: [],
    };
    const result = checkRun(input);
    expect(result.violations.map((v) => [v.kind, v.invoiceReference])).toEqual([
      ['invoiceLeftOpen', 'r1'],
      ['invoiceLeftOpen', 'r2'],
      ['invoiceLeftOpen', 'r3'],
      ['paymentReversed', 'r4'],
    ]);
    expect(result.counts.reversed).toBe(1);
    expect(result.byKind.invoiceLeftOpen).toBe(3);
  });
});

describe('parseRelayRecord', () => {
  it('reads one edge per line', () => {
    const text = pulse('r1', 'tx1')
      .map((r) => JSON.stringify(r))
      .join('\n');
    expect(parseRelayRecord(`${text}\n`)).toEqual({ records: pulse('r1', 'tx1'), torn: 0 });
  });

  it('counts a line torn by a kill and keeps the record appended after it', () => {
    const [on, off] = pulse('r2', 'tx2');
    const text = `{"slot":1,"energised":tr${JSON.stringify(on)}\n${JSON.stringify(off)}\n{"slot":1,"ener`;
    const parsed = parseRelayRecord(text);
    expect(parsed.torn).toBe(2);
    expect(parsed.records).toEqual([on, off]);
  });
});
