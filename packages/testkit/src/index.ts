/**
 * @walstream/testkit: the conformance suites adapter, interceptor and policy authors run in their own
 * test runner. The real-broker harnesses are separate entries (`@walstream/testkit/kafka`, `/pulsar`, `/etcd`).
 */

// The catalog suite: any Catalog (memory, file, etcd) against the contract, races included.
export * from './catalog/index.js';
// Test helpers for extension authors.
export { type LogLine, recordingLogger } from './logging.js';
export * from './policy/index.js';
export * from './semantics/index.js';
// Bounded waits for tests: a condition polled until it holds, failing with what it waited for.
export { waitFor } from './wait.js';
export * from './walimpls/index.js';
