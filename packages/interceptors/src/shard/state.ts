import {
  type ImmutableMessage,
  type ImmutableTxnMessage,
  SystemMessageType,
  WalError,
} from '@walstream/core';
import {
  decodeCollection,
  decodeCreateCollection,
  decodeCreateSegment,
  decodeFlush,
  decodeInsert,
  decodeManualFlush,
  decodePartition,
} from './headers.js';
import { ShardMessageType } from './message-types.js';

export type VChannelState = 'normal' | 'dropped';

/** A vchannel as the shard knows it: the collection it carries and that collection's partitions. */
export interface VChannelMeta {
  readonly name: string;
  readonly collectionId: bigint;
  readonly state: VChannelState;
  readonly partitions: ReadonlySet<bigint>;
  /** No segment may be assigned at or below this timetick (set by CreateCollection and ManualFlush). */
  readonly fenceTimeTick: bigint;
}

/** A growing segment: where the rows of inserts go until it is sealed and flushed. */
export interface SegmentMeta {
  readonly segmentId: bigint;
  readonly vchannel: string;
  readonly collectionId: bigint;
  readonly partitionId: bigint;
  readonly createTimeTick: bigint;
  readonly maxRows: number;
  readonly maxBytes: number;
  readonly rows: number;
  readonly bytes: number;
}

/** Bytes an insert counts against its segment. */
export function insertBytes(binarySize: number | undefined, payload: Uint8Array): number {
  return binarySize ?? payload.byteLength;
}

/**
 * What the shard knows, derived from the log alone: vchannels and growing segments. Recovery applies
 * committed messages to it in timetick order (a txn at its commit) and persists it beside the checkpoint.
 * Applying never throws: an inconsistent message (unknown segment, malformed header) is counted and skipped,
 * as the original only logs them.
 */
export class ShardState {
  readonly vchannels = new Map<string, VChannelMeta>();
  readonly segments = new Map<bigint, SegmentMeta>();
  /** Messages that could not be applied (kept for diagnostics). */
  inconsistencies = 0;

  apply(message: ImmutableMessage): void {
    if (message.messageType === SystemMessageType.Txn) {
      for (const body of (message as ImmutableTxnMessage).bodies ?? []) this.apply(body);
      return;
    }
    try {
      this.#apply(message);
    } catch {
      this.inconsistencies++;
    }
  }

  #apply(message: ImmutableMessage): void {
    const type = message.messageType;
    // Most messages are not the shard's: leave before decoding anything.
    if (!SHARD_TYPES.has(type)) return;
    const vchannel = message.vchannel;
    const timeTick = message.timeTick;
    switch (type) {
      case ShardMessageType.CreateCollection: {
        if (!vchannel || this.vchannels.has(vchannel)) return;
        const header = decodeCreateCollection(message);
        this.vchannels.set(vchannel, {
          name: vchannel,
          collectionId: header.collectionId,
          state: 'normal',
          partitions: new Set(header.partitionIds),
          fenceTimeTick: timeTick,
        });
        return;
      }
      case ShardMessageType.DropCollection: {
        const meta = this.#normal(vchannel);
        decodeCollection(message, 'DropCollection');
        this.vchannels.set(meta.name, { ...meta, state: 'dropped', partitions: new Set() });
        this.#removeSegments((segment) => segment.vchannel === meta.name);
        return;
      }
      case ShardMessageType.CreatePartition: {
        const meta = this.#normal(vchannel);
        const { partitionId } = decodePartition(message, 'CreatePartition');
        this.vchannels.set(meta.name, { ...meta, partitions: new Set([...meta.partitions, partitionId]) });
        return;
      }
      case ShardMessageType.DropPartition: {
        const meta = this.#normal(vchannel);
        const { partitionId } = decodePartition(message, 'DropPartition');
        const partitions = new Set(meta.partitions);
        partitions.delete(partitionId);
        this.vchannels.set(meta.name, { ...meta, partitions });
        this.#removeSegments(
          (segment) => segment.vchannel === meta.name && segment.partitionId === partitionId,
        );
        return;
      }
      case ShardMessageType.CreateSegment: {
        const meta = this.#normal(vchannel);
        const header = decodeCreateSegment(message);
        if (!meta.partitions.has(header.partitionId) || this.segments.has(header.segmentId))
          throw inconsistent();
        this.segments.set(header.segmentId, {
          segmentId: header.segmentId,
          vchannel: meta.name,
          collectionId: header.collectionId,
          partitionId: header.partitionId,
          createTimeTick: timeTick,
          maxRows: header.maxRows,
          maxBytes: header.maxBytes,
          rows: 0,
          bytes: 0,
        });
        return;
      }
      case ShardMessageType.Insert: {
        const header = decodeInsert(message);
        if (header.segmentId === undefined) throw inconsistent();
        const segment = this.segments.get(header.segmentId);
        if (!segment) throw inconsistent();
        this.segments.set(segment.segmentId, {
          ...segment,
          rows: segment.rows + header.rows,
          bytes: segment.bytes + insertBytes(header.binarySize, message.payload),
        });
        return;
      }
      case ShardMessageType.Flush: {
        const { segmentId } = decodeFlush(message);
        if (!this.segments.delete(segmentId)) throw inconsistent();
        return;
      }
      case ShardMessageType.ManualFlush: {
        const meta = this.#normal(vchannel);
        const header = decodeManualFlush(message);
        for (const segmentId of header.segmentIds ?? []) this.segments.delete(segmentId);
        if (timeTick > meta.fenceTimeTick)
          this.vchannels.set(meta.name, { ...meta, fenceTimeTick: timeTick });
        return;
      }
      default:
        return;
    }
  }

  #normal(vchannel: string | undefined): VChannelMeta {
    const meta = vchannel === undefined ? undefined : this.vchannels.get(vchannel);
    if (!meta || meta.state !== 'normal') throw inconsistent();
    return meta;
  }

  #removeSegments(match: (segment: SegmentMeta) => boolean): void {
    for (const [segmentId, segment] of this.segments) if (match(segment)) this.segments.delete(segmentId);
  }

  toJSON(): ShardStateJson {
    return {
      v: 1,
      vchannels: [...this.vchannels.values()]
        .sort((a, b) => a.name.localeCompare(b.name))
        .map((meta) => ({
          name: meta.name,
          collectionId: meta.collectionId.toString(),
          state: meta.state,
          partitions: [...meta.partitions].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map(String),
          fence: meta.fenceTimeTick.toString(),
        })),
      segments: [...this.segments.values()]
        .sort((a, b) => (a.segmentId < b.segmentId ? -1 : 1))
        .map((segment) => ({
          id: segment.segmentId.toString(),
          vchannel: segment.vchannel,
          collectionId: segment.collectionId.toString(),
          partitionId: segment.partitionId.toString(),
          createTt: segment.createTimeTick.toString(),
          maxRows: segment.maxRows,
          maxBytes: segment.maxBytes,
          rows: segment.rows,
          bytes: segment.bytes,
        })),
    };
  }

  static fromJSON(json: ShardStateJson): ShardState {
    if (json.v !== 1) throw new WalError('UNRECOVERABLE', `unknown shard state version ${String(json.v)}`);
    const state = new ShardState();
    for (const meta of json.vchannels) {
      state.vchannels.set(meta.name, {
        name: meta.name,
        collectionId: BigInt(meta.collectionId),
        state: meta.state,
        partitions: new Set(meta.partitions.map(BigInt)),
        fenceTimeTick: BigInt(meta.fence),
      });
    }
    for (const segment of json.segments) {
      state.segments.set(BigInt(segment.id), {
        segmentId: BigInt(segment.id),
        vchannel: segment.vchannel,
        collectionId: BigInt(segment.collectionId),
        partitionId: BigInt(segment.partitionId),
        createTimeTick: BigInt(segment.createTt),
        maxRows: segment.maxRows,
        maxBytes: segment.maxBytes,
        rows: segment.rows,
        bytes: segment.bytes,
      });
    }
    return state;
  }
}

/** The persisted form of {@link ShardState}: plain JSON, ids and timeticks as decimal strings. */
export interface ShardStateJson {
  readonly v: 1;
  readonly vchannels: readonly {
    readonly name: string;
    readonly collectionId: string;
    readonly state: VChannelState;
    readonly partitions: readonly string[];
    readonly fence: string;
  }[];
  readonly segments: readonly {
    readonly id: string;
    readonly vchannel: string;
    readonly collectionId: string;
    readonly partitionId: string;
    readonly createTt: string;
    readonly maxRows: number;
    readonly maxBytes: number;
    readonly rows: number;
    readonly bytes: number;
  }[];
}

const SHARD_TYPES: ReadonlySet<number> = new Set(Object.values(ShardMessageType));

function inconsistent(): Error {
  return new Error('inconsistent');
}
