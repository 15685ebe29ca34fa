import { registerKafkaMessageIdCodec } from './message-id.js';

export { type KafkaAdapter, kafkaAdapter } from './adapter.js';
export type { KafkaJsKafka } from './driver/kafkajs-types.js';
export {
  asKafkaMessageId,
  KAFKA_WAL_NAME,
  KafkaMessageId,
  registerKafkaMessageIdCodec,
} from './message-id.js';
export type { KafkaAdapterOptions, KafkaDriverName, KafkaFencingMode } from './options.js';
export { OPEN_HEADER, STAMP_HEADER } from './records.js';
export type { KafkaAdapterLogger } from './util.js';
export type { KafkaWal } from './wal.js';

// Lets `unmarshalMessageId('kafka', …)` work as soon as the package is imported.
registerKafkaMessageIdCodec();
