/** A physical button: a product slot's button, or the cancel button. */
export type ButtonId =
  { readonly kind: 'product'; readonly slot: number } | { readonly kind: 'cancel' };

/** What the buttons report. Debouncing is the adapter's job: one `pressed` per real press. */
export type ButtonEvent =
  /** Leading edge of a press, after debounce. `at` is the edge's time (epoch ms). */
  | { readonly type: 'pressed'; readonly button: ButtonId; readonly at: number }
  /** A button held or stuck longer than the configured limit; reported once until released. */
  | { readonly type: 'stuck'; readonly button: ButtonId; readonly at: number }
  /** A button that was reported stuck is released again. */
  | { readonly type: 'released'; readonly button: ButtonId; readonly at: number };

/**
 * The machine's buttons. Inputs are subscriptions; there is nothing to call per press.
 * Listeners are called asynchronously (never inside `subscribe`), in edge order, one event at a time.
 */
export interface Buttons {
  /** Registers a listener; returns the function that removes it. */
  subscribe(listener: (event: ButtonEvent) => void): () => void;
  /** Releases the inputs. Idempotent. No listener is called after it resolves. */
  close(): Promise<void>;
}
