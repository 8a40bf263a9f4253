import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['./test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Each file gets its own database copy; two workers match the two cores CI has.
    maxWorkers: 2,
    // Files share a worker's module cache: the app is imported once per worker, not once per file
    // (import time 222 s -> under 60 s). Nothing in src or test keeps per-file global state; every file
    // builds its own platform on its own database copy.
    isolate: false,
  },
});
