/**
 * @walstream/adapter-kafka — the `kafka` walimpls: one topic per pchannel (partition 0), offsets as
 * MessageIDs, DeleteRecords as truncation, and term fencing through a transactional producer.
 */

// The adapter: a `WalImplsBuilder` named `kafka` to hand to `createWal().adapter(...)`, and its options.
export { type KafkaAdapter, kafkaAdapter } from './adapter.js';
// The part of kafkajs the `kafka` option accepts (a `Kafka` instance you configured).
export type { KafkaJsKafka } from './driver/kafkajs-types.js';
// MessageIDs: the record's offset in partition 0, marshalled base-36 as Milvus does.
export { asKafkaMessageId, KAFKA_WAL_NAME, KafkaMessageId } from './message-id.js';
export type { KafkaAdapterOptions, KafkaDriverName, KafkaFencingMode } from './options.js';
// Tracing: where each transaction of a writer is (diagnostics_channel), e.g. to stop a test process there.
export { KAFKA_WRITER_CHANNEL, type KafkaWriterStage } from './writer.js';
