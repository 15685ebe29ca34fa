/**
 * The protobuf wire rules Pulsar's commands need (proto2: varints, length-delimited fields, and skipping
 * the fixed-width ones we never read). Hand-written so the client has no runtime dependency; every
 * decoding failure is a coded error, never a RangeError from a typed array.
 */
import { malformed } from './errors.js';

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: false });

/** Appends fields to a growing buffer. Nested messages are written with {@link ProtoWriter.message}. */
export class ProtoWriter {
  #buf: Uint8Array;
  #pos = 0;

  constructor(capacity = 64) {
    this.#buf = new Uint8Array(capacity);
  }

  get length(): number {
    return this.#pos;
  }

  #ensure(extra: number): void {
    if (this.#pos + extra <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#pos + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#pos));
    this.#buf = next;
  }

  #rawVarint(value: number): void {
    this.#ensure(10);
    let v = value;
    while (v > 0x7f) {
      this.#buf[this.#pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.#buf[this.#pos++] = v;
  }

  #rawVarint64(value: bigint): void {
    this.#ensure(10);
    let v = BigInt.asUintN(64, value);
    while (v > 0x7fn) {
      this.#buf[this.#pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.#buf[this.#pos++] = Number(v);
  }

  #tag(field: number, wire: number): void {
    this.#rawVarint(field * 8 + wire);
  }

  /** An unsigned or non-negative integer up to 2^53. Negative int32 values go through {@link int32}. */
  uint(field: number, value: number): this {
    this.#tag(field, WIRE_VARINT);
    this.#rawVarint(value);
    return this;
  }

  /** int32 as proto2 encodes it: negative values are sign-extended to 64 bits (10 bytes). */
  int32(field: number, value: number): this {
    if (value >= 0) return this.uint(field, value);
    this.#tag(field, WIRE_VARINT);
    this.#rawVarint64(BigInt(value));
    return this;
  }

  uint64(field: number, value: bigint): this {
    this.#tag(field, WIRE_VARINT);
    this.#rawVarint64(value);
    return this;
  }

  bool(field: number, value: boolean): this {
    return this.uint(field, value ? 1 : 0);
  }

  bytes(field: number, value: Uint8Array): this {
    this.#tag(field, WIRE_LEN);
    this.#rawVarint(value.length);
    this.#ensure(value.length);
    this.#buf.set(value, this.#pos);
    this.#pos += value.length;
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, encoder.encode(value));
  }

  message(field: number, write: (writer: ProtoWriter) => void): this {
    const nested = new ProtoWriter();
    write(nested);
    return this.bytes(field, nested.finish());
  }

  /** The encoded bytes (a view of the internal buffer: do not write after taking it). */
  finish(): Uint8Array {
    return this.#buf.subarray(0, this.#pos);
  }
}

/**
 * Reads one message's fields in order: `while (r.next()) switch (r.field) { ... default: r.skip() }`.
 * Accessors throw coded errors on truncated or malformed input.
 */
export class ProtoReader {
  readonly #bytes: Uint8Array;
  #pos = 0;
  field = 0;
  wire = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  next(): boolean {
    if (this.#pos >= this.#bytes.length) return false;
    const tag = this.varint();
    this.field = Math.floor(tag / 8);
    this.wire = tag % 8;
    if (this.field === 0) throw malformed('protobuf field number 0');
    return true;
  }

  /** A varint as a number; values past 2^53 lose precision (use {@link uint64} for 64-bit ids). */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.#pos >= this.#bytes.length) throw malformed('truncated varint');
      const byte = this.#bytes[this.#pos++]!;
      result += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return result;
      scale *= 128;
    }
    throw malformed('varint longer than 10 bytes');
  }

  uint64(): bigint {
    this.#expect(WIRE_VARINT);
    // Ledger and entry ids fit 49 bits in practice: read up to 7 bytes as a number, exact in a double.
    const bytes = this.#bytes;
    const start = this.#pos;
    let small = 0;
    let scale = 1;
    for (let i = 0; i < 7 && start + i < bytes.length; i++) {
      const byte = bytes[start + i]!;
      small += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) {
        this.#pos = start + i + 1;
        return BigInt(small);
      }
      scale *= 128;
    }
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.#pos >= this.#bytes.length) throw malformed('truncated varint');
      const byte = this.#bytes[this.#pos++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return BigInt.asUintN(64, result);
      shift += 7n;
    }
    throw malformed('varint longer than 10 bytes');
  }

  /** int64 stored as a two's-complement varint (e.g. `last_sequence_id = -1`). */
  int64(): bigint {
    return BigInt.asIntN(64, this.uint64());
  }

  uint(): number {
    this.#expect(WIRE_VARINT);
    return this.varint();
  }

  /** int32: a negative value arrives sign-extended to 64 bits; the low 32 bits are the value. */
  int32(): number {
    this.#expect(WIRE_VARINT);
    const bytes = this.#bytes;
    let low = 0;
    for (let i = 0; i < 10; i++) {
      if (this.#pos >= bytes.length) throw malformed('truncated varint');
      const byte = bytes[this.#pos++]!;
      if (i < 5) low |= (byte & 0x7f) << (7 * i);
      if ((byte & 0x80) === 0) return low | 0;
    }
    throw malformed('varint longer than 10 bytes');
  }

  bool(): boolean {
    return this.uint() !== 0;
  }

  bytes(): Uint8Array {
    this.#expect(WIRE_LEN);
    const length = this.varint();
    if (length > this.#bytes.length - this.#pos) throw malformed('length-delimited field past the end');
    const value = this.#bytes.subarray(this.#pos, this.#pos + length);
    this.#pos += length;
    return value;
  }

  string(): string {
    return decoder.decode(this.bytes());
  }

  skip(): void {
    switch (this.wire) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_FIXED64:
        this.#advance(8);
        return;
      case WIRE_LEN:
        this.bytes();
        return;
      case WIRE_FIXED32:
        this.#advance(4);
        return;
      default:
        throw malformed(`unsupported protobuf wire type ${this.wire}`);
    }
  }

  #advance(count: number): void {
    if (count > this.#bytes.length - this.#pos) throw malformed('fixed-width field past the end');
    this.#pos += count;
  }

  #expect(wire: number): void {
    if (this.wire !== wire) {
      throw malformed(`protobuf field ${this.field} has wire type ${this.wire}, expected ${wire}`);
    }
  }
}
