import type { Observable } from 'rxjs';
import type { PChannelInfo } from '../channel/channel.js';
import type { ImmutableMessage, MutableMessage } from '../message/message.js';
import type { MessageID } from '../message-id/message-id.js';
import type { DeliverPolicy } from '../walimpls/deliver-policy.js';
import type { DeliverFilter } from './filters.js';
import type { AppendResult } from './interceptor.js';

/** `available` → (`fenced` | `closing` → `closed`). A fenced WAL rejects appends with CHANNEL_FENCED. */
export type WalState = 'available' | 'fenced' | 'closing' | 'closed';

/** A notification of one successful append: ids and facts only, never the payload. */
export interface AppendNotification {
  readonly messageId: MessageID;
  readonly timeTick: bigint;
  readonly vchannel: string | undefined;
  readonly messageType: number;
}

export interface WalAppendOptions {
  readonly signal?: AbortSignal;
}

/** A pchannel's write-ahead log: the adapter WAL behind the interceptor chain. */
export interface Wal extends AsyncDisposable {
  readonly walName: string;
  readonly channel: PChannelInfo;
  readonly state: WalState;
  /** Hot: the current state on subscribe, then every change; completes when closed. */
  readonly state$: Observable<WalState>;
  /** Hot: one notification per successful append; completes when closed. */
  readonly appended$: Observable<AppendNotification>;
  /**
   * Appends through the interceptor chain; durable when it resolves. Passing backend faults are retried
   * with backoff; cancellation (ABORTED) and fencing (CHANNEL_FENCED) are not.
   */
  append(message: MutableMessage, options?: WalAppendOptions): Promise<AppendResult>;
  read(options?: ScanOptions): Promise<Scanner>;
  truncate(id: MessageID): Promise<void>;
  /** Graceful: interceptors drain, in-flight appends finish, scanners close, then the adapter WAL. */
  close(): Promise<void>;
}

export interface ScanOptions {
  /** Reader name (adapters may use it as a subscription name); generated when absent. */
  readonly name?: string;
  /** Only this vchannel (plus messages for every vchannel); all vchannels when absent. */
  readonly vchannel?: string;
  readonly deliverPolicy?: DeliverPolicy;
  readonly filters?: readonly DeliverFilter[];
  /** Bound of the read-ahead buffer between the store and the consumer (default 128). */
  readonly readAheadBufferSize?: number;
  /** Aborting closes the scanner. */
  readonly signal?: AbortSignal;
}

/** A message handed to an Observable subscriber, who must `ack()` it to let more through. */
export interface Delivery {
  readonly message: ImmutableMessage;
  ack(): void;
}

export interface DeliveriesOptions {
  /** How many deliveries may be unacknowledged before the scanner stops pulling (default 64). */
  readonly window?: number;
}

export type ScannerState = 'running' | 'closed' | 'failed';

/** A reader's progress: ids and timeticks only. */
export interface ScannerProgress {
  readonly messageId: MessageID;
  readonly timeTick: bigint | undefined;
}

/**
 * A pull-first reader: an AsyncIterable over a bounded read-ahead buffer, so a slow consumer stops the
 * fetch from the store. RxJS views sit on top.
 */
export interface Scanner extends AsyncIterable<ImmutableMessage>, AsyncDisposable {
  readonly name: string;
  readonly channel: PChannelInfo;
  next(): Promise<IteratorResult<ImmutableMessage, undefined>>;
  /** Deliveries that pause while `window` of them are unacknowledged. Unsubscribing closes the scanner. */
  deliveries$(options?: DeliveriesOptions): Observable<Delivery>;
  /** Hot: the state on subscribe and every change. */
  readonly state$: Observable<ScannerState>;
  /** Hot: the id and timetick of each message handed out. */
  readonly progress$: Observable<ScannerProgress>;
  /** Settles when the scanner finished: undefined after close, the error after a failure. */
  readonly done: Promise<Error | undefined>;
  close(): Promise<void>;
}

/** Opens WALs of one adapter stack. */
export interface WalOpener extends AsyncDisposable {
  readonly walName: string;
  /** Opens the pchannel; rejects INVALID_ARGUMENT for a bad channel, CLOSED after close. */
  open(options: { channel: PChannelInfo; signal?: AbortSignal }): Promise<Wal>;
  /** Closes every WAL it opened, then the adapter's opener. */
  close(): Promise<void>;
}
