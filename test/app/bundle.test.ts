// The built daemon is one bundle (build.mjs): dist/daemon/main.js plus chunks beside it that
// only demo mode loads. Run as the CLI in a fresh Node process, with a resolve hook listing every
// file it loads.
import { readFileSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const daemonDir = path.join(root, 'dist', 'daemon');

const HOOK = `export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  if (resolved.url.startsWith('file:')) process.stderr.write('loaded ' + resolved.url + '\\n');
  return resolved;
}`;

/** Files under dist/ that `node dist/daemon/main.js ...args` loads, and its stdout. */
function run(args: readonly string[]): { loaded: string[]; stdout: string } {
  const register = `import { register } from 'node:module';
register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(HOOK)}`)});`;
  const child = spawnSync(
    process.execPath,
    [
      '--import',
      `data:text/javascript,${encodeURIComponent(register)}`,
      path.join(daemonDir, 'main.js'),
      ...args,
    ],
    { encoding: 'utf8' },
  );
  expect(child.status, child.stderr).toBe(0);
  const dist = pathToFileURL(path.join(root, 'dist')).href + '/';
  const loaded = child.stderr
    .split('\n')
    .flatMap((line) =>
      line.startsWith(`loaded ${dist}`) ? [line.slice(`loaded ${dist}`.length)] : [],
    );
  return { loaded, stdout: child.stdout };
}

/** Where each demo-only part is defined (by its entry function). */
const DEMO_ONLY = [
  'function startSimulator(',
  'function startKiosk(',
  'function createVirtualHardware(',
];

describe('the bundled daemon (built dist/)', () => {
  it('loads one main file and shared chunks, and neither the simulator, nor the kiosk, nor virtual hardware', () => {
    const { loaded, stdout } = run(['--version']);
    expect(stdout).toMatch(/^seqr-vend \d+\.\d+\.\d+/);
    expect(loaded).toContain('daemon/main.js');
    // Nothing of tsc's module tree: only the bundle's own files.
    for (const file of loaded) expect(file).toMatch(/^daemon\/(main|bundle-[\w-]+)\.js$/);
    const text = loaded.map((f) => readFileSync(path.join(root, 'dist', f), 'utf8')).join('\n');
    for (const marker of DEMO_ONLY) expect(text).not.toContain(marker);
    // ... and each of them is in a chunk of the bundle, for demo mode to load.
    const chunks = readdirSync(daemonDir)
      .filter((f) => f.startsWith('bundle-'))
      .map((f) => readFileSync(path.join(daemonDir, f), 'utf8'))
      .join('\n');
    for (const marker of DEMO_ONLY) expect(chunks).toContain(marker);
  });
});
