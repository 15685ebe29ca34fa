import type { PChannelInfo } from '../channel/channel.js';
import type { ImmutableMessage, MutableMessage } from '../message/message.js';
import type { MessageID } from '../message-id/message-id.js';
import type { Observability } from '../observability/observability.js';
import type { DeliverPolicy } from './deliver-policy.js';

/**
 * The adapter SPI ("walimpls"): what a log store must provide to carry walstream.
 *
 *   WalImplsBuilder (static, named)  →  build()  →  WalImplsOpener (owns backend clients)
 *     →  open({channel})  →  WalImpls (one per pchannel and term; one writer)
 *       →  read({name, deliverPolicy, readAheadBufferSize})  →  RawScanner (one reader)
 *
 * Every failure is a `WalError` with a stable code, and a failed write is truthful about what it left: a
 * rejection coded ABORTED, CLOSED, READ_ONLY, INVALID_ARGUMENT, INVALID_MESSAGE_ID, CAPACITY_EXCEEDED or
 * CHANNEL_FENCED means nothing was written (for `truncate`: nothing was dropped). A passing fault is marked
 * `retriable` and says in `details.written` what it left when the adapter knows (`false`: nothing; `true`:
 * written, only the acknowledgement was lost). An adapter that lost exclusive write access for good (a
 * higher term opened elsewhere) rejects appends with CHANNEL_FENCED.
 *
 * The MessageIDs of one pchannel are totally ordered: `compare` is antisymmetric and transitive over the
 * adapter's whole range of ids (not only neighbours), ids of two appends are never equal, and
 * `unmarshalMessageId(name, id.marshal())` gives an id that compares equal to `id` and keeps its order.
 */
export interface WalImplsBuilder {
  /** The adapter's name; also the `walName` of every MessageID it makes. */
  readonly name: string;
  readonly capabilities: WalImplsCapabilities;
  /**
   * Connects backend clients. Throws UNAVAILABLE or TIMEOUT when the backend cannot be reached. May be
   * called more than once; openers of one builder see the same logs.
   */
  build(options?: BuildOptions): Promise<WalImplsOpener>;
}

/** What an adapter can do, so suites and callers know what to expect (Level's `supports` idea). */
export interface WalImplsCapabilities {
  /** `physical`: truncate frees the entries up to the id. `noop`: truncate is accepted and keeps data. */
  readonly truncate: 'physical' | 'noop';
  /**
   * `true`: opening a pchannel read-write at a higher term makes writers of lower terms fail with
   * CHANNEL_FENCED, and their rejected appends do not land. `false`: no such promise; a lower-term writer's
   * append may still resolve, and then it landed (it never resolves without being written).
   */
  readonly fencing: boolean;
}

export interface BuildOptions {
  readonly signal?: AbortSignal;
  /** The stack's logger, meter and background-error reporting; adapters log and count through it. */
  readonly observability?: Observability;
}

export interface WalImplsOpener extends AsyncDisposable {
  /** Opens one pchannel. Rejects INVALID_ARGUMENT for a bad channel, CLOSED after `close()`. */
  open(options: OpenOptions): Promise<WalImpls>;
  /** Closes every WAL it opened and the backend clients. Idempotent. */
  close(): Promise<void>;
}

export interface OpenOptions {
  readonly channel: PChannelInfo;
  readonly signal?: AbortSignal;
}

/** A pchannel opened read-only: reads work, `append` and `truncate` reject with READ_ONLY. */
export interface ReadOnlyWalImpls extends AsyncDisposable {
  readonly walName: string;
  readonly channel: PChannelInfo;
  /**
   * Starts a reader. Its position is fixed between the call and the moment the promise resolves: `latest`
   * delivers nothing that was in the log when `read()` was called and everything appended after it
   * resolved (an append that completes while `read()` is pending may go either way). `startFrom(id)` and
   * `startAfter(id)` of an id the store no longer keeps (truncated) start at the first entry it keeps, as
   * `all` does. Rejects CLOSED after `close()`, INVALID_MESSAGE_ID for an id of another adapter,
   * INVALID_ARGUMENT for bad options, before anything starts.
   */
  read(options: ReadOptions): Promise<RawScanner>;
  /** Closes the WAL and every scanner it started. Idempotent. */
  close(): Promise<void>;
}

export interface WalImpls extends ReadOnlyWalImpls {
  /**
   * Writes one message and returns its id once it is durable. Ids of one pchannel increase in the order
   * appends complete. Rejects READ_ONLY, CLOSED, CHANNEL_FENCED, INVALID_ARGUMENT (too large, ...),
   * UNAVAILABLE for passing backend faults, and ABORTED when `signal` fired before anything was written:
   * ABORTED means the message did not land. Once it may have been written, the append waits for the
   * outcome instead (it resolves if the message landed).
   *
   * The log keeps the message as it was when `append` was called: the payload bytes and every property.
   * The caller hands over the payload: the adapter may keep that buffer (no copy), so the caller must not
   * write into it afterwards; the adapter never writes into it either. The properties are the caller's: the
   * adapter copies what it keeps, and the caller may change or append the same message again once `append`
   * settled without changing what was stored. The adapter leaves the caller's message as it was.
   */
  append(message: MutableMessage, options?: AppendOptions): Promise<MessageID>;
  /**
   * Allows the store to drop every entry before `id`. The entry at `id` stays readable, so `startFrom(id)`
   * keeps working (a checkpoint's last-confirmed id is such a position). Truncating at or before an
   * earlier truncation point is a no-op. With `capabilities.truncate: 'physical'`, `all` and readers
   * started at an earlier id start at `id` once the promise resolved; with `'noop'` every entry stays.
   */
  truncate(id: MessageID, options?: AppendOptions): Promise<void>;
}

export interface AppendOptions {
  readonly signal?: AbortSignal;
}

export interface ReadOptions {
  /** A name for the reader; some stores use it as a subscription or group name. */
  readonly name: string;
  readonly deliverPolicy: DeliverPolicy;
  /** How many fetched messages may wait for the consumer: a positive integer (INVALID_ARGUMENT otherwise); absent = the adapter's default. */
  readonly readAheadBufferSize?: number;
  /** Aborting closes the scanner. Adapters remove the listeners they add to it. */
  readonly signal?: AbortSignal;
}

/**
 * One reader of one pchannel. Iterate it with `for await`; it never ends on its own while the WAL is
 * open (a reader at the end waits for new messages). After `close()` iteration ends; after a backend
 * failure iteration throws the coded error once the buffered messages are consumed. Delivered messages
 * are read-only, payload bytes included: an adapter may hand the same buffer to every reader.
 */
export interface RawScanner extends AsyncIterable<ImmutableMessage>, AsyncDisposable {
  readonly name: string;
  /**
   * Messages fetched from the store and not yet taken by the consumer; at most the read-ahead size. The
   * scanner keeps no other queue: what it took from the store and has not delivered is this buffer plus
   * at most what one fetch holds, so a consumer that stops pulling stops the fetching.
   */
  readonly buffered: number;
  /**
   * Settles when the scanner finished: `undefined` after `close()` (its own, or its WAL's), the coded
   * error after a backend failure.
   */
  readonly done: Promise<Error | undefined>;
  /** Stops fetching, releases the backend reader and ends iteration. Idempotent. */
  close(): Promise<void>;
}
