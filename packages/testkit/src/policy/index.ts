export {
  apply as applyExpectedLayout,
  joinedNodeLayout,
  type LayoutShape,
  layoutArbitrary,
} from './layouts.js';
export {
  POLICY_CASE_NAMES,
  POLICY_GROUPS,
  type PolicyCaseDefinition,
  type PolicyCaseResult,
  type PolicyConformanceCase,
  type PolicyConformanceOptions,
  type PolicyGroupName,
  type PolicyReport,
  type PolicyTestContext,
  policyCaseDefinitions,
  policyConformanceCases,
  registerPolicyConformance,
  runPolicyConformance,
} from './suite.js';
