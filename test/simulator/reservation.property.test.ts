// The simulated SEQR is the referee of the machine's reservation tests, so its own rules are
// checked over random sequences of merchant calls, payer actions and time: a reservation is
// committed at most once, never above what was reserved, never after it lapsed or was
// cancelled, and the committed amount is exactly the one asked for.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatAmount, parseAmount } from '../../simulator/decimal.js';
import { SimulatorState, type Terminal } from '../../simulator/state.js';
import { ManualClock } from '../../daemon/runtime/manual-clock.js';

type Step =
  | { kind: 'pay' }
  | { kind: 'cancelInApp' }
  | { kind: 'merchantCancel' }
  | { kind: 'update'; minor: number }
  | { kind: 'commit'; minor: number | undefined }
  | { kind: 'wait'; ms: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.constant({ kind: 'pay' as const }),
  fc.constant({ kind: 'cancelInApp' as const }),
  fc.constant({ kind: 'merchantCancel' as const }),
  fc.record({ kind: fc.constant('update' as const), minor: fc.integer({ min: 0, max: 12_000 }) }),
  fc.record({
    kind: fc.constant('commit' as const),
    minor: fc.option(fc.integer({ min: 0, max: 12_000 }), { nil: undefined }),
  }),
  fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 40_000 }) }),
);

const amount = (minor: number) => ({ currency: 'SEK', value: formatAmount(BigInt(minor) * 1000n) });
const minorOf = (value: string) => Number((parseAmount(value) ?? 0n) / 1000n);

describe('simulated reservations', () => {
  it('commit at most once, at most the reserved amount, only while RESERVED', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 100, max: 10_000 }),
        fc.array(step, { maxLength: 25 }),
        (issuedMinor, steps) => {
          const clock = new ManualClock(Date.UTC(2026, 10, 22, 9, 0, 0));
          const state = new SimulatorState({
            clock,
            reversalMs: 20_000,
            missingAckMode: 'NO_ACKNOWLEDGMENT',
            reportNotReadyCalls: 0,
            reservationTimeoutMs: 90_000,
          });
          const owner = { id: 'shop', userId: '9900', password: 'pw12' };
          state.addReseller(owner);
          state.addTerminal({ id: 't1', password: 'pw-term' }, owner);
          const auth = state.authenticateTerminal({
            id: 't1',
            type: 'TERMINALID',
            password: 'pw-term',
          });
          if (auth.code !== 0 || !('terminal' in auth)) throw new Error('no terminal');
          const terminal: Terminal = auth.terminal;
          const sent = state.sendInvoice(terminal, {
            paymentMode: 'RESERVATION_REQUIRED_PRELIMINARY_AMOUNT',
            acknowledgmentMode: 'NO_ACKNOWLEDGMENT',
            totalAmount: amount(issuedMinor),
            commitReservationTimeout: '60',
          });
          if (sent.code !== 0 || !('reference' in sent)) throw new Error('not sent');
          const ref = sent.reference;
          let commits = 0;
          let expected: number | undefined;
          let updated = issuedMinor;
          // What the payer confirmed: the invoice's amount when paid (updates before it count).
          let reservedMinor = Number.NaN;
          for (const s of steps) {
            const before = state.snapshot(ref)!;
            switch (s.kind) {
              case 'pay':
              case 'cancelInApp':
                try {
                  if (s.kind === 'pay') {
                    state.pay(ref);
                    reservedMinor = updated;
                  } else state.cancelInApp(ref);
                } catch {
                  // Not applicable in this state (the app would not offer it).
                }
                break;
              case 'merchantCancel':
                state.cancelInvoice(terminal, ref);
                break;
              case 'update': {
                const code = state.updateInvoice(terminal, ref, {
                  paymentMode: 'RESERVATION_REQUIRED_PRELIMINARY_AMOUNT',
                  totalAmount: amount(s.minor),
                }).code;
                if (before.status === 'RESERVED') expect(code === 0).toBe(s.minor <= reservedMinor);
                if (code === 0) updated = s.minor;
                break;
              }
              case 'commit': {
                const code = state.commitReservation(
                  terminal,
                  ref,
                  s.minor === undefined ? undefined : amount(s.minor),
                ).code;
                const asked = s.minor ?? updated;
                if (before.status !== 'RESERVED') expect(code).toBe(96);
                else expect(code === 0).toBe(asked > 0 && asked <= reservedMinor);
                if (code === 0) {
                  commits += 1;
                  expected = asked;
                }
                break;
              }
              case 'wait':
                clock.advance(s.ms);
                break;
            }
            const after = state.snapshot(ref)!;
            expect(commits).toBeLessThanOrEqual(1);
            if (after.committed) {
              expect(after.status).toBe('PAID');
              expect(minorOf(after.amount.value)).toBe(expected);
              expect(minorOf(after.amount.value)).toBeLessThanOrEqual(reservedMinor);
            }
            // Lapsed or cancelled reservations stay so: nothing charged.
            if (before.status === 'EXPIRED' || before.status === 'CANCELED')
              expect(after).toMatchObject({ status: before.status, committed: false });
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
