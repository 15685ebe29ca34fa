import type { ImmutableMessage, Scanner } from '@walstream/core';
import { ConformanceFailure } from '../runner/assert.js';
import { abortable } from '../runner/wait.js';
import { identify, KEY_PROPERTY } from './messages.js';

/**
 * What a reader was asked for. `vchannel` undefined reads every vchannel; `afterTimeTick` is the
 * resume bound (`timeTickGT`) when the reader resumed from a delivered message.
 */
export interface ReaderScope {
  readonly vchannel: string | undefined;
  readonly afterTimeTick: bigint | undefined;
}

export type ReaderEnd = 'running' | 'closed' | 'failed';

/** What a reader delivered, in order; the checks judge this. */
export interface ReadRecord {
  readonly label: string;
  readonly scope: ReaderScope;
  readonly delivered: readonly ImmutableMessage[];
}

/**
 * A scanner pumped in the background into `delivered`, in delivery order. Waits are on conditions over
 * what was delivered, bounded by the case's signal.
 */
export class Reader implements ReadRecord {
  readonly label: string;
  readonly scope: ReaderScope;
  readonly delivered: ImmutableMessage[] = [];
  readonly #scanner: Scanner;
  readonly #keys = new Set<string>();
  readonly #waiters = new Set<() => void>();
  #end: ReaderEnd = 'running';
  #error: unknown;
  readonly #pump: Promise<void>;

  constructor(label: string, scope: ReaderScope, scanner: Scanner) {
    this.label = label;
    this.scope = scope;
    this.#scanner = scanner;
    this.#pump = this.#run();
  }

  get end(): ReaderEnd {
    return this.#end;
  }

  get error(): unknown {
    return this.#error;
  }

  /** Whether a message with this suite key was delivered (a Txn counts by its commit key). */
  has(key: string): boolean {
    return this.#keys.has(key);
  }

  /** Resolves once every key was delivered; fails if the reader ends first or `signal` aborts. */
  async waitFor(keys: readonly string[], signal: AbortSignal): Promise<void> {
    const missing = () => keys.filter((key) => !this.#keys.has(key));
    for (;;) {
      const left = missing();
      if (left.length === 0) return;
      if (this.#end !== 'running') {
        throw new ConformanceFailure(
          `reader ${this.label} ${this.#end === 'failed' ? `failed (${String(this.#error)})` : 'ended'} ` +
            `after ${this.delivered.length} deliveries, before it delivered ${left.join(', ')}`,
        );
      }
      let wake!: () => void;
      const woken = new Promise<void>((resolve) => {
        wake = resolve;
      });
      this.#waiters.add(wake);
      try {
        await abortable(
          woken,
          signal,
          `reader ${this.label} to deliver ${left.slice(0, 5).join(', ')}${left.length > 5 ? ', …' : ''} ` +
            `(it delivered ${this.delivered.length} messages so far, the last: ${this.#lastLine()})`,
        );
      } finally {
        this.#waiters.delete(wake);
      }
    }
  }

  /** Resolves once the scanner ended (the WAL under it closed), bounded by `signal`. */
  async waitEnded(signal: AbortSignal): Promise<void> {
    await abortable(this.#pump, signal, `reader ${this.label} to end after its WAL closed`);
  }

  async close(): Promise<void> {
    await this.#scanner.close();
    await this.#pump;
  }

  async #run(): Promise<void> {
    try {
      for (;;) {
        const result = await this.#scanner.next();
        if (result.done) break;
        this.#record(result.value);
      }
      this.#end = 'closed';
    } catch (error) {
      this.#error = error;
      this.#end = 'failed';
    } finally {
      this.#wakeAll();
    }
  }

  #record(message: ImmutableMessage): void {
    this.delivered.push(message);
    const seen = identify(message);
    if ((seen.kind === 'plain' || seen.kind === 'txn') && seen.key) this.#keys.add(seen.key);
    this.#wakeAll();
  }

  #wakeAll(): void {
    for (const wake of this.#waiters) wake();
  }

  #lastLine(): string {
    const last = this.delivered.at(-1);
    if (!last) return 'none';
    return `${last.properties[KEY_PROPERTY] ?? `type ${last.messageType}`} tt=${last.hasTimeTick ? String(last.timeTick) : '?'}`;
  }
}
