import type { Catalog } from '../contracts/catalog.js';
import { MemoryCatalog } from '../contracts/memory-catalog.js';
import { WalError } from '../errors/wal-error.js';
import { createObservability, type ObservabilityOptions } from '../observability/observability.js';
import type { InterceptorBuilder } from '../runtime/interceptor.js';
import { WalStackOpener } from '../runtime/opener.js';
import type { WalOpener } from '../runtime/wal.js';
import type { WalRuntimeOptions } from '../runtime/wal-runtime.js';
import { LocalTimestampAllocator, type TimestampAllocator } from '../timetick/allocator.js';
import type { BuildOptions, WalImplsBuilder } from '../walimpls/spi.js';
import { registry as defaultRegistry, type Registry } from './registry.js';

export interface CreateWalOptions extends ObservabilityOptions {
  /** Where names given as strings are looked up (default: the process-wide registry). */
  readonly registry?: Registry;
  /** Timetick source (default: a process-local hybrid clock). */
  readonly allocator?: TimestampAllocator;
  /** Where checkpoints and recovery state live (default: a fresh in-memory catalog). */
  readonly catalog?: Catalog;
  readonly runtime?: WalRuntimeOptions;
}

/**
 * Composes a WAL stack fluently:
 *
 * ```ts
 * const opener = await createWal().adapter(memoryAdapter()).use(timeTick(), txn()).build();
 * const wal = await opener.open({ channel: pchannel('orders', 1n) });
 * ```
 */
export class WalBuilder {
  readonly #registry: Registry;
  readonly #options: CreateWalOptions;
  #adapter: WalImplsBuilder | undefined;
  readonly #interceptors: InterceptorBuilder[] = [];

  constructor(options: CreateWalOptions = {}) {
    this.#registry = options.registry ?? defaultRegistry;
    this.#options = options;
  }

  /** The log store: an adapter builder, or the name of a registered adapter and its options. */
  adapter(adapter: WalImplsBuilder | string, options?: unknown): this {
    if (this.#adapter) throw new WalError('INVALID_ARGUMENT', `adapter already set to ${this.#adapter.name}`);
    this.#adapter = typeof adapter === 'string' ? this.#registry.adapter(adapter, options) : adapter;
    return this;
  }

  /** Interceptors, outermost first: builders, or names of registered interceptors (with options as a pair). */
  use(...interceptors: (InterceptorBuilder | string | readonly [string, unknown])[]): this {
    for (const entry of interceptors) {
      const builder =
        typeof entry === 'string'
          ? this.#registry.interceptor(entry)
          : isNamedWithOptions(entry)
            ? this.#registry.interceptor(entry[0], entry[1])
            : entry;
      if (this.#interceptors.some((existing) => existing.name === builder.name)) {
        throw new WalError(
          'ALREADY_REGISTERED',
          `interceptor ${JSON.stringify(builder.name)} is already in this stack`,
        );
      }
      this.#interceptors.push(builder);
    }
    return this;
  }

  /** Builds the adapter's opener (connecting its backend) and returns the stack's opener. */
  async build(options: BuildOptions = {}): Promise<WalOpener> {
    if (!this.#adapter)
      throw new WalError('INVALID_ARGUMENT', 'createWal(): call .adapter(...) before .build()');
    const observability = createObservability(this.#options);
    const opener = await this.#adapter.build({ ...options, observability });
    return new WalStackOpener({
      walName: this.#adapter.name,
      opener,
      interceptors: [...this.#interceptors],
      allocator: this.#options.allocator ?? new LocalTimestampAllocator(),
      catalog: this.#options.catalog ?? new MemoryCatalog(),
      observability,
      runtime: this.#options.runtime,
    });
  }
}

function isNamedWithOptions(
  entry: InterceptorBuilder | readonly [string, unknown],
): entry is readonly [string, unknown] {
  return Array.isArray(entry);
}

export function createWal(options?: CreateWalOptions): WalBuilder {
  return new WalBuilder(options);
}
