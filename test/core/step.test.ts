import { describe, expect, it } from 'vitest';
import type { State } from '../../daemon/core/types.js';
import { EVENTS, STATES, core, type EventName, type StateName } from './fixtures.js';

/**
 * The transition table, every state x event pair. A name is the state kind reached; `=` means the
 * state handled the event in place (same kind, new state or effects); `stock` means only the
 * sold-out list changed. Pairs not listed must be explicit no-ops: the same state object back
 * and no effects.
 */
type Expect = Partial<Record<EventName, State['kind'] | '=' | 'stock' | 'no-op'>>;

/** What every state does with these events (a row below overrides). */
const ANY_STATE: Expect = {
  'stock.updated': 'stock',
  // Remembered for the next purchase (the switch only: the phase ends in maintenance).
  'catalog.updated': '=',
  'maintenance.changed/on': '=',
  'display.failed': '=',
  'payment.issued': '=',
  'payment.refunded': '=',
  'payment.failed/refund': '=',
  'ledger.failed': '=',
};

const TABLE: Record<StateName, Expect> = {
  starting: { 'recovery.loaded': 'idle', 'timer.expired/deadline': 'outOfService' },
  idle: {
    'button.pressed/product': 'invoicing',
    'stock.updated': '=',
    'maintenance.changed/on': 'maintenance',
  },
  'invoicing/recording': {
    'ledger.recorded': '=',
    'ledger.failed': 'notice',
    'payment.failed/issue': 'outOfService',
    'timer.expired/deadline': 'outOfService',
  },
  'invoicing/issuing': {
    'payment.issued': 'awaitingPayment',
    'payment.failed/issue': 'outOfService',
    'timer.expired/deadline': 'outOfService',
  },
  'invoicing/probe': {
    // The probe's invoice is cancelled at once, out of sight.
    'payment.issued': 'cancelling',
    'payment.failed/issue': 'outOfService',
    'timer.expired/deadline': 'outOfService',
  },
  'awaitingPayment/paying': {
    'ledger.failed': 'cancelling',
    'payment.statusReceived/ISSUED': '=',
    'payment.statusReceived/PAID': 'dispensing',
    'payment.statusReceived/CANCELED': 'notice',
    'payment.failed/poll': '=',
    'payment.failed/poll-54': 'cancelling',
    'button.pressed/cancel': 'cancelling',
    'timer.expired/deadline': '=',
    'timer.expired/poll': '=',
    'timer.expired/countdown': '=',
  },
  'awaitingPayment/stillPaying': {
    'ledger.failed': 'cancelling',
    'payment.statusReceived/ISSUED': '=',
    'payment.statusReceived/PAID': 'dispensing',
    'payment.statusReceived/CANCELED': 'notice',
    'payment.failed/poll': '=',
    'payment.failed/poll-54': 'cancelling',
    'button.pressed/cancel': 'cancelling',
    'button.pressed/product': '=',
    'timer.expired/deadline': 'cancelling',
    'timer.expired/poll': '=',
    'timer.expired/countdown': '=',
  },
  cancelling: {
    'payment.cancelAnswered': '=',
    'payment.statusReceived/ISSUED': '=',
    'payment.statusReceived/PAID': 'dispensing',
    'payment.statusReceived/CANCELED': 'notice',
    'payment.failed/poll': '=',
    'payment.failed/poll-54': '=',
    'payment.failed/cancel': '=',
    'timer.expired/poll': '=',
    'timer.expired/deadline': '=',
  },
  'cancelling/waiting': {
    // No call out: answers are stale; the retry timer sends the cancel again.
    'timer.expired/poll': '=',
    'timer.expired/retry': '=',
    'timer.expired/deadline': '=',
  },
  'dispensing/recordingPaid': {
    'ledger.recorded': '=',
    'ledger.failed': 'refunding',
    'timer.expired/deadline': 'refunding',
  },
  'dispensing/recordingStart': {
    'ledger.recorded': '=',
    'ledger.failed': 'refunding',
    'timer.expired/deadline': 'refunding',
  },
  'dispensing/running': {
    'dispense.dropped': '=',
    'dispense.finished': 'finishing',
    // Outcome unknown: dispense.onInterrupted (default refund).
    'dispense.failed': 'refunding',
    'timer.expired/deadline': 'refunding',
  },
  'dispensing/dropped': {
    // The drop sensor saw it fall: delivered, whatever the relay did after.
    'dispense.finished': 'finishing',
    'dispense.failed': 'finishing',
    'timer.expired/deadline': 'finishing',
  },
  refunding: {
    // Its refund's first attempt is out (a background job): the answer is the news shown.
    'payment.refunded': 'notice',
    'payment.failed/refund': 'notice',
    'ledger.failed': 'notice',
    'timer.expired/deadline': 'notice',
  },
  'finishing/printing': {
    'printer.printed': 'notice',
    'printer.failed': 'notice',
    'timer.expired/deadline': 'idle',
  },
  notice: { 'timer.expired/deadline': 'idle', 'button.pressed/product': 'invoicing' },
  'idle/receiptOut': {
    'button.pressed/product': 'invoicing',
    'stock.updated': '=',
    'payment.receiptSubmitted': '=',
    'payment.failed/submitReceipt': '=',
    'payment.failed/submitReceipt-refused': '=',
    'maintenance.changed/on': 'maintenance',
  },
  'idle/refundWaiting': {
    'button.pressed/product': 'invoicing',
    'stock.updated': '=',
    'timer.expired/settle': '=',
    'maintenance.changed/on': 'maintenance',
  },
  outOfService: {
    'payment.probed': 'idle',
    'payment.failed/probe': '=',
    'timer.expired/deadline': '=',
  },
  'outOfService/invoiceProbe': {
    // sendInvoice failed: the probe is an invoice of its own.
    'timer.expired/deadline': 'invoicing',
  },
  // Buttons ignored; only the switch going off leads out.
  maintenance: { 'maintenance.changed/on': 'no-op', 'maintenance.changed/off': 'idle' },
};

const cases = (Object.keys(STATES) as StateName[]).flatMap((stateName) =>
  (Object.keys(EVENTS) as EventName[]).map((eventName) => {
    const expected = { ...ANY_STATE, ...TABLE[stateName] }[eventName];
    return { stateName, eventName, expected: expected ?? 'no-op' };
  }),
);

describe('step: every state x event pair', () => {
  it.each(cases)('$stateName + $eventName -> $expected', ({ stateName, eventName, expected }) => {
    const state: State = STATES[stateName];
    const event = EVENTS[eventName](state);
    const t = core.step(state, event);
    if (expected === 'no-op') {
      expect(t.state).toBe(state);
      expect(t.effects).toEqual([]);
    } else if (expected === 'stock') {
      expect(t.state).toEqual({ ...state, soldOut: [3] });
    } else if (expected === '=') {
      expect(t.state.kind).toBe(state.kind);
      expect(t.state !== state || t.effects.length > 0).toBe(true);
    } else {
      expect(t.state.kind).toBe(expected);
    }
  });

  it('every state but idle and maintenance (they wait for a person) reached by a transition holds a deadline whose timer it started', () => {
    for (const { stateName, eventName } of cases) {
      const state: State = STATES[stateName];
      const t = core.step(state, EVENTS[eventName](state));
      if (
        t.state === state ||
        t.state.kind === 'idle' ||
        t.state.kind === 'maintenance' ||
        t.state.kind === state.kind
      )
        continue;
      expect('deadline' in t.state, `${stateName} + ${eventName}`).toBe(true);
      const started = t.effects.filter((e) => e.type === 'timer.start' && e.name === 'deadline');
      expect(started.at(-1), `${stateName} + ${eventName}`).toMatchObject({
        token: (t.state as { deadline: string }).deadline,
      });
    }
  });

  it('never throws and never returns Error objects, for any pair', () => {
    for (const { stateName, eventName } of cases) {
      const state: State = STATES[stateName];
      const t = core.step(state, EVENTS[eventName](state));
      expect(JSON.parse(JSON.stringify(t))).toEqual(t);
    }
  });
});
