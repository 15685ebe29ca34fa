/**
 * @walstream/node — the StreamingNode: owns WALs by (pchannel, term) and serves them over gRPC.
 */
export {};
