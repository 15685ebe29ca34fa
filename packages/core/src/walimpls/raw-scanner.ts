import { toWalError, WalError } from '../errors/wal-error.js';
import type { ImmutableMessage } from '../message/message.js';
import { BoundedBuffer } from '../util/bounded-buffer.js';
import { checkReadAheadBufferSize } from './read-options.js';
import type { RawScanner } from './spi.js';

export const DEFAULT_READ_AHEAD_BUFFER_SIZE = 128;

/** What the fetch loop of a {@link createRawScanner} scanner writes into. */
export interface ScannerSink {
  /** Hands over a message if there is room now. */
  tryPush(message: ImmutableMessage): boolean;
  /** Hands over a message once there is room; false when the scanner was closed meanwhile (stop fetching). */
  push(message: ImmutableMessage): Promise<boolean>;
}

export interface RawScannerSpec {
  readonly name: string;
  readonly readAheadBufferSize?: number;
  /**
   * The fetch loop. It runs until `signal` aborts (the scanner was closed: return quietly) or the store
   * fails (throw; the error reaches the consumer after the buffered messages, coded UNAVAILABLE if it
   * was not a WalError).
   */
  fetch(sink: ScannerSink, signal: AbortSignal): Promise<void>;
  /** Releases backend resources; runs once, after the fetch loop settled. */
  release?(): Promise<void> | void;
}

/**
 * The scanner helper for adapter authors: a bounded read-ahead buffer, close and error semantics of the
 * SPI, and resource release, around a plain async fetch loop.
 */
export function createRawScanner(spec: RawScannerSpec): RawScanner {
  const size =
    checkReadAheadBufferSize(`read ${spec.name}`, spec.readAheadBufferSize) ?? DEFAULT_READ_AHEAD_BUFFER_SIZE;
  const buffer = new BoundedBuffer<ImmutableMessage>(size);
  const controller = new AbortController();
  let closed = false;
  let settle!: (result: Error | undefined) => void;
  const done = new Promise<Error | undefined>((resolve) => {
    settle = resolve;
  });

  const loop = (async () => {
    try {
      await spec.fetch(buffer, controller.signal);
      buffer.end();
      return undefined;
    } catch (error) {
      if (closed) return undefined;
      const coded = toWalError(error, 'UNAVAILABLE', `scanner ${spec.name}`);
      buffer.fail(coded);
      return coded;
    } finally {
      try {
        await spec.release?.();
      } catch {
        // Releasing is best effort: the scanner is finished either way.
      }
    }
  })().then(settle);

  const close = async (): Promise<void> => {
    if (!closed) {
      closed = true;
      controller.abort(new WalError('CLOSED', `scanner ${spec.name} closed`));
      buffer.clear();
    }
    await loop;
  };

  return {
    name: spec.name,
    get buffered() {
      return buffer.size;
    },
    done,
    close,
    [Symbol.asyncDispose]: close,
    [Symbol.asyncIterator](): AsyncIterator<ImmutableMessage> {
      return {
        next: () => buffer.pull(),
        return: async () => {
          await close();
          return { value: undefined, done: true };
        },
      };
    },
  };
}
