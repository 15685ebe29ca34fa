import type { SemanticsCaseDefinition, SemanticsGroupName } from '../types.js';
import { allocator } from './allocator.js';
import { exclusive } from './exclusive.js';
import { ordering } from './ordering.js';
import { recovery } from './recovery.js';
import { resume } from './resume.js';
import { segments } from './segments.js';
import { timeTick } from './timetick.js';
import { txn } from './txn.js';

export { allocator, exclusive, ordering, recovery, resume, segments, timeTick, txn };

/** Every group's cases, by group name. */
export const semanticsGroups: Readonly<Record<SemanticsGroupName, readonly SemanticsCaseDefinition[]>> = {
  ordering,
  timeTick,
  txn,
  resume,
  exclusive,
  segments,
  recovery,
  allocator,
};

/** The whole suite in registration order. */
export const semanticsCaseDefinitions: readonly SemanticsCaseDefinition[] =
  Object.values(semanticsGroups).flat();
