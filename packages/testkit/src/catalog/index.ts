export {
  broadcasts as catalogBroadcastCases,
  catalogCaseDefinitions,
  checkpoints as catalogCheckpointCases,
  durability as catalogDurabilityCases,
  pchannels as catalogPChannelCases,
  races as catalogRaceCases,
  timestamps as catalogTimestampCases,
} from './cases/index.js';
export {
  type CatalogConformanceCase,
  catalogConformanceCases,
  registerCatalogConformance,
  runCatalogConformance,
} from './suite.js';
export {
  CATALOG_GROUPS,
  type CatalogCaseDefinition,
  type CatalogCaseResult,
  type CatalogConformanceOptions,
  type CatalogConformanceReport,
  type CatalogGroup,
  type CatalogGroupName,
  type CatalogTestContext,
} from './types.js';
