import type { Options } from 'tsup';

/** One build recipe for every package: ESM + CJS + declarations, Node 20 target. */
export function packageBuild(entry: string[] | Record<string, string> = ['src/index.ts']): Options {
  return {
    entry,
    format: ['esm', 'cjs'],
    target: 'node20',
    platform: 'node',
    sourcemap: true,
    clean: true,
    // Declarations must import sibling packages from their published entry, not inline their sources.
    dts: { compilerOptions: { composite: false, paths: {} } },
  };
}
