/**
 * Framing of Pulsar's binary protocol:
 *
 *   simple:  [totalSize u32][commandSize u32][BaseCommand]
 *   payload: [totalSize u32][commandSize u32][BaseCommand]
 *            [(0x0e02 u16)(size u32)(BrokerEntryMetadata)]?   -- only if the client asked for it
 *            [0x0e01 u16][crc32c u32][metadataSize u32][MessageMetadata][payload]
 *
 * `totalSize` counts everything after itself; the CRC-32C covers `metadataSize` to the end. The decoder
 * is incremental (socket chunks in, whole frames out) and rejects anything malformed, oversized or with
 * a bad checksum with a coded error, so a broken or hostile peer can only cost its own connection.
 */
import { decodeBaseCommand, type RawCommand } from './commands.js';
import { crc32c } from './crc32c.js';
import { malformed } from './errors.js';

const MAGIC_CRC32C = 0x0e01;
const MAGIC_BROKER_ENTRY_METADATA = 0x0e02;

/** Pulsar's default `maxMessageSize` (5 MB); the frame limit adds room for command and metadata. */
export const DEFAULT_MAX_MESSAGE_SIZE = 5 * 1024 * 1024;
export const FRAME_PADDING = 64 * 1024;

export interface Frame {
  readonly command: RawCommand;
  /** Present on payload commands (SEND, MESSAGE): the serialized MessageMetadata ... */
  readonly metadata?: Uint8Array;
  /** ... and the payload after it. */
  readonly payload?: Uint8Array;
}

export function encodeFrame(command: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(8 + command.length);
  frame.writeUInt32BE(4 + command.length, 0);
  frame.writeUInt32BE(command.length, 4);
  frame.set(command, 8);
  return frame;
}

export function encodePayloadFrame(command: Uint8Array, metadata: Uint8Array, payload: Uint8Array): Buffer {
  const checked = 4 + metadata.length + payload.length;
  const total = 4 + command.length + 2 + 4 + checked;
  const frame = Buffer.allocUnsafe(4 + total);
  let at = frame.writeUInt32BE(total, 0);
  at = frame.writeUInt32BE(command.length, at);
  frame.set(command, at);
  at += command.length;
  at = frame.writeUInt16BE(MAGIC_CRC32C, at);
  const crcAt = at;
  at += 4;
  const checkedFrom = at;
  at = frame.writeUInt32BE(metadata.length, at);
  frame.set(metadata, at);
  at += metadata.length;
  frame.set(payload, at);
  frame.writeUInt32BE(crc32c(frame, 0, checkedFrom, frame.length), crcAt);
  return frame;
}

/** Parses one complete frame (without its leading `totalSize`). Throws coded errors only. */
export function decodeFrameBody(body: Buffer): Frame {
  if (body.length < 4) throw malformed(`frame of ${body.length} bytes has no command size`);
  const commandSize = body.readUInt32BE(0);
  if (commandSize > body.length - 4) {
    throw malformed(`command size ${commandSize} exceeds the frame (${body.length - 4} bytes left)`);
  }
  const command = decodeBaseCommand(body.subarray(4, 4 + commandSize));
  let at = 4 + commandSize;
  if (at === body.length) return { command };

  if (body.length - at < 2) throw malformed('truncated payload magic');
  let magic = body.readUInt16BE(at);
  if (magic === MAGIC_BROKER_ENTRY_METADATA) {
    if (body.length - at < 6) throw malformed('truncated broker entry metadata size');
    const size = body.readUInt32BE(at + 2);
    at += 6;
    if (size > body.length - at) throw malformed('broker entry metadata past the end of the frame');
    at += size;
    if (body.length - at < 2) throw malformed('truncated payload magic');
    magic = body.readUInt16BE(at);
  }
  if (magic !== MAGIC_CRC32C) throw malformed(`unknown payload magic 0x${magic.toString(16)}`);
  if (body.length - at < 10) throw malformed('truncated checksum or metadata size');
  const checksum = body.readUInt32BE(at + 2);
  const checkedFrom = at + 6;
  const metadataSize = body.readUInt32BE(checkedFrom);
  const metadataFrom = checkedFrom + 4;
  if (metadataSize > body.length - metadataFrom)
    throw malformed('message metadata past the end of the frame');
  const actual = crc32c(body, 0, checkedFrom, body.length);
  if (actual !== checksum) {
    throw malformed(
      `checksum mismatch (frame says ${checksum.toString(16)}, computed ${actual.toString(16)})`,
    );
  }
  return {
    command,
    metadata: body.subarray(metadataFrom, metadataFrom + metadataSize),
    payload: body.subarray(metadataFrom + metadataSize),
  };
}

/**
 * Turns socket chunks into frames. After it threw once it stays failed: the stream position is lost,
 * so the connection must be dropped.
 */
export class FrameDecoder {
  #maxFrameSize: number;
  #chunks: Buffer[] = [];
  #length = 0;
  #failed: Error | undefined;

  constructor(maxFrameSize = DEFAULT_MAX_MESSAGE_SIZE + FRAME_PADDING) {
    this.#maxFrameSize = maxFrameSize;
  }

  /** The broker announces its `max_message_size` in CONNECTED; frames may be that large plus headers. */
  set maxFrameSize(size: number) {
    this.#maxFrameSize = size;
  }

  get buffered(): number {
    return this.#length;
  }

  push(chunk: Uint8Array): Frame[] {
    if (this.#failed) throw this.#failed;
    try {
      return this.#push(chunk);
    } catch (error) {
      this.#failed = error as Error;
      this.#chunks = [];
      this.#length = 0;
      throw error;
    }
  }

  #push(chunk: Uint8Array): Frame[] {
    if (chunk.length === 0) return [];
    const buffer = Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.#chunks.push(buffer);
    this.#length += buffer.length;
    const frames: Frame[] = [];
    for (;;) {
      if (this.#length < 4) return frames;
      const head = this.#peek(4);
      const total = head.readUInt32BE(0);
      if (total > this.#maxFrameSize) {
        throw malformed(`frame of ${total} bytes exceeds the limit of ${this.#maxFrameSize}`);
      }
      if (total < 4) throw malformed(`frame size ${total} is smaller than a command size field`);
      if (this.#length < 4 + total) return frames;
      const whole = this.#take(4 + total);
      frames.push(decodeFrameBody(whole.subarray(4)));
    }
  }

  /** The first `count` bytes, joining chunks only as far as needed. */
  #peek(count: number): Buffer {
    const first = this.#chunks[0]!;
    if (first.length >= count) return first;
    const joined = Buffer.concat(this.#chunks);
    this.#chunks = [joined];
    return joined;
  }

  #take(count: number): Buffer {
    let first = this.#chunks[0]!;
    if (first.length < count) {
      first = Buffer.concat(this.#chunks);
      this.#chunks = [first];
    }
    const taken = first.subarray(0, count);
    if (first.length === count) this.#chunks.shift();
    else this.#chunks[0] = first.subarray(count);
    this.#length -= count;
    return taken;
  }
}
