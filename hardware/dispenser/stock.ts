/** Throws RangeError unless `count` is a stock count the configuration allows (0..9999). */
export function checkStock(count: number): void {
  if (!Number.isInteger(count) || count < 0 || count > 9_999)
    throw new RangeError(`stock must be an integer from 0 to 9999: ${String(count)}`);
}
