import { MemoryCatalog } from '@walstream/core';
import { describe, test } from 'vitest';
import { registerCatalogConformance } from '../src/index.js';

// Core's in-process catalog: no second handle on its store, so durability and sharing are skipped.
registerCatalogConformance({ describe, test }, { catalog: () => new MemoryCatalog() });
