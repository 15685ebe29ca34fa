import type { Readable, Writable } from 'node:stream';

/**
 * Reads `stream` one message per `next()`: `read()` is called only when the consumer asks, so the stream's
 * buffer fills when the consumer is slow and grpc-js stops reading the HTTP/2 stream (flow control).
 * Messages that arrived before a failure are delivered before it is thrown. `failure()` is asked whenever
 * nothing is buffered: a value ends the iteration with that error. When `stop` aborts, the iteration ends
 * with `failure()` at once, buffered messages or not (the call was cancelled here).
 */
export async function* pull<T>(
  stream: Readable,
  failure: () => Error | undefined,
  stop?: AbortSignal,
): AsyncGenerator<T, void, undefined> {
  let ended = false;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const resume = wake;
    wake = undefined;
    resume?.();
  };
  const onEnd = (): void => {
    ended = true;
    notify();
  };
  stream.on('readable', notify);
  stream.on('end', onEnd);
  stream.on('close', notify);
  stream.on('error', notify);
  stop?.addEventListener('abort', notify);
  try {
    for (;;) {
      if (stop?.aborted) {
        const error = failure();
        if (error) throw error;
        return;
      }
      const message: T | null = stream.read();
      if (message !== null) {
        yield message;
        continue;
      }
      const error = failure();
      if (error) throw error;
      if (ended) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    stream.off('readable', notify);
    stream.off('end', onEnd);
    stream.off('close', notify);
    stream.off('error', notify);
    stop?.removeEventListener('abort', notify);
  }
}

/**
 * The one wait for 'drain' per stream that every blocked send shares: a node answering a thousand appends
 * at once would otherwise hang a thousand listeners on the stream and on the signal (and Node warns about
 * a leak past ten).
 */
const drains = new WeakMap<Writable, Promise<void>>();

/**
 * Writes one message and resolves when the caller may write the next: at once while the stream's buffer
 * is below its high-water mark, after 'drain' otherwise. Rejects with `failure()` when `stop` aborts first.
 */
export function push(
  stream: Writable,
  message: unknown,
  stop: AbortSignal,
  failure: () => Error,
): Promise<void> {
  if (stop.aborted) return Promise.reject(failure());
  if (stream.write(message)) return Promise.resolve();
  let drained = drains.get(stream);
  if (drained === undefined) {
    drained = new Promise<void>((resolve, reject) => {
      const onDrain = (): void => {
        stop.removeEventListener('abort', onStop);
        resolve();
      };
      const onStop = (): void => {
        stream.off('drain', onDrain);
        reject(failure());
      };
      stream.once('drain', onDrain);
      stop.addEventListener('abort', onStop, { once: true });
    }).finally(() => drains.delete(stream));
    drains.set(stream, drained);
  }
  return drained;
}
