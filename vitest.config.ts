import { configDefaults, defineConfig } from 'vitest/config';

/** The crash torture (200 SIGKILLs of the built daemon) runs alone: `npm run test:torture`. */
export const TORTURE_TESTS = ['test/torture/torture.test.ts'];

// The default pool (forks) is deliberate: native GPIO addons (epoll, rpio) crash under threads.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: [...configDefaults.exclude, ...TORTURE_TESTS],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    reporters: ['default', ['json', { outputFile: 'test-results/vitest.json' }]],
  },
});
