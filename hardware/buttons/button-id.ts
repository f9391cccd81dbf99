import type { ButtonId } from '../../daemon/ports/buttons.js';

/** A stable map key for a button: `product:3`, `cancel`. */
export function buttonKey(button: ButtonId): string {
  return button.kind === 'cancel' ? 'cancel' : `product:${button.slot}`;
}

/** Throws a TypeError naming the bad field when `button` is not a valid ButtonId. */
export function checkButtonId(button: ButtonId): void {
  const raw = button as { kind?: unknown; slot?: unknown };
  if (raw.kind === 'cancel') return;
  if (raw.kind !== 'product')
    throw new TypeError(`"button.kind" must be 'product' or 'cancel': ${String(raw.kind)}`);
  if (typeof raw.slot !== 'number' || !Number.isInteger(raw.slot) || raw.slot < 1)
    throw new TypeError(`"button.slot" must be an integer >= 1: ${String(raw.slot)}`);
}

/** Calls every listener with `event`; a listener that throws is reported as uncaught, later. */
export function deliver<E>(listeners: Iterable<(event: E) => void>, event: E): void {
  for (const listener of [...listeners]) {
    try {
      listener(event);
    } catch (err) {
      queueMicrotask(() => {
        throw err;
      });
    }
  }
}
