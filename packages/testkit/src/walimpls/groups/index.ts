import type { WalImplsCaseDefinition, WalImplsGroupName } from '../types.js';
import { backpressure } from './backpressure.js';
import { basics } from './basics.js';
import { deliverPolicy } from './deliver-policy.js';
import { errors } from './errors.js';
import { fencing } from './fencing.js';
import { readOnly } from './read-only.js';
import { readWrite } from './read-write.js';
import { reopen } from './reopen.js';
import { scannerLifecycle } from './scanner-lifecycle.js';
import { truncate } from './truncate.js';

export {
  backpressure,
  basics,
  deliverPolicy,
  errors,
  fencing,
  readOnly,
  readWrite,
  reopen,
  scannerLifecycle,
  truncate,
};

/** Every group's cases, by group name. */
export const walimplsGroups: Readonly<Record<WalImplsGroupName, readonly WalImplsCaseDefinition[]>> = {
  basics,
  readWrite,
  deliverPolicy,
  scannerLifecycle,
  backpressure,
  readOnly,
  reopen,
  errors,
  truncate,
  fencing,
};

/** The whole suite in registration order. */
export const walimplsCaseDefinitions: readonly WalImplsCaseDefinition[] =
  Object.values(walimplsGroups).flat();
