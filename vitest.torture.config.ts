import { defineConfig } from 'vitest/config';
import { TORTURE_TESTS } from './vitest.config.js';

// `npm run test:torture`: the crash torture against the built daemon, with its own JSON report.
export default defineConfig({
  test: {
    include: TORTURE_TESTS,
    testTimeout: 20_000,
    hookTimeout: 20_000,
    reporters: ['default', ['json', { outputFile: 'test-results/torture.json' }]],
  },
});
