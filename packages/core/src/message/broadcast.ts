import { WalError } from '../errors/wal-error.js';
import { fromBase64, ProtoWriter, readProtoFields, toBase64 } from '../util/proto.js';

/** Resource domains of the Milvus broadcaster, by their wire numbers. */
export const ResourceDomain = {
  Unknown: 0,
  ImportJobId: 1,
  CollectionName: 2,
  DatabaseName: 3,
  Privilege: 4,
  Cluster: 127,
} as const;
export type ResourceDomain = (typeof ResourceDomain)[keyof typeof ResourceDomain];

/** A lock a broadcast takes on the coordinator: shared keys are read locks, the others write locks. */
export interface ResourceKey {
  readonly domain: ResourceDomain;
  readonly key: string;
  readonly shared: boolean;
}

export interface BroadcastHeader {
  /** Assigned by the coordinator; 0 until then. */
  readonly broadcastId: bigint;
  readonly vchannels: readonly string[];
  readonly resourceKeys: readonly ResourceKey[];
}

export function exclusiveResourceKey(domain: ResourceDomain, key: string): ResourceKey {
  return { domain, key, shared: false };
}

export function sharedResourceKey(domain: ResourceDomain, key: string): ResourceKey {
  return { domain, key, shared: true };
}

/** `_bh` = base64 proto `{uint64 broadcast_id = 1; repeated string vchannels = 2; repeated ResourceKey resource_keys = 3}`. */
export function encodeBroadcastHeader(header: BroadcastHeader): string {
  const writer = new ProtoWriter().varint(1, header.broadcastId);
  for (const vchannel of header.vchannels) writer.string(2, vchannel);
  for (const key of header.resourceKeys) {
    const inner = new ProtoWriter().varint(1, key.domain).string(2, key.key);
    if (key.shared) inner.varint(3, true);
    writer.bytes(3, inner.finish());
  }
  return toBase64(writer.finish());
}

export function decodeBroadcastHeader(text: string): BroadcastHeader {
  const decoder = new TextDecoder();
  let broadcastId = 0n;
  const vchannels: string[] = [];
  const resourceKeys: ResourceKey[] = [];
  for (const field of readProtoFields(fromBase64(text))) {
    if (field.field === 1 && field.wire === 0) broadcastId = field.value;
    else if (field.field === 2 && field.wire === 2) vchannels.push(decoder.decode(field.value));
    else if (field.field === 3 && field.wire === 2) {
      let domain = 0;
      let key = '';
      let shared = false;
      for (const inner of readProtoFields(field.value)) {
        if (inner.field === 1 && inner.wire === 0) domain = Number(inner.value);
        else if (inner.field === 2 && inner.wire === 2) key = decoder.decode(inner.value);
        else if (inner.field === 3 && inner.wire === 0) shared = inner.value !== 0n;
      }
      resourceKeys.push({ domain: domain as ResourceDomain, key, shared });
    }
  }
  if (vchannels.length === 0) throw new WalError('INVALID_ARGUMENT', 'broadcast header names no vchannel');
  return { broadcastId, vchannels, resourceKeys };
}
