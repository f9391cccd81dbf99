import { parseDecimal } from '../ports/money.js';

/** A count of sales and their sum in minor units. */
export interface SalesTotals {
  readonly count: number;
  readonly totalMinor: number;
}

/**
 * The totals of a SEQR reconciliation report: summary rows (`SalesCount`, `SalesTotal`) are
 * added up; without them, detail rows (`SalesAmount`) are counted and summed. Undefined when the
 * report has neither.
 */
export function reportTotals(content: string): SalesTotals | undefined {
  const rows = [...content.matchAll(/<Row\b[^>]*>([\s\S]*?)<\/Row>/g)].map((m) => m[1] ?? '');
  const field = (row: string, name: string): string | undefined =>
    new RegExp(`<${name}>\\s*([^<]*?)\\s*</${name}>`).exec(row)?.[1];
  let count = 0;
  let totalMinor = 0;
  let summary = false;
  let detail = false;
  for (const row of rows) {
    const salesCount = field(row, 'SalesCount');
    const salesTotal = field(row, 'SalesTotal');
    const amount = field(row, 'SalesAmount');
    if (salesCount !== undefined && salesTotal !== undefined) {
      const total = parseSigned(salesTotal);
      if (!/^\d+$/.test(salesCount) || total === undefined) return undefined;
      summary = true;
      count += Number(salesCount);
      totalMinor += total;
    } else if (amount !== undefined) {
      const minor = parseSigned(amount);
      if (minor === undefined) return undefined;
      detail = true;
      count += 1;
      totalMinor += minor;
    }
  }
  if (summary && detail) return undefined;
  if (!summary && !detail)
    // A period without sales: the report's header and no rows.
    return rows.length === 0 && /<Meta\b/.test(content) ? { count: 0, totalMinor: 0 } : undefined;
  return { count, totalMinor };
}

function parseSigned(text: string): number | undefined {
  const negative = text.trim().startsWith('-');
  const minor = parseDecimal(negative ? text.trim().slice(1) : text);
  return minor === undefined ? undefined : negative ? -minor : minor;
}

/** The verdict on one period: SEQR's report against the ledger's own sales. */
export type Reconciliation =
  | { readonly kind: 'matched'; readonly seqr: SalesTotals }
  | { readonly kind: 'mismatch'; readonly seqr: SalesTotals }
  | { readonly kind: 'unreadable' };

/**
 * Compares a report's content with the ledger's totals for the same period (payments first seen
 * PAID in it). Both sides are gross: refunds are not subtracted (what SEQR's summary does with
 * refunds is not documented), so a period with refunds may need the operator's eye.
 */
export function reconcile(reportContent: string, ledger: SalesTotals): Reconciliation {
  const seqr = reportTotals(reportContent);
  if (!seqr) return { kind: 'unreadable' };
  const same = seqr.count === ledger.count && seqr.totalMinor === ledger.totalMinor;
  return { kind: same ? 'matched' : 'mismatch', seqr };
}
