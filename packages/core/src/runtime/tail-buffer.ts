import type { ImmutableMessage } from '../message/message.js';

/**
 * Recent persisted messages in timetick order, kept in memory by the WAL that wrote them, so tailing
 * readers need not go back to the store. Implemented by the write-ahead buffer of `@walstream/interceptors`.
 */
export interface TailBuffer {
  /**
   * A reader of everything with a timetick above `timeTick`, or undefined when that point was already
   * evicted (the reader stays on the store).
   */
  readFromExclusiveTimeTick(timeTick: bigint): TailReader | undefined;
}

export interface TailReader {
  /**
   * The next message; undefined when the reader must go back to the store: it fell behind eviction, or
   * the buffer cannot vouch for what comes next (an append of unknown outcome that the store may hold).
   */
  next(signal?: AbortSignal): Promise<ImmutableMessage | undefined>;
  close(): void;
}
