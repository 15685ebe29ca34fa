import type { ImmutableMessage } from '@walstream/core';
import type { Reader, ReaderScope, ReadRecord } from './reader.js';
import type { SemanticsStack } from './stack.js';

/**
 * A reader that lives across terms the way a client does: it tails the WAL of the current term, and when
 * that WAL closes it resumes on the next term's WAL from its last delivery (`startFrom(last.LC)` +
 * `timeTickGT(last.tt)`). Its deliveries, concatenated, must read like one uninterrupted reader.
 */
export class TailChain implements ReadRecord {
  readonly label: string;
  readonly scope: ReaderScope;
  readonly #segments: Reader[] = [];

  private constructor(label: string, vchannel: string | undefined) {
    this.label = label;
    this.scope = { vchannel, afterTimeTick: undefined };
  }

  static async start(stack: SemanticsStack, label: string, vchannel?: string): Promise<TailChain> {
    const chain = new TailChain(label, vchannel);
    chain.#segments.push(await stack.read(label, vchannel === undefined ? {} : { vchannel }));
    return chain;
  }

  get delivered(): readonly ImmutableMessage[] {
    return this.#segments.flatMap((segment) => segment.delivered);
  }

  get segments(): number {
    return this.#segments.length;
  }

  /** After a reopening: waits until the old segment ended with its WAL, then resumes on the new WAL. */
  async continueOn(stack: SemanticsStack): Promise<void> {
    const current = this.#segments.at(-1)!;
    await current.waitEnded(stack.signal);
    const last = this.delivered.at(-1);
    const from = {
      ...(this.scope.vchannel === undefined ? {} : { vchannel: this.scope.vchannel }),
      ...(last === undefined ? {} : { after: last }),
    };
    this.#segments.push(await stack.read(`${this.label}+${this.#segments.length}`, from));
  }

  /** Resolves once the current segment delivered every key. */
  waitFor(keys: readonly string[], signal: AbortSignal): Promise<void> {
    return this.#segments.at(-1)!.waitFor(keys, signal);
  }
}
