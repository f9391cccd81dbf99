// The fault soak: random customers on several real daemons while 15 % of SEQR calls fail with
// every fault kind, "answer lost" included, at production timings. `FAULTS_PURCHASES` (default
// 1000), `FAULTS_MACHINES` (default 10), `FAULTS_SHARE` (default 0.15) and `FAULTS_SEED` set it.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { percentile, type Bench } from './lib.js';
import { describeSoak, runFaultSoak } from './faults/soak.js';

const bench: Bench = async () => {
  const env = process.env;
  const seed = env['FAULTS_SEED'] === undefined ? undefined : Number(env['FAULTS_SEED']);
  // Compiled to dist/bench/: the repository root is two levels up.
  const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  const result = await runFaultSoak({
    purchases: Number(env['FAULTS_PURCHASES'] ?? 1_000),
    machines: Number(env['FAULTS_MACHINES'] ?? 10),
    faultShare: Number(env['FAULTS_SHARE'] ?? 0.15),
    repoRoot,
    ...(seed === undefined ? {} : { seed }),
    progress: (line) => {
      console.error(`faults: ${line}`);
    },
  });
  for (const line of describeSoak(result)) console.error(line);
  const ms = (list: readonly { ms: number }[]): number[] => list.map((e) => e.ms);
  const max = (samples: readonly number[]): number =>
    samples.length === 0 ? Number.NaN : Math.max(...samples);
  return [
    {
      title: `fault soak (${result.machines} real daemons, ${(100 * Number(env['FAULTS_SHARE'] ?? 0.15)).toFixed(0)} % of SEQR calls failing)`,
      figures: [
        { name: 'purchases', value: result.purchases, unit: 'count' },
        {
          name: 'SOAP calls faulted',
          value: (100 * result.faultedCalls) / Math.max(1, result.calls),
          unit: '%',
        },
        { name: 'payments', value: result.payments, unit: 'count' },
        { name: 'payments reversed by SEQR', value: result.reversed, unit: 'count' },
        { name: 'invariant violations', value: result.violations, unit: 'count' },
        { name: 'receipts still owed', value: result.receiptsOwed, unit: 'count' },
        { name: 'stuck purchases', value: result.stuck, unit: 'count' },
        { name: 'paid -> relay p50', value: percentile(result.paidToRelayMs, 50), unit: 'ms' },
        { name: 'paid -> relay p99', value: percentile(result.paidToRelayMs, 99), unit: 'ms' },
        { name: 'paid -> relay max', value: max(result.paidToRelayMs), unit: 'ms' },
        {
          name: '"cancelling" shown p99',
          value: percentile(ms(result.cancelling), 99),
          unit: 'ms',
        },
        { name: '"cancelling" shown max', value: max(ms(result.cancelling)), unit: 'ms' },
        { name: 'out-of-service episodes', value: result.outOfService.length, unit: 'count' },
        { name: 'out of service p50', value: percentile(ms(result.outOfService), 50), unit: 'ms' },
        { name: 'out of service max', value: max(ms(result.outOfService)), unit: 'ms' },
        { name: 'run time', value: result.durationMs / 1000, unit: 's' },
      ],
      note: `seed ${result.seed}; violations by kind: ${Object.entries(result.violationsByKind)
        .map(([k, v]) => `${k} ${v}`)
        .join(
          ', ',
        )}; findings: ${result.findings.map((f) => `${f.category} ${f.count}`).join(', ')}`,
    },
  ];
};

export default bench;
