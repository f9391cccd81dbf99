import { defineConfig } from 'vitest/config';

// The default pool (forks) is deliberate: native GPIO addons (epoll, rpio) crash under threads.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    reporters: ['default', ['json', { outputFile: 'test-results/vitest.json' }]],
  },
});
