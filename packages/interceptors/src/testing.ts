import {
  type ImmutableMessage,
  type MessageID,
  MutableMessage,
  type TimestampAllocator,
} from '@walstream/core';
import { SystemProperty } from '@walstream/core/spi';

/** Test helpers for unit tests that run without an adapter. Not exported from the package index. */

/** A MessageID that is just a number. */
export class TestId implements MessageID {
  readonly walName = 'unit-test';
  readonly value: number;
  constructor(value: number) {
    this.value = value;
  }
  compare(other: MessageID): number {
    return this.value - (other as TestId).value;
  }
  marshal(): string {
    return String(this.value);
  }
  toString(): string {
    return `test:${this.value}`;
  }
}

/** An allocator that counts up from `start`, synchronously. */
export class CountingAllocator implements TimestampAllocator {
  #next: bigint;
  constructor(start = 1n) {
    this.#next = start;
  }
  allocateNow(): bigint {
    return this.#next++;
  }
  async allocate(): Promise<bigint> {
    return this.#next++;
  }
  sync(): void {}
  async barrierUntil(barrier: bigint): Promise<void> {
    if (this.#next < barrier) this.#next = barrier;
  }
}

/** An immutable message with the given timetick (and optional type / vchannel / txn / properties). */
export function testMessage(
  id: number,
  timeTick: bigint,
  properties: Record<string, string> = {},
  payload: Uint8Array = new Uint8Array(0),
): ImmutableMessage {
  return new MutableMessage(payload, {
    [SystemProperty.messageType]: '4999',
    ...properties,
    [SystemProperty.timeTick]: timeTick.toString(36),
  }).intoImmutable(new TestId(id));
}
