/**
 * Reassembly of chunked messages. A producer with chunking on splits a message larger than the broker's
 * max message size (after compression) into entries of one chunk each, all with the message's uuid, and
 * other producers' entries may fall between them. The chunks are put back together here, then
 * decompressed and read like any entry.
 *
 * Memory is bounded: the chunks of incomplete messages held at once never exceed `maxBytes`. A message
 * larger than that alone is refused (UNRECOVERABLE, naming the option); when a new message would go over,
 * the oldest incomplete one is dropped. Incomplete messages are dropped too when a chunk arrives out of
 * sequence (a producer that restarted a message) or without its first chunk (a reader that started in
 * the middle of one): as Pulsar's own consumer does, a message is delivered whole or not at all. A
 * reassembled message has its last chunk's id, so ids keep increasing in delivery order; a reader that
 * starts at that id (inclusive) starts after the message's other chunks and does not see it.
 */
import { WalError } from '@walstream/core';
import type { MessageIdData } from './commands.js';
import type { IncomingMetadata } from './metadata.js';

interface Pending {
  readonly firstId: MessageIdData;
  readonly parts: Uint8Array[];
  readonly totalSize: number;
  received: number;
  nextChunk: number;
}

export interface AssembledMessage {
  /** The metadata of the last chunk (properties, compression and sizes are the same on every chunk). */
  readonly metadata: IncomingMetadata;
  readonly payload: Uint8Array;
  /** The id of the last chunk: where the message is complete, and where a reader resumes after it. */
  readonly id: MessageIdData;
}

export class ChunkAssembler {
  readonly #maxBytes: number;
  readonly #pending = new Map<string, Pending>();
  #held = 0;
  /** Incomplete messages given up on so far (reported by the reader). */
  dropped = 0;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  get heldBytes(): number {
    return this.#held;
  }

  /** Takes one chunk; returns the whole message once its last chunk is in. */
  add(metadata: IncomingMetadata, payload: Uint8Array, id: MessageIdData): AssembledMessage | undefined {
    const chunk = metadata.chunk!;
    if (chunk.totalSize > this.#maxBytes) {
      throw new WalError(
        'UNRECOVERABLE',
        `cannot read a Pulsar chunked message of ${chunk.totalSize} bytes: larger than ` +
          `maxChunkedMessageBytes (${this.#maxBytes}); raise that option to read it`,
        {
          retriable: false,
          details: { reason: 'chunked-message-too-large', option: 'maxChunkedMessageBytes' },
        },
      );
    }
    let pending = this.#pending.get(chunk.uuid);
    if (chunk.chunkId === 0) {
      if (pending) this.#drop(chunk.uuid);
      while (this.#held + chunk.totalSize > this.#maxBytes && this.#pending.size > 0) {
        this.#drop(this.#pending.keys().next().value!);
      }
      pending = { firstId: id, parts: [], totalSize: chunk.totalSize, received: 0, nextChunk: 0 };
      this.#pending.set(chunk.uuid, pending);
      this.#held += chunk.totalSize;
    }
    if (!pending) {
      this.dropped++;
      return undefined;
    }
    if (chunk.chunkId !== pending.nextChunk || pending.received + payload.length > pending.totalSize) {
      this.#drop(chunk.uuid);
      return undefined;
    }
    // A copy: the chunk's bytes live in a socket chunk that must not stay alive with the message.
    pending.parts.push(Uint8Array.prototype.slice.call(payload));
    pending.received += payload.length;
    pending.nextChunk++;
    if (pending.nextChunk < chunk.numChunks) return undefined;
    this.#pending.delete(chunk.uuid);
    this.#held -= pending.totalSize;
    if (pending.received !== pending.totalSize) {
      this.dropped++;
      return undefined;
    }
    return { metadata, payload: Buffer.concat(pending.parts), id };
  }

  /**
   * Where a re-subscription must start so that incomplete messages get their chunks again: the first
   * chunk of the oldest one. Forgets them all (their chunks come again from there).
   */
  restart(): MessageIdData | undefined {
    const oldest = this.#pending.values().next().value;
    this.#pending.clear();
    this.#held = 0;
    return oldest?.firstId;
  }

  #drop(uuid: string): void {
    const pending = this.#pending.get(uuid);
    if (!pending) return;
    this.#pending.delete(uuid);
    this.#held -= pending.totalSize;
    this.dropped++;
  }
}
