import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.shared.ts';

// Three entries: the application API, the SPI for adapter and interceptor authors, and internals shared
// by walstream's own packages.
export default defineConfig(
  packageBuild({ index: 'src/index.ts', spi: 'src/spi.ts', internal: 'src/internal.ts' }),
);
