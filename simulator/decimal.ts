// Exact decimal arithmetic for amounts on the wire (xs:decimal written as given, API.md §3.3):
// values are held as bigint counts of 10^-SCALE units, never floats.

const SCALE = 5;
const UNIT = 10n ** BigInt(SCALE);

/**
 * `'10.22'` -> 1022000n. Undefined for anything that is not a plain decimal or has more than five
 * significant fraction digits.
 */
export function parseAmount(text: string | undefined): bigint | undefined {
  const match = /^(-?)(\d{1,18})(?:\.(\d+))?$/.exec(text?.trim() ?? '');
  if (!match) return undefined;
  const fraction = (match[3] ?? '').replace(/0+$/, '');
  if (fraction.length > SCALE) return undefined;
  const units = BigInt(match[2] ?? '0') * UNIT + BigInt(fraction.padEnd(SCALE, '0'));
  return match[1] === '-' ? -units : units;
}

/** 547652000n -> `'5476.52000'`, the reports' five-decimal form. */
export function formatAmount(units: bigint): string {
  const sign = units < 0n ? '-' : '';
  const abs = units < 0n ? -units : units;
  return `${sign}${abs / UNIT}.${String(abs % UNIT).padStart(SCALE, '0')}`;
}
