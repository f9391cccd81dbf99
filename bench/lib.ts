import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';

/** One measured figure. `unit` is e.g. `ms`, `MiB`, `%`, `count`, `per s`. */
export interface Figure {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  /** The same figure measured for the baseline in the same run (end-to-end benchmarks). */
  readonly baseline?: number;
  /** The goal: the value must be at most this (issue goals); the table says whether it is met. */
  readonly goal?: number;
}

/** A benchmark module's result: a titled group of figures. */
export interface BenchResult {
  readonly title: string;
  readonly figures: readonly Figure[];
  readonly note?: string;
}

/** A benchmark: each file `bench/*.bench.ts` default-exports one. */
export type Bench = () => Promise<BenchResult[]>;

/** Nearest-rank percentile of `samples` (0 < p <= 100). */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? Number.NaN;
}

/** p50, p99 and max of latency samples in ms, as figures named `<label> p50` etc. */
export function latencyFigures(label: string, samplesMs: readonly number[]): Figure[] {
  return [
    { name: `${label} p50`, value: percentile(samplesMs, 50), unit: 'ms' },
    { name: `${label} p99`, value: percentile(samplesMs, 99), unit: 'ms' },
    { name: `${label} max`, value: Math.max(...samplesMs), unit: 'ms' },
  ];
}

export function rssMiB(): number {
  return process.memoryUsage().rss / 2 ** 20;
}

export function machineDescription(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return `${cpu}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.arch()}`;
}

function format(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  return Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(2);
}

/** A figure of ours with the baseline's value from the same run. */
export function compared(name: string, ours: number, baseline: number, unit: string): Figure {
  return { name, value: ours, unit, baseline };
}

/** ours / baseline, or `-` when the baseline is 0 or either is not a number. */
export function ratio(ours: number, baseline: number): string {
  if (!Number.isFinite(ours) || !Number.isFinite(baseline) || baseline === 0) return '-';
  return `${format(ours / baseline)}x`;
}

/** The Markdown table of the figures that carry a baseline: ours, baseline, ratio. */
export function comparisonTable(results: readonly BenchResult[]): string | undefined {
  const lines = [
    '| benchmark | figure | ours | baseline | ours / baseline |',
    '| --- | --- | --- | --- | --- |',
  ];
  for (const r of results)
    for (const f of r.figures)
      if (f.baseline !== undefined)
        lines.push(
          `| ${r.title} | ${f.name} | ${format(f.value)} ${f.unit} | ${format(f.baseline)} ${f.unit} | ${ratio(f.value, f.baseline)} |`,
        );
  return lines.length > 2 ? lines.join('\n') : undefined;
}

/** `<= goal` and whether the value meets it, or two empty cells. */
function goalCells(f: Figure): string {
  if (f.goal === undefined) return ' | |';
  const met = Number.isFinite(f.value) && f.value <= f.goal;
  return ` <= ${format(f.goal)} ${f.unit} | ${met ? 'yes' : '**no**'} |`;
}

/**
 * Prints results as a Markdown table (with goal and met columns when a figure has a goal) and
 * writes them as JSON under `bench/results/`.
 */
export function report(results: readonly BenchResult[], outDir: string): void {
  const goals = results.some((r) => r.figures.some((f) => f.goal !== undefined));
  const lines = goals
    ? ['| benchmark | figure | value | goal | met |', '| --- | --- | --- | --- | --- |']
    : ['| benchmark | figure | value |', '| --- | --- | --- |'];
  for (const r of results) {
    for (const f of r.figures)
      lines.push(
        `| ${r.title} | ${f.name} | ${format(f.value)} ${f.unit} |${goals ? goalCells(f) : ''}`,
      );
  }
  console.log(`\nMachine: ${machineDescription()}\n`);
  console.log(lines.join('\n'));
  const comparison = comparisonTable(results);
  if (comparison) console.log(`\nOurs against the baseline (same run):\n\n${comparison}`);
  for (const r of results) if (r.note) console.log(`\n${r.title}: ${r.note}`);
  mkdirSync(outDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const body = JSON.stringify(
    { machine: machineDescription(), at: new Date().toISOString(), results },
    null,
    2,
  );
  writeFileSync(`${outDir}/bench-${stamp}.json`, body);
  writeFileSync(`${outDir}/latest.json`, body);
}
