import {
  type ImmutableMessage,
  type ImmutableTxnMessage,
  SystemMessageType,
  WalError,
} from '@walstream/core';
import { ShardMessageType } from './message-types.js';
import {
  DEFAULT_PARTITION_ID,
  decodeCollection,
  decodeCreateCollection,
  decodeCreateSegment,
  decodeFlush,
  decodeInsert,
  decodeManualFlush,
  decodePartition,
} from './messages.js';

export type VChannelState = 'normal' | 'dropped';

/** A vchannel as the shard knows it, and the Milvus collection it carries if any. */
export interface VChannelMeta {
  readonly name: string;
  readonly state: VChannelState;
  /** Set by a CreateCollection (which creates the vchannel or joins one made by createVChannel). */
  readonly collectionId: bigint | undefined;
  /** The collection's partitions; empty without a collection and once dropped. */
  readonly partitions: ReadonlySet<bigint>;
  /**
   * No message may land on the vchannel at or below this timetick: its create sets it, a CreateCollection
   * that joins it and a ManualFlush raise it.
   */
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
  /** Rows of the inserts that landed here (a txn's once it committed); changed by {@link ShardState.apply} only. */
  rows: number;
  /** Their bytes. */
  bytes: number;
}

/** Told when an applied message creates or removes a segment (the live shard manager follows along). */
export interface SegmentObserver {
  segmentCreated(segment: SegmentMeta): void;
  segmentRemoved(segment: SegmentMeta): void;
}

/** Bytes an insert counts against its segment. */
export function insertBytes(binarySize: number | undefined, payload: Uint8Array): number {
  return binarySize ?? payload.byteLength;
}

/**
 * What the shard knows, derived from the log alone: vchannels and growing segments. {@link apply} is the
 * one place where a message changes it, for every path: the live WAL applies each message once it landed
 * (a txn's inserts at its commit), recovery applies what each TimeTick made visible, and replay applies the
 * log after the checkpoint.
 *
 * Applying never throws: a message the state cannot take (unknown segment, dropped vchannel, malformed
 * header) is counted and skipped, as the original only logs them. The live WAL never writes one: the shard
 * interceptor refuses it before the write.
 */
export class ShardState {
  readonly vchannels = new Map<string, VChannelMeta>();
  readonly segments = new Map<bigint, SegmentMeta>();
  /** Messages that could not be applied (kept for diagnostics). */
  inconsistencies = 0;

  apply(message: ImmutableMessage, observer?: SegmentObserver): void {
    const type = message.messageType;
    if (type === SystemMessageType.Txn) {
      for (const body of (message as ImmutableTxnMessage).bodies ?? []) this.apply(body, observer);
      return;
    }
    // Most messages are not the shard's: leave before decoding anything.
    if (!SHARD_TYPES.has(type)) return;
    try {
      this.#apply(type, message, observer);
    } catch {
      this.inconsistencies++;
    }
  }

  /** Checks everything before changing anything, so a skipped message leaves no partial effect. */
  #apply(type: number, message: ImmutableMessage, observer: SegmentObserver | undefined): void {
    const vchannel = message.vchannel;
    const timeTick = message.timeTick;
    switch (type) {
      case ShardMessageType.CreateVChannel: {
        if (vchannel === undefined) throw inconsistent();
        const existing = this.vchannels.get(vchannel);
        if (existing?.state === 'dropped') throw inconsistent();
        // A create of a vchannel that exists changes nothing.
        if (!existing) this.#setVChannel(vchannel, undefined, new Set(), timeTick);
        return;
      }
      case ShardMessageType.CreateCollection: {
        if (vchannel === undefined) throw inconsistent();
        const header = decodeCreateCollection(message);
        const existing = this.vchannels.get(vchannel);
        if (existing?.state === 'dropped') throw inconsistent();
        if (existing?.collectionId !== undefined) {
          // The same collection again (a client retry) changes nothing; another one cannot join.
          if (existing.collectionId !== header.collectionId) throw inconsistent();
          return;
        }
        const partitions = new Set(header.partitionIds ?? [DEFAULT_PARTITION_ID]);
        const fence = existing && existing.fenceTimeTick > timeTick ? existing.fenceTimeTick : timeTick;
        this.#setVChannel(vchannel, header.collectionId, partitions, fence);
        return;
      }
      case ShardMessageType.DropVChannel:
        this.#drop(this.#normal(vchannel), observer);
        return;
      case ShardMessageType.DropCollection: {
        const meta = this.#withCollection(vchannel);
        if (decodeCollection(message, 'DropCollection').collectionId !== meta.collectionId)
          throw inconsistent();
        this.#drop(meta, observer);
        return;
      }
      case ShardMessageType.CreatePartition: {
        const meta = this.#withCollection(vchannel);
        const { partitionId } = decodePartition(message, 'CreatePartition');
        this.vchannels.set(meta.name, { ...meta, partitions: new Set([...meta.partitions, partitionId]) });
        return;
      }
      case ShardMessageType.DropPartition: {
        const meta = this.#withCollection(vchannel);
        const { partitionId } = decodePartition(message, 'DropPartition');
        const partitions = new Set(meta.partitions);
        partitions.delete(partitionId);
        this.vchannels.set(meta.name, { ...meta, partitions });
        this.#removeSegments(
          (segment) => segment.vchannel === meta.name && segment.partitionId === partitionId,
          observer,
        );
        return;
      }
      case ShardMessageType.CreateSegment: {
        const meta = this.#withCollection(vchannel);
        const header = decodeCreateSegment(message);
        if (!meta.partitions.has(header.partitionId) || this.segments.has(header.segmentId))
          throw inconsistent();
        const segment: SegmentMeta = {
          segmentId: header.segmentId,
          vchannel: meta.name,
          collectionId: header.collectionId,
          partitionId: header.partitionId,
          createTimeTick: timeTick,
          maxRows: header.maxRows,
          maxBytes: header.maxBytes,
          rows: 0,
          bytes: 0,
        };
        this.segments.set(segment.segmentId, segment);
        observer?.segmentCreated(segment);
        return;
      }
      case ShardMessageType.Insert: {
        const header = decodeInsert(message);
        const segment = header.segmentId === undefined ? undefined : this.segments.get(header.segmentId);
        if (!segment) throw inconsistent();
        segment.rows += header.rows;
        segment.bytes += insertBytes(header.binarySize, message.payload);
        return;
      }
      case ShardMessageType.Flush: {
        const segment = this.segments.get(decodeFlush(message).segmentId);
        if (!segment) throw inconsistent();
        this.segments.delete(segment.segmentId);
        observer?.segmentRemoved(segment);
        return;
      }
      case ShardMessageType.ManualFlush: {
        const meta = this.#withCollection(vchannel);
        const flushed = new Set(decodeManualFlush(message).segmentIds ?? []);
        this.#removeSegments((segment) => flushed.has(segment.segmentId), observer);
        if (timeTick > meta.fenceTimeTick)
          this.vchannels.set(meta.name, { ...meta, fenceTimeTick: timeTick });
        return;
      }
      default:
        // Delete: nothing to remember.
        return;
    }
  }

  #setVChannel(
    name: string,
    collectionId: bigint | undefined,
    partitions: ReadonlySet<bigint>,
    fenceTimeTick: bigint,
  ): void {
    this.vchannels.set(name, { name, state: 'normal', collectionId, partitions, fenceTimeTick });
  }

  #drop(meta: VChannelMeta, observer: SegmentObserver | undefined): void {
    this.vchannels.set(meta.name, { ...meta, state: 'dropped', partitions: new Set() });
    this.#removeSegments((segment) => segment.vchannel === meta.name, observer);
  }

  #normal(vchannel: string | undefined): VChannelMeta {
    const meta = vchannel === undefined ? undefined : this.vchannels.get(vchannel);
    if (!meta || meta.state !== 'normal') throw inconsistent();
    return meta;
  }

  #withCollection(vchannel: string | undefined): VChannelMeta {
    const meta = this.#normal(vchannel);
    if (meta.collectionId === undefined) throw inconsistent();
    return meta;
  }

  #removeSegments(match: (segment: SegmentMeta) => boolean, observer: SegmentObserver | undefined): void {
    for (const [segmentId, segment] of this.segments) {
      if (!match(segment)) continue;
      this.segments.delete(segmentId);
      observer?.segmentRemoved(segment);
    }
  }

  /** An independent copy (the live WAL and the checkpoint each keep one). */
  clone(): ShardState {
    return ShardState.fromJSON(this.toJSON());
  }

  toJSON(): ShardStateJson {
    return {
      v: 2,
      vchannels: [...this.vchannels.values()]
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
        .map((meta) => ({
          name: meta.name,
          ...(meta.collectionId === undefined ? {} : { collectionId: meta.collectionId.toString() }),
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

  /** Reads version 2, and version 1 (every vchannel had a collection then). */
  static fromJSON(json: ShardStateJson): ShardState {
    if (json.v !== 1 && json.v !== 2)
      throw new WalError('UNRECOVERABLE', `unknown shard state version ${String(json.v)}`);
    const state = new ShardState();
    for (const meta of json.vchannels) {
      state.vchannels.set(meta.name, {
        name: meta.name,
        collectionId: meta.collectionId === undefined ? undefined : BigInt(meta.collectionId),
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
  readonly v: 1 | 2;
  readonly vchannels: readonly {
    readonly name: string;
    /** Absent for a vchannel without a collection (version 2). */
    readonly collectionId?: string;
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
