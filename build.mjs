#!/usr/bin/env node
// @ts-check
/**
 * `npm run build`: compiles the TypeScript into dist/ (incrementally) and copies the run-time
 * assets into dist/, next to the modules that read them, so dist/ plus the production
 * dependencies is everything the daemon needs: nothing is read from the source tree.
 *
 * `--if-stale` (npm start, npm run sim, ...): returns at once when no input changed since the
 * last build (a stamp in dist/ newer than every source, config and lock file).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.dirname(fileURLToPath(import.meta.url));
const DIST = path.join(ROOT, 'dist');
const STAMP = path.join(DIST, '.build-stamp');

/**
 * THE list of files the daemon, the CLI or the simulator read at run time besides compiled
 * JavaScript and production dependencies (which are resolved through the package, e.g. the
 * DejaVu fonts). Paths relative to the repository; each is copied to the same path under dist/,
 * where its reader finds it beside itself (`new URL('./file', import.meta.url)`). A file produced
 * at build time is written into dist/ by a step in {@link build} and listed here as well, so
 * the release artefact and the install test check it too. The install test fails when one of
 * these is missing from what is installed.
 */
export const RUNTIME_ASSETS = [
  'daemon/seqr/cashregister.wsdl',
  // The display's glyph atlas (npm run glyphs makes it from the DejaVu TTFs) and its licence.
  'hardware/display/glyphs/dejavu-sans.bin',
  'hardware/display/glyphs/LICENSE',
];

/** Folders and files whose change makes dist/ stale. */
const INPUTS = [
  'daemon',
  'hardware',
  'config',
  'simulator',
  'bench',
  'tsconfig.json',
  'tsconfig.build.json',
  'package.json',
  'package-lock.json',
  'build.mjs',
];

/**
 * The newest modification time (ms) under `file`.
 * @param {string} file
 * @returns {number}
 */
function newest(file) {
  const st = statSync(file, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.mtimeMs;
  let max = st.mtimeMs;
  for (const entry of readdirSync(file)) max = Math.max(max, newest(path.join(file, entry)));
  return max;
}

/** Whether dist/ is older than any input (or was never built). */
export function stale() {
  const stamp = statSync(STAMP, { throwIfNoEntry: false });
  if (!stamp) return true;
  return INPUTS.some((input) => newest(path.join(ROOT, input)) > stamp.mtimeMs);
}

/** Compiles and copies the assets; exits the process with tsc's status when it fails. */
export function build() {
  // A source saved while tsc runs must make the next --if-stale build again.
  const started = new Date();
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const run = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--incremental'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  if (run.status !== 0) process.exit(run.status ?? 1);
  for (const asset of RUNTIME_ASSETS) {
    const target = path.join(DIST, asset);
    mkdirSync(path.dirname(target), { recursive: true });
    copyFileSync(path.join(ROOT, asset), target);
  }
  writeFileSync(STAMP, `${started.toISOString()}\n`);
  utimesSync(STAMP, started, started);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--if-stale') && !stale()) {
    console.error('build: dist/ is up to date');
  } else {
    build();
  }
}
