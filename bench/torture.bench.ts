// Crash torture: the real daemon killed with SIGKILL thousands of times across random purchases,
// then the money-safety checks. `TORTURE_KILLS` (default 2000) sets the kills, `TORTURE_SEED`
// replays a run, `TORTURE_OUTAGE_SHARE` the share of ~11 s outages (recovery refunds).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Bench } from './lib.js';
import { describeResult, runTorture } from './torture/harness.js';

const bench: Bench = async () => {
  const env = process.env;
  const kills = Number(env['TORTURE_KILLS'] ?? 2_000);
  const seed = env['TORTURE_SEED'] === undefined ? undefined : Number(env['TORTURE_SEED']);
  const outageShare = Number(env['TORTURE_OUTAGE_SHARE'] ?? 0.01);
  // Compiled to dist/bench/: the repository root is two levels up.
  const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  const result = await runTorture({
    kills,
    repoRoot,
    outageShare,
    ...(seed === undefined ? {} : { seed }),
    progress: (line) => {
      console.error(`torture: ${line}`);
    },
  });
  for (const line of describeResult(result)) console.error(line);
  const c = result.check.counts;
  const byPoint = (prefix: string): number =>
    Object.entries(result.killsByPoint)
      .filter(([k]) => k.startsWith(prefix))
      .reduce((sum, [, n]) => sum + n, 0);
  return [
    {
      title: 'crash torture (SIGKILL, real daemon)',
      figures: [
        { name: 'purchases', value: result.purchases, unit: 'count' },
        { name: 'kills', value: result.kills, unit: 'count' },
        { name: 'kills at a SOAP call', value: byPoint('soap:'), unit: 'count' },
        { name: 'kills on entering a state', value: byPoint('state:'), unit: 'count' },
        { name: 'kills after a random delay', value: byPoint('delay'), unit: 'count' },
        { name: 'kills during recovery', value: byPoint('recovery:'), unit: 'count' },
        { name: 'restarts', value: result.restarts, unit: 'count' },
        { name: 'payments (SEQR committed)', value: c.paid, unit: 'count' },
        { name: 'relay pulses', value: c.pulses, unit: 'count' },
        { name: 'refunds at SEQR', value: c.refundedAtSeqr, unit: 'count' },
        {
          name: 'flagged for the operator',
          value: c.ledgerOutcomes['flagged'] ?? 0,
          unit: 'count',
        },
        { name: 'violations', value: result.check.violations.length, unit: 'count' },
        { name: 'shown invoices walked away from', value: result.walkedAway.length, unit: 'count' },
        { name: 'stuck purchases', value: result.stuck, unit: 'count' },
        { name: 'unexpected daemon exits', value: result.unexpectedExits, unit: 'count' },
        { name: 'run time', value: result.durationMs / 1000, unit: 's' },
      ],
      note: `seed ${result.seed}; violations by kind: ${Object.entries(result.check.byKind)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    },
  ];
};

export default bench;
