// The fault soak in CI, small: three built daemons (`pretest` builds dist/) sell to random
// customers for 20 s while 15 % of SEQR calls fail with every fault kind, "answer lost" included,
// at production SEQR timings (1 s poll, the default deadlines, the 20 s reversal window; only the
// QR code's windows are shortened to fit the time budget). Then the zeros that matter to a
// customer and to the merchant. `npm run bench -- faults` runs the 1,000-purchase version.
// FAULTS_SEED replays the customers' and the faults' choices (timing still varies).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { describeSoak, runFaultSoak } from '../../bench/faults/soak.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SEED = Number(process.env['FAULTS_SEED'] ?? 20261201);

describe('fault soak', () => {
  it('15 % of SEQR calls failing: no payment reversed, no violation, no receipt owed', async () => {
    const result = await runFaultSoak({
      purchases: 1_000,
      maxDurationMs: 20_000,
      machines: 3,
      faultShare: 0.15,
      seed: SEED,
      repoRoot,
      paymentWindowMs: 6_000,
      stillPayingWindowMs: 2_000,
      receiptGraceMs: 20_000,
    });
    console.log(describeSoak(result).join('\n'));

    expect(result.reversed, 'payments reversed by SEQR').toBe(0);
    expect(result.violationsByKind, 'invariant violations').toEqual({});
    expect(result.receiptsOwed, 'receipts still owed').toBe(0);
    expect(result.stuck, 'stuck purchases').toBe(0);
    expect(result.unexpectedExits).toBe(0);
    expect(result.finalExitCodes).toEqual([0, 0, 0]);
    // The run did sell, under faults.
    expect(result.payments).toBeGreaterThan(0);
    expect(result.faultedCalls).toBeGreaterThan(0);
  }, 120_000);
});
