/**
 * @walstream/client — what an application imports to write and read a walstream service: an assignment
 * watcher, a resumable producer per pchannel and a resumable consumer per vchannel, over gRPC.
 */

// What the coordinator's assignment stream says, as the client holds it.
export type { Assignment, AssignmentVersion, ChannelOwner } from './assignment/watcher.js';
// The client: append and read by vchannel, wherever the coordinator put its pchannel.
export { type AppendOptions, type Client, type ClientOptions, createClient } from './client.js';
export type { ReadOptions } from './consumer/consumer.js';
