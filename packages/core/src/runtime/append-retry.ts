import { appendOutcome, hasCode, WalError } from '../errors/wal-error.js';
import type { MutableMessage } from '../message/message.js';
import type { MessageID } from '../message-id/message-id.js';
import { delay, isRetriableFailure } from '../util/backoff.js';
import type { WalImpls } from '../walimpls/spi.js';

/** Unlike the original, permanent failures (too large, capacity, read-only) are not retried forever. */
export function shouldRetryAppend(error: unknown): boolean {
  return isRetriableFailure(error) && !hasCode(error, 'CHANNEL_FENCED', 'ABORTED', 'CLOSED');
}

export const DEFAULT_APPEND_RETRY = { initialMs: 10, maxMs: 5_000 } as const;

export interface AdapterAppend {
  /** Backoff between attempts. */
  readonly retry: { readonly initialMs: number; readonly maxMs: number };
  /** Cancels the append, but only while no attempt may have been written (see {@link appendToAdapter}). */
  readonly signal?: AbortSignal;
  /** Checked before each retry: an error ends the retries (the WAL or opener is closing). */
  readonly stopped: (maybeWritten: boolean) => WalError | undefined;
}

const NO_OPTIONS = Object.freeze({});

/**
 * The one place an append meets the adapter: one attempt, then — only if it failed with a passing fault —
 * retries with backoff until the append lands, `stopped` ends it, or a permanent failure. Once an attempt
 * may have been written, the caller's signal no longer cancels: giving up would leave a message in the
 * log that its caller (and the write-ahead buffer, which only holds acknowledged appends) believes
 * failed. A retry can then write the message twice; both copies carry the same timetick and term, and
 * ordered readers deliver it once.
 */
export async function appendToAdapter(
  impls: WalImpls,
  message: MutableMessage,
  append: AdapterAppend,
): Promise<MessageID> {
  const signal = append.signal;
  try {
    return await impls.append(message, signal ? { signal } : NO_OPTIONS);
  } catch (error) {
    if (!shouldRetryAppend(error)) throw error;
    return retry(impls, message, append, appendOutcome(error) !== 'not-written');
  }
}

async function retry(
  impls: WalImpls,
  message: MutableMessage,
  append: AdapterAppend,
  maybeWritten: boolean,
): Promise<MessageID> {
  let wait = append.retry.initialMs;
  for (;;) {
    const cancel = maybeWritten ? undefined : append.signal;
    await delay(wait, cancel);
    const stop = append.stopped(maybeWritten);
    if (stop) throw stop;
    wait = Math.min(append.retry.maxMs, wait * 2);
    try {
      return await impls.append(message, cancel ? { signal: cancel } : NO_OPTIONS);
    } catch (error) {
      if (!shouldRetryAppend(error)) throw maybeWritten ? outcomeUnknown(error) : error;
      if (appendOutcome(error) !== 'not-written') maybeWritten = true;
    }
  }
}

/**
 * A permanent failure of a retry says only that this attempt was not written; an earlier attempt may be
 * in the log, so the append as a whole has an unknown outcome.
 */
function outcomeUnknown(error: unknown): unknown {
  if (!WalError.is(error) || appendOutcome(error) === 'unknown') return error;
  return new WalError(error.code, `${error.message} (an earlier attempt may have landed)`, {
    retriable: error.retriable,
    cause: error,
    details: { ...error.details, written: 'unknown' },
  });
}
