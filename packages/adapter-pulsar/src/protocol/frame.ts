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

/** Bytes of the varint of a non-negative integer up to 2^53. */
function varintSize(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  if (value < 0x800000000) return 5;
  if (value < 0x40000000000) return 6;
  if (value < 0x2000000000000) return 7;
  return 8;
}

const SLAB_SIZE = 64 * 1024;
let slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
let slabUsed = 0;

/**
 * Room for one outgoing frame, carved from a 64 KB slab: one ArrayBuffer per ~50 SEND frames of 1 KB
 * instead of Node's 8 KB pool (one per 7). A slab lives while a frame in it awaits its receipt. Frames
 * above a quarter of the slab get their own buffer.
 */
function allocFrame(size: number): Buffer {
  if (size > SLAB_SIZE / 4) return Buffer.allocUnsafeSlow(size);
  if (slabUsed + size > SLAB_SIZE) {
    slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
    slabUsed = 0;
  }
  const frame = slab.subarray(slabUsed, slabUsed + size);
  slabUsed += (size + 7) & ~7;
  return frame;
}

function writeVarint(buffer: Buffer, at: number, value: number): number {
  let v = value;
  let i = at;
  if (v < 0x80000000) {
    while (v > 0x7f) {
      buffer[i++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
  } else {
    while (v > 0x7f) {
      buffer[i++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
  }
  buffer[i++] = v;
  return i;
}

/** Byte lengths of property keys and values of the SEND being encoded (reused: encoding is synchronous). */
const propertyLengths: number[] = [];

/**
 * A whole SEND frame in one allocation: `BaseCommand{SEND{producer_id, sequence_id}}` and a
 * `MessageMetadata{producer_name, sequence_id, publish_time, properties}` written in place, then the
 * payload and the CRC-32C over metadata and payload. Byte for byte what
 * `encodePayloadFrame(sendCommand(...), encodeMessageMetadata(...), payload)` produces, without the
 * intermediate buffers of the generic writers (a test pins the equality).
 */
export function encodeSendFrame(
  producerId: number,
  sequenceId: number,
  producerName: Uint8Array,
  publishTime: number,
  properties: Readonly<Record<string, string>>,
  payload: Uint8Array,
  /** Set when `payload` is compressed: its `CompressionType` and the bytes it inflates to. */
  compression?: { readonly type: number; readonly uncompressedSize: number },
): Buffer {
  // SEND body: 0x08 producer_id, 0x10 sequence_id.
  const sendSize = 2 + varintSize(producerId) + varintSize(sequenceId);
  // BaseCommand: 0x08 0x06 (type SEND), 0x32 (field 6, length-delimited) length, body.
  const commandSize = 3 + varintSize(sendSize) + sendSize;
  let metadataSize =
    1 +
    varintSize(producerName.length) +
    producerName.length +
    1 +
    varintSize(sequenceId) +
    1 +
    varintSize(publishTime);
  let count = 0;
  for (const key in properties) {
    const keySize = Buffer.byteLength(key, 'utf8');
    const valueSize = Buffer.byteLength(properties[key]!, 'utf8');
    const kvSize = 2 + varintSize(keySize) + keySize + varintSize(valueSize) + valueSize;
    propertyLengths[count++] = keySize;
    propertyLengths[count++] = valueSize;
    metadataSize += 1 + varintSize(kvSize) + kvSize;
  }
  if (compression) {
    metadataSize += 2 + varintSize(compression.type) + varintSize(compression.uncompressedSize);
  }
  const checked = 4 + metadataSize + payload.length;
  const total = 4 + commandSize + 2 + 4 + checked;
  const frame = allocFrame(4 + total);
  frame.writeUInt32BE(total, 0);
  frame.writeUInt32BE(commandSize, 4);
  let at = 8;
  frame[at++] = 0x08;
  frame[at++] = 0x06;
  frame[at++] = 0x32;
  at = writeVarint(frame, at, sendSize);
  frame[at++] = 0x08;
  at = writeVarint(frame, at, producerId);
  frame[at++] = 0x10;
  at = writeVarint(frame, at, sequenceId);
  at = frame.writeUInt16BE(MAGIC_CRC32C, at);
  const crcAt = at;
  at += 4;
  const checkedFrom = at;
  at = frame.writeUInt32BE(metadataSize, at);
  frame[at++] = 0x0a;
  at = writeVarint(frame, at, producerName.length);
  frame.set(producerName, at);
  at += producerName.length;
  frame[at++] = 0x10;
  at = writeVarint(frame, at, sequenceId);
  frame[at++] = 0x18;
  at = writeVarint(frame, at, publishTime);
  let index = 0;
  for (const key in properties) {
    const value = properties[key]!;
    const keySize = propertyLengths[index++]!;
    const valueSize = propertyLengths[index++]!;
    frame[at++] = 0x22;
    at = writeVarint(frame, at, 2 + varintSize(keySize) + keySize + varintSize(valueSize) + valueSize);
    frame[at++] = 0x0a;
    at = writeVarint(frame, at, keySize);
    at += frame.write(key, at, keySize, 'utf8');
    frame[at++] = 0x12;
    at = writeVarint(frame, at, valueSize);
    at += frame.write(value, at, valueSize, 'utf8');
  }
  if (compression) {
    // 0x40 compression (field 8), 0x48 uncompressed_size (field 9).
    frame[at++] = 0x40;
    at = writeVarint(frame, at, compression.type);
    frame[at++] = 0x48;
    at = writeVarint(frame, at, compression.uncompressedSize);
  }
  frame.set(payload, at);
  frame.writeUInt32BE(crc32c(frame, 0, checkedFrom, frame.length), crcAt);
  return frame;
}

function u32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

function u16(bytes: Uint8Array, at: number): number {
  return (bytes[at]! << 8) | bytes[at + 1]!;
}

/** A plain `Uint8Array` view (no copy): cheaper to make than a `Buffer` (`FastBuffer`) slice. */
function view(bytes: Uint8Array, from: number, to: number): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset + from, to - from);
}

/** Parses one complete frame (without its leading `totalSize`). Throws coded errors only. */
export function decodeFrameBody(body: Uint8Array): Frame {
  return decodeFrameAt(body, 0, body.length);
}

/**
 * Parses the frame in `bytes[from, to)` (without its leading `totalSize`). The command body, metadata
 * and payload of the result are views into `bytes`. Throws coded errors only.
 */
function decodeFrameAt(bytes: Uint8Array, from: number, to: number): Frame {
  const length = to - from;
  if (length < 4) throw malformed(`frame of ${length} bytes has no command size`);
  const commandSize = u32(bytes, from);
  if (commandSize > length - 4) {
    throw malformed(`command size ${commandSize} exceeds the frame (${length - 4} bytes left)`);
  }
  const command = decodeBaseCommand(view(bytes, from + 4, from + 4 + commandSize));
  let at = from + 4 + commandSize;
  if (at === to) return { command };

  if (to - at < 2) throw malformed('truncated payload magic');
  let magic = u16(bytes, at);
  if (magic === MAGIC_BROKER_ENTRY_METADATA) {
    if (to - at < 6) throw malformed('truncated broker entry metadata size');
    const size = u32(bytes, at + 2);
    at += 6;
    if (size > to - at) throw malformed('broker entry metadata past the end of the frame');
    at += size;
    if (to - at < 2) throw malformed('truncated payload magic');
    magic = u16(bytes, at);
  }
  if (magic !== MAGIC_CRC32C) throw malformed(`unknown payload magic 0x${magic.toString(16)}`);
  if (to - at < 10) throw malformed('truncated checksum or metadata size');
  const checksum = u32(bytes, at + 2);
  const checkedFrom = at + 6;
  const metadataSize = u32(bytes, checkedFrom);
  const metadataFrom = checkedFrom + 4;
  if (metadataSize > to - metadataFrom) throw malformed('message metadata past the end of the frame');
  const actual = crc32c(bytes, 0, checkedFrom, to);
  if (actual !== checksum) {
    throw malformed(
      `checksum mismatch (frame says ${checksum.toString(16)}, computed ${actual.toString(16)})`,
    );
  }
  return {
    command,
    metadata: view(bytes, metadataFrom, metadataFrom + metadataSize),
    payload: view(bytes, metadataFrom + metadataSize, to),
  };
}

/**
 * Turns socket chunks into frames. Frames that lie whole in a chunk are parsed in place; only a frame
 * split across chunks is joined, once, when its last byte arrived. After it threw once it stays failed:
 * the stream position is lost, so the connection must be dropped.
 */
export class FrameDecoder {
  #maxFrameSize: number;
  /** Bytes of an incomplete frame, in arrival order. */
  #chunks: Uint8Array[] = [];
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

  /** The size a frame announces in its first four bytes, checked against the limits. */
  #frameSize(head: Uint8Array, at: number): number {
    const total = u32(head, at);
    if (total > this.#maxFrameSize) {
      throw malformed(`frame of ${total} bytes exceeds the limit of ${this.#maxFrameSize}`);
    }
    if (total < 4) throw malformed(`frame size ${total} is smaller than a command size field`);
    return total;
  }

  #push(chunk: Uint8Array): Frame[] {
    if (chunk.length === 0) return [];
    let data = chunk;
    if (this.#chunks.length > 0) {
      // Completing a split frame: join only once its last byte is here (a large frame arrives in many
      // chunks; joining at every chunk would copy it over and over).
      this.#chunks.push(chunk);
      this.#length += chunk.length;
      if (this.#length < 4) return [];
      if (this.#chunks[0]!.length < 4) this.#chunks = [join(this.#chunks, this.#length)];
      if (this.#length < 4 + this.#frameSize(this.#chunks[0]!, 0)) return [];
      data = join(this.#chunks, this.#length);
      this.#chunks = [];
      this.#length = 0;
    }
    const frames: Frame[] = [];
    let at = 0;
    while (data.length - at >= 4) {
      const total = this.#frameSize(data, at);
      if (data.length - at - 4 < total) break;
      frames.push(decodeFrameAt(data, at + 4, at + 4 + total));
      at += 4 + total;
    }
    if (at < data.length) {
      // The rest is the start of the next frame; a view keeps the chunk alive until it completes.
      this.#chunks = [view(data, at, data.length)];
      this.#length = data.length - at;
    }
    return frames;
  }
}

function join(chunks: readonly Uint8Array[], length: number): Uint8Array {
  const joined = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    joined.set(chunk, at);
    at += chunk.length;
  }
  return joined;
}
