import { WalError } from '@walstream/core';
import { SystemProperty } from '@walstream/core/spi';

/**
 * Specialized headers of the message types this package gives meaning to (BeginTxn, the shard types).
 * `_h` holds base64 of UTF-8 JSON (the core builder's `header(bytes)` base64-encodes whatever bytes it gets).
 * JSON rather than the original's protobuf: readable in any log viewer, no schema runtime, and the fields
 * keep the original's names. Ids that are int64 in the original are decimal strings, so no precision is lost.
 */
export type HeaderJson = Readonly<Record<string, unknown>>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeHeaderBytes(header: HeaderJson): Uint8Array {
  return encoder.encode(JSON.stringify(header));
}

/** The `_h` property value for `header`. */
export function encodeHeaderProperty(header: HeaderJson): string {
  return Buffer.from(encodeHeaderBytes(header)).toString('base64');
}

/** The decoded `_h` of a message, or an empty object when it has none. INVALID_ARGUMENT when malformed. */
export function readHeader(
  message: { readonly properties: Readonly<Record<string, string>> },
  what: string,
): Record<string, unknown> {
  const raw = message.properties[SystemProperty.header];
  if (raw === undefined || raw === '') return {};
  try {
    const parsed: unknown = JSON.parse(decoder.decode(Buffer.from(raw, 'base64')));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('not an object');
    return parsed as Record<string, unknown>;
  } catch (error) {
    throw new WalError('INVALID_ARGUMENT', `${what}: header (_h) is not base64 JSON of an object`, {
      cause: error,
    });
  }
}

export function optionalId(header: Record<string, unknown>, field: string, what: string): bigint | undefined {
  const value = header[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return BigInt(value);
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  throw new WalError(
    'INVALID_ARGUMENT',
    `${what}: header field ${field} must be an integer id (decimal string), got ${JSON.stringify(value)}`,
  );
}

export function requiredId(header: Record<string, unknown>, field: string, what: string): bigint {
  const id = optionalId(header, field, what);
  if (id === undefined) throw new WalError('INVALID_ARGUMENT', `${what}: header field ${field} is required`);
  return id;
}

export function optionalIds(
  header: Record<string, unknown>,
  field: string,
  what: string,
): bigint[] | undefined {
  const value = header[field];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value))
    throw new WalError('INVALID_ARGUMENT', `${what}: header field ${field} must be an array of ids`);
  return value.map((_, index) =>
    requiredId(value as unknown as Record<string, unknown>, String(index), what),
  );
}

export function optionalCount(
  header: Record<string, unknown>,
  field: string,
  what: string,
): number | undefined {
  const value = header[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  throw new WalError(
    'INVALID_ARGUMENT',
    `${what}: header field ${field} must be an integer ≥ 0, got ${JSON.stringify(value)}`,
  );
}

export const idText = (id: bigint): string => id.toString();
