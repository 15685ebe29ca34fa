import type { BalancePolicy } from '../contracts/balance-policy.js';
import { WalError } from '../errors/wal-error.js';
import { type MessageTypeRegistry, messageTypes } from '../message/message-type.js';
import type { InterceptorBuilder } from '../runtime/interceptor.js';
import type { WalImplsBuilder } from '../walimpls/spi.js';

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

  registerAdapter<Options>(name: string, factory: AdapterFactory<Options>): this {
    this.#adapters.add(name, factory as AdapterFactory<unknown>);
    return this;
  }

  adapter(name: string, options?: unknown): WalImplsBuilder {
    return this.#adapters.get(name)(options);
  }

  registerInterceptor<Options>(name: string, factory: InterceptorFactory<Options>): this {
    this.#interceptors.add(name, factory as InterceptorFactory<unknown>);
    return this;
  }

  interceptor(name: string, options?: unknown): InterceptorBuilder {
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

/** The process-wide registry. */
export const registry = new Registry();
