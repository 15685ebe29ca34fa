/**
 * @walstream/client — what an application imports to write and read a walstream service: an assignment
 * watcher, a resumable producer per pchannel and a resumable consumer per vchannel, over gRPC.
 */

// What the coordinator's assignment stream says, as the client holds it.
export type { Assignment, AssignmentVersion, ChannelOwner } from './assignment/watcher.js';
// The client: append and read by vchannel, wherever the coordinator put its pchannel.
export {
  type AppendOptions,
  type BroadcastOptions,
  type BroadcastResult,
  type Client,
  type ClientOptions,
  createClient,
  type EmbeddedClientOptions,
} from './client.js';
// Reads: `read` (for await) and `read$` (RxJS deliveries with an acknowledgement window).
export type { ReadOptions } from './consumer/consumer.js';
export type { ReadDeliveriesOptions } from './consumer/deliveries.js';
// Embedded mode: a coordinator and node(s) started in this process behind the same API.
export type { EmbeddedOptions } from './embedded.js';
// Transactions on one vchannel, over a Produce stream of their own.
export type { Txn, TxnCallOptions, TxnOptions } from './txn/txn.js';
