import { getEventListeners, setMaxListeners } from 'node:events';
import type { WalImplsBuilder } from '@walstream/core';
import { ConformanceFailure } from './assert.js';
import { CaseFixture, CaseSkipped, type FixtureSettings } from './context.js';
import type {
  CaseStatus,
  RunnerTestContext,
  WalImplsCaseDefinition,
  WalImplsConformanceOptions,
} from './types.js';
import { abortable } from './wait.js';

/** Cleanup gets its own budget, so a case that timed out still releases what it opened. */
export const TEARDOWN_BUDGET_MS = 5_000;
/** After a timeout, how long the case may take to fail on its own with a message naming the step. */
const FAILURE_GRACE_MS = 100;

/**
 * One case from start to end: a fresh builder, the case under a deadline, cleanup of everything it
 * opened, then the checks that need a finished case (no abort listener left, the caller's `afterCase`).
 * Resolves `passed` or `skipped`; rejects with the first failure.
 */
export async function runCase<B extends WalImplsBuilder>(
  definition: WalImplsCaseDefinition,
  options: WalImplsConformanceOptions<B>,
  settings: FixtureSettings,
  timeoutMs: number,
  runner: RunnerTestContext | undefined,
): Promise<CaseStatus> {
  const deadline = new AbortController();
  // Every in-flight append and reader of a case listens on this one signal; that is not a leak.
  setMaxListeners(10_000, deadline.signal);
  const timer = setTimeout(
    () =>
      deadline.abort(
        new ConformanceFailure(`case "${definition.name}" did not finish within ${timeoutMs} ms`),
      ),
    timeoutMs,
  );
  let builder: B | undefined;
  let fixture: CaseFixture | undefined;
  let failure: unknown;
  let skipReason: string | undefined;
  try {
    const made = await abortable(
      Promise.resolve().then(options.builder),
      deadline.signal,
      'the builder factory',
    );
    builder = made;
    fixture = new CaseFixture(made, settings, deadline.signal);
    await untilDeadline(definition.run(fixture), deadline.signal);
  } catch (error) {
    if (error instanceof CaseSkipped) skipReason = error.message;
    else failure = error;
  } finally {
    clearTimeout(timer);
  }
  if (fixture) {
    const cleanup = AbortSignal.timeout(TEARDOWN_BUDGET_MS);
    const problems = await fixture.teardown(cleanup);
    if (problems.length > 0 && failure === undefined) {
      failure = new ConformanceFailure(
        `cleanup after "${definition.name}" failed:\n  ${problems.join('\n  ')}`,
      );
    }
  }
  if (fixture && failure === undefined && !deadline.signal.aborted) {
    const left = getEventListeners(deadline.signal, 'abort').length;
    if (left > 0) {
      failure = new ConformanceFailure(
        `after "${definition.name}" and its cleanup, ${left} abort listener(s) are still attached to the AbortSignal ` +
          'the suite passed to build/open/read/append: remove a listener once its operation settles or its resource closes',
      );
    }
  }
  if (builder !== undefined && options.afterCase && failure === undefined) {
    try {
      await options.afterCase(builder);
    } catch (error) {
      failure = error;
    }
  }
  if (failure !== undefined) throw failure;
  if (skipReason !== undefined) return markSkipped(runner, skipReason);
  return 'passed';
}

/**
 * Settles like `run`, or fails when the deadline passes. After the deadline the case gets a short grace
 * to fail on its own, because its own error names the step that hung.
 */
async function untilDeadline(run: Promise<void>, deadline: AbortSignal): Promise<void> {
  let onAbort: (() => void) | undefined;
  const expired = new Promise<'expired'>((resolve) => {
    onAbort = () => resolve('expired');
    deadline.addEventListener('abort', onAbort, { once: true });
  });
  try {
    if ((await Promise.race([run, expired])) !== 'expired') return;
  } finally {
    if (onAbort) deadline.removeEventListener('abort', onAbort);
  }
  const grace = new Promise<'grace over'>((resolve) => setTimeout(resolve, FAILURE_GRACE_MS, 'grace over'));
  // A rejection within the grace propagates from here; anything else is the plain timeout.
  await Promise.race([run, grace]);
  run.catch(() => {});
  throw deadline.reason;
}

export function markSkipped(runner: RunnerTestContext | undefined, reason: string): CaseStatus {
  runner?.skip?.(reason);
  return 'skipped';
}
