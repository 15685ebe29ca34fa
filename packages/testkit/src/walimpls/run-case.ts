import { getEventListeners } from 'node:events';
import type { WalImplsBuilder } from '@walstream/core/spi';
import { ConformanceFailure } from '../runner/assert.js';
import { runWithDeadline } from '../runner/run-case.js';
import { abortable } from '../runner/wait.js';
import { CaseFixture, type FixtureSettings } from './context.js';
import type {
  CaseStatus,
  RunnerTestContext,
  WalImplsCaseDefinition,
  WalImplsConformanceOptions,
} from './types.js';

/** Cleanup gets its own budget, so a case that timed out still releases what it opened. */
export const TEARDOWN_BUDGET_MS = 5_000;
/** After a timeout, how long the case may take to fail on its own with a message naming the step. */
const FAILURE_GRACE_MS = 100;

/**
 * One case from start to end: a fresh builder, the case under a deadline, cleanup of everything it
 * opened, then the checks that need a finished case (no abort listener left, the caller's `afterCase`).
 * Resolves `passed` or `skipped`; rejects with the first failure.
 */
export function runCase<B extends WalImplsBuilder>(
  definition: WalImplsCaseDefinition<B>,
  options: WalImplsConformanceOptions<B>,
  settings: FixtureSettings,
  timeoutMs: number,
  runner: RunnerTestContext | undefined,
): Promise<CaseStatus> {
  return runWithDeadline(
    {
      name: definition.name,
      timeoutMs,
      graceMs: FAILURE_GRACE_MS,
      passesWithinGrace: false,
      // Every in-flight append and reader of a case listens on the deadline; that is not a leak.
      maxListeners: 10_000,
      open: async (deadline) => {
        const builder = await abortable(
          Promise.resolve().then(options.builder),
          deadline,
          'the builder factory',
        );
        return { builder, fixture: new CaseFixture(builder, options.builder, settings, deadline) };
      },
      body: async ({ fixture }) => {
        await definition.run(fixture);
        fixture.checkAppendedIds();
      },
      teardown: ({ fixture }) => fixture.teardown(AbortSignal.timeout(TEARDOWN_BUDGET_MS)),
      afterCase: async ({ builder }, deadline) => {
        const left = deadline.aborted ? 0 : getEventListeners(deadline, 'abort').length;
        if (left > 0) {
          throw new ConformanceFailure(
            `after "${definition.name}" and its cleanup, ${left} abort listener(s) are still attached to the AbortSignal ` +
              'the suite passed to build/open/read/append: remove a listener once its operation settles or its resource closes',
          );
        }
        await options.afterCase?.(builder);
      },
    },
    runner,
  );
}
