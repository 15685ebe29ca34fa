import { defineProject } from 'vitest/config';
import { packageTests } from '../../vitest.shared.ts';

/**
 * The tests run against one real etcd for the whole run, started by the global setup (Debian's
 * etcd-server, installed by the harness when missing and running as root).
 */
export default defineProject(
  packageTests('catalog-etcd', {
    globalSetup: ['./test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
  }),
);
