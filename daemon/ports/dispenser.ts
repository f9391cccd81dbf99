/** How a dispense ended, when the adapter knows. */
export type DispenseResult =
  /** The relay pulsed and, if a drop sensor is configured, the beam broke within the window. */
  | { readonly outcome: 'delivered' }
  /**
   * Nothing reached the customer, for certain: the slot was sold out or faulted before the relay
   * was energised, or the relay pulsed and the drop sensor saw nothing within its window.
   * The core refunds.
   */
  | { readonly outcome: 'notDelivered'; readonly reason: 'soldOut' | 'noDrop' | 'slotFault' };

/** Told about a running dispense as it happens. */
export interface DispenseObserver {
  /**
   * The drop sensor saw the product fall: called once, synchronously from the sensor's edge,
   * before `dispense` settles (so the caller can record the drop before a crash could lose it).
   * Never called without a drop sensor.
   */
  readonly onDrop?: () => void;
}

/**
 * The dispense relays (one per slot) and the optional drop sensor.
 *
 * - At most one relay is energised at a time; a second `dispense` while one runs rejects with
 *   `E_DISPENSER_BUSY` without touching any output.
 * - `dispense` resolves after the relay is released again and the drop window has elapsed (or the
 *   beam broke). It rejects (`E_DISPENSER_FAULT`) only when the outcome is unknown, e.g. a GPIO
 *   write failed mid-pulse: the caller must then treat the dispense as uncertain, never retry it.
 * - Every output is at its safe (de-energised) level after `dispense` settles, after `close`, and
 *   after `safeState`, whatever happened before.
 */
export interface Dispenser {
  dispense(slot: number, observer?: DispenseObserver): Promise<DispenseResult>;
  /** Drives every relay output to its safe level at once (used on shutdown and after errors). */
  safeState(): Promise<void>;
  /** Stock known to the adapter per slot (sold-out inputs or counters); undefined = not tracked. */
  stock(slot: number): number | undefined;
  /**
   * A refill: the slot's stock counter is `count` from now on (counted down per delivery; at 0 a
   * dispense is `notDelivered: soldOut` without driving the relay). Held in memory: the caller
   * keeps it durably. Throws RangeError for a slot that is not configured, a count that is not an
   * integer 0..9999, or a slot whose emptiness a sold-out switch reports (it has no counter).
   */
  refill(slot: number, count: number): void;
  /** Finishes a running pulse, then releases the outputs at their safe level. Idempotent. */
  close(): Promise<void>;
}
