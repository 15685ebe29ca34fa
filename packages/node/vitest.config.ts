import { fileURLToPath } from 'node:url';
import { defineProject, type UserWorkspaceConfig } from 'vitest/config';
import { packageTests } from '../../vitest.shared.ts';

/**
 * Two projects. `node`: everything broker-free — the services in process, and nodes in child processes on
 * the memory and local adapters. `node-kafka`: test/kafka/, nodes in child processes on one real Kafka
 * broker for the whole run, started by the global setup (the first run resolves the jars with Maven).
 * The root vitest.config.ts lists the Kafka project beside `packages/*`.
 */
export const kafkaProject: UserWorkspaceConfig = {
  ...packageTests('node-kafka', {
    include: ['test/kafka/**/*.test.ts'],
    globalSetup: ['./test/kafka/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
  }),
  root: fileURLToPath(new URL('.', import.meta.url)),
};

export default defineProject(
  packageTests('node', { include: ['src/**/*.test.ts', 'test/*.test.ts'], testTimeout: 60_000 }),
);
