import type { Catalog } from '../contracts/catalog.js';
import { MemoryCatalog } from '../contracts/memory-catalog.js';
import { WalError } from '../errors/wal-error.js';
import { createObservability, type ObservabilityOptions } from '../observability/observability.js';
import { checkKnownKeys, functionOption, integerOption, oneOfOption } from '../options/check.js';
import {
  type AdapterOptions,
  registry as defaultRegistry,
  type InterceptorOptions,
  type Registry,
} from '../registry/registry.js';
import type { InterceptorBuilder } from '../runtime/interceptor.js';
import { WalStackOpener } from '../runtime/opener.js';
import type { WalOpener } from '../runtime/wal.js';
import type { WalRuntimeOptions } from '../runtime/wal-runtime.js';
import { LocalTimestampAllocator, type TimestampAllocator } from '../timetick/allocator.js';
import type { BuildOptions, WalImplsBuilder } from '../walimpls/spi.js';

export interface CreateWalOptions extends ObservabilityOptions {
  /** Where names given as strings are looked up (default: the process-wide registry). */
  readonly registry?: Registry;
  /** Timetick source (default: a process-local hybrid clock). */
  readonly allocator?: TimestampAllocator;
  /** Where checkpoints and recovery state live (default: a fresh in-memory catalog). */
  readonly catalog?: Catalog;
  readonly runtime?: WalRuntimeOptions;
}

const CREATE_WAL_KEYS = ['registry', 'allocator', 'catalog', 'runtime', 'logger', 'meterProvider', 'onError'];

/** An interceptor given by name, alone or with its options. */
export type NamedInterceptor = string | readonly [name: string, options: unknown];

/**
 * Composes a WAL stack fluently:
 *
 * ```ts
 * const opener = await createWal().adapter(memoryAdapter()).use(...walSemantics()).build();
 * const wal = await opener.open({ channel: pchannel('orders', 1n) });
 * ```
 *
 * Once `build()` was called the builder is frozen: `adapter()` and `use()` reject, so a stack that was
 * built can never be changed under it. `build()` may be called again for another opener of the same stack.
 */
export class WalBuilder {
  readonly #registry: Registry;
  readonly #options: CreateWalOptions;
  #adapter: WalImplsBuilder | undefined;
  readonly #interceptors: InterceptorBuilder[] = [];
  #frozen = false;

  constructor(options: CreateWalOptions = {}) {
    checkCreateWalOptions(options);
    this.#registry = options.registry ?? defaultRegistry;
    this.#options = options;
  }

  /** The log store: an adapter builder, or the name of a registered adapter and its options. */
  adapter<Name extends string>(adapter: WalImplsBuilder | Name, options?: AdapterOptions<Name>): this {
    this.#assertNotFrozen('adapter');
    if (this.#adapter) throw new WalError('INVALID_ARGUMENT', `adapter already set to ${this.#adapter.name}`);
    this.#adapter = typeof adapter === 'string' ? this.#registry.adapter(adapter, options) : adapter;
    return this;
  }

  /**
   * Interceptors, outermost first: builders, or names of registered interceptors (with options as a
   * pair). An interceptor that declares others `outsideOf` it is checked at `build()`.
   */
  use(...interceptors: (InterceptorBuilder | NamedInterceptor)[]): this {
    this.#assertNotFrozen('use');
    for (const entry of interceptors) {
      const builder =
        typeof entry === 'string'
          ? this.#registry.interceptor(entry)
          : isNamedWithOptions(entry)
            ? this.#registry.interceptor(entry[0], entry[1] as InterceptorOptions<string>)
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
    this.#frozen = true;
    checkKnownKeys('build', options, ['signal']);
    if (!this.#adapter) {
      throw new WalError('INVALID_ARGUMENT', 'createWal(): call .adapter(...) before .build()', {
        retriable: false,
      });
    }
    checkInterceptorOrder(this.#interceptors);
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

  #assertNotFrozen(method: string): void {
    if (this.#frozen) {
      throw new WalError(
        'INVALID_ARGUMENT',
        `createWal(): .${method}() after .build(): a built stack cannot change; start another createWal()`,
        { retriable: false, details: { reason: 'frozen' } },
      );
    }
  }
}

/** Refuses an order that an interceptor declared it cannot work in (see `InterceptorBuilder.outsideOf`). */
function checkInterceptorOrder(interceptors: readonly InterceptorBuilder[]): void {
  const position = new Map(interceptors.map((builder, index) => [builder.name, index]));
  interceptors.forEach((builder, index) => {
    for (const outer of builder.outsideOf ?? []) {
      const at = position.get(outer);
      if (at !== undefined && at > index) {
        throw new WalError(
          'INVALID_ARGUMENT',
          `createWal(): interceptor ${JSON.stringify(outer)} must come before ${JSON.stringify(builder.name)} in use(...) (outermost first)`,
          { retriable: false, details: { interceptor: builder.name, outside: outer } },
        );
      }
    }
  });
}

function checkCreateWalOptions(options: CreateWalOptions): void {
  checkKnownKeys('createWal', options, CREATE_WAL_KEYS);
  functionOption('createWal', 'onError', options.onError);
  checkKnownKeys('createWal', options.runtime, ['appendRetry', 'foreignRecords'], 'runtime.');
  oneOfOption(
    'createWal',
    'runtime.foreignRecords',
    options.runtime?.foreignRecords,
    ['skip', 'fail'],
    'skip',
  );
  const retry = options.runtime?.appendRetry;
  checkKnownKeys('createWal', retry, ['initialMs', 'maxMs'], 'runtime.appendRetry.');
  if (retry) {
    const initial = integerOption('createWal', 'runtime.appendRetry.initialMs', retry.initialMs, 10, {
      min: 1,
    });
    integerOption('createWal', 'runtime.appendRetry.maxMs', retry.maxMs, 5_000, { min: initial });
  }
}

function isNamedWithOptions(
  entry: InterceptorBuilder | NamedInterceptor,
): entry is readonly [string, unknown] {
  return Array.isArray(entry);
}

export function createWal(options?: CreateWalOptions): WalBuilder {
  return new WalBuilder(options);
}
