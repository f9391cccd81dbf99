import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Dispenser } from '../../daemon/ports/dispenser.js';
import { errorCodeOf } from '../../daemon/errors.js';

/** A relay on/off edge as the rig observed it. */
export interface RelayEdge {
  readonly slot: number;
  readonly energised: boolean;
}

/** A Dispenser plus what the outside world sees of its relays. */
export interface DispenserRig {
  readonly dispenser: Dispenser;
  /** Slots configured; the first two are used. */
  readonly slots: readonly [number, number, ...number[]];
  readonly pulseMs: number;
  /** Relay edges observed so far, in order. */
  relayEdges(): RelayEdge[];
  /** Slots whose relay is energised now. */
  energised(): Promise<number[]>;
  /** Lets clock time pass. */
  wait(ms: number): Promise<void>;
  dispose?(): Promise<void>;
}

function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

/**
 * The Dispenser contract (daemon/ports/dispenser.ts): a dispense pulses exactly one relay for
 * the pulse length and resolves after release; a concurrent dispense rejects E_DISPENSER_BUSY
 * without touching an output; at most one relay is ever energised; every output is safe after
 * settle, close and safeState; unknown slots reject without driving anything.
 */
export function describeDispenserContract(
  name: string,
  makeRig: () => Promise<DispenserRig>,
  skip: string | false = false,
): void {
  describe.skipIf(skip !== false)(
    `Dispenser contract: ${name}${skip === false ? '' : ` (${skip})`}`,
    () => {
      let rig: DispenserRig;
      beforeEach(async () => {
        rig = await makeRig();
      });
      afterEach(async () => {
        await rig.dispenser.close();
        await rig.dispose?.();
      });

      it('pulses the slot relay once and resolves delivered after release', async () => {
        const slot = rig.slots[0];
        const result = settle(rig.dispenser.dispense(slot));
        await rig.wait(1);
        expect(await rig.energised()).toEqual([slot]);
        await rig.wait(rig.pulseMs + 50);
        expect(await result).toEqual({ ok: true, value: { outcome: 'delivered' } });
        expect(await rig.energised()).toEqual([]);
        expect(rig.relayEdges()).toEqual([
          { slot, energised: true },
          { slot, energised: false },
        ]);
      });

      it('rejects a second dispense while one runs with E_DISPENSER_BUSY, touching nothing', async () => {
        const [a, b] = rig.slots;
        const first = settle(rig.dispenser.dispense(a));
        await rig.wait(1);
        const second = await settle(rig.dispenser.dispense(b));
        expect(second.ok).toBe(false);
        if (!second.ok) expect(errorCodeOf(second.error)).toBe('E_DISPENSER_BUSY');
        expect(await rig.energised()).toEqual([a]);
        await rig.wait(rig.pulseMs + 50);
        expect((await first).ok).toBe(true);
        expect(rig.relayEdges().filter((e) => e.slot === b)).toEqual([]);
      });

      it('never energises two relays at once over consecutive dispenses', async () => {
        for (const slot of [rig.slots[0], rig.slots[1], rig.slots[0]]) {
          const r = settle(rig.dispenser.dispense(slot));
          await rig.wait(rig.pulseMs + 50);
          expect((await r).ok).toBe(true);
        }
        let on = 0;
        for (const e of rig.relayEdges()) {
          on += e.energised ? 1 : -1;
          expect(on).toBeLessThanOrEqual(1);
        }
        expect(on).toBe(0);
      });

      it('rejects an unknown slot without driving any output', async () => {
        const r = await settle(rig.dispenser.dispense(99));
        expect(r.ok).toBe(false);
        expect(rig.relayEdges()).toEqual([]);
      });

      it('a refill sets the count: it goes down per delivery; at 0 sold out without a pulse; bad counts and slots refused', async () => {
        const [slot, other] = rig.slots;
        rig.dispenser.refill(slot, 1);
        expect(rig.dispenser.stock(slot)).toBe(1);
        const first = settle(rig.dispenser.dispense(slot));
        await rig.wait(rig.pulseMs + 50);
        expect(await first).toEqual({ ok: true, value: { outcome: 'delivered' } });
        expect(rig.dispenser.stock(slot)).toBe(0);
        const second = await settle(rig.dispenser.dispense(slot));
        expect(second).toEqual({ ok: true, value: { outcome: 'notDelivered', reason: 'soldOut' } });
        expect(rig.relayEdges().filter((e) => e.energised)).toHaveLength(1);
        for (const count of [-1, 1.5, 10_000])
          expect(() => {
            rig.dispenser.refill(slot, count);
          }).toThrow(RangeError);
        expect(() => {
          rig.dispenser.refill(99, 1);
        }).toThrow(RangeError);
        expect(rig.dispenser.stock(slot)).toBe(0);
        expect(rig.dispenser.stock(other)).toBeUndefined();
      });

      it('safeState cuts a running pulse: outputs safe, the dispense rejects E_DISPENSER_FAULT', async () => {
        const r = settle(rig.dispenser.dispense(rig.slots[0]));
        await rig.wait(1);
        await rig.dispenser.safeState();
        expect(await rig.energised()).toEqual([]);
        const outcome = await r;
        expect(outcome.ok).toBe(false);
        if (!outcome.ok) expect(errorCodeOf(outcome.error)).toBe('E_DISPENSER_FAULT');
      });

      it('close finishes a running pulse, leaves outputs safe, is idempotent; then E_CLOSED', async () => {
        const r = settle(rig.dispenser.dispense(rig.slots[0]));
        await rig.wait(1);
        const closing = rig.dispenser.close();
        await rig.wait(rig.pulseMs + 50);
        await closing;
        await rig.dispenser.close();
        expect((await r).ok).toBe(true);
        expect(await rig.energised()).toEqual([]);
        const after = await settle(rig.dispenser.dispense(rig.slots[0]));
        expect(after.ok).toBe(false);
        if (!after.ok) expect(errorCodeOf(after.error)).toBe('E_CLOSED');
      });
    },
  );
}
