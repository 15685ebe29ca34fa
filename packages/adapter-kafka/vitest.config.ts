import { fileURLToPath } from 'node:url';
import { defineProject, type UserWorkspaceConfig } from 'vitest/config';
import { packageTests } from '../../vitest.shared.ts';

/**
 * Two projects. `adapter-kafka`: the tests in test/ against one real Kafka broker for the whole run,
 * started by the global setup (the first run resolves the jars with Maven, which may take minutes: hence
 * the long hook timeout). `adapter-kafka-unit`: test/unit/ and any src/ tests, which need no broker (ids,
 * option checks, record filtering, bounds): `vitest run --project adapter-kafka-unit` runs them without
 * Java. The root vitest.config.ts lists the unit project beside `packages/*`.
 */
export const unitProject: UserWorkspaceConfig = {
  ...packageTests('adapter-kafka-unit', { include: ['test/unit/**/*.test.ts', 'src/**/*.test.ts'] }),
  root: fileURLToPath(new URL('.', import.meta.url)),
};

export default defineProject(
  packageTests('adapter-kafka', {
    include: ['test/*.test.ts'],
    globalSetup: ['./test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
  }),
);
