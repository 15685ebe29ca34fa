import { type MessageID, type MutableMessage, WalError } from '@walstream/core';
import type { AppendContext, AppendNext, Interceptor } from '@walstream/core/spi';
import type { SemanticsContext } from '../context.js';
import {
  DEFAULT_PARTITION_ID,
  decodeCollection,
  decodeCreateCollection,
  decodeCreateSegment,
  decodeDelete,
  decodeFlush,
  decodeInsert,
  decodePartition,
  encodeInsert,
  encodeManualFlush,
  overwriteHeader,
} from './headers.js';
import type { ShardManager } from './manager.js';
import { ShardMessageType } from './message-types.js';
import { insertBytes, type VChannelMeta } from './state.js';

/**
 * Innermost: vchannel lifecycle and segment assignment. Checks run before the write; state changes after
 * it succeeded (and cannot fail).
 */
export class ShardInterceptor implements Interceptor {
  readonly name = 'shard';
  readonly #context: SemanticsContext;
  readonly #manager: ShardManager;
  readonly #pchannel: string;

  constructor(context: SemanticsContext) {
    this.#context = context;
    this.#manager = context.shard;
    this.#pchannel = context.channel.name;
  }

  doAppend(message: MutableMessage, context: AppendContext, next: AppendNext): Promise<MessageID> {
    const vchannel = message.vchannel;
    // Messages for every vchannel (TimeTicks) and for the pchannel itself are not the shard's business.
    if (vchannel === undefined || vchannel === this.#pchannel) return next(message, context);
    switch (message.messageType) {
      case ShardMessageType.CreateCollection:
        return this.#createCollection(vchannel, message, context, next);
      case ShardMessageType.DropCollection:
        return this.#dropCollection(vchannel, message, context, next);
      case ShardMessageType.CreatePartition:
        return this.#createPartition(vchannel, message, context, next);
      case ShardMessageType.DropPartition:
        return this.#dropPartition(vchannel, message, context, next);
      case ShardMessageType.Insert:
        return this.#insert(vchannel, message, context, next);
      case ShardMessageType.Delete: {
        const meta = this.#manager.requireNormal(vchannel);
        checkCollection(meta, decodeDelete(message).collectionId);
        return next(message, context);
      }
      case ShardMessageType.ManualFlush:
        return this.#manualFlush(vchannel, message, context, next);
      case ShardMessageType.CreateSegment:
        return this.#createSegment(vchannel, message, context, next);
      case ShardMessageType.Flush:
        return this.#flush(message, context, next);
      default:
        this.#manager.checkVChannel(vchannel);
        return next(message, context);
    }
  }

  async #createCollection(
    vchannel: string,
    message: MutableMessage,
    context: AppendContext,
    next: AppendNext,
  ) {
    const header = decodeCreateCollection(message);
    const existing = this.#manager.vchannel(vchannel);
    if (existing?.state === 'dropped') this.#manager.requireNormal(vchannel);
    if (existing && existing.collectionId !== header.collectionId) {
      throw new WalError(
        'INVALID_ARGUMENT',
        `vchannel ${vchannel} already carries collection ${existing.collectionId}, not ${header.collectionId}`,
        { details: { vchannel } },
      );
    }
    const id = await next(message, context);
    // A repeated create of the same collection (a client retry) is written but changes nothing.
    if (!existing) this.#manager.createVChannel(vchannel, header, message.timeTick!);
    return id;
  }

  async #dropCollection(vchannel: string, message: MutableMessage, context: AppendContext, next: AppendNext) {
    const meta = this.#manager.requireNormal(vchannel);
    checkCollection(meta, decodeCollection(message, 'DropCollection').collectionId);
    const id = await next(message, context);
    this.#manager.dropVChannel(vchannel);
    return id;
  }

  async #createPartition(
    vchannel: string,
    message: MutableMessage,
    context: AppendContext,
    next: AppendNext,
  ) {
    const meta = this.#manager.requireNormal(vchannel);
    const header = decodePartition(message, 'CreatePartition');
    checkCollection(meta, header.collectionId);
    const id = await next(message, context);
    this.#manager.addPartition(vchannel, header.partitionId);
    return id;
  }

  async #dropPartition(vchannel: string, message: MutableMessage, context: AppendContext, next: AppendNext) {
    const meta = this.#manager.requireNormal(vchannel);
    const header = decodePartition(message, 'DropPartition');
    checkCollection(meta, header.collectionId);
    this.#manager.requirePartition(meta, header.partitionId);
    const id = await next(message, context);
    this.#manager.dropPartition(vchannel, header.partitionId);
    return id;
  }

  async #insert(vchannel: string, message: MutableMessage, context: AppendContext, next: AppendNext) {
    const meta = this.#manager.requireNormal(vchannel);
    const header = decodeInsert(message);
    checkCollection(meta, header.collectionId);
    const partitionId = header.partitionId ?? DEFAULT_PARTITION_ID;
    this.#manager.requirePartition(meta, partitionId);
    const bytes = insertBytes(header.binarySize, message.payload);
    const txn = this.#context.appendTxn.get(message);
    const segment = this.#manager.assign(meta, partitionId, header.rows, bytes, message.timeTick!, txn);
    overwriteHeader(message, encodeInsert({ ...header, partitionId, segmentId: segment.segmentId }));
    try {
      return await next(message, context);
    } finally {
      this.#manager.release(segment);
    }
  }

  async #manualFlush(vchannel: string, message: MutableMessage, context: AppendContext, next: AppendNext) {
    const meta = this.#manager.requireNormal(vchannel);
    const timeTick = message.timeTick!;
    const segmentIds = this.#manager.growingIds(vchannel);
    overwriteHeader(
      message,
      encodeManualFlush({ collectionId: meta.collectionId, flushTs: timeTick, segmentIds }),
    );
    const id = await next(message, context);
    this.#manager.manualFlushed(vchannel, segmentIds, timeTick);
    context.result.extra = { ...context.result.extra, segmentIds };
    return id;
  }

  async #createSegment(vchannel: string, message: MutableMessage, context: AppendContext, next: AppendNext) {
    const meta = this.#manager.requireNormal(vchannel);
    const header = decodeCreateSegment(message);
    const timeTick = message.timeTick!;
    this.#manager.checkCreateSegment(meta, header, timeTick);
    const id = await next(message, context);
    this.#manager.registerSegment(header, vchannel, timeTick);
    return id;
  }

  async #flush(message: MutableMessage, context: AppendContext, next: AppendNext) {
    const segment = this.#manager.checkFlush(decodeFlush(message).segmentId);
    const id = await next(message, context);
    this.#manager.flushed(segment);
    return id;
  }
}

function checkCollection(meta: VChannelMeta, collectionId: bigint | undefined): void {
  if (collectionId !== undefined && collectionId !== meta.collectionId) {
    throw new WalError(
      'INVALID_ARGUMENT',
      `vchannel ${meta.name} carries collection ${meta.collectionId}, not ${collectionId}`,
      { details: { vchannel: meta.name } },
    );
  }
}
