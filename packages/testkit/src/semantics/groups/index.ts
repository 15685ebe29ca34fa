import type { SemanticsCaseDefinition, SemanticsGroupName } from '../types.js';
import { exclusive } from './exclusive.js';
import { ordering } from './ordering.js';
import { recovery } from './recovery.js';
import { resume } from './resume.js';
import { timeTick } from './timetick.js';
import { txn } from './txn.js';

export { exclusive, ordering, recovery, resume, timeTick, txn };

/** Every group's cases, by group name. */
export const semanticsGroups: Readonly<Record<SemanticsGroupName, readonly SemanticsCaseDefinition[]>> = {
  ordering,
  timeTick,
  txn,
  resume,
  exclusive,
  recovery,
};

/** The whole suite in registration order. */
export const semanticsCaseDefinitions: readonly SemanticsCaseDefinition[] =
  Object.values(semanticsGroups).flat();
