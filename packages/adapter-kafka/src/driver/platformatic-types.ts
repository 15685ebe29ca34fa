/**
 * The part of @platformatic/kafka 1.x the adapter uses, typed here so the package's public types never
 * depend on an optional peer dependency.
 */

export interface PltBaseOptions {
  readonly clientId: string;
  readonly bootstrapBrokers: string[];
  readonly timeout?: number;
  readonly connectTimeout?: number;
  readonly requestTimeout?: number;
  readonly retries?: number | boolean;
  readonly retryDelay?:
    | number
    | ((client: unknown, operationId: string, attempt: number, retries: number, error: unknown) => number);
  readonly autocreateTopics?: boolean;
}

export interface PltOffset {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
}

export interface PltProduceResult {
  readonly offsets?: PltOffset[];
}

export interface PltMessageToProduce {
  readonly topic: string;
  readonly partition?: number;
  readonly value?: Buffer;
  readonly headers?: Map<Buffer, Buffer>;
}

export interface PltProduceOptions {
  readonly producerId?: bigint;
  readonly producerEpoch?: number;
  readonly acks?: number;
}

export interface PltSendOptions extends PltProduceOptions {
  readonly messages: PltMessageToProduce[];
}

export interface PltTransaction {
  readonly completed: boolean;
  send(options: PltSendOptions): Promise<PltProduceResult>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

export interface PltProducer {
  initIdempotentProducer(options: PltProduceOptions): Promise<unknown>;
  beginTransaction(options?: PltProduceOptions): Promise<PltTransaction>;
  send(options: PltSendOptions): Promise<PltProduceResult>;
  close(force?: boolean): Promise<void>;
}

export interface PltProducerOptions extends PltBaseOptions {
  readonly idempotent?: boolean;
  readonly acks?: number;
  readonly transactionalId?: string;
}

export interface PltKafkaRecord {
  readonly offsetDelta: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: [Buffer | null, Buffer | null][];
}

export interface PltRecordsBatch {
  readonly firstOffset: bigint;
  readonly attributes: number;
  readonly lastOffsetDelta: number;
  readonly producerId: bigint;
  readonly records: PltKafkaRecord[];
}

export interface PltFetchPartition {
  readonly partitionIndex: number;
  readonly errorCode: number;
  readonly highWatermark: bigint;
  readonly lastStableOffset: bigint;
  readonly logStartOffset: bigint;
  readonly abortedTransactions: { readonly producerId: bigint; readonly firstOffset: bigint }[] | null;
  readonly records?: PltRecordsBatch[];
}

export interface PltFetchResponse {
  readonly responses: { readonly topicId: string; readonly partitions: PltFetchPartition[] }[];
}

export interface PltClusterMetadata {
  readonly topics: Map<string, { readonly id: string; readonly partitions: { readonly leader: number }[] }>;
}

export interface PltConsumer {
  metadata(options: { topics: string[]; forceUpdate?: boolean }): Promise<PltClusterMetadata>;
  fetch(options: {
    node: number;
    topics: {
      topicId: string;
      partitions: {
        partition: number;
        fetchOffset: bigint;
        currentLeaderEpoch: number;
        lastFetchedEpoch: number;
        partitionMaxBytes: number;
      }[];
    }[];
    maxWaitTime?: number;
    maxBytes?: number;
    minBytes?: number;
    isolationLevel?: number;
  }): Promise<PltFetchResponse>;
  listOffsets(options: {
    topics: string[];
    timestamp?: bigint;
    isolationLevel?: number;
  }): Promise<Map<string, bigint[]>>;
  close(force?: boolean): Promise<void>;
}

export interface PltConsumerOptions extends PltBaseOptions {
  readonly groupId: string;
  readonly isolationLevel?: number;
  readonly maxWaitTime?: number;
}

export interface PltAdmin {
  metadata(options: { topics: string[]; forceUpdate?: boolean }): Promise<PltClusterMetadata>;
  createTopics(options: {
    topics: string[];
    partitions?: number;
    replicas?: number;
    configs?: { name: string; value: string }[];
  }): Promise<unknown>;
  describeConfigs(options: {
    resources: { resourceType: number; resourceName: string; configurationKeys: string[] }[];
  }): Promise<{ configs: { name: string; value: string | null }[] }[]>;
  deleteRecords(options: {
    topics: { name: string; partitions: { partition: number; offset: bigint }[] }[];
  }): Promise<unknown>;
  close(): Promise<void>;
}

/** The module shape of `import('@platformatic/kafka')`. */
export interface PltModule {
  readonly Producer: new (options: PltProducerOptions) => PltProducer;
  readonly Consumer: new (options: PltConsumerOptions) => PltConsumer;
  readonly Admin: new (options: PltBaseOptions) => PltAdmin;
}
