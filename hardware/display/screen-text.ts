import type { OutOfServiceReason, PurchaseProblem, Screen } from '../../daemon/ports/display.js';
import { toDecimalString, type Money } from '../../daemon/ports/money.js';

/** Languages the customer display speaks (chosen by configuration). */
export type DisplayLocale = 'en' | 'sv';

export const DISPLAY_LOCALES: readonly DisplayLocale[] = ['en', 'sv'];

/** The BCP 47 locale used for prices (`25,00 kr`, `€2.50`). */
const NUMBER_LOCALE: Record<DisplayLocale, string> = { en: 'en-GB', sv: 'sv-SE' };

/** One product row of the idle screen. */
export interface ProductRowText {
  readonly button: string;
  readonly name: string;
  /** The price, or "Sold out" / "Not available" in the customer's words. */
  readonly price: string;
  /** Not for sale now (sold out, or taken off sale): drawn muted. */
  readonly soldOut: boolean;
}

/**
 * What a screen says, in the customer's language, before any layout: every sink (pixels, PNG,
 * terminal) draws from this, so wording is tested once. Nothing here is a code or an enum name.
 */
export interface ScreenText {
  readonly title: string;
  /** The product being bought and its formatted price (purchase screens). */
  readonly product?: { readonly name: string; readonly price: string };
  /** Body sentences, in reading order. */
  readonly lines: readonly string[];
  /** Idle screen: one row per product. */
  readonly products?: readonly ProductRowText[];
  /** Pay screens: the QR payload, the time left as text and as a fraction 0..1. */
  readonly payment?: {
    readonly qrPayload: string;
    readonly timeLeft: string;
    readonly fractionLeft: number;
  };
  /** A static code to scan, without a countdown (UPS idle: pay first, then choose). */
  readonly code?: string;
  /** Small print at the bottom (machine name). */
  readonly footer?: string;
}

interface Phrases {
  readonly chooseProduct: string;
  readonly pressButton: string;
  readonly payWithApp: string;
  readonly soldOut: string;
  readonly unavailable: string;
  readonly noProducts: string;
  readonly oneMoment: string;
  readonly preparing: string;
  readonly scanToPay: string;
  readonly openApp: string;
  readonly cancelHint: string;
  readonly stillPaying: string;
  readonly stillPayingHint: string;
  readonly timeLeft: (clock: string) => string;
  readonly cancelling: string;
  readonly cancellingHint: string;
  readonly cancellingNote: Record<'retrying' | 'paying', string>;
  readonly dispensing: string;
  readonly dispensingHint: string;
  readonly thankYou: string;
  readonly takeProduct: string;
  readonly paymentRef: (ref: string) => string;
  readonly notDelivered: string;
  readonly notDeliveredSorry: string;
  readonly paidTooLate: string;
  readonly uncertainTitle: string;
  readonly uncertain: string;
  readonly refund: Record<'refunding' | 'refunded' | 'pending' | 'checking', string>;
  readonly cancelled: string;
  readonly cancelledHint: string;
  readonly problemTitle: string;
  readonly problem: Record<PurchaseProblem, string>;
  readonly tryAgain: string;
  /** Instead of {@link tryAgain} where "not charged" would not be the whole truth. */
  readonly reversedHint: string;
  readonly outOfService: string;
  readonly outOfServiceReason: Record<OutOfServiceReason, string>;
  readonly backSoon: string;
  readonly ups: {
    readonly scan: string;
    readonly scanHint: string;
    readonly confirm: string;
    readonly confirmHint: (amount: string) => string;
    readonly onlyWhatYouTake: string;
    readonly choose: string;
    readonly credit: (amount: string) => string;
    readonly doneHint: string;
    readonly settle: Record<'settling' | 'paid' | 'cancelling' | 'nothing', string>;
    readonly bill: (count: number, total: string) => string;
    readonly nothingCharged: string;
  };
}

const PHRASES: Record<DisplayLocale, Phrases> = {
  en: {
    chooseProduct: 'Choose a product',
    pressButton: 'Press the button next to your choice',
    payWithApp: 'Pay with the SEQR app',
    soldOut: 'Sold out',
    unavailable: 'Not available',
    noProducts: 'Nothing for sale right now',
    oneMoment: 'One moment…',
    preparing: 'Preparing your payment',
    scanToPay: 'Scan to pay',
    openApp: 'Open the SEQR app, scan the code and confirm',
    cancelHint: 'Press CANCEL to stop',
    stillPaying: 'Still paying?',
    stillPayingHint: 'Press any product button for more time',
    timeLeft: (clock) => `${clock} left`,
    cancelling: 'Cancelling…',
    cancellingHint: 'Please wait a moment',
    cancellingNote: {
      retrying: 'SEQR has not confirmed yet, still trying',
      paying: 'A payment is being confirmed in the app',
    },
    dispensing: 'Here it comes…',
    dispensingHint: 'Payment received',
    thankYou: 'Thank you!',
    takeProduct: 'Please take your product',
    paymentRef: (ref) => `Payment reference ${ref}`,
    notDelivered: 'Sorry, we could not deliver',
    notDeliveredSorry: 'Your product did not come out',
    paidTooLate: 'Your payment arrived after the purchase had ended',
    uncertainTitle: 'Sorry, something went wrong',
    uncertain: 'The machine cannot tell whether your product came out',
    refund: {
      refunding: 'Your money is being returned',
      refunded: 'Your money has been returned to your SEQR account',
      pending: 'Your money will be returned to your SEQR account',
      checking: 'If nothing came out, your money will be returned after a check',
    },
    cancelled: 'Purchase cancelled',
    cancelledHint: 'You have not been charged',
    problemTitle: 'The purchase did not go through',
    problem: {
      paymentFailed: 'The payment was declined',
      cancelledInApp: 'The payment was cancelled in the app',
      paymentReversed: 'The payment could not be confirmed in time',
      invoiceFailed: 'The payment could not be started',
      connectionLost: 'The connection to SEQR was lost',
    },
    tryAgain: 'You have not been charged. Please try again.',
    reversedHint: 'If you paid, SEQR gives your money back. Please try again.',
    outOfService: 'Out of service',
    outOfServiceReason: {
      seqrUnreachable: 'Payments are unavailable right now',
      seqrCredentials: 'Payments are unavailable right now',
      hardwareFault: 'This machine needs service',
      starting: 'Starting up…',
      maintenance: 'This machine is being serviced',
    },
    backSoon: 'We will be back shortly',
    ups: {
      scan: 'Scan, then choose',
      scanHint: 'Scan the code with the SEQR app, confirm, then take what you like',
      confirm: 'Confirm in the app',
      confirmHint: (amount) => `Confirm up to ${amount} with your PIN`,
      onlyWhatYouTake: 'You pay only for what you take',
      choose: 'Choose your products',
      credit: (amount) => `Credit left: ${amount}`,
      doneHint: 'Press CANCEL when you are done',
      settle: {
        settling: 'Charging what you took…',
        paid: 'Thank you!',
        cancelling: 'Ending…',
        nothing: 'Nothing taken',
      },
      bill: (count, total) => `${count} ${count === 1 ? 'product' : 'products'}: ${total}`,
      nothingCharged: 'You have not been charged',
    },
  },
  sv: {
    chooseProduct: 'Välj en produkt',
    pressButton: 'Tryck på knappen vid det du vill ha',
    payWithApp: 'Betala med SEQR-appen',
    soldOut: 'Slutsåld',
    unavailable: 'Ej tillgänglig',
    noProducts: 'Inget till salu just nu',
    oneMoment: 'Ett ögonblick…',
    preparing: 'Förbereder din betalning',
    scanToPay: 'Skanna för att betala',
    openApp: 'Öppna SEQR-appen, skanna koden och godkänn',
    cancelHint: 'Tryck på AVBRYT för att avbryta',
    stillPaying: 'Betalar du fortfarande?',
    stillPayingHint: 'Tryck på valfri produktknapp för mer tid',
    timeLeft: (clock) => `${clock} kvar`,
    cancelling: 'Avbryter…',
    cancellingHint: 'Vänta ett ögonblick',
    cancellingNote: {
      retrying: 'SEQR har inte bekräftat än, vi försöker igen',
      paying: 'En betalning bekräftas i appen',
    },
    dispensing: 'Nu kommer den…',
    dispensingHint: 'Betalningen är mottagen',
    thankYou: 'Tack!',
    takeProduct: 'Ta din produkt',
    paymentRef: (ref) => `Betalningsreferens ${ref}`,
    notDelivered: 'Tyvärr kunde vi inte leverera',
    notDeliveredSorry: 'Din produkt kom inte ut',
    paidTooLate: 'Din betalning kom efter att köpet hade avslutats',
    uncertainTitle: 'Tyvärr gick något fel',
    uncertain: 'Maskinen kan inte avgöra om din produkt kom ut',
    refund: {
      refunding: 'Dina pengar betalas tillbaka',
      refunded: 'Dina pengar har betalats tillbaka till ditt SEQR-konto',
      pending: 'Dina pengar betalas tillbaka till ditt SEQR-konto',
      checking: 'Om inget kom ut får du tillbaka pengarna efter en kontroll',
    },
    cancelled: 'Köpet avbröts',
    cancelledHint: 'Du har inte debiterats',
    problemTitle: 'Köpet gick inte igenom',
    problem: {
      paymentFailed: 'Betalningen nekades',
      cancelledInApp: 'Betalningen avbröts i appen',
      paymentReversed: 'Betalningen kunde inte bekräftas i tid',
      invoiceFailed: 'Betalningen kunde inte startas',
      connectionLost: 'Anslutningen till SEQR bröts',
    },
    tryAgain: 'Du har inte debiterats. Försök igen.',
    reversedHint: 'Om du betalade får du tillbaka pengarna av SEQR. Försök igen.',
    outOfService: 'Ur funktion',
    outOfServiceReason: {
      seqrUnreachable: 'Betalningar fungerar inte just nu',
      seqrCredentials: 'Betalningar fungerar inte just nu',
      hardwareFault: 'Maskinen behöver service',
      starting: 'Startar…',
      maintenance: 'Maskinen får service',
    },
    backSoon: 'Vi är snart tillbaka',
    ups: {
      scan: 'Skanna, välj sedan',
      scanHint: 'Skanna koden med SEQR-appen, godkänn och ta sedan det du vill ha',
      confirm: 'Godkänn i appen',
      confirmHint: (amount) => `Godkänn upp till ${amount} med din PIN-kod`,
      onlyWhatYouTake: 'Du betalar bara för det du tar',
      choose: 'Välj dina produkter',
      credit: (amount) => `Kvar att handla för: ${amount}`,
      doneHint: 'Tryck på AVBRYT när du är klar',
      settle: {
        settling: 'Debiterar det du tog…',
        paid: 'Tack!',
        cancelling: 'Avslutar…',
        nothing: 'Inget taget',
      },
      bill: (count, total) => `${count} ${count === 1 ? 'produkt' : 'produkter'}: ${total}`,
      nothingCharged: 'Du har inte debiterats',
    },
  },
};

/**
 * How Intl.NumberFormat (en-GB, sv-SE, style currency) writes the currencies a machine here is
 * likely to sell in, so formatting a price never loads ICU's locale data: that cost about 9 MiB
 * of resident memory and 100 ms at every start. Other currencies (and negative amounts) still go
 * through Intl. A test holds the table to Intl's output.
 */
const CURRENCY_FORMATS: Record<
  DisplayLocale,
  { group: string; decimal: string; currencies: Record<string, [string, string]> }
> = {
  en: {
    group: ',',
    decimal: '.',
    currencies: {
      SEK: ['SEK\u00a0', ''],
      EUR: ['\u20ac', ''],
      NOK: ['NOK\u00a0', ''],
      DKK: ['DKK\u00a0', ''],
      USD: ['US$', ''],
      GBP: ['\u00a3', ''],
      CHF: ['CHF\u00a0', ''],
    },
  },
  sv: {
    group: '\u00a0',
    decimal: ',',
    currencies: {
      SEK: ['', '\u00a0kr'],
      EUR: ['', '\u00a0\u20ac'],
      NOK: ['', '\u00a0Nkr'],
      DKK: ['', '\u00a0Dkr'],
      USD: ['', '\u00a0US$'],
      GBP: ['', '\u00a0GBP'],
      CHF: ['', '\u00a0CHF'],
    },
  },
};

const formatters = new Map<string, Intl.NumberFormat>();

/** `{ minor: 2500, currency: 'SEK' }` -> `25,00 kr` (sv) / `SEK 25.00` (en); exact, no floats. */
export function formatMoney(money: Money, locale: DisplayLocale): string {
  const style = CURRENCY_FORMATS[locale];
  const affixes = style.currencies[money.currency];
  if (affixes !== undefined && money.minor >= 0) {
    const [whole = '0', fraction = ''] = toDecimalString(money).split('.');
    const grouped = whole.replace(/\B(?=(\d{3})+$)/g, style.group);
    return `${affixes[0]}${grouped}${style.decimal}${fraction}${affixes[1]}`;
  }
  const key = `${locale}:${money.currency}`;
  let formatter = formatters.get(key);
  if (!formatter) {
    formatter = new Intl.NumberFormat(NUMBER_LOCALE[locale], {
      style: 'currency',
      currency: money.currency,
    });
    formatters.set(key, formatter);
  }
  return formatter.format(toDecimalString(money) as `${number}`);
}

/** The currencies {@link formatMoney} writes without Intl (for its test). */
export const TABLE_CURRENCIES = Object.keys(CURRENCY_FORMATS.en.currencies);

/** Seconds as `m:ss` (never negative). */
export function formatClock(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** The words of `screen` in `locale`. Pure: same input, same output. */
export function screenText(screen: Screen, locale: DisplayLocale): ScreenText {
  const p = PHRASES[locale];
  const product = (view: { name: string; price: Money }): NonNullable<ScreenText['product']> => ({
    name: view.name,
    price: formatMoney(view.price, locale),
  });
  switch (screen.kind) {
    case 'idle':
      return {
        title: p.chooseProduct,
        lines: screen.products.length === 0 ? [p.noProducts] : [p.pressButton, p.payWithApp],
        products: screen.products.map((view) => ({
          button: view.buttonLabel,
          name: view.name,
          price: view.unavailable
            ? p.unavailable
            : view.soldOut
              ? p.soldOut
              : formatMoney(view.price, locale),
          soldOut: view.soldOut || view.unavailable === true,
        })),
        footer: screen.machineName,
      };
    case 'preparing':
      return { title: p.oneMoment, product: product(screen.product), lines: [p.preparing] };
    case 'pay':
    case 'stillPaying': {
      const total = Math.max(1, screen.totalSeconds);
      return {
        title: screen.kind === 'pay' ? p.scanToPay : p.stillPaying,
        product: product(screen.product),
        lines:
          screen.kind === 'pay' ? [p.openApp, p.cancelHint] : [p.stillPayingHint, p.cancelHint],
        payment: {
          qrPayload: screen.qrPayload,
          timeLeft: p.timeLeft(formatClock(screen.secondsLeft)),
          fractionLeft: Math.min(1, Math.max(0, screen.secondsLeft / total)),
        },
      };
    }
    case 'cancelling':
      return {
        title: p.cancelling,
        product: product(screen.product),
        lines: [screen.note === undefined ? p.cancellingHint : p.cancellingNote[screen.note]],
      };
    case 'dispensing':
      return { title: p.dispensing, product: product(screen.product), lines: [p.dispensingHint] };
    case 'thankYou':
      return {
        title: p.thankYou,
        product: product(screen.product),
        lines: [p.takeProduct, p.paymentRef(screen.paymentRef)],
      };
    case 'notDelivered':
      if (screen.refund === 'checking')
        return {
          title: p.uncertainTitle,
          product: product(screen.product),
          lines: [p.uncertain, p.refund.checking],
        };
      return {
        title: p.notDelivered,
        product: product(screen.product),
        lines: [screen.late ? p.paidTooLate : p.notDeliveredSorry, p.refund[screen.refund]],
      };
    case 'cancelled':
      return { title: p.cancelled, product: product(screen.product), lines: [p.cancelledHint] };
    case 'problem':
      return {
        title: p.problemTitle,
        lines: [
          p.problem[screen.problem],
          screen.problem === 'paymentReversed' ? p.reversedHint : p.tryAgain,
        ],
      };
    case 'outOfService':
      return {
        title: p.outOfService,
        lines: [p.outOfServiceReason[screen.reason], p.backSoon],
        footer: screen.machineName,
      };
    case 'upsIdle':
      return {
        title: p.ups.scan,
        lines: [
          p.ups.scanHint,
          ...screen.products.map(
            (v) =>
              `${v.buttonLabel}  ${v.name}  ${v.soldOut ? p.soldOut : formatMoney(v.price, locale)}`,
          ),
        ],
        code: screen.qrPayload,
        footer: screen.machineName,
      };
    case 'upsConfirm':
      return {
        title: p.ups.confirm,
        lines: [p.ups.confirmHint(formatMoney(screen.amount, locale)), p.ups.onlyWhatYouTake],
      };
    case 'upsChoose': {
      const credit = p.ups.credit(formatMoney(screen.credit, locale));
      if (screen.vending)
        return { title: p.dispensing, product: product(screen.vending), lines: [credit] };
      return {
        title: p.ups.choose,
        lines: [credit, p.ups.doneHint],
        products: screen.products.map((view) => ({
          button: view.buttonLabel,
          name: view.name,
          price: view.soldOut ? p.soldOut : formatMoney(view.price, locale),
          soldOut: view.soldOut,
        })),
      };
    }
    case 'upsSettle':
      return {
        title: p.ups.settle[screen.state],
        lines:
          screen.count === 0
            ? [p.ups.nothingCharged]
            : [
                p.ups.bill(screen.count, formatMoney(screen.total, locale)),
                ...(screen.paymentRef === undefined ? [] : [p.paymentRef(screen.paymentRef)]),
              ],
      };
  }
}
