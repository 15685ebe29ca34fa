/**
 * @walstream/testkit: the conformance suites adapter, interceptor and policy authors run in their own
 * test runner. The real-broker harnesses are separate entries (`@walstream/testkit/kafka`, `/pulsar`).
 */

// Test helpers for extension authors.
export { type LogLine, recordingLogger } from './logging.js';
export * from './policy/index.js';
export * from './semantics/index.js';
export * from './walimpls/index.js';
