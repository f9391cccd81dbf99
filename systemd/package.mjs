#!/usr/bin/env node
// @ts-check
/**
 * `npm run package`: the release artefact `release/seqr-vend-<version>.tgz` (one folder
 * `seqr-vend-<version>/`) and its `.sha256`, from the build in dist/: the compiled code with its
 * run-time assets, the production dependencies only (native addons built for this machine), the
 * systemd unit, udev rule, installer and uninstaller, the example config and its JSON Schema.
 * Prints the artefact's size and file count.
 *
 *   node systemd/package.mjs [--out DIR]     the artefact into DIR (default release/)
 *   node systemd/package.mjs --stage DIR     only lay the release tree out in DIR (install.sh from
 *                                          a checkout does this, so both install the same files)
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { RUNTIME_ASSETS } from '../build.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The compiled folders that ship (dist/bench and the build's own files do not). */
const DIST_FOLDERS = ['daemon', 'hardware', 'config', 'simulator'];
/** Files copied from the repository as they are. */
const FILES = [
  'README.md',
  'LICENSE',
  'config/example.config.yaml',
  'config/config.schema.json',
  'systemd/seqr-vend.service',
  'systemd/99-seqr-vend.rules',
  'systemd/install.sh',
  'systemd/uninstall.sh',
  'systemd/OPERATOR.md',
];
/** package.json keys an installed copy needs (`type` makes dist/ ESM; `allowScripts` lets
 *  `npm rebuild` build the native addons on the Pi). */
const PACKAGE_KEYS = [
  'name',
  'version',
  'description',
  'license',
  'type',
  'private',
  'engines',
  'bin',
  'dependencies',
  'allowScripts',
];

/**
 * @typedef {{ dev?: boolean, optional?: boolean }} LockEntry
 * @typedef {{ name: string, version: string, allowScripts?: Record<string, boolean> } & Record<string, unknown>} PackageJson
 */

/**
 * @param {string} file relative to the repository
 * @returns {unknown}
 */
const readJson = (file) => JSON.parse(readFileSync(path.join(ROOT, file), 'utf8'));

/** @returns {PackageJson} */
function packageJson() {
  return /** @type {PackageJson} */ (readJson('package.json'));
}

/**
 * The production dependencies' folders (relative, e.g. `node_modules/pino`), from the lockfile:
 * every package npm would keep with `--omit=dev`. Nested folders are inside their parent's.
 * @returns {string[]}
 */
function productionPackages() {
  const lock = /** @type {{ packages: Record<string, LockEntry> }} */ (
    readJson('package-lock.json')
  );
  const wanted = Object.entries(lock.packages)
    .filter(([folder, entry]) => folder !== '' && entry.dev !== true)
    .filter(([folder, entry]) => {
      if (existsSync(path.join(ROOT, folder))) return true;
      if (entry.optional === true) return false; // an optional package for another platform
      throw new Error(`${folder} is in package-lock.json but not installed: run npm ci`);
    })
    .map(([folder]) => folder);
  return wanted.filter((folder) => !wanted.some((other) => folder.startsWith(`${other}/`)));
}

/**
 * A native addon's build/ holds object files, makefiles and a second copy of the addon; only
 * `build/Release/<name>.node` is loaded (test addons are left out too).
 * @param {string} dir
 */
function pruneNativeBuild(dir) {
  const build = path.join(dir, 'build');
  if (!existsSync(path.join(dir, 'binding.gyp')) || !existsSync(build)) return;
  for (const entry of readdirSync(build, { withFileTypes: true })) {
    const full = path.join(build, entry.name);
    if (entry.name !== 'Release' || !entry.isDirectory()) {
      rmSync(full, { recursive: true });
      continue;
    }
    for (const inner of readdirSync(full, { withFileTypes: true }))
      if (!inner.isFile() || !inner.name.endsWith('.node') || inner.name.startsWith('test_'))
        rmSync(path.join(full, inner.name), { recursive: true });
  }
}

/**
 * Lays the release tree out in `dir`.
 * @param {string} dir
 */
export function stage(dir) {
  const pkg = packageJson();
  if (!existsSync(path.join(ROOT, 'dist', 'daemon', 'main.js')))
    throw new Error('no build in dist/: run npm run build first');
  mkdirSync(dir, { recursive: true });
  const packages = productionPackages();
  // One cp for everything (GNU cp keeps the relative paths): Node's cpSync takes seconds longer
  // on the few thousand files of node_modules.
  const copy = spawnSync(
    'cp',
    [
      '-a',
      '--parents',
      ...DIST_FOLDERS.map((folder) => path.join('dist', folder)),
      ...FILES,
      ...packages,
      dir,
    ],
    { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  if (copy.status !== 0) throw new Error(`cp failed with status ${String(copy.status)}`);
  for (const asset of RUNTIME_ASSETS)
    if (!existsSync(path.join(dir, 'dist', asset)))
      throw new Error(`run-time asset dist/${asset} is missing: run npm run build`);
  for (const folder of packages) pruneNativeBuild(path.join(dir, folder));
  const shipped = Object.fromEntries(
    PACKAGE_KEYS.filter((key) => key in pkg).map((key) => [key, pkg[key]]),
  );
  writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify(shipped, null, 2)}\n`);
  const commit = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  // What the native addons were built for: install.sh rebuilds them when the Pi differs.
  const release = {
    name: pkg.name,
    version: pkg.version,
    ...(commit.status === 0 ? { commit: commit.stdout.trim() } : {}),
    node: process.version,
    modules: process.versions.modules,
    platform: process.platform,
    arch: process.arch,
    natives: Object.keys(pkg.allowScripts ?? {}),
  };
  writeFileSync(path.join(dir, 'release.json'), `${JSON.stringify(release, null, 2)}\n`);
}

/**
 * Files and bytes under `dir`.
 * @param {string} dir
 * @returns {{ files: number, bytes: number }}
 */
function measure(dir) {
  let files = 0;
  let bytes = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      const inner = measure(full);
      files += inner.files;
      bytes += inner.bytes;
    } else {
      files += 1;
      bytes += statSync(full).size;
    }
  }
  return { files, bytes };
}

/** @param {number} bytes */
const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;

/**
 * Builds the artefact into `outDir`; returns its path.
 * @param {string} outDir
 * @returns {string}
 */
export function pack(outDir) {
  const pkg = packageJson();
  const name = `${pkg.name}-${pkg.version}`;
  const work = mkdtempSync(path.join(os.tmpdir(), 'seqr-vend-package-'));
  try {
    stage(path.join(work, name));
    mkdirSync(outDir, { recursive: true });
    const tgz = path.join(outDir, `${name}.tgz`);
    const tar = spawnSync(
      'tar',
      ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '-czf', tgz, '-C', work, name],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    if (tar.status !== 0) throw new Error(`tar failed with status ${String(tar.status)}`);
    const sha256 = createHash('sha256').update(readFileSync(tgz)).digest('hex');
    writeFileSync(`${tgz}.sha256`, `${sha256}  ${name}.tgz\n`);
    const { files, bytes } = measure(path.join(work, name));
    console.log(
      `${path.relative(process.cwd(), tgz)}: ${mb(statSync(tgz).size)}, ${String(files)} files ` +
        `(${mb(bytes)} unpacked), node ${process.version} ${process.platform}-${process.arch}\n` +
        `sha256 ${sha256}`,
    );
    return tgz;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { out: { type: 'string' }, stage: { type: 'string' } },
    strict: true,
  });
  try {
    if (values.stage !== undefined) stage(path.resolve(values.stage));
    else pack(path.resolve(values.out ?? path.join(ROOT, 'release')));
  } catch (err) {
    console.error(`package: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}
