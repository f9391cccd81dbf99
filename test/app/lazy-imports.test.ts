// What a production start and the CLI load: the built composition root and CLI, imported in a
// fresh Node process with a resolve hook that lists every project module. The simulator, the kiosk
// and the virtual hardware are imported only when the configuration asks for them.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const HOOK = `export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  if (resolved.url.startsWith('file:')) process.stderr.write('loaded ' + resolved.url + '\\n');
  return resolved;
}`;

/** The project modules (relative to dist/) that importing `modules` loads. */
function loadedBy(modules: readonly string[]): string[] {
  const register = `import { register } from 'node:module';
register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(HOOK)}`)});`;
  const imports = modules
    .map((m) => `await import(${JSON.stringify(pathToFileURL(path.join(root, 'dist', m)).href)});`)
    .join('\n');
  const run = spawnSync(
    process.execPath,
    [
      '--import',
      `data:text/javascript,${encodeURIComponent(register)}`,
      '--input-type=module',
      '-e',
      imports,
    ],
    { encoding: 'utf8' },
  );
  expect(run.status, run.stderr).toBe(0);
  const dist = pathToFileURL(path.join(root, 'dist')).href + '/';
  return run.stderr
    .split('\n')
    .flatMap((line) =>
      line.startsWith(`loaded ${dist}`) ? [line.slice(`loaded ${dist}`.length)] : [],
    );
}

describe('lazy imports (built dist/)', () => {
  it('the composition root and the CLI load neither the simulator, nor the kiosk, nor virtual hardware', () => {
    const loaded = loadedBy(['daemon/app.js', 'daemon/cli/cli.js']);
    expect(loaded).toContain('daemon/app.js');
    expect(loaded).toContain('daemon/seqr/client.js');
    const demoOnly = loaded.filter((m) => /^(simulator|daemon\/kiosk|hardware\/virtual)\//.test(m));
    expect(demoOnly).toEqual([]);
  });

  it('nor the MQTT client, which only a configured fleet broker or a fleet command loads', () => {
    const loaded = loadedBy(['daemon/app.js', 'daemon/cli/cli.js']);
    expect(
      loaded.filter((m) =>
        /^daemon\/(fleet\/(link|start|operator|collector)|cli\/fleet-commands)\.js$/.test(m),
      ),
    ).toEqual([]);
    expect(loadedBy(['daemon/cli/fleet-commands.js'])).toContain('daemon/fleet/operator.js');
  });
});
