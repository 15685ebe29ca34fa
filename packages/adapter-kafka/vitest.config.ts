import { defineProject } from 'vitest/config';
import { packageTests } from '../../vitest.shared';

// One real Kafka broker for the whole run, started by the global setup (the first run resolves the jars
// with Maven, which may take minutes: hence the long hook timeout).
export default defineProject(
  packageTests('adapter-kafka', {
    globalSetup: ['./test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
  }),
);
