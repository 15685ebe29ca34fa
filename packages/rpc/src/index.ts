/**
 * @walstream/rpc — the wire between client, coordinator and node: the protobuf schema, its generated
 * TypeScript, and the gRPC transport (errors, security, limits).
 */
export {};
