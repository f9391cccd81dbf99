import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { errorCodeOf } from '../../daemon/errors.js';
import { SeqrResultError } from '../../daemon/seqr/call-errors.js';
import { RESULT_NAMES, resultName } from '../../daemon/seqr/result-codes.js';

const apiMd = fileURLToPath(new URL('../../../shared/seqr/API.md', import.meta.url));

describe('result codes', () => {
  it.skipIf(!existsSync(apiMd))(
    `names every code of API.md §8 exactly (skipped when ${apiMd} is absent)`,
    () => {
      const md = readFileSync(apiMd, 'utf8');
      const section = md.slice(md.indexOf('## 8. Result codes'), md.indexOf('## 9.'));
      const table: Record<number, string> = {};
      for (const row of section.matchAll(/^\| (\d+) \| ([^|]+) \|/gm)) {
        const cell = row[2]!.trim();
        const constant = /constant name `([A-Z_]+)`/.exec(cell)?.[1] ?? cell;
        table[Number(row[1])] = constant;
      }
      expect(Object.keys(table)).toHaveLength(56);
      expect(RESULT_NAMES).toEqual(table);
    },
  );

  it('names unknown codes UNKNOWN_<n>', () => {
    expect(resultName(57)).toBe('REGISTRATION_PRINCIPAL_ALREADY_EXISTS');
    expect(resultName(59)).toBe('UNKNOWN_59');
    expect(resultName(1234)).toBe('UNKNOWN_1234');
  });

  it.each([20, 21, 29, 33, 37])('maps credential code %i to E_SEQR_AUTH', (code) => {
    const err = new SeqrResultError('getPaymentStatus', code);
    expect(errorCodeOf(err)).toBe('E_SEQR_AUTH');
    expect(err.resultCode).toBe(code);
    expect(err.resultName).toBe(RESULT_NAMES[code]);
    expect(err.retryable).toBe(false);
  });

  it.each(
    Object.keys(RESULT_NAMES)
      .map(Number)
      .filter((c) => c !== 0 && ![20, 21, 29, 33, 37].includes(c)),
  )('maps code %i to E_SEQR_RESULT with its name', (code) => {
    const err = new SeqrResultError('cancelInvoice', code, 'text');
    expect(err.code).toBe('E_SEQR_RESULT');
    expect(err.resultName).toBe(RESULT_NAMES[code]);
    expect(err.message).toContain(String(code));
    expect(err.message).toContain(RESULT_NAMES[code]);
  });

  it('marks busy, unavailable and not-ready answers retryable, business refusals not', () => {
    for (const code of [1, 2, 90, 93, 94])
      expect(new SeqrResultError('executeReport', code).retryable).toBe(true);
    for (const code of [11, 23, 49, 50, 54, 95, 98])
      expect(new SeqrResultError('refundPayment', code).retryable).toBe(false);
  });

  it('names an unknown non-zero code in the error', () => {
    const err = new SeqrResultError('sendInvoice', 77);
    expect(err).toMatchObject({ code: 'E_SEQR_RESULT', resultCode: 77, resultName: 'UNKNOWN_77' });
  });
});
