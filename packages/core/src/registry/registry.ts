import type { BalancePolicy } from '../contracts/balance-policy.js';
import { WalError } from '../errors/wal-error.js';
import { type MessageTypeRegistry, messageTypes } from '../message/message-type.js';
import type { InterceptorBuilder } from '../runtime/interceptor.js';
import { processWide } from '../util/process-wide.js';
import type { WalImplsBuilder } from '../walimpls/spi.js';

/**
 * The options of each registered adapter, by name. Adapter packages add their entry by declaration
 * merging, so `createWal().adapter('memory', { … })` checks the options at compile time:
 *
 * ```ts fragment
 * declare module '@walstream/core' {
 *   interface RegisteredAdapters { memory: MemoryAdapterOptions | undefined }
 * }
 * ```
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled by declaration merging
export interface RegisteredAdapters {}
/** The options of each registered interceptor, by name (filled like {@link RegisteredAdapters}). */
// biome-ignore lint/suspicious/noEmptyInterface: filled by declaration merging
export interface RegisteredInterceptors {}

/** The options type of the adapter registered as `Name` (`unknown` for names no package declared). */
export type AdapterOptions<Name extends string> = Name extends keyof RegisteredAdapters
  ? RegisteredAdapters[Name]
  : unknown;
/** The options type of the interceptor registered as `Name`. */
export type InterceptorOptions<Name extends string> = Name extends keyof RegisteredInterceptors
  ? RegisteredInterceptors[Name]
  : unknown;

/** Makes an adapter from its options; registered by name so a stack can be composed from configuration. */
export type AdapterFactory<Options = never> = (options: Options) => WalImplsBuilder;
/** Makes an interceptor builder from its options. */
export type InterceptorFactory<Options = never> = (options: Options) => InterceptorBuilder;

class NamedTable<T> {
  readonly #kind: string;
  readonly #entries = new Map<string, T>();

  constructor(kind: string) {
    this.#kind = kind;
  }

  add(name: string, value: T): void {
    if (!name) throw new WalError('INVALID_ARGUMENT', `${this.#kind} name must not be empty`);
    if (this.#entries.has(name))
      throw new WalError('ALREADY_REGISTERED', `${this.#kind} ${JSON.stringify(name)} is already registered`);
    this.#entries.set(name, value);
  }

  get(name: string): T {
    const value = this.#entries.get(name);
    if (value === undefined) {
      const known = [...this.#entries.keys()].sort().join(', ') || 'none';
      throw new WalError(
        'NOT_REGISTERED',
        `${this.#kind} ${JSON.stringify(name)} is not registered (registered: ${known})`,
      );
    }
    return value;
  }

  has(name: string): boolean {
    return this.#entries.has(name);
  }

  names(): string[] {
    return [...this.#entries.keys()].sort();
  }
}

/**
 * Adapters, interceptors, balance policies and message types by name. Unknown names are NOT_REGISTERED,
 * names given twice ALREADY_REGISTERED. Use the process-wide {@link registry} or a private one.
 */
export class Registry {
  readonly messageTypes: MessageTypeRegistry;
  readonly #adapters = new NamedTable<AdapterFactory<unknown>>('adapter');
  readonly #interceptors = new NamedTable<InterceptorFactory<unknown>>('interceptor');
  readonly #policies = new NamedTable<BalancePolicy>('balance policy');

  constructor(types: MessageTypeRegistry = messageTypes) {
    this.messageTypes = types;
  }

  registerAdapter<Name extends string>(name: Name, factory: AdapterFactory<AdapterOptions<Name>>): this {
    this.#adapters.add(name, factory as AdapterFactory<unknown>);
    return this;
  }

  adapter<Name extends string>(name: Name, options?: AdapterOptions<Name>): WalImplsBuilder {
    return this.#adapters.get(name)(options);
  }

  registerInterceptor<Name extends string>(
    name: Name,
    factory: InterceptorFactory<InterceptorOptions<Name>>,
  ): this {
    this.#interceptors.add(name, factory as InterceptorFactory<unknown>);
    return this;
  }

  interceptor<Name extends string>(name: Name, options?: InterceptorOptions<Name>): InterceptorBuilder {
    return this.#interceptors.get(name)(options);
  }

  registerPolicy(policy: BalancePolicy): this {
    this.#policies.add(policy.name, policy);
    return this;
  }

  policy(name: string): BalancePolicy {
    return this.#policies.get(name);
  }

  get names(): { adapters: string[]; interceptors: string[]; policies: string[] } {
    return {
      adapters: this.#adapters.names(),
      interceptors: this.#interceptors.names(),
      policies: this.#policies.names(),
    };
  }
}

/** The process-wide registry, shared by every copy of this package in the process. */
export const registry: Registry = processWide('registry.v1', () => new Registry());
