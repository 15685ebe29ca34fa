import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registerCatalogConformance } from '@walstream/testkit';
import { afterAll, describe, test } from 'vitest';
import { FileCatalog } from '../src/index.js';

const scratch = mkdtempSync(join(tmpdir(), 'walstream-file-catalog-suite-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let files = 0;

// One file per case; a reopen reads the same file, as a restarted `walstream up` does. The file belongs
// to one process at a time, so the sharing group (concurrent handles) does not apply.
registerCatalogConformance(
  { describe, test },
  {
    catalog: () => FileCatalog.open(join(scratch, `catalog-${++files}.json`)),
    reopen: (catalog) => FileCatalog.open(catalog.file),
    numRuns: 10,
  },
);
