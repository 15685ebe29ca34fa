import fc from 'fast-check';
import { ConformanceFailure } from './assert.js';

/** How a drawn check runs: generated values on top of the examples, and the seed to replay them. */
export interface DrawSettings<T> {
  /** Generated values, run after the examples. */
  readonly numRuns: number;
  /** fast-check seed; absent: a fresh one, reported with a failure so it can be replayed. */
  readonly seed?: number | undefined;
  /** Values that always run first: the boundaries, where the bugs live. */
  readonly examples?: readonly T[];
  /** How a value is quoted in a failure (default `fc.stringify`). */
  readonly describe?: (value: T) => string;
  /**
   * Shrink a failure to a smaller counterexample. Cheap for pure checks; a check that talks to the adapter
   * stops at the first failing value instead (each shrink step would read again).
   */
  readonly shrink?: boolean;
}

/**
 * Runs `body` on the examples, then on `numRuns` values drawn from `arbitrary`. A failure becomes a
 * `ConformanceFailure` with the body's own message, the value it failed on and the seed to replay it.
 * `what` names the check in that message.
 */
export async function drawAsync<T>(
  what: string,
  arbitrary: fc.Arbitrary<T>,
  body: (value: T) => Promise<void>,
  settings: DrawSettings<T>,
): Promise<void> {
  const examples = (settings.examples ?? []).map((value): [T] => [value]);
  const numRuns = settings.numRuns + examples.length;
  const details = await fc.check(fc.asyncProperty(arbitrary, body), {
    numRuns,
    ...(settings.seed === undefined ? {} : { seed: settings.seed }),
    ...(examples.length === 0 ? {} : { examples }),
    endOnFailure: settings.shrink !== true,
  });
  if (details.failed) throw failure(what, details, numRuns, settings.describe);
}

/** {@link drawAsync} for a synchronous body (pure checks: ids, codecs). */
export function draw<T>(
  what: string,
  arbitrary: fc.Arbitrary<T>,
  body: (value: T) => void,
  settings: DrawSettings<T>,
): void {
  const examples = (settings.examples ?? []).map((value): [T] => [value]);
  const numRuns = settings.numRuns + examples.length;
  const details = fc.check(fc.property(arbitrary, body), {
    numRuns,
    ...(settings.seed === undefined ? {} : { seed: settings.seed }),
    ...(examples.length === 0 ? {} : { examples }),
    endOnFailure: settings.shrink !== true,
  });
  if (details.failed) throw failure(what, details, numRuns, settings.describe);
}

function failure<T>(
  what: string,
  details: fc.RunDetails<[T]>,
  numRuns: number,
  describe: ((value: T) => string) | undefined,
): ConformanceFailure {
  const error = details.errorInstance;
  const value = details.counterexample?.[0];
  const shown = value === undefined ? '(none)' : describe ? describe(value) : fc.stringify(value);
  const message = error instanceof Error ? error.message : String(error);
  return new ConformanceFailure(
    `${message}\n  (${what}: run ${details.numRuns} of ${numRuns}, on ${shown}; replay with the option ` +
      `{ seed: ${details.seed} })`,
    { cause: error },
  );
}

/**
 * Fails when a drawn check never met a situation it exists for: the suite's own guard that its
 * generators still produce the interesting cases (the examples normally guarantee them).
 */
export function assertCovered(what: string, seen: Readonly<Record<string, number>>): void {
  const missing = Object.entries(seen)
    .filter(([, count]) => count === 0)
    .map(([situation]) => situation);
  if (missing.length > 0) {
    throw new ConformanceFailure(
      `${what}: the drawn values never covered ${missing.join(', ')} (a bug in the suite, not in the adapter)`,
    );
  }
}
