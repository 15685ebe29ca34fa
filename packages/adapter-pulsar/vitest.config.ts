import { defineProject } from 'vitest/config';
import { packageTests } from '../../vitest.shared';

export default defineProject(
  packageTests('adapter-pulsar', {
    // One real Pulsar standalone per test run, started here and shared through inject('pulsar').
    globalSetup: ['./test/global-setup.ts'],
    // Files run one after another: the restart test stops the shared broker, and two cores are
    // better spent on the broker than on parallel test files.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 240_000,
  }),
);
