import { fileURLToPath } from 'node:url';
import { defineProject, type UserWorkspaceConfig } from 'vitest/config';
import { packageTests } from '../../vitest.shared.ts';

/**
 * Two projects. `cli`: everything but test/kafka/. `cli-kafka`: `walstream coord` and `walstream node`
 * processes on a real etcd (started by each file) and one real Kafka broker for the run (the global
 * setup); the root vitest.config.ts lists it beside `packages/*`.
 */
export const kafkaProject: UserWorkspaceConfig = {
  ...packageTests('cli-kafka', {
    include: ['test/kafka/**/*.test.ts'],
    globalSetup: ['./test/kafka/global-setup.ts'],
    testTimeout: 90_000,
    hookTimeout: 180_000,
  }),
  root: fileURLToPath(new URL('.', import.meta.url)),
};

export default defineProject(packageTests('cli', { include: ['src/**/*.test.ts', 'test/*.test.ts'] }));
