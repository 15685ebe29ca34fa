/**
 * The part of kafkajs 2.2 the adapter uses, typed here so the package's public types never depend on an
 * optional peer dependency. A real `Kafka` instance from kafkajs satisfies {@link KafkaJsKafka}.
 */

export type KafkaJsHeaderValue = Buffer | string | (Buffer | string)[] | undefined;

export interface KafkaJsMessage {
  readonly partition?: number;
  readonly value: Buffer | null;
  readonly headers?: Record<string, Buffer | string>;
}

export interface KafkaJsRecordMetadata {
  readonly topicName: string;
  readonly partition: number;
  readonly errorCode: number;
  readonly baseOffset?: string;
}

export interface KafkaJsSendRequest {
  readonly topic: string;
  readonly acks?: number;
  readonly timeout?: number;
  readonly messages: KafkaJsMessage[];
}

export interface KafkaJsTransaction {
  send(request: KafkaJsSendRequest): Promise<KafkaJsRecordMetadata[]>;
  commit(): Promise<void>;
  abort(): Promise<void>;
  isActive(): boolean;
}

export interface KafkaJsProducer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  send(request: KafkaJsSendRequest): Promise<KafkaJsRecordMetadata[]>;
  transaction(): Promise<KafkaJsTransaction>;
}

export interface KafkaJsRetry {
  readonly retries?: number;
  readonly initialRetryTime?: number;
  readonly maxRetryTime?: number;
  readonly restartOnFailure?: (error: Error) => Promise<boolean>;
}

export interface KafkaJsProducerConfig {
  readonly idempotent?: boolean;
  readonly transactionalId?: string;
  readonly transactionTimeout?: number;
  readonly maxInFlightRequests?: number;
  readonly allowAutoTopicCreation?: boolean;
  readonly retry?: KafkaJsRetry;
  readonly createPartitioner?: () => (args: { partitionMetadata: unknown[] }) => number;
}

export interface KafkaJsConsumedMessage {
  readonly offset: string;
  readonly value: Buffer | null;
  readonly headers?: Record<string, KafkaJsHeaderValue>;
}

export interface KafkaJsBatch {
  readonly topic: string;
  readonly partition: number;
  readonly messages: KafkaJsConsumedMessage[];
  lastOffset(): string;
}

export interface KafkaJsEachBatchPayload {
  readonly batch: KafkaJsBatch;
  resolveOffset(offset: string): void;
  heartbeat(): Promise<void>;
  isRunning(): boolean;
  isStale(): boolean;
}

export interface KafkaJsConsumerEvent {
  readonly payload: {
    readonly error?: Error;
    readonly restart?: boolean;
    /** END_BATCH_PROCESS: the last offset of the batch (markers included). */
    readonly lastOffset?: string | null;
  };
}

export interface KafkaJsConsumer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  subscribe(subscription: { topics: string[]; fromBeginning?: boolean }): Promise<void>;
  run(config: {
    autoCommit?: boolean;
    eachBatchAutoResolve?: boolean;
    eachBatch: (payload: KafkaJsEachBatchPayload) => Promise<void>;
  }): Promise<void>;
  seek(position: { topic: string; partition: number; offset: string }): void;
  on(event: string, listener: (event: KafkaJsConsumerEvent) => void): () => void;
  readonly events: {
    readonly GROUP_JOIN: string;
    readonly CRASH: string;
    readonly END_BATCH_PROCESS: string;
  };
}

export interface KafkaJsConsumerConfig {
  readonly groupId: string;
  readonly maxWaitTimeInMs?: number;
  readonly minBytes?: number;
  readonly maxBytes?: number;
  readonly maxBytesPerPartition?: number;
  readonly readUncommitted?: boolean;
  readonly allowAutoTopicCreation?: boolean;
  readonly retry?: KafkaJsRetry;
}

export interface KafkaJsTopicOffsets {
  readonly partition: number;
  readonly offset: string;
  readonly high: string;
  readonly low: string;
}

export interface KafkaJsAdmin {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  createTopics(request: {
    topics: {
      topic: string;
      numPartitions: number;
      replicationFactor: number;
      configEntries?: { name: string; value: string }[];
    }[];
    waitForLeaders?: boolean;
    timeout?: number;
  }): Promise<boolean>;
  fetchTopicMetadata(request: { topics: string[] }): Promise<{ topics: { name: string }[] }>;
  fetchTopicOffsets(topic: string): Promise<KafkaJsTopicOffsets[]>;
  deleteTopicRecords(request: {
    topic: string;
    partitions: { partition: number; offset: string }[];
  }): Promise<void>;
  describeConfigs(request: {
    resources: { type: number; name: string; configNames?: string[] }[];
    includeSynonyms: boolean;
  }): Promise<{ resources: { configEntries: { configName: string; configValue: string | null }[] }[] }>;
  deleteGroups(groupIds: string[]): Promise<unknown>;
}

export interface KafkaJsKafka {
  producer(config?: KafkaJsProducerConfig): KafkaJsProducer;
  consumer(config: KafkaJsConsumerConfig): KafkaJsConsumer;
  admin(config?: { retry?: KafkaJsRetry }): KafkaJsAdmin;
}

export interface KafkaJsLogEntry {
  readonly namespace: string;
  readonly level: number;
  readonly label: string;
  readonly log: { readonly message: string } & Record<string, unknown>;
}

export interface KafkaJsConfig {
  readonly clientId: string;
  readonly brokers: string[];
  readonly connectionTimeout?: number;
  readonly requestTimeout?: number;
  readonly retry?: KafkaJsRetry;
  readonly logLevel?: number;
  readonly logCreator?: (level: number) => (entry: KafkaJsLogEntry) => void;
}

/** The module shape of `import('kafkajs')`. */
export interface KafkaJsModule {
  readonly Kafka: new (config: KafkaJsConfig) => KafkaJsKafka;
  readonly logLevel: {
    readonly NOTHING: number;
    readonly ERROR: number;
    readonly WARN: number;
    readonly INFO: number;
    readonly DEBUG: number;
  };
}
