import { setMaxListeners } from 'node:events';
import { CaseSkipped, ConformanceFailure } from './assert.js';
import { markSkipped } from './cases.js';
import type { CaseStatus, RunnerTestContext } from './types.js';
import { whenAborted } from './wait.js';

/** How one suite runs a case under a deadline; `F` is what `open` makes and `teardown` releases. */
export interface DeadlineRun<F> {
  /** The case's name, for the timeout and cleanup messages. */
  readonly name: string;
  readonly timeoutMs: number;
  /** After the deadline, how long the case may take to fail on its own with a message naming the step. */
  readonly graceMs: number;
  /**
   * Whether a case that resolves within the grace passes (`true`) or still fails with the timeout
   * (`false`).
   */
  readonly passesWithinGrace: boolean;
  /** Raises the deadline signal's listener limit, when many operations of one case listen on it. */
  readonly maxListeners?: number;
  /** Makes the case's fixture; runs under the deadline. */
  open(deadline: AbortSignal): F | Promise<F>;
  /** The case itself. */
  body(fixture: F): Promise<void>;
  /** Releases what the case opened; resolves the problems it met (none: `[]`). */
  teardown(fixture: F): Promise<string[]>;
  /**
   * Checks that need a finished, cleaned-up case that has not failed so far (it may have been skipped);
   * a throw fails the case.
   */
  afterCase?(fixture: F, deadline: AbortSignal): Promise<void>;
}

/**
 * One case from start to end: its fixture and body under a deadline, cleanup of everything it opened,
 * then the checks that need a finished case. Resolves `passed` or `skipped` (after calling
 * `runner.skip`); rejects with the first failure.
 */
export async function runWithDeadline<F>(
  spec: DeadlineRun<F>,
  runner: RunnerTestContext | undefined,
): Promise<CaseStatus> {
  const deadline = new AbortController();
  if (spec.maxListeners !== undefined) setMaxListeners(spec.maxListeners, deadline.signal);
  const timer = setTimeout(
    () =>
      deadline.abort(
        new ConformanceFailure(`case "${spec.name}" did not finish within ${spec.timeoutMs} ms`),
      ),
    spec.timeoutMs,
  );
  let fixture: { readonly value: F } | undefined;
  let failure: unknown;
  let skipReason: string | undefined;
  try {
    fixture = { value: await spec.open(deadline.signal) };
    await untilDeadline(spec.body(fixture.value), deadline.signal, spec);
  } catch (error) {
    if (error instanceof CaseSkipped) skipReason = error.message;
    else failure = error;
  } finally {
    clearTimeout(timer);
  }
  if (fixture) {
    const problems = await spec.teardown(fixture.value);
    if (problems.length > 0 && failure === undefined) {
      failure = new ConformanceFailure(`cleanup after "${spec.name}" failed:\n  ${problems.join('\n  ')}`);
    }
    if (spec.afterCase && failure === undefined) {
      try {
        await spec.afterCase(fixture.value, deadline.signal);
      } catch (error) {
        failure = error;
      }
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
async function untilDeadline(
  run: Promise<void>,
  deadline: AbortSignal,
  grace: Pick<DeadlineRun<unknown>, 'graceMs' | 'passesWithinGrace'>,
): Promise<void> {
  let detach: (() => void) | undefined;
  const expired = new Promise<'expired'>((resolve) => {
    detach = whenAborted(deadline, () => resolve('expired'));
  });
  try {
    if ((await Promise.race([run, expired])) !== 'expired') return;
  } finally {
    detach?.();
  }
  const over = new Promise<'grace over'>((resolve) => setTimeout(resolve, grace.graceMs, 'grace over'));
  // A rejection within the grace propagates from here; anything else is the plain timeout, unless the
  // suite lets a case that finishes within the grace pass.
  const settled = await Promise.race([run.then(() => 'finished' as const), over]);
  if (settled === 'finished' && grace.passesWithinGrace) return;
  run.catch(() => {});
  throw deadline.reason;
}
