/**
 * Money in integer minor units (öre, cents). Never a float: prices come from configuration as
 * decimal strings and are converted once; SEQR amounts are rendered back to decimal strings at the
 * wire boundary.
 */
export interface Money {
  /** Integer count of minor units, e.g. 2500 for 25,00 kr. Never negative. */
  readonly minor: number;
  /** ISO 4217 code, upper case, e.g. `SEK`, `EUR`. */
  readonly currency: string;
}

/** Minor-unit digits per currency; every currency SEQR served used two. */
export const MINOR_DIGITS = 2;

/** `{ minor: 2550, currency: 'SEK' }` -> `'25.50'` (the SEQR wire form, `#.##`). */
export function toDecimalString(money: Money): string {
  const whole = Math.trunc(money.minor / 10 ** MINOR_DIGITS);
  const frac = String(money.minor % 10 ** MINOR_DIGITS).padStart(MINOR_DIGITS, '0');
  return `${whole}.${frac}`;
}

/**
 * Parses a non-negative decimal amount (`'25'`, `'25.5'`, `'25.50'`, `'5476.52000'`) into minor
 * units without floating point. Returns undefined for anything else, including more significant
 * fraction digits than the currency has (`'1.005'`).
 */
export function parseDecimal(text: string): number | undefined {
  const match = /^(\d{1,15})(?:\.(\d+))?$/.exec(text.trim());
  if (!match) return undefined;
  const whole = match[1] ?? '0';
  const fraction = (match[2] ?? '').replace(/0+$/, '');
  if (fraction.length > MINOR_DIGITS) return undefined;
  return Number(whole) * 10 ** MINOR_DIGITS + Number(fraction.padEnd(MINOR_DIGITS, '0'));
}
