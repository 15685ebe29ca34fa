export * from './channel/channel.js';
export * from './contracts/index.js';
export * from './errors/index.js';
export * from './message/index.js';
export * from './message-id/message-id.js';
export * from './runtime/index.js';
export * from './timetick/index.js';
export { BoundedBuffer } from './util/bounded-buffer.js';
export * from './walimpls/index.js';
