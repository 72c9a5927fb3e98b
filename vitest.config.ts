import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Generous: e2e tests build, squash and boot under TCG on 2 cores; a hang still ends.
    testTimeout: 900_000,
    hookTimeout: 1_800_000,
    // Two cores: heavy e2e files would only fight each other.
    maxWorkers: 2,
    minWorkers: 1,
    pool: 'forks',
    globalSetup: ['test/global-setup.ts'],
    reporters: ['default'],
  },
});
