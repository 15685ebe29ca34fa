import { type MutableMessage, newMessage } from '@walstream/core';
import { SystemProperty } from '@walstream/core/spi';
import {
  encodeHeaderBytes,
  encodeHeaderProperty,
  idText,
  optionalCount,
  optionalId,
  optionalIds,
  readHeader,
  requiredId,
} from '../header-json.js';
import { ShardMessageType, shardMessageTypes } from './message-types.js';

/** The partition an Insert without `partitionId` goes to, and the one a collection gets when it names none. */
export const DEFAULT_PARTITION_ID = 0n;

type Readable = { readonly properties: Readonly<Record<string, string>> };

export interface CreateCollectionHeader {
  readonly collectionId: bigint;
  /** Default `[DEFAULT_PARTITION_ID]`. */
  readonly partitionIds?: readonly bigint[];
}
export interface CollectionHeader {
  readonly collectionId: bigint;
}
export interface PartitionHeader {
  readonly collectionId: bigint;
  readonly partitionId: bigint;
}
export interface InsertHeader {
  /** Checked against the vchannel's collection when given. */
  readonly collectionId?: bigint;
  readonly partitionId?: bigint;
  readonly rows: number;
  /** Bytes counted against the segment; default the message's estimated size. */
  readonly binarySize?: number;
  /** Filled by the WAL. */
  readonly segmentId?: bigint;
}
export interface DeleteHeader {
  readonly collectionId?: bigint;
  readonly rows?: number;
}
export interface ManualFlushHeader {
  readonly collectionId?: bigint;
  /** Filled by the WAL: the ManualFlush's timetick. */
  readonly flushTs?: bigint;
  /** Filled by the WAL: the growing segments it sealed. */
  readonly segmentIds?: readonly bigint[];
}
export interface CreateSegmentHeader {
  readonly collectionId: bigint;
  readonly partitionId: bigint;
  readonly segmentId: bigint;
  readonly maxRows: number;
  readonly maxBytes: number;
}
export interface FlushHeader {
  readonly collectionId: bigint;
  readonly partitionId: bigint;
  readonly segmentId: bigint;
}

export function encodeCreateCollection(h: CreateCollectionHeader): Record<string, unknown> {
  return {
    collectionId: idText(h.collectionId),
    partitionIds: (h.partitionIds ?? [DEFAULT_PARTITION_ID]).map(idText),
  };
}
export function decodeCreateCollection(m: Readable): CreateCollectionHeader {
  const h = readHeader(m, 'CreateCollection');
  const partitionIds = optionalIds(h, 'partitionIds', 'CreateCollection');
  return {
    collectionId: requiredId(h, 'collectionId', 'CreateCollection'),
    partitionIds: partitionIds && partitionIds.length > 0 ? partitionIds : [DEFAULT_PARTITION_ID],
  };
}
export function decodeCollection(m: Readable, what: string): CollectionHeader {
  return { collectionId: requiredId(readHeader(m, what), 'collectionId', what) };
}
export function decodePartition(m: Readable, what: string): PartitionHeader {
  const h = readHeader(m, what);
  return {
    collectionId: requiredId(h, 'collectionId', what),
    partitionId: requiredId(h, 'partitionId', what),
  };
}
export function encodeInsert(h: InsertHeader): Record<string, unknown> {
  return {
    ...(h.collectionId === undefined ? {} : { collectionId: idText(h.collectionId) }),
    ...(h.partitionId === undefined ? {} : { partitionId: idText(h.partitionId) }),
    rows: h.rows,
    ...(h.binarySize === undefined ? {} : { binarySize: h.binarySize }),
    ...(h.segmentId === undefined ? {} : { segmentId: idText(h.segmentId) }),
  };
}
export function decodeInsert(m: Readable): InsertHeader {
  const h = readHeader(m, 'Insert');
  return {
    collectionId: optionalId(h, 'collectionId', 'Insert'),
    partitionId: optionalId(h, 'partitionId', 'Insert'),
    rows: optionalCount(h, 'rows', 'Insert') ?? 0,
    binarySize: optionalCount(h, 'binarySize', 'Insert'),
    segmentId: optionalId(h, 'segmentId', 'Insert'),
  };
}
export function decodeDelete(m: Readable): DeleteHeader {
  const h = readHeader(m, 'Delete');
  return { collectionId: optionalId(h, 'collectionId', 'Delete'), rows: optionalCount(h, 'rows', 'Delete') };
}
export function encodeManualFlush(h: ManualFlushHeader): Record<string, unknown> {
  return {
    ...(h.collectionId === undefined ? {} : { collectionId: idText(h.collectionId) }),
    ...(h.flushTs === undefined ? {} : { flushTs: idText(h.flushTs) }),
    ...(h.segmentIds === undefined ? {} : { segmentIds: h.segmentIds.map(idText) }),
  };
}
export function decodeManualFlush(m: Readable): ManualFlushHeader {
  const h = readHeader(m, 'ManualFlush');
  return {
    collectionId: optionalId(h, 'collectionId', 'ManualFlush'),
    flushTs: optionalId(h, 'flushTs', 'ManualFlush'),
    segmentIds: optionalIds(h, 'segmentIds', 'ManualFlush'),
  };
}
export function decodeCreateSegment(m: Readable): CreateSegmentHeader {
  const h = readHeader(m, 'CreateSegment');
  return {
    collectionId: requiredId(h, 'collectionId', 'CreateSegment'),
    partitionId: requiredId(h, 'partitionId', 'CreateSegment'),
    segmentId: requiredId(h, 'segmentId', 'CreateSegment'),
    maxRows: optionalCount(h, 'maxRows', 'CreateSegment') ?? Number.MAX_SAFE_INTEGER,
    maxBytes: optionalCount(h, 'maxBytes', 'CreateSegment') ?? Number.MAX_SAFE_INTEGER,
  };
}
export function decodeFlush(m: Readable): FlushHeader {
  const h = readHeader(m, 'Flush');
  return {
    collectionId: requiredId(h, 'collectionId', 'Flush'),
    partitionId: requiredId(h, 'partitionId', 'Flush'),
    segmentId: requiredId(h, 'segmentId', 'Flush'),
  };
}

/** Replaces the header of a message in flight (the WAL fills segment ids). */
export function overwriteHeader(message: MutableMessage, header: Record<string, unknown>): void {
  message.withProperty(SystemProperty.header, encodeHeaderProperty(header));
}

function build(
  code: number,
  vchannel: string,
  header: Record<string, unknown>,
  body?: Uint8Array,
): MutableMessage {
  shardMessageTypes();
  const builder = newMessage(code).vchannel(vchannel).header(encodeHeaderBytes(header));
  if (body) builder.body(body);
  return builder.build();
}

/**
 * A message that creates `vchannel` on the pchannel it is appended to; until then appends to the vchannel
 * fail VCHANNEL_NOT_FOUND. Creating a vchannel that exists is accepted and changes nothing (the result's
 * `extra.created` is false); creating a dropped one fails VCHANNEL_DROPPED (names are not reused).
 *
 * ```ts fragment
 * await wal.append(createVChannel('orders_1v0'));
 * ```
 */
export function createVChannel(vchannel: string): MutableMessage {
  shardMessageTypes();
  return newMessage(ShardMessageType.CreateVChannel).vchannel(vchannel).build();
}

/**
 * A message that drops `vchannel` for good: every message appended to it before lands before the drop, the
 * vchannel's open txns end, and later appends to it fail VCHANNEL_DROPPED. Dropping an unknown vchannel
 * fails VCHANNEL_NOT_FOUND, dropping it again VCHANNEL_DROPPED.
 */
export function dropVChannel(vchannel: string): MutableMessage {
  shardMessageTypes();
  return newMessage(ShardMessageType.DropVChannel).vchannel(vchannel).build();
}

/**
 * Builders of Milvus's collection, partition and data messages, for stacks that want Milvus's behaviour
 * (they register the types on first use). A CreateCollection also creates its vchannel.
 */
export const shardMessages = {
  createCollection: (vchannel: string, header: CreateCollectionHeader): MutableMessage =>
    build(ShardMessageType.CreateCollection, vchannel, encodeCreateCollection(header)),
  dropCollection: (vchannel: string, header: CollectionHeader): MutableMessage =>
    build(ShardMessageType.DropCollection, vchannel, { collectionId: idText(header.collectionId) }),
  createPartition: (vchannel: string, header: PartitionHeader): MutableMessage =>
    build(ShardMessageType.CreatePartition, vchannel, {
      collectionId: idText(header.collectionId),
      partitionId: idText(header.partitionId),
    }),
  dropPartition: (vchannel: string, header: PartitionHeader): MutableMessage =>
    build(ShardMessageType.DropPartition, vchannel, {
      collectionId: idText(header.collectionId),
      partitionId: idText(header.partitionId),
    }),
  insert: (vchannel: string, header: InsertHeader, body?: Uint8Array): MutableMessage =>
    build(ShardMessageType.Insert, vchannel, encodeInsert(header), body),
  delete: (vchannel: string, header: DeleteHeader = {}, body?: Uint8Array): MutableMessage =>
    build(
      ShardMessageType.Delete,
      vchannel,
      {
        ...(header.collectionId === undefined ? {} : { collectionId: idText(header.collectionId) }),
        ...(header.rows === undefined ? {} : { rows: header.rows }),
      },
      body,
    ),
  manualFlush: (vchannel: string, header: Pick<ManualFlushHeader, 'collectionId'> = {}): MutableMessage =>
    build(ShardMessageType.ManualFlush, vchannel, encodeManualFlush(header)),
} as const;

/** The messages the WAL writes itself (users may not append them). */
export const walShardMessages = {
  createSegment: (vchannel: string, header: CreateSegmentHeader): MutableMessage =>
    build(ShardMessageType.CreateSegment, vchannel, {
      collectionId: idText(header.collectionId),
      partitionId: idText(header.partitionId),
      segmentId: idText(header.segmentId),
      maxRows: header.maxRows,
      maxBytes: header.maxBytes,
    }),
  flush: (vchannel: string, header: FlushHeader): MutableMessage =>
    build(ShardMessageType.Flush, vchannel, {
      collectionId: idText(header.collectionId),
      partitionId: idText(header.partitionId),
      segmentId: idText(header.segmentId),
    }),
} as const;

/**
 * Decoders of the shard types' headers (`_h`), for readers of the Milvus-compatible messages (e.g. the
 * segment an Insert went to). INVALID_ARGUMENT when a header is malformed.
 */
export const shardHeaders = {
  createCollection: decodeCreateCollection,
  dropCollection: (message: Readable): CollectionHeader => decodeCollection(message, 'DropCollection'),
  createPartition: (message: Readable): PartitionHeader => decodePartition(message, 'CreatePartition'),
  dropPartition: (message: Readable): PartitionHeader => decodePartition(message, 'DropPartition'),
  insert: decodeInsert,
  delete: decodeDelete,
  manualFlush: decodeManualFlush,
  createSegment: decodeCreateSegment,
  flush: decodeFlush,
} as const;
