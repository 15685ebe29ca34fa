/**
 * What the adapter needs from a Kafka client, and nothing more. Each driver (kafkajs, @platformatic/kafka)
 * implements it over its library; the WAL logic above it (batching, fencing, scanning) is shared.
 */

/** A header as it is on the wire: a string key and raw bytes. */
export type RecordHeader = readonly [key: string, value: Buffer];

export interface OutRecord {
  readonly value: Buffer;
  readonly headers: readonly RecordHeader[];
}

/** A committed data record (control records and aborted transactions are already filtered out). */
export interface InRecord {
  readonly offset: bigint;
  readonly value: Buffer;
  readonly headers: readonly RecordHeader[];
}

export interface TopicSpec {
  readonly replicationFactor: number;
  /** Topic-level configs to set at creation (`min.insync.replicas`, `retention.ms`, ...). */
  readonly configs: Readonly<Record<string, string>>;
}

export interface LogBounds {
  /** The log start offset: the first offset a fetch may ask for (moves with DeleteRecords). */
  readonly start: bigint;
  /** The last stable offset: the offset the next committed record will get, at the earliest. */
  readonly end: bigint;
}

/** How the WAL logic reacts to a driver failure. */
export type FailureKind =
  /** A newer producer with the same transactional id bumped the epoch. */
  | 'fenced'
  /** The record (batch) is larger than the broker or topic allows. */
  | 'tooLarge'
  /** The fetch position is below the log start (truncated) or above the end. */
  | 'offsetOutOfRange'
  /** Connection refused or lost, broker not available, request timed out: may pass. */
  | 'unavailable'
  /** The topic already exists (createTopics). */
  | 'topicExists'
  | 'other';

export interface DriverWriter {
  /**
   * Connects and, for a transactional writer, runs InitProducerId: from then on every older producer of
   * the same transactional id is fenced.
   */
  init(): Promise<void>;
  /**
   * Writes each batch to partition 0 in one produce request (one record batch, so its offsets are
   * contiguous) with acks=all, in order. Transactional: the produce requests go out one after the other
   * inside one transaction, which `write` then commits (group commit); the batches land all or none.
   * Idempotent: one produce request per batch. Resolves the first offset of each batch. `onStage` is told
   * when every produce request was answered (`sent`) and when the commit starts (`committing`).
   */
  write(batches: readonly (readonly OutRecord[])[], onStage?: (stage: WriteStage) => void): Promise<bigint[]>;
  close(): Promise<void>;
}

/** Where a transactional write is: every produce request answered, or the EndTxn (commit) under way. */
export type WriteStage = 'sent' | 'committing';

export interface WriterSpec {
  readonly topic: string;
  /** Set: a transactional producer (fencing). Unset: an idempotent producer. */
  readonly transactionalId?: string;
}

/**
 * Receives fetched records in offset order; resolves false to stop. Its promise is the backpressure: the
 * driver does not fetch again until it settles.
 */
export type RecordsHandler = (records: readonly InRecord[]) => Promise<boolean>;

export interface ConsumeHandlers {
  readonly onRecords: RecordsHandler;
  /**
   * Called with the next fetch position after each fetched batch, including batches that held only
   * transaction markers or aborted records (which never reach `onRecords`). Returns false to stop.
   */
  readonly onProgress?: (next: bigint) => boolean;
  /**
   * Called when the driver rides out a failure by itself (it fetches again): for reporting only. A
   * failure it cannot ride out is thrown by `consume` instead.
   */
  readonly onRetry?: (error: unknown) => void;
}

export interface KafkaDriver {
  readonly kind: 'kafkajs' | 'platformatic';
  /** Bounded check that a broker answers (metadata request). */
  ping(): Promise<void>;
  ensureTopic(topic: string, spec: TopicSpec): Promise<void>;
  /** The topic's `max.message.bytes`, or undefined when the broker does not say. */
  maxMessageBytes(topic: string): Promise<number | undefined>;
  bounds(topic: string): Promise<LogBounds>;
  /**
   * The last stable offset alone: what a transactional writer polls until its commit markers are
   * written. One ListOffsets where the client allows (`bounds` needs two).
   */
  lastStable(topic: string): Promise<bigint>;
  /** DeleteRecords: moves the log start to `before` (records below it become unreadable). */
  deleteRecords(topic: string, before: bigint): Promise<void>;
  writer(spec: WriterSpec): DriverWriter;
  /**
   * Reads committed records from `from` on (read_committed, no offset commits) until `signal` aborts,
   * `onRecords` resolves false, or a failure that the driver cannot ride out (thrown).
   */
  consume(
    topic: string,
    name: string,
    from: bigint,
    handlers: ConsumeHandlers,
    signal: AbortSignal,
  ): Promise<void>;
  classify(error: unknown): FailureKind;
  close(): Promise<void>;
}
