import { fileURLToPath } from 'node:url';
import { defineProject, type UserWorkspaceConfig } from 'vitest/config';
import { packageTests } from '../../vitest.shared.ts';

/**
 * Two projects. `adapter-pulsar`: the tests in test/ against one real Pulsar standalone per test run,
 * started by the global setup and shared through inject('pulsar'). `adapter-pulsar-unit`: test/unit/ and
 * any src/ tests, which need no broker (ids, protocol encoding and framing, option checks):
 * `vitest run --project adapter-pulsar-unit` runs them without Java. The root vitest.config.ts lists the
 * unit project beside `packages/*`.
 */
export const unitProject: UserWorkspaceConfig = {
  ...packageTests('adapter-pulsar-unit', { include: ['test/unit/**/*.test.ts', 'src/**/*.test.ts'] }),
  root: fileURLToPath(new URL('.', import.meta.url)),
};

export default defineProject(
  packageTests('adapter-pulsar', {
    include: ['test/*.test.ts'],
    globalSetup: ['./test/global-setup.ts'],
    // Files run one after another: the restart test stops the shared broker, and two cores are
    // better spent on the broker than on parallel test files.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 240_000,
  }),
);
