// Crash torture (`npm run test:torture`, not part of `npm test`): the built daemon
// (dist/daemon/main.js, `pretest:torture` builds it) killed with SIGKILL at least 200 times, at
// random delays, on entering states, at chosen SOAP calls (before SEQR sees them, with the answer
// lost, right after the answer) and during recovery, across random purchases; then the
// money-safety checks against SEQR's records, the relay record and the ledger. TORTURE_KILLS and
// TORTURE_SEED override the size and the seed (printed with the figures).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { describeResult, runTorture } from '../../bench/torture/harness.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const KILLS = Number(process.env['TORTURE_KILLS'] ?? 200);
const SEED = Number(process.env['TORTURE_SEED'] ?? 20261129);

describe('crash torture', () => {
  it(
    `${KILLS} SIGKILLs of the real daemon: no money-safety violation`,
    async () => {
      const result = await runTorture({ kills: KILLS, seed: SEED, repoRoot, outageShare: 0.01 });
      console.log(describeResult(result).join('\n'));

      expect(result.check.violations).toEqual([]);
      expect(result.unexpectedExits).toBe(0);
      expect(result.walkedAway).toEqual([]);
      expect(result.stuck).toBe(0);
      expect(result.finalExitCode).toBe(0);
      expect(result.kills).toBeGreaterThanOrEqual(KILLS);
      expect(result.restarts).toBeGreaterThanOrEqual(result.kills);

      // The kills landed at the points that matter, not only between purchases.
      const at = (prefix: string): number =>
        Object.entries(result.killsByPoint)
          .filter(([point]) => point.startsWith(prefix))
          .reduce((sum, [, n]) => sum + n, 0);
      const points = Object.keys(result.killsByPoint);
      for (const prefix of [
        'delay',
        'state:dispensing',
        'state:cancelling',
        'soap:sendInvoice',
        'soap:getPaymentStatus(PAID)',
        'soap:cancelInvoice',
        'soap:submitPaymentReceipt',
        'soap:refundPayment',
        'recovery:',
      ])
        expect(at(prefix), `kills at ${prefix}`).toBeGreaterThan(0);
      for (const phase of ['beforeSend', 'answerLost', 'afterAnswer'])
        expect(
          points.filter((p) => p.endsWith(`:${phase}`)).length,
          `kills ${phase}`,
        ).toBeGreaterThan(0);

      // The purchases exercised every end: sales, refunds, cancellations, flagged dispenses.
      const c = result.check.counts;
      expect(c.paid).toBeGreaterThan(0);
      expect(c.pulses).toBeGreaterThan(0);
      expect(c.refundedAtSeqr).toBeGreaterThan(0);
      expect(c.ledgerOutcomes['sold'] ?? 0).toBeGreaterThan(0);
      expect(c.ledgerOutcomes['cancelled'] ?? 0).toBeGreaterThan(0);
    },
    30 * 60_000,
  );
});
