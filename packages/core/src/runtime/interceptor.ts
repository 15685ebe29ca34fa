import type { PChannelInfo } from '../channel/channel.js';
import type { Catalog } from '../contracts/catalog.js';
import type { ImmutableMessage, MutableMessage } from '../message/message.js';
import type { TxnContext } from '../message/txn-context.js';
import type { MessageID } from '../message-id/message-id.js';
import type { Observability } from '../observability/observability.js';
import type { TimestampAllocator } from '../timetick/allocator.js';
import type { DeliverPolicy } from '../walimpls/deliver-policy.js';
import type { RawScanner } from '../walimpls/spi.js';
import type { SharedState } from './shared-state.js';
import type { TailBuffer } from './tail-buffer.js';
import type { Wal } from './wal.js';

/** What one append carries through the interceptor chain besides the message. */
export interface AppendContext {
  readonly channel: PChannelInfo;
  readonly signal: AbortSignal | undefined;
  /** Filled by interceptors, returned to the caller in the {@link AppendResult}. */
  readonly result: {
    timeTick?: bigint;
    txn?: TxnContext;
    extra?: Record<string, unknown>;
  };
  /**
   * When set, the final append returns this id without writing: non-persisted TimeTicks pass the chain
   * for their side effects only.
   */
  skipWriteWith?: MessageID;
}

/** Calls the rest of the chain (and finally the adapter). */
export type AppendNext = (message: MutableMessage, context: AppendContext) => Promise<MessageID>;

/**
 * One layer of the append onion. `interceptors[0]` is the outermost. Work after `next` resolved must not
 * fail: the message is already durable.
 */
export interface Interceptor {
  readonly name: string;
  doAppend(message: MutableMessage, context: AppendContext, next: AppendNext): Promise<MessageID>;
  /** Appends wait until every interceptor that has `ready` resolved it. */
  ready?(): Promise<void>;
  /** Called first on close, while appends may still run (drain, stop waiting). */
  gracefulClose?(): Promise<void>;
  /** Called last on close, after the adapter WAL closed. */
  close?(): Promise<void>;
  /**
   * Declares that this interceptor writes TimeTick sync messages, so the WAL's scanners order by timetick
   * and buffer transactions (instead of delivering in append order).
   */
  readonly writesTimeTicks?: boolean;
  /** Recent messages for tailing readers (the write-ahead buffer). */
  readonly tailBuffer?: TailBuffer;
}

/** What an interceptor is built from. */
export interface InterceptorBuildParams {
  readonly channel: PChannelInfo;
  /** The WAL this interceptor belongs to; resolves once it is fully open (use it from background work). */
  readonly wal: () => Promise<Wal>;
  readonly allocator: TimestampAllocator;
  /** State shared by the interceptors of this one WAL (create with `shared.getOrCreate`). */
  readonly shared: SharedState;
  /** The stack's catalog, where checkpoints and recovery state live (a memory catalog by default). */
  readonly catalog: Catalog;
  /** Where to log, count and report background failures (bound to this pchannel). */
  readonly observability: Observability;
  /**
   * Writes straight to the adapter, past every interceptor, retrying passing faults. For what must land
   * before the chain runs: the fencing TimeTick of a new term.
   */
  readonly appendDirect: (message: MutableMessage) => Promise<ImmutableMessage>;
  /** A raw adapter reader, for recovery replay before the WAL is open. */
  readonly readRaw: (options: {
    name: string;
    deliverPolicy: DeliverPolicy;
    readAheadBufferSize?: number;
  }) => Promise<RawScanner>;
}

export interface InterceptorBuilder {
  readonly name: string;
  /**
   * Interceptors that must sit outside this one when they are in the same stack (names). The builder
   * refuses a stack that puts any of them inside, so an order that cannot work is never built.
   */
  readonly outsideOf?: readonly string[];
  build(params: InterceptorBuildParams): Interceptor | Promise<Interceptor>;
}

export interface AppendResult {
  readonly messageId: MessageID;
  readonly timeTick: bigint;
  readonly txn?: TxnContext;
  readonly extra?: Readonly<Record<string, unknown>>;
}
