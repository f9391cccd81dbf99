#!/usr/bin/env node
// @ts-check
/**
 * `npm run build`: compiles the TypeScript into dist/ (incrementally), copies the run-time
 * assets into dist/, next to the modules that read them, and bundles the daemon and CLI into
 * dist/daemon/main.js ({@link bundle}), so dist/ plus the production dependencies is everything
 * the daemon needs: nothing is read from the source tree.
 *
 * `--if-stale` (npm start, npm run sim, ...): returns at once when no input changed since the
 * last build (a stamp in dist/ newer than every source, config and lock file).
 */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
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

/**
 * Resolved from node_modules at run time: the native addons (and packages that load them), and
 * `debug`, whose one instance soap writes through and daemon/seqr/soap-debug.ts wraps to scrub
 * secrets: bundled, soap would write through a copy the guard never sees.
 */
export const EXTERNAL = ['better-sqlite3', 'debug', 'epoll', 'onoff', 'rpio', 'unix-dgram'];

/**
 * Bundles the daemon and CLI (daemon/main.ts) with esbuild into dist/daemon/main.js, the file the
 * unit, `seqr-vend` and the release run, replacing tsc's output of that one module: one file
 * instead of some 600 modules found, read and compiled one by one (measured by the footprint
 * bench, npm run bench -- footprint).
 *
 * - What a mode may never load stays out of the main file: the dynamic imports (simulator, kiosk,
 *   virtual hardware) become chunks beside it (`dist/daemon/bundle-*.js`), loaded when asked for.
 * - Native addons and their loaders stay in node_modules ({@link EXTERNAL}).
 * - Assets are found where tsc's output would find them: each module's `import.meta.url` is
 *   rewritten to the URL its own compiled file has under dist/, so `new URL('./file',
 *   import.meta.url)` and the package-root lookup resolve exactly as without the bundle.
 * - No source map: under the unit's --enable-source-maps a linked 4 MB map cost 7 MiB of RSS and
 *   60 ms of CPU at every start. Identifiers are not minified, so stack traces keep the names.
 *
 * Rejects with esbuild's errors.
 */
export async function bundle() {
  // esbuild is a development dependency: loaded only to build, not by systemd/package.mjs.
  const esbuild = await import('esbuild');
  const outDir = path.join(DIST, 'daemon');
  mkdirSync(outDir, { recursive: true });
  for (const file of readdirSync(outDir)) {
    if (file.startsWith('bundle-')) rmSync(path.join(outDir, file));
  }
  // tsc's map of the main.js the bundle replaces would describe a file that is no longer there.
  rmSync(path.join(outDir, 'main.js.map'), { force: true });
  /** @type {import('esbuild').Plugin} */
  const moduleUrls = {
    name: 'module-urls',
    setup(b) {
      b.onLoad({ filter: /\.ts$/ }, (args) => {
        const source = readFileSync(args.path, 'utf8');
        if (!source.includes('import.meta.url')) return { contents: source, loader: 'ts' };
        const compiled = path
          .relative(outDir, path.join(DIST, path.relative(ROOT, args.path)))
          .replace(/\.ts$/, '.js')
          .split(path.sep)
          .join('/');
        const url = `new URL(${JSON.stringify(compiled)}, import.meta.url).href`;
        return { contents: source.replaceAll('import.meta.url', url), loader: 'ts' };
      });
    },
  };
  await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: { main: 'daemon/main.ts' },
    outdir: outDir,
    chunkNames: 'bundle-[name]-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20.19',
    external: EXTERNAL,
    // CommonJS dependencies call require() for Node's own modules.
    banner: {
      js: "import { createRequire as __seqrVendRequire } from 'node:module'; const require = __seqrVendRequire(import.meta.url);",
    },
    plugins: [moduleUrls],
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
}

/**
 * Compiles, copies the assets and bundles; exits the process with tsc's status when it fails.
 */
export async function build() {
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
  await bundle();
  writeFileSync(STAMP, `${started.toISOString()}\n`);
  utimesSync(STAMP, started, started);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--if-stale') && !stale()) {
    console.error('build: dist/ is up to date');
  } else {
    await build();
  }
}
