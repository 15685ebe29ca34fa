// @ts-check
/**
 * Mutation testing with StrykerJS, one package per run: `pnpm mutation` runs core, adapter-memory and
 * interceptors in turn; `STRYKER_PACKAGES=core pnpm mutation` runs one (this file reads
 * STRYKER_PACKAGE, which the script sets per package). Each package's sources are mutated and its own
 * vitest project (its vitest.config.ts) runs against every mutant; the TypeScript checker discards
 * mutants that do not compile. Not part of CI: a run takes from twenty minutes to hours on two cores.
 * Reports land in reports/mutation/<package>.{html,json}. For a quicker rerun while writing tests,
 * `STRYKER_PACKAGE=core pnpm exec stryker run stryker.config.mjs --incremental` tests only the mutants
 * whose code or covering tests changed since the last incremental run — but it keeps the old verdict of
 * static mutants (module-level code), so scores are taken without it.
 * Stryker 9 (10 needs Node 22).
 */
const PACKAGES = ['core', 'adapter-memory', 'interceptors'];
const pkg = process.env.STRYKER_PACKAGE ?? 'core';
if (!PACKAGES.includes(pkg)) {
  throw new Error(`STRYKER_PACKAGE must be one of ${PACKAGES.join(', ')}; got ${pkg}`);
}

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  // By path: under pnpm the plugins are not next to @stryker-mutator/core, where its default glob looks.
  plugins: [
    import.meta.resolve('@stryker-mutator/vitest-runner'),
    import.meta.resolve('@stryker-mutator/typescript-checker'),
  ],
  testRunner: 'vitest',
  // related: false — the tests import the sources through aliases, which vitest's related-file search
  // does not follow; per-test coverage still picks the tests for each mutant.
  vitest: { configFile: `packages/${pkg}/vitest.config.ts`, related: false, dir: `packages/${pkg}` },
  checkers: ['typescript'],
  tsconfigFile: `packages/${pkg}/tsconfig.json`,
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  mutate: [
    `packages/${pkg}/src/**/*.ts`,
    '!**/*.test.ts',
    '!**/test-helpers.ts',
    // Re-export lists and type-only modules: nothing to mutate that a test could tell apart.
    `!packages/${pkg}/src/index.ts`,
  ],
  coverageAnalysis: 'perTest',
  // Two cores, shared: one test runner and one checker.
  concurrency: 1,
  timeoutFactor: 2,
  timeoutMS: 10_000,
  dryRunTimeoutMinutes: 20,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: `reports/mutation/${pkg}.html` },
  jsonReporter: { fileName: `reports/mutation/${pkg}.json` },
  incrementalFile: `reports/mutation/${pkg}.incremental.json`,
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
  ignorePatterns: ['dist', 'coverage', 'reports', 'bench', 'docs', '.changeset'],
};
