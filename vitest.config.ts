import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/harness/global-setup.ts'],
    // Removes the temporary folders (configs, state folders) each test file made, after its last test.
    setupFiles: ['test/harness/setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Integration tests spawn servers and CLI processes; two workers keep a 2-core machine responsive.
    maxWorkers: 2,
  },
});
