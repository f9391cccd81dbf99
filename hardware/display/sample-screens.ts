import type { ProductView, Screen } from '../../daemon/ports/display.js';

/** The longest product name the layout is checked against (wraps, then ends in an ellipsis). */
export const LONGEST_PRODUCT_NAME =
  'Extra stor ekologisk apelsinjuice med fruktkött och ingefära, kylskåpskall, 1,5 liter flaska';

const juice: ProductView = {
  slot: 1,
  buttonLabel: '1',
  name: LONGEST_PRODUCT_NAME,
  price: { minor: 2500, currency: 'SEK' },
  soldOut: false,
};

const products: readonly ProductView[] = [
  juice,
  {
    slot: 2,
    buttonLabel: '2',
    name: 'Coca-Cola 33 cl',
    price: { minor: 1800, currency: 'SEK' },
    soldOut: false,
  },
  {
    slot: 3,
    buttonLabel: '3',
    name: 'Kexchoklad',
    price: { minor: 1250, currency: 'SEK' },
    soldOut: true,
  },
  {
    slot: 4,
    buttonLabel: '4',
    name: 'Vatten, kolsyrat 50 cl',
    price: { minor: 2000, currency: 'SEK' },
    soldOut: false,
  },
  {
    slot: 5,
    buttonLabel: '5',
    name: 'Kaffe',
    price: { minor: 150000, currency: 'SEK' },
    soldOut: false,
  },
  {
    slot: 6,
    buttonLabel: '12',
    name: 'Äppelpaj med vaniljsås',
    price: { minor: 4500, currency: 'SEK' },
    soldOut: false,
  },
];

/** A 17-digit invoice reference as SEQR issues them (2015+). */
export const SAMPLE_QR_PAYLOAD = 'HTTP://SEQR.SE/R20151029186719114';

/** A UPS sticker's code: `w` the merchant, `t` the machine's token. */
export const SAMPLE_UPS_CODE = 'HTTP://SEQR.SE/000/ups?w=CORNERCAFE&t=KIOSK-2';

/**
 * One example of every screen, with the longest product name where a product appears: the set the
 * golden images, the README pictures, the layout tests and the benchmark draw.
 */
export const SAMPLE_SCREENS: Readonly<Record<Screen['kind'], Screen>> = {
  idle: { kind: 'idle', machineName: 'Kiosken vid entrén, plan 2', products },
  preparing: { kind: 'preparing', product: juice },
  pay: {
    kind: 'pay',
    product: juice,
    qrPayload: SAMPLE_QR_PAYLOAD,
    secondsLeft: 42,
    totalSeconds: 60,
  },
  stillPaying: {
    kind: 'stillPaying',
    product: juice,
    qrPayload: SAMPLE_QR_PAYLOAD,
    secondsLeft: 9,
    totalSeconds: 60,
  },
  cancelling: { kind: 'cancelling', product: juice },
  dispensing: { kind: 'dispensing', product: juice },
  thankYou: { kind: 'thankYou', product: juice, paymentRef: '01032678' },
  notDelivered: { kind: 'notDelivered', product: juice, refund: 'pending' },
  cancelled: { kind: 'cancelled', product: juice },
  problem: { kind: 'problem', problem: 'connectionLost' },
  outOfService: {
    kind: 'outOfService',
    reason: 'seqrUnreachable',
    machineName: 'Kiosken vid entrén, plan 2',
  },
  upsIdle: {
    kind: 'upsIdle',
    machineName: 'Kiosken vid entrén, plan 2',
    products: products.slice(1, 5),
    qrPayload: SAMPLE_UPS_CODE,
  },
  upsConfirm: { kind: 'upsConfirm', amount: { minor: 10000, currency: 'SEK' } },
  upsChoose: {
    kind: 'upsChoose',
    credit: { minor: 8200, currency: 'SEK' },
    products: products.slice(1),
  },
  upsSettle: {
    kind: 'upsSettle',
    state: 'paid',
    total: { minor: 3800, currency: 'SEK' },
    count: 2,
    paymentRef: '01032678',
  },
};

/** Screens a kind's sample does not show, each with golden images of its own (800x480). */
export const SAMPLE_VARIANTS = {
  'outOfService-maintenance': {
    kind: 'outOfService',
    reason: 'maintenance',
    machineName: 'Kiosken vid entrén, plan 2',
  },
  'idle-unavailable': {
    kind: 'idle',
    machineName: 'Kiosken vid entrén, plan 2',
    products: products.map((p) => (p.slot === 4 ? { ...p, unavailable: true } : p)),
  },
} satisfies Readonly<Record<string, Screen>>;

/** A screen kind (its sample) or a variant's name. */
export type SampleName = Screen['kind'] | keyof typeof SAMPLE_VARIANTS;

export function sampleScreen(name: SampleName): Screen {
  return name in SAMPLE_VARIANTS
    ? SAMPLE_VARIANTS[name as keyof typeof SAMPLE_VARIANTS]
    : SAMPLE_SCREENS[name as Screen['kind']];
}
