import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { defaultWsdlPath, packageInfo } from '../daemon/package-root.js';

describe('package root', () => {
  it('finds the seqr-vend package and its version from the module location', () => {
    const root = fileURLToPath(new URL('../', import.meta.url));
    const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { version: string };
    expect(packageInfo()).toEqual({ root: root.replace(/\/$/, ''), version: pkg.version });
  });

  it('points at the WSDL in the sources here, and in dist/ once built', () => {
    expect(defaultWsdlPath()).toBe(
      fileURLToPath(new URL('../daemon/seqr/cashregister.wsdl', import.meta.url)),
    );
    expect(existsSync(defaultWsdlPath())).toBe(true);
  });

  it('once built, finds the copy the build put into dist/ (pretest builds)', async () => {
    const compiled = fileURLToPath(new URL('../dist/daemon/package-root.js', import.meta.url));
    const built = (await import(pathToFileURL(compiled).href)) as { defaultWsdlPath(): string };
    expect(built.defaultWsdlPath()).toBe(
      path.join(path.dirname(compiled), 'seqr', 'cashregister.wsdl'),
    );
    expect(readFileSync(built.defaultWsdlPath(), 'utf8')).toBe(
      readFileSync(defaultWsdlPath(), 'utf8'),
    );
  });
});
