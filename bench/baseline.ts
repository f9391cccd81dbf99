// The baseline the end-to-end benchmarks compare against: the plain client-side loop of the
// official SEQR cash-register sample, over the project's own SOAP client. Press -> sendInvoice ->
// show the QR -> getPaymentStatus every second from setInterval (no overlap guard, version 0 as the
// sample sends) -> dispense on PAID; CANCELED/FAILED end it; after 30 s, or on the cancel button,
// cancelInvoice and walk away. No ledger, no refunds, no confirmation of the cancel.
import type { Dispenser } from '../daemon/ports/dispenser.js';
import type { Display, ProductView } from '../daemon/ports/display.js';
import type { Clock, TimerHandle } from '../daemon/ports/clock.js';
import type { SeqrClient } from '../daemon/seqr/client.js';

/** What the baseline needs of the SOAP client. */
export type BaselineClient = Pick<SeqrClient, 'sendInvoice' | 'getPaymentStatus' | 'cancelInvoice'>;

/** A repeating timer; returns its stop function. */
export type Every = (ms: number, fn: () => void) => () => void;

/** `setInterval` on the real clock; on another clock, a chain of timeouts on the same schedule. */
export function everyOn(clock: Clock, real: boolean): Every {
  if (real)
    return (ms, fn) => {
      const handle = setInterval(fn, ms);
      return () => {
        clearInterval(handle);
      };
    };
  return (ms, fn) => {
    let next = clock.now() + ms;
    let handle: TimerHandle | undefined;
    let stopped = false;
    const arm = (): void => {
      handle = clock.setTimeout(
        () => {
          if (stopped) return;
          next += ms;
          arm();
          fn();
        },
        Math.max(0, next - clock.now()),
      );
    };
    arm();
    return () => {
      stopped = true;
      if (handle !== undefined) clock.clearTimeout(handle);
    };
  };
}

export interface BaselineOptions {
  readonly client: BaselineClient;
  readonly dispenser: Dispenser;
  readonly display: Display;
  readonly clock: Clock;
  readonly every: Every;
  readonly machineName: string;
  readonly products: readonly ProductView[];
  /** The sample's polling window before it cancels. Default 30 s. */
  readonly windowMs?: number;
}

/** The sample's terminal loop. `press` and `cancel` are what the buttons call. */
export class BaselineTerminal {
  readonly #o: BaselineOptions;
  readonly #windowMs: number;
  #active: { ref: string; stop: () => void } | undefined;
  #busy = false;

  constructor(options: BaselineOptions) {
    this.#o = options;
    this.#windowMs = options.windowMs ?? 30_000;
  }

  showIdle(): Promise<void> {
    return this.#o.display.show({
      kind: 'idle',
      machineName: this.#o.machineName,
      products: this.#o.products,
    });
  }

  /** True between a press and the end of that purchase. */
  get busy(): boolean {
    return this.#busy;
  }

  press(slot: number): void {
    const product = this.#o.products.find((p) => p.slot === slot);
    if (this.#busy || !product) return;
    this.#busy = true;
    void this.#purchase(product).catch(() => {
      this.#done();
    });
  }

  cancel(): void {
    const active = this.#active;
    if (!active) return;
    active.stop();
    void this.#o.client.cancelInvoice(active.ref).catch(() => undefined);
    this.#done();
  }

  async #purchase(product: ProductView): Promise<void> {
    const { client, clock } = this.#o;
    const { invoiceReference: ref } = await client.sendInvoice({
      paymentMode: 'IMMEDIATE_DEBIT',
      acknowledgmentMode: 'NO_ACKNOWLEDGMENT',
      issueDate: new Date(clock.now()).toISOString(),
      title: this.#o.machineName,
      rows: [
        {
          itemDescription: product.name,
          itemQuantity: 1,
          itemUnitPrice: product.price,
          itemTotalAmount: product.price,
        },
      ],
      totalAmount: product.price,
    });
    const totalSeconds = Math.round(this.#windowMs / 1000);
    void this.#o.display
      .show({
        kind: 'pay',
        product,
        qrPayload: `HTTP://SEQR.SE/R${ref}`.toUpperCase(),
        secondsLeft: totalSeconds,
        totalSeconds,
      })
      .catch(() => undefined);
    const started = clock.now();
    const stop = this.#o.every(1000, () => {
      void (async () => {
        if (clock.now() - started >= this.#windowMs) {
          this.cancel();
          return;
        }
        const status = await client.getPaymentStatus(ref, 0).catch(() => undefined);
        if (!status) return;
        if (status.status === 'PAID') {
          stop();
          this.#active = undefined;
          await this.#o.dispenser.dispense(product.slot).catch(() => undefined);
          this.#done();
        } else if (status.status === 'CANCELED' || status.status === 'FAILED') {
          stop();
          this.#done();
        }
      })();
    });
    this.#active = { ref, stop };
  }

  #done(): void {
    this.#active = undefined;
    this.#busy = false;
    void this.showIdle().catch(() => undefined);
  }
}
