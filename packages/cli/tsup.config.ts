import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.shared.ts';

// `bin` is the `walstream` executable (dist/bin.js); it has no top-level await, so its CJS twin builds too.
// Shims give the CJS build an `import.meta.url`, which `--version` reads package.json through.
export default defineConfig({ ...packageBuild({ index: 'src/index.ts', bin: 'src/bin.ts' }), shims: true });
