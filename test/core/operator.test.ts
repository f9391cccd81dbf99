// The operator's live changes, decided in the core: a new catalogue (prices, names, a product
// off sale) and maintenance mode. A purchase in progress keeps its product and the price it was
// invoiced at; idle shows a change at once; maintenance puts the machine out of service when it
// is idle, or as soon as the purchase on screen is over.
import { describe, expect, it } from 'vitest';
import { createCore } from '../../daemon/core/step.js';
import type { Effect, Event, State, TimerName } from '../../daemon/core/types.js';
import type { Screen } from '../../daemon/ports/display.js';
import type { LedgerEntry } from '../../daemon/ports/ledger.js';
import { testConfig } from '../support/core-config.js';
import { T0, core, repricedCatalog } from './fixtures.js';

const ERS = '2026000000000000000000001';

/** An event without its time: the driver stamps it. */
type Input = Event extends infer E
  ? E extends Event
    ? Omit<E, 'at'> & { at?: number }
    : never
  : never;

/** The core fed one event at a time, with the timers it started and what it last showed. */
class Driver {
  state: State;
  at = T0;
  screens: Screen[] = [];
  effects: Effect[] = [];
  readonly timers = new Map<TimerName, { token: string; at: number }>();

  constructor(c = core) {
    this.#core = c;
    const first = c.start(this.at);
    this.state = first.state;
    this.#absorb(first.effects);
  }

  readonly #core: typeof core;

  get screen(): Screen | undefined {
    return this.screens.at(-1);
  }

  send(event: Input): Effect[] {
    const e = { at: this.at, ...event } as Event;
    this.at = Math.max(this.at, e.at);
    const t = this.#core.step(this.state, e);
    this.state = t.state;
    this.#absorb(t.effects);
    return [...t.effects];
  }

  /** Fires a running timer (time moves to it). */
  fire(name: TimerName): Effect[] {
    const t = this.timers.get(name);
    if (!t) throw new Error(`no ${name} timer running`);
    this.timers.delete(name);
    return this.send({ type: 'timer.expired', name, token: t.token, at: Math.max(this.at, t.at) });
  }

  /** Answers every ledger.record of `effects` as durable. */
  recorded(effects: readonly Effect[]): Effect[] {
    const out: Effect[] = [];
    for (const e of effects)
      if (e.type === 'ledger.record')
        out.push(...this.send({ type: 'ledger.recorded', entry: e.entry }));
    return out;
  }

  press(slot: number, txId = `tx-${slot}`): Effect[] {
    return this.send({ type: 'button.pressed', button: { kind: 'product', slot }, txId });
  }

  #absorb(effects: readonly Effect[]): void {
    this.effects.push(...effects);
    for (const e of effects) {
      if (e.type === 'display.show') this.screens.push(e.screen);
      if (e.type === 'timer.start') this.timers.set(e.name, { token: e.token, at: e.at });
      if (e.type === 'timer.cancel') this.timers.delete(e.name);
    }
  }
}

/** A machine that has started (no open transactions) and shows idle. */
function idleMachine(c = core): Driver {
  const d = new Driver(c);
  d.send({ type: 'recovery.loaded', transactions: [] });
  return d;
}

/** Presses `slot`, records the invoice, SEQR issues it: the pay screen. */
function toPayScreen(d: Driver, slot: number, txId = `tx-${slot}`): void {
  const pressed = d.press(slot, txId);
  d.recorded(pressed);
  d.send({
    type: 'payment.issued',
    txId,
    invoice: { reference: `R-${txId}`, qrPayload: `HTTP://SEQR.SE/RR-${txId}` },
  });
  expect(d.state.kind).toBe('awaitingPayment');
}

/** The customer pays, the relay delivers, the receipt prints and is submitted: the notice. */
function payAndDeliver(d: Driver, txId: string): void {
  const paid = d.send({
    type: 'payment.statusReceived',
    txId,
    status: { status: 'PAID', version: 2, ersReference: ERS },
  });
  const started = d.recorded(paid);
  d.recorded(started);
  expect(d.state).toMatchObject({ kind: 'dispensing', step: 'running' });
  d.send({ type: 'dispense.finished', txId, result: { outcome: 'delivered' } });
  d.send({ type: 'printer.printed', txId });
  d.send({ type: 'payment.receiptSubmitted', txId });
  expect(d.state.kind).toBe('notice');
}

const invoiced = (effects: readonly Effect[]): LedgerEntry[] =>
  effects.flatMap((e) =>
    e.type === 'ledger.record' && e.entry.type === 'invoice.requested' ? [e.entry] : [],
  );

describe('catalog.updated', () => {
  it('idle shows the new catalogue at once: the new price, a product off sale as unavailable, its button ignored', () => {
    const d = idleMachine();
    const effects = d.send({ type: 'catalog.updated', products: repricedCatalog });
    expect(d.state.kind).toBe('idle');
    expect(effects.filter((e) => e.type === 'display.show')).toHaveLength(1);
    const screen = d.screen as Extract<Screen, { kind: 'idle' }>;
    expect(screen.products.map((p) => [p.slot, p.price.minor, p.unavailable ?? false])).toEqual([
      [1, 2900, false],
      [2, 1500, true],
      [3, 3000, false],
    ]);
    expect(d.press(2)).toEqual([]);
    expect(d.state.kind).toBe('idle');
    expect(invoiced(d.press(1))).toMatchObject([{ slot: 1, price: { minor: 2900 } }]);
  });

  it('a purchase in progress keeps the price it was invoiced at; the next one pays the new price', () => {
    const d = idleMachine();
    toPayScreen(d, 1, 'tx-a');
    const effects = d.send({ type: 'catalog.updated', products: repricedCatalog });
    // The pay screen is left alone (the QR stands for the old price).
    expect(effects.filter((e) => e.type === 'display.show')).toEqual([]);
    expect(d.state).toMatchObject({
      kind: 'awaitingPayment',
      purchase: { product: { price: { minor: 2500 } } },
    });
    payAndDeliver(d, 'tx-a');
    const printed = d.effects.find((e) => e.type === 'printer.print');
    expect(printed).toMatchObject({ receipt: { amount: { minor: 2500 } } });
    d.fire('deadline');
    expect(d.state.kind).toBe('idle');
    expect(d.screen).toMatchObject({
      kind: 'idle',
      products: [{ price: { minor: 2900 } }, {}, {}],
    });
    expect(invoiced(d.press(1, 'tx-b'))).toMatchObject([{ price: { minor: 2900 } }]);
  });

  it('a product taken off sale and put back on sale sells again', () => {
    const d = idleMachine();
    d.send({ type: 'catalog.updated', products: repricedCatalog });
    expect(d.press(2)).toEqual([]);
    d.send({ type: 'catalog.updated', products: testConfig.products });
    const screen = d.screen as Extract<Screen, { kind: 'idle' }>;
    expect(screen.products[1]).not.toHaveProperty('unavailable');
    expect(invoiced(d.press(2))).toMatchObject([{ slot: 2, productName: 'Water' }]);
  });
});

describe('maintenance mode', () => {
  it('on while idle: the out-of-service screen for maintenance at once, buttons ignored; off: idle', () => {
    const d = idleMachine();
    d.send({ type: 'maintenance.changed', on: true });
    expect(d.state).toMatchObject({ kind: 'maintenance', maintenance: true });
    expect(d.screen).toEqual({
      kind: 'outOfService',
      reason: 'maintenance',
      machineName: testConfig.machineName,
    });
    expect(d.press(1)).toEqual([]);
    expect(d.send({ type: 'button.pressed', button: { kind: 'cancel' }, txId: 'x' })).toEqual([]);
    // A refill or a price change meanwhile is remembered, not shown over the maintenance screen.
    expect(
      d.send({ type: 'stock.updated', soldOut: [3] }).filter((e) => e.type === 'display.show'),
    ).toEqual([]);
    d.send({ type: 'catalog.updated', products: repricedCatalog });
    expect(d.screen).toMatchObject({ reason: 'maintenance' });
    d.send({ type: 'maintenance.changed', on: false });
    expect(d.state).toMatchObject({ kind: 'idle', maintenance: false });
    expect(d.screen).toMatchObject({
      kind: 'idle',
      products: [{ price: { minor: 2900 } }, { unavailable: true }, { soldOut: true }],
    });
    expect(invoiced(d.press(1))).toHaveLength(1);
  });

  it('on during a purchase: the customer finishes it (paid, delivered, receipt), then maintenance instead of idle', () => {
    const d = idleMachine();
    toPayScreen(d, 1, 'tx-a');
    const effects = d.send({ type: 'maintenance.changed', on: true });
    expect(effects.filter((e) => e.type === 'display.show')).toEqual([]);
    expect(d.state).toMatchObject({ kind: 'awaitingPayment', maintenance: true });
    payAndDeliver(d, 'tx-a');
    // The thank-you notice ignores buttons now: no new purchase.
    expect(d.press(2)).toEqual([]);
    d.fire('deadline');
    expect(d.state.kind).toBe('maintenance');
    expect(d.screen).toMatchObject({ kind: 'outOfService', reason: 'maintenance' });
  });

  it('on during a cancelled purchase: the cancel is confirmed, then maintenance', () => {
    const d = idleMachine();
    toPayScreen(d, 1, 'tx-a');
    d.send({ type: 'maintenance.changed', on: true });
    d.send({ type: 'button.pressed', button: { kind: 'cancel' }, txId: 'x' });
    expect(d.state.kind).toBe('cancelling');
    d.send({ type: 'payment.cancelAnswered', txId: 'tx-a', outcome: 'cancelled' });
    d.send({
      type: 'payment.statusReceived',
      txId: 'tx-a',
      status: { status: 'CANCELED', version: 3 },
    });
    expect(d.state.kind).toBe('notice');
    d.fire('deadline');
    expect(d.state.kind).toBe('maintenance');
  });

  it('switched off again before the purchase ended: back to idle as usual', () => {
    const d = idleMachine();
    toPayScreen(d, 1, 'tx-a');
    d.send({ type: 'maintenance.changed', on: true });
    d.send({ type: 'maintenance.changed', on: false });
    payAndDeliver(d, 'tx-a');
    d.fire('deadline');
    expect(d.state.kind).toBe('idle');
  });

  it('while SEQR refuses the credentials: the out-of-service screen stays, and maintenance follows when a status probe is answered', () => {
    const d = idleMachine();
    d.press(1, 'tx-a');
    d.send({
      type: 'payment.failed',
      op: 'issue',
      txId: 'tx-a',
      failure: { code: 'E_SEQR_AUTH' },
      retryable: false,
    });
    expect(d.state.kind).toBe('outOfService');
    d.send({ type: 'maintenance.changed', on: true });
    expect(d.state.kind).toBe('outOfService');
    d.fire('deadline');
    d.send({ type: 'payment.probed' });
    expect(d.state.kind).toBe('maintenance');
    expect(d.screen).toMatchObject({ reason: 'maintenance' });
  });

  it('while SEQR is out of reach: the probe invoice is issued, cancelled and confirmed out of sight, then maintenance (never idle)', () => {
    const d = idleMachine();
    d.press(1, 'tx-a');
    d.send({
      type: 'payment.failed',
      op: 'issue',
      txId: 'tx-a',
      failure: { code: 'E_SEQR_UNREACHABLE' },
      retryable: true,
    });
    expect(d.state).toMatchObject({ kind: 'outOfService', probe: 'invoice' });
    d.send({ type: 'maintenance.changed', on: true });
    const shown = d.screens.length;
    const issue = d.recorded(d.fire('deadline')).find((e) => e.type === 'payment.issue');
    const txId = issue?.txId ?? '';
    expect(txId).toMatch(/^probe-/);
    const cancel = d.send({
      type: 'payment.issued',
      txId,
      invoice: { reference: 'R-probe', qrPayload: 'HTTP://SEQR.SE/R-probe' },
    });
    expect(cancel.some((e) => e.type === 'payment.cancel')).toBe(true);
    d.send({ type: 'payment.cancelAnswered', txId, outcome: 'cancelled' });
    d.send({ type: 'payment.statusReceived', txId, status: { status: 'CANCELED', version: 2 } });
    expect(d.state.kind).toBe('maintenance');
    expect(d.screens.slice(shown)).toEqual([
      { kind: 'outOfService', reason: 'maintenance', machineName: testConfig.machineName },
    ]);
  });

  it('set at start: recovery resolves an open invoice first, then maintenance (never idle)', () => {
    const d = new Driver(createCore({ ...testConfig, maintenance: true }));
    expect(d.state.maintenance).toBe(true);
    const entries: LedgerEntry[] = [
      {
        type: 'invoice.requested',
        txId: 'old',
        slot: 1,
        productName: 'Cola',
        price: testConfig.products[0]!.price,
      },
      { type: 'invoice.issued', txId: 'old', invoiceReference: 'R-old' },
    ];
    const effects = d.send({
      type: 'recovery.loaded',
      transactions: [
        { txId: 'old', entries: entries.map((e, i) => ({ ...e, at: T0 - 10_000 + i })) },
      ],
    });
    expect(d.state.kind).toBe('cancelling');
    expect(effects).toContainEqual({ type: 'payment.cancel', txId: 'old', reference: 'R-old' });
    d.send({ type: 'payment.cancelAnswered', txId: 'old', outcome: 'cancelled' });
    d.send({
      type: 'payment.statusReceived',
      txId: 'old',
      status: { status: 'CANCELED', version: 2 },
    });
    d.fire('deadline');
    expect(d.state.kind).toBe('maintenance');
    expect(d.screens.some((s) => s.kind === 'idle')).toBe(false);
  });

  it('background refunds go on in maintenance', () => {
    const d = idleMachine();
    toPayScreen(d, 1, 'tx-a');
    d.send({ type: 'maintenance.changed', on: true });
    const paid = d.send({
      type: 'payment.statusReceived',
      txId: 'tx-a',
      status: { status: 'PAID', version: 2, ersReference: ERS },
    });
    d.recorded(d.recorded(paid));
    d.send({
      type: 'dispense.finished',
      txId: 'tx-a',
      result: { outcome: 'notDelivered', reason: 'slotFault' },
    });
    expect(d.state.kind).toBe('refunding');
    d.fire('deadline');
    d.fire('deadline');
    expect(d.state.kind).toBe('maintenance');
    const settle = d.fire('settle');
    const requested = settle.find((e) => e.type === 'ledger.record');
    expect(requested).toMatchObject({ entry: { type: 'refund.requested', txId: 'tx-a' } });
    expect(settle).toContainEqual(
      expect.objectContaining({ type: 'payment.refund', txId: 'tx-a' }),
    );
  });
});
