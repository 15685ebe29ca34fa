/** Latency samples in ms, read as percentiles over a window (since the last `window()` call) or all. */
export class Latencies {
  readonly #samples: number[] = [];
  #windowStart = 0;

  add(ms: number): void {
    this.#samples.push(ms);
  }

  get count(): number {
    return this.#samples.length;
  }

  /** Percentiles of the samples added since the previous call. */
  window(): Percentiles | undefined {
    const slice = this.#samples.slice(this.#windowStart);
    this.#windowStart = this.#samples.length;
    return percentiles(slice);
  }

  all(): Percentiles | undefined {
    return percentiles(this.#samples);
  }
}

export interface Percentiles {
  readonly p50: number;
  readonly p99: number;
}

function percentiles(samples: readonly number[]): Percentiles | undefined {
  if (samples.length === 0) return undefined;
  const sorted = Float64Array.from(samples).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { p50: at(0.5), p99: at(0.99) };
}

export function formatMs(ms: number | undefined): string {
  if (ms === undefined) return '–';
  return ms < 1 ? `${ms.toFixed(2)} ms` : `${ms.toFixed(1)} ms`;
}
