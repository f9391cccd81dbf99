import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { errorCodeOf } from '../../daemon/errors.js';
import type { Display, Screen } from '../../daemon/ports/display.js';

/**
 * A Display plus a look at its output. A sink shows the contract's pay screens; `current` names
 * the one visible now by its QR payload (picture sinks, decoded from the output) or its product
 * name (text sinks), undefined before the first frame.
 */
export interface DisplayRig {
  readonly display: Display;
  current(): Promise<string | undefined>;
  /** Every frame that came out so far, named like `current`, oldest first (when observable). */
  readonly frames?: () => Promise<string[]>;
  /** Makes the output fail until `repair` (undefined: this sink cannot fail). */
  readonly break?: () => Promise<void>;
  readonly repair?: () => Promise<void>;
  /** Lets background work (timers, I/O) run, as time passing would. */
  settle(): Promise<void>;
  dispose?(): Promise<void>;
}

/** The contract's screen `n`: a pay screen whose product name and QR payload carry `n`. */
export function contractScreen(n: number): Screen {
  return {
    kind: 'pay',
    product: {
      slot: 1,
      buttonLabel: '1',
      name: `Product ${String(n)}`,
      price: { minor: 1000 + n, currency: 'SEK' },
      soldOut: false,
    },
    qrPayload: payloadOf(n),
    secondsLeft: 42,
    totalSeconds: 60,
  };
}

function payloadOf(n: number): string {
  return `HTTP://SEQR.SE/R2026113000000${String(n).padStart(4, '0')}`;
}

/** The names `current` may give screen `n`. */
const namesOf = (n: number): string[] => [payloadOf(n), `Product ${String(n)}`];

/** The screen number a name stands for. */
function numberOf(name: string): number {
  const product = /^Product (\d+)$/.exec(name);
  if (product) return Number(product[1]);
  return Number(name.slice(-4));
}

async function outcome(p: Promise<void>): Promise<{ ok: true } | { ok: false; code: unknown }> {
  return p.then(
    () => ({ ok: true as const }),
    (err: unknown) => ({ ok: false as const, code: errorCodeOf(err) }),
  );
}

/**
 * The Display contract (daemon/ports/display.ts): `show` resolves once the frame is out; a later
 * screen supersedes an earlier one and the output never goes back to it; an output that cannot be
 * written rejects `E_DISPLAY_WRITE` and the next screen comes out once it can; `close` is
 * idempotent, a screen still waiting at `close` is either out or rejected `E_CLOSED`, and `show`
 * after `close` rejects `E_CLOSED`.
 */
export function describeDisplayContract(name: string, makeRig: () => Promise<DisplayRig>): void {
  describe(`Display contract: ${name}`, () => {
    let rig: DisplayRig;
    beforeEach(async () => {
      rig = await makeRig();
    });
    afterEach(async () => {
      await rig.display.close();
      await rig.dispose?.();
    });

    it('show resolves once the frame is out', async () => {
      expect(await rig.current()).toBeUndefined();
      await rig.display.show(contractScreen(1));
      expect(namesOf(1)).toContain(await rig.current());
      await rig.display.show(contractScreen(2));
      expect(namesOf(2)).toContain(await rig.current());
    });

    it('the latest screen wins: shows in one tick all resolve, the last is out and stays', async () => {
      await rig.display.show(contractScreen(1));
      const shows = [2, 3, 4].map((n) => rig.display.show(contractScreen(n)));
      await Promise.all(shows);
      expect(namesOf(4)).toContain(await rig.current());
      await rig.settle();
      expect(namesOf(4)).toContain(await rig.current());
      if (rig.frames) {
        const order = (await rig.frames()).map(numberOf);
        expect(order[0]).toBe(1);
        expect(order.at(-1)).toBe(4);
        expect(order).toEqual([...order].sort((a, b) => a - b));
      }
    });

    it('an output that cannot be written rejects E_DISPLAY_WRITE; the next screen comes out once it can', async (ctx) => {
      const { break: breakOutput, repair } = rig;
      if (!breakOutput || !repair) {
        ctx.skip();
        return;
      }
      await breakOutput();
      const failed = await outcome(rig.display.show(contractScreen(1)));
      expect(failed).toEqual({ ok: false, code: 'E_DISPLAY_WRITE' });
      await repair();
      await rig.display.show(contractScreen(2));
      expect(namesOf(2)).toContain(await rig.current());
    });

    it('close is idempotent; show after close rejects E_CLOSED', async () => {
      await rig.display.show(contractScreen(1));
      await rig.display.close();
      await rig.display.close();
      expect(await outcome(rig.display.show(contractScreen(2)))).toEqual({
        ok: false,
        code: 'E_CLOSED',
      });
      expect(namesOf(1)).toContain(await rig.current());
    });

    it('a screen waiting at close is either out or rejected E_CLOSED, and nothing comes out after', async () => {
      await rig.display.show(contractScreen(1));
      const waiting = outcome(rig.display.show(contractScreen(2)));
      await rig.display.close();
      const result = await waiting;
      const shown = await rig.current();
      if (result.ok) expect(namesOf(2)).toContain(shown);
      else {
        expect(result.code).toBe('E_CLOSED');
        expect(namesOf(1)).toContain(shown);
      }
      await rig.settle();
      expect(await rig.current()).toBe(shown);
    });
  });
}
