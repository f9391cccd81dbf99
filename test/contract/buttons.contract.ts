import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ButtonEvent, ButtonId, Buttons } from '../../daemon/ports/buttons.js';
import type { Clock } from '../../daemon/ports/clock.js';

/** A Buttons implementation plus the means to act on it as the outside world does. */
export interface ButtonsRig {
  readonly buttons: Buttons;
  readonly clock: Clock;
  /** The hold time after which a button counts as stuck. */
  readonly stuckMs: number;
  /** A complete short press and release (may take some ms of clock time). */
  press(button: ButtonId): Promise<void>;
  /** Pushes the button down and keeps it there. */
  hold(button: ButtonId): Promise<void>;
  /** Lets a held button go. */
  release(button: ButtonId): Promise<void>;
  /** Lets time pass (ms) and deliveries happen. */
  wait(ms: number): Promise<void>;
  dispose?(): Promise<void>;
}

const P1: ButtonId = { kind: 'product', slot: 1 };
const P2: ButtonId = { kind: 'product', slot: 2 };
const CANCEL: ButtonId = { kind: 'cancel' };

/**
 * The Buttons contract (daemon/ports/buttons.ts): one `pressed` per press at the press time,
 * held buttons never repeat and are reported `stuck` once then `released`, listeners run
 * asynchronously, unsubscribe and close stop delivery.
 */
export function describeButtonsContract(
  name: string,
  makeRig: () => Promise<ButtonsRig>,
  skip: string | false = false,
): void {
  describe.skipIf(skip !== false)(
    `Buttons contract: ${name}${skip === false ? '' : ` (${skip})`}`,
    () => {
      let rig: ButtonsRig;
      let events: ButtonEvent[];

      beforeEach(async () => {
        rig = await makeRig();
        events = [];
        rig.buttons.subscribe((e) => events.push(e));
      });
      afterEach(async () => {
        await rig.buttons.close();
        await rig.dispose?.();
      });

      it('reports one pressed per press, with the button and the press time', async () => {
        const t0 = rig.clock.now();
        await rig.press(P1);
        await rig.wait(100);
        await rig.press(CANCEL);
        await rig.wait(100);
        expect(events.map((e) => [e.type, e.button])).toEqual([
          ['pressed', P1],
          ['pressed', CANCEL],
        ]);
        expect(events[0]!.at).toBeGreaterThanOrEqual(t0);
        expect(events[0]!.at).toBeLessThan(t0 + 50);
      });

      it('does not call a listener inside subscribe', () => {
        let called = false;
        rig.buttons.subscribe(() => (called = true));
        expect(called).toBe(false);
      });

      it('a held button does not repeat; it is reported stuck once, then released', async () => {
        await rig.hold(P2);
        await rig.wait(rig.stuckMs * 3);
        expect(events.map((e) => e.type)).toEqual(['pressed', 'stuck']);
        await rig.release(P2);
        await rig.wait(100);
        expect(events.map((e) => e.type)).toEqual(['pressed', 'stuck', 'released']);
        expect(events.every((e) => e.button.kind === 'product' && e.button.slot === 2)).toBe(true);
      });

      it('a short press is never stuck nor released', async () => {
        await rig.press(P1);
        await rig.wait(rig.stuckMs * 2);
        expect(events.map((e) => e.type)).toEqual(['pressed']);
      });

      it('stops delivering to an unsubscribed listener', async () => {
        const other: ButtonEvent[] = [];
        const off = rig.buttons.subscribe((e) => other.push(e));
        off();
        await rig.press(P1);
        await rig.wait(100);
        expect(other).toEqual([]);
        expect(events).toHaveLength(1);
      });

      it('calls no listener after close, and close is idempotent', async () => {
        await rig.hold(P1);
        await rig.buttons.close();
        const seen = events.length;
        await rig.wait(rig.stuckMs * 2);
        await rig.buttons.close();
        expect(events).toHaveLength(seen);
      });
    },
  );
}
