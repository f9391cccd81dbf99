// The project's root folder, version and SEQR WSDL, found from where this module runs. Part of the
// shared leaf (with errors.ts, ports/clock.ts and ports/money.ts): the daemon, config/ and the
// simulator may import it, and it imports nothing of the project.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project's root folder and version. */
export interface PackageInfo {
  readonly root: string;
  readonly version: string;
}

let cached: PackageInfo | undefined;

/**
 * Walks up from this module (under `daemon/` in the sources, `dist/daemon/` after the build,
 * `/opt/seqr-vend/dist/daemon/` installed) to the nearest `package.json` of seqr-vend.
 */
export function packageInfo(): PackageInfo {
  if (cached) return cached;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, 'package.json');
    if (existsSync(candidate)) {
      const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as {
        name?: unknown;
        version?: unknown;
      };
      if (pkg.name === 'seqr-vend') {
        cached = { root: dir, version: typeof pkg.version === 'string' ? pkg.version : '0.0.0' };
        return cached;
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir)
      throw new Error('seqr-vend package.json not found above ' + import.meta.url);
    dir = parent;
  }
}

/**
 * Absolute path of the project's SEQR WSDL, relative to this module: `daemon/seqr/cashregister.wsdl`
 * in the sources, the copy the build puts into `dist/daemon/seqr/` (build.mjs
 * RUNTIME_ASSETS) when compiled, so an installed copy never reads the source tree.
 */
export function defaultWsdlPath(): string {
  return fileURLToPath(new URL('./seqr/cashregister.wsdl', import.meta.url));
}
