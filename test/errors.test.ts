import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE } from '../daemon/errors.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const section = readme.slice(readme.indexOf('### Error codes'));
const documented = [...section.matchAll(/^\| `(E_[A-Z0-9_]+)` \|([^|]+)\|([^|]+)\|/gm)];

describe('error catalogue', () => {
  it('documents every code in the README operator section, each with a meaning and an action', () => {
    const codes = documented.map((m) => m[1]);
    expect(new Set(codes)).toEqual(new Set(Object.keys(ERROR_CATALOGUE)));
    expect(codes).toHaveLength(new Set(codes).size);
    for (const m of documented) {
      expect(m[2]!.trim().length, `${m[1]!} meaning`).toBeGreaterThan(10);
      expect(m[3]!.trim().length, `${m[1]!} action`).toBeGreaterThan(10);
    }
  });
});
