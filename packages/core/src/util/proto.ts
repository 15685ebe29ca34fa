/**
 * The few protobuf wire rules our headers need (varint and length-delimited fields), so `_tx` and `_bh`
 * stay byte-compatible with the Milvus original without a protobuf runtime on the hot path.
 */
import { WalError } from '../errors/wal-error.js';

const WIRE_VARINT = 0;
const WIRE_LEN = 2;
const UINT64_MASK = (1n << 64n) - 1n;

export class ProtoWriter {
  readonly #bytes: number[] = [];

  varint(field: number, value: bigint | number | boolean): this {
    this.#tag(field, WIRE_VARINT);
    this.#rawVarint(BigInt.asUintN(64, BigInt(typeof value === 'boolean' ? Number(value) : value)));
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.#tag(field, WIRE_LEN);
    this.#rawVarint(BigInt(value.length));
    for (const byte of value) this.#bytes.push(byte);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.#bytes);
  }

  #tag(field: number, wire: number): void {
    this.#rawVarint(BigInt((field << 3) | wire));
  }

  #rawVarint(value: bigint): void {
    let rest = value & UINT64_MASK;
    while (rest > 0x7fn) {
      this.#bytes.push(Number(rest & 0x7fn) | 0x80);
      rest >>= 7n;
    }
    this.#bytes.push(Number(rest));
  }
}

export type ProtoField =
  | { field: number; wire: typeof WIRE_VARINT; value: bigint }
  | { field: number; wire: typeof WIRE_LEN; value: Uint8Array };

/** Decodes the top-level fields of a message; unknown wire types are a coded error, never a crash. */
export function readProtoFields(bytes: Uint8Array): ProtoField[] {
  const fields: ProtoField[] = [];
  let offset = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (offset >= bytes.length || shift > 63n) throw malformed('truncated varint');
      const byte = bytes[offset++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (offset < bytes.length) {
    const tag = Number(varint());
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire === WIRE_VARINT) {
      fields.push({ field, wire, value: varint() });
    } else if (wire === WIRE_LEN) {
      const length = Number(varint());
      if (offset + length > bytes.length) throw malformed('length past end');
      fields.push({ field, wire, value: bytes.subarray(offset, offset + length) });
      offset += length;
    } else {
      throw malformed(`unsupported wire type ${wire}`);
    }
  }
  return fields;
}

/** Reads a signed int64 field stored as a two's-complement varint. */
export function asInt64(value: bigint): bigint {
  return BigInt.asIntN(64, value);
}

function malformed(why: string): WalError {
  return new WalError('INVALID_ARGUMENT', `malformed protobuf header: ${why}`);
}

export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

export function fromBase64(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'base64'));
}
