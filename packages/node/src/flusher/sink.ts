import type { ImmutableMessage, MessageID, PChannelInfo } from '@walstream/core';

/** The last message of a vchannel a sink holds durably: its id and its timetick. */
export interface FlushedMessage {
  readonly messageId: MessageID;
  readonly timeTick: bigint;
}

/**
 * Where a node's flusher copies each vchannel's messages to, so that the WAL can be truncated behind
 * them: files, an object store, a database. The flusher opens the sink once per WAL term.
 */
export interface FlushSink {
  /** Names the sink in logs and errors; unique among the sinks of one flusher. */
  readonly name: string;
  /** Opens the sink for one pchannel at one term (called once per term, before anything is written). */
  open(channel: PChannelInfo): Promise<FlushSinkWriter>;
}

/**
 * One term's writer of a sink. The flusher calls `write` and `sync` one at a time, never concurrently,
 * and `close` last.
 */
export interface FlushSinkWriter {
  /**
   * Per vchannel, the last message this sink already holds durably (from earlier terms): the flusher
   * hands it only messages with a higher timetick. A vchannel it holds nothing of is absent.
   */
  readonly durable: ReadonlyMap<string, FlushedMessage>;
  /**
   * The next messages of `vchannel`, in timetick order, each above everything written to it before (a
   * committed txn is one message, an `ImmutableTxnMessage`). Resolving means taken, not yet durable.
   */
  write(vchannel: string, messages: readonly ImmutableMessage[]): Promise<void>;
  /**
   * Makes everything written so far durable, and resolves when it is: that is how a sink reports up to
   * which message it is durable. A rejection stops the sink for the rest of the term (see the docs).
   */
  sync(): Promise<void>;
  close(): Promise<void>;
}
