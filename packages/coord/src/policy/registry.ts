import type { BalancePolicy } from '@walstream/core';
import { walError } from '@walstream/core/internal';
import { BehaviorSubject, type Observable } from 'rxjs';
import { compareNames } from './order.js';
import { pchannelCountPolicy } from './pchannel-count.js';
import { vchannelFairPolicy } from './vchannel-fair.js';

/**
 * Balance policies by name. `registered$` emits the sorted names now and after every registration, so
 * an operator view or a config check can follow what a coordinator can be told to use.
 */
export class PolicyRegistry {
  readonly #policies = new Map<string, BalancePolicy>();
  readonly #names = new BehaviorSubject<readonly string[]>([]);
  readonly registered$: Observable<readonly string[]> = this.#names.asObservable();

  /** A registry with the built-in policies: `vchannelFair` (Milvus's default) and `pchannelCount`. */
  static withBuiltins(): PolicyRegistry {
    return new PolicyRegistry().register(vchannelFairPolicy()).register(pchannelCountPolicy());
  }

  register(policy: BalancePolicy): this {
    if (
      typeof policy?.name !== 'string' ||
      policy.name.length === 0 ||
      typeof policy.balance !== 'function'
    ) {
      throw walError('INVALID_ARGUMENT', 'a balance policy needs a non-empty name and a balance function', {
        retriable: false,
      });
    }
    if (this.#policies.has(policy.name)) {
      throw walError(
        'ALREADY_REGISTERED',
        `balance policy ${JSON.stringify(policy.name)} is already registered`,
      );
    }
    this.#policies.set(policy.name, policy);
    this.#names.next(this.names);
    return this;
  }

  get(name: string): BalancePolicy {
    const policy = this.#policies.get(name);
    if (policy === undefined) {
      throw walError(
        'NOT_REGISTERED',
        `balance policy ${JSON.stringify(name)} is not registered (registered: ${this.names.join(', ') || 'none'})`,
      );
    }
    return policy;
  }

  get names(): readonly string[] {
    return [...this.#policies.keys()].sort(compareNames);
  }
}
