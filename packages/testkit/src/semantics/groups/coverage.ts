import { ConformanceFailure } from '../../runner/assert.js';

/**
 * Counts, across the runs of one property, how often the situation a case is about actually came up, so
 * a stack that refuses everything (or a generator that never builds the situation) cannot pass vacuously.
 */
export class Coverage {
  readonly #counts = new Map<string, number>();

  add(what: string, count = 1): void {
    this.#counts.set(what, (this.#counts.get(what) ?? 0) + count);
  }

  /** Whether each of `whats` came up at least once (what {@link require} checks, without failing). */
  covers(...whats: string[]): boolean {
    return whats.every((what) => (this.#counts.get(what) ?? 0) > 0);
  }

  /** Fails unless each of `whats` came up at least once. */
  require(...whats: string[]): void {
    const missing = whats.filter((what) => (this.#counts.get(what) ?? 0) === 0);
    if (missing.length > 0) {
      throw new ConformanceFailure(
        `the case checked nothing of ${missing.join(', ')}: not once in its runs (counts: ${this.describe()})`,
      );
    }
  }

  describe(): string {
    return [...this.#counts].map(([what, count]) => `${what} ${count}`).join(', ') || 'none';
  }
}
