// Runs every compiled `*.bench.js` beside this file (or only those whose name contains an
// argument: `npm run bench -- seqr`) and prints one table.
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';
import { report, type Bench, type BenchResult } from './lib.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.js'))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();

const results: BenchResult[] = [];
for (const file of files) {
  console.error(`running ${file} ...`);
  const mod = (await import(pathToFileURL(path.join(here, file)).href)) as { default: Bench };
  results.push(...(await mod.default()));
}
// Results go to the source tree's bench/results, not dist/.
report(results, path.resolve(here, '../../bench/results'));
