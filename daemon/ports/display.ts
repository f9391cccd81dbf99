import type { Money } from './money.js';

/** A product as the customer sees it on the idle screen and during the purchase. */
export interface ProductView {
  readonly slot: number;
  /** The number printed next to the physical button (1-based). */
  readonly buttonLabel: string;
  readonly name: string;
  readonly price: Money;
  readonly soldOut: boolean;
  /** The operator took it off sale: shown as unavailable (its button is ignored). */
  readonly unavailable?: boolean;
}

/** Why the machine cannot sell right now. */
export type OutOfServiceReason =
  | 'seqrUnreachable'
  | 'seqrCredentials'
  | 'hardwareFault'
  | 'starting'
  /** The operator switched maintenance mode on. */
  | 'maintenance';

/** Why a purchase ended without a sale, in the customer's terms. */
export type PurchaseProblem =
  /** SEQR reported FAILED. */
  | 'paymentFailed'
  /** The customer cancelled in the app (CANCELED not caused by us, SEQR answering all along). */
  | 'cancelledInApp'
  /**
   * CANCELED after SEQR was silent for most of its reversal window: if the customer paid, SEQR
   * reversed the payment (nobody saw it in time); they get their money back from SEQR.
   */
  | 'paymentReversed'
  /** SEQR answered an error while creating the invoice. */
  | 'invoiceFailed'
  /** SEQR stopped answering during the purchase. */
  | 'connectionLost';

/**
 * Screens are view models: what to say, not how it looks. The display adapter renders them
 * (framebuffer, PNG, terminal). Every screen is complete: showing one never depends on the last.
 */
export type Screen =
  | {
      readonly kind: 'idle';
      readonly machineName: string;
      readonly products: readonly ProductView[];
    }
  | { readonly kind: 'preparing'; readonly product: ProductView }
  | {
      readonly kind: 'pay';
      readonly product: ProductView;
      /** `HTTP://SEQR.SE/R<invoiceReference>`. */
      readonly qrPayload: string;
      readonly secondsLeft: number;
      readonly totalSeconds: number;
    }
  | {
      /** "Still paying?" after the first payment window: any product button continues. */
      readonly kind: 'stillPaying';
      readonly product: ProductView;
      readonly qrPayload: string;
      readonly secondsLeft: number;
      readonly totalSeconds: number;
    }
  | {
      readonly kind: 'cancelling';
      readonly product: ProductView;
      /** retrying: SEQR did not confirm the cancel yet, it is sent again; paying: SEQR says the
       *  customer is paying in the app right now (a payment confirmed there is a sale). */
      readonly note?: 'retrying' | 'paying';
    }
  | { readonly kind: 'dispensing'; readonly product: ProductView }
  | {
      readonly kind: 'thankYou';
      readonly product: ProductView;
      /** Short payment reference the customer can quote (last digits of the ersReference). */
      readonly paymentRef: string;
    }
  | {
      readonly kind: 'notDelivered';
      readonly product: ProductView;
      /** `refunding` while the refund call runs; `refunded` once SEQR confirmed; `pending` when
       *  the refund will be retried (the customer is told the money comes back); `checking` when
       *  the product may have come out and the operator decides (`dispense.onInterrupted: flag`). */
      readonly refund: 'refunding' | 'refunded' | 'pending' | 'checking';
      /** The payment arrived after the customer could have left: refunded, nothing dispensed. */
      readonly late?: true;
    }
  | { readonly kind: 'cancelled'; readonly product: ProductView }
  | { readonly kind: 'problem'; readonly problem: PurchaseProblem }
  | {
      readonly kind: 'outOfService';
      readonly reason: OutOfServiceReason;
      readonly machineName: string;
    }
  /** Idle in UPS mode: the static "pay first, then choose" code beside the products. */
  | {
      readonly kind: 'upsIdle';
      readonly machineName: string;
      readonly products: readonly ProductView[];
      /** `HTTP://SEQR.SE/000/ups?w=<merchantId>&t=<machineId>`. */
      readonly qrPayload: string;
    }
  /** A payer scanned the code: confirm the reservation of up to `amount` in the app. */
  | { readonly kind: 'upsConfirm'; readonly amount: Money }
  /** Reserved: choose with the product buttons; CANCEL when done. */
  | {
      readonly kind: 'upsChoose';
      /** What is left of the reservation. */
      readonly credit: Money;
      readonly products: readonly ProductView[];
      /** The product coming out now. */
      readonly vending?: ProductView;
    }
  /** The session's end: charging `total` for `count` products, charged, or nothing charged. */
  | {
      readonly kind: 'upsSettle';
      readonly state: 'settling' | 'paid' | 'cancelling' | 'nothing';
      readonly total: Money;
      readonly count: number;
      /** Short payment reference, once paid and known. */
      readonly paymentRef?: string;
    };

/**
 * The customer display. `show` replaces the whole picture; it resolves when the frame is out
 * (written to the framebuffer, file or terminal). A later `show` supersedes an earlier one that has
 * not been written yet, and the superseded call settles with the outcome of the write that
 * replaced it: the display never shows a stale screen after a newer one. Rejects with
 * `E_DISPLAY_WRITE` when the device cannot be written; the next `show` is tried afresh (the
 * framebuffer also retries the latest screen in the background and reports recovery).
 */
export interface Display {
  show(screen: Screen): Promise<void>;
  /**
   * Idempotent. A screen not yet written when `close` is called is either written before `close`
   * resolves or rejected with `E_CLOSED`; nothing is written afterwards, and `show` after `close`
   * rejects with `E_CLOSED`.
   */
  close(): Promise<void>;
}
