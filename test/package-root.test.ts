import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { defaultWsdlPath, packageInfo } from '../daemon/package-root.js';

describe('package root', () => {
  it('finds the seqr-vend package and its version from the module location', () => {
    const root = fileURLToPath(new URL('../', import.meta.url));
    const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { version: string };
    expect(packageInfo()).toEqual({ root: root.replace(/\/$/, ''), version: pkg.version });
  });

  it('points at the WSDL in the sources, which the build does not copy', () => {
    expect(defaultWsdlPath()).toMatch(/daemon\/seqr\/cashregister\.wsdl$/);
    expect(defaultWsdlPath()).not.toContain('/dist/');
    expect(existsSync(defaultWsdlPath())).toBe(true);
  });
});
