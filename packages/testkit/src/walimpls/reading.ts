import type { ImmutableMessage, MutableMessage } from '@walstream/core';
import type { RawScanner, WalImpls } from '@walstream/core/spi';
import { fail } from '../runner/assert.js';
import { abortable } from '../runner/wait.js';
import type { Written } from './messages.js';
import type { WalImplsTestContext } from './types.js';

/** The next delivery of `iterator`, or a failure naming `what` when the case runs out of time. */
export async function nextMessage(
  iterator: AsyncIterator<ImmutableMessage>,
  signal: AbortSignal,
  what: string,
): Promise<ImmutableMessage> {
  const result = await abortable(iterator.next(), signal, what);
  if (result.done) fail(`${what}: the scanner ended while the WAL was open`);
  return result.value;
}

export interface ReadUntilOptions {
  /** Fails once more than this many messages arrived without `stop` matching (a duplicating reader). */
  readonly max: number;
  readonly what: string;
}

/**
 * Reads until a message matches `stop` (included in the result). The scanner stays open, so a caller may
 * go on reading from it; closing is the caller's (or the case teardown's) business.
 */
export async function readUntil(
  scanner: RawScanner,
  stop: (message: ImmutableMessage) => boolean,
  signal: AbortSignal,
  options: ReadUntilOptions,
): Promise<ImmutableMessage[]> {
  const iterator = scanner[Symbol.asyncIterator]();
  const delivered: ImmutableMessage[] = [];
  for (;;) {
    const message = await nextMessage(
      iterator,
      signal,
      `${options.what} (after ${delivered.length} messages)`,
    );
    delivered.push(message);
    if (stop(message)) return delivered;
    if (delivered.length > options.max) {
      fail(`${options.what}: ${delivered.length} messages delivered and the end marker not among them`);
    }
  }
}

/** Reads exactly `count` messages. */
export async function readCount(
  scanner: RawScanner,
  count: number,
  signal: AbortSignal,
  what: string,
): Promise<ImmutableMessage[]> {
  const iterator = scanner[Symbol.asyncIterator]();
  const delivered: ImmutableMessage[] = [];
  while (delivered.length < count) {
    delivered.push(await nextMessage(iterator, signal, `${what} (${delivered.length} of ${count} read)`));
  }
  return delivered;
}

/**
 * Appends `messages` with at most `inFlight` appends outstanding at once, as a busy producer does.
 * Returns them with their ids, in the order of `messages`.
 */
export async function appendAll(
  t: WalImplsTestContext,
  wal: WalImpls,
  messages: readonly MutableMessage[],
  inFlight = 1,
): Promise<Written[]> {
  const written: Written[] = new Array(messages.length);
  let next = 0;
  const worker = async () => {
    while (next < messages.length) {
      const index = next++;
      const message = messages[index]!;
      written[index] = { id: await t.append(wal, message), message };
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, messages.length) }, worker));
  return written;
}
