/**
 * @walstream/client — what an application imports to write and read a walstream service: an assignment
 * watcher, a resumable producer per pchannel and a resumable consumer per vchannel, over gRPC.
 */
export {};
