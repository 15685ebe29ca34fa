import type { CatalogCaseDefinition } from '../types.js';
import { checkpoints } from './checkpoints.js';
import { durability } from './durability.js';
import { races } from './races.js';
import { broadcasts, pchannels, timestamps } from './records.js';

export { broadcasts, checkpoints, durability, pchannels, races, timestamps };

/** Every built-in case of the catalog suite, in registration order. */
export const catalogCaseDefinitions: readonly CatalogCaseDefinition[] = [
  ...pchannels,
  ...broadcasts,
  ...checkpoints,
  ...timestamps,
  ...durability,
  ...races,
];
