import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { UserWorkspaceConfig } from 'vitest/config';

const packagesDir = fileURLToPath(new URL('./packages/', import.meta.url));

/** Subpath entries of workspace packages, by import specifier. */
const SUBPATHS: Record<string, string> = {
  '@walstream/core/spi': 'core/src/spi.ts',
  '@walstream/core/internal': 'core/src/internal.ts',
  '@walstream/testkit/kafka': 'testkit/src/harness/kafka.ts',
  '@walstream/testkit/pulsar': 'testkit/src/harness/pulsar.ts',
  '@walstream/testkit/reference': 'testkit/src/reference/index.ts',
  '@walstream/testkit/etcd': 'testkit/src/harness/etcd.ts',
};

/** Tests run against the sources of every workspace package, so no build is needed before `vitest`. */
export const workspaceAliases: { find: RegExp; replacement: string }[] = [
  ...Object.entries(SUBPATHS).map(([specifier, file]) => ({
    find: new RegExp(`^${specifier}$`),
    replacement: `${packagesDir}${file}`,
  })),
  ...readdirSync(packagesDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => ({
      find: new RegExp(`^@walstream/${entry.name}$`),
      replacement: `${packagesDir}${entry.name}/src/index.ts`,
    })),
];

export function packageTests(name: string, extra: UserWorkspaceConfig['test'] = {}): UserWorkspaceConfig {
  return {
    resolve: { alias: workspaceAliases },
    test: {
      name,
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      testTimeout: 30_000,
      hookTimeout: 60_000,
      ...extra,
    },
  };
}
