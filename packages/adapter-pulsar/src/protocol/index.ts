/** The pure TypeScript Pulsar client the adapter runs on; usable on its own for tools and tests. */
export { PulsarAdmin, parseTopic, topicPath } from './admin.js';
export { Backoff, type BackoffOptions, delay, PulsarClient, type PulsarClientOptions } from './client.js';
export {
  CommandType,
  decodeMessageId,
  encodeMessageId,
  type MessageIdData,
  PROTOCOL_VERSION,
  ProducerAccessMode,
} from './commands.js';
export {
  Connection,
  type ConnectionOptions,
  DEFAULT_CONNECTION_OPTIONS,
  parseServiceUrl,
} from './connection.js';
export { crc32c } from './crc32c.js';
export { ServerError, serverErrorName } from './errors.js';
export {
  DEFAULT_MAX_MESSAGE_SIZE,
  decodeFrameBody,
  encodeFrame,
  encodePayloadFrame,
  type Frame,
  FrameDecoder,
} from './frame.js';
export { decodeMessageMetadata, encodeBatchPayload, encodeMessageMetadata, splitEntry } from './metadata.js';
export { Producer, type ProducerOptions } from './producer.js';
export {
  compareIds,
  Reader,
  type ReaderOptions,
  type ReceivedMessage,
  type StartPosition,
} from './reader.js';
