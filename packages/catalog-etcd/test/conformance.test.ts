import { registerCatalogConformance } from '@walstream/testkit';
import { describe, test } from 'vitest';
import { EtcdCatalog } from '../src/index.js';
import { endpoints, freshCatalog } from './helpers.js';

// A fresh prefix per case; a reopen is a second client on the same prefix, as another process would
// make, and may write at the same time as the first (the sharing group).
registerCatalogConformance(
  { describe, test },
  {
    catalog: () => freshCatalog(),
    reopen: (catalog) => new EtcdCatalog({ endpoints: endpoints(), prefix: catalog.prefix }),
    concurrentHandles: true,
    close: (catalog) => (catalog as EtcdCatalog).close(),
    numRuns: 15,
  },
);
