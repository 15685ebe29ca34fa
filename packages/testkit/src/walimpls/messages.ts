import { type ImmutableMessage, type MessageID, MutableMessage, SystemMessageType } from '@walstream/core';
import { encodeBase36, MessageVersion, SystemProperty } from '@walstream/core/spi';
import fc from 'fast-check';
import { check, fail } from '../runner/assert.js';

/** A message the suite appended and the id the adapter returned for it. */
export interface Written {
  readonly id: MessageID;
  readonly message: MutableMessage;
}

/** The Milvus `Insert` type number: what a data message looks like on a real pchannel. */
const INSERT_TYPE = 2;

const ODD_VALUE = 'ünïcødé ✓ 日本語 🚀 "quoted" = ; , \\ / \t';

/**
 * A data message whose payload and properties are a pure function of (channel, term, seq), so a reader
 * can tell every message apart and a mangled byte or property shows up. Payload sizes vary from empty to
 * 4 KiB; some property values are empty or non-ASCII; system properties are set the way the WAL runtime
 * sets them.
 */
export function dataMessage(channel: string, term: bigint | number, seq: number): MutableMessage {
  const properties: Record<string, string> = {
    id: String(seq),
    const: 't',
    term: String(term),
    key: `${String(term)}:${seq}`,
    [SystemProperty.messageType]: String(INSERT_TYPE),
    [SystemProperty.version]: String(MessageVersion.V2),
    [SystemProperty.vchannel]: `${channel}_v1`,
    [SystemProperty.timeTick]: encodeBase36((BigInt(term) << 32n) + BigInt(seq)),
  };
  if (seq % 3 === 0) properties.note = ODD_VALUE;
  if (seq % 4 === 1) properties.empty = '';
  return new MutableMessage(payloadFor(`${channel}/${String(term)}/${seq}`, payloadLength(seq)), properties);
}

/**
 * The messages that are hardest to store exactly: an empty and a 64 KiB payload, every byte value, empty
 * and non-ASCII property values, punctuation in keys and values, reserved `_` properties, no properties.
 */
export function roundTripMessages(channel: string): MutableMessage[] {
  const big = new Uint8Array(64 * 1024).map((_, i) => (i * 7 + (i >> 8)) & 0xff);
  return [
    new MutableMessage(new Uint8Array(0), { k: 'empty payload', [SystemProperty.messageType]: '2' }),
    new MutableMessage(big, { k: '64 KiB payload', [SystemProperty.timeTick]: 'zzzzzzzz' }),
    new MutableMessage(Uint8Array.of(0, 255, 0, 10, 13), {
      k: 'odd properties',
      empty: '',
      unicode: 'ünïcødé ✓ 日本語 🚀',
      'key.with-punct_uation': 'a=b; c,d\n"e"\t\\',
      [SystemProperty.vchannel]: `${channel}_v1`,
      [SystemProperty.lastConfirmedIsSelf]: '',
    }),
    new MutableMessage(Uint8Array.of(1, 2, 3), {}),
  ];
}

/** A TimeTick-typed message that ends a round: readers stop when they see the marker `label`. */
export function markerMessage(
  channel: string,
  label: string,
  extra: Record<string, string> = {},
): MutableMessage {
  return new MutableMessage(payloadFor(`${channel}/marker/${label}`, 16), {
    ...extra,
    marker: label,
    key: `marker:${label}`,
    [SystemProperty.messageType]: String(SystemMessageType.TimeTick),
    [SystemProperty.version]: String(MessageVersion.V2),
    [SystemProperty.vchannel]: `${channel}_v1`,
  });
}

export function isMarker(label: string): (message: ImmutableMessage) => boolean {
  return (message) => message.properties.marker === label;
}

/** A message the suite draws: a payload of `length` bytes made from `seed`, and user properties. */
export interface DrawnMessage {
  readonly length: number;
  readonly seed: number;
  readonly properties: Readonly<Record<string, string>>;
}

/** Payload lengths where encoders change shape: empty, one byte, 2^8, 2^12 and 2^16 and their neighbours. */
const EDGE_LENGTHS = [0, 1, 255, 256, 257, 4095, 4096, 4097, 65535, 65536] as const;

/**
 * Messages of any payload length up to 64 KiB (the edges above, or anything) and up to 8 user properties
 * whose keys and values hold any well-formed text: empty values, separators (`=`, `;`, `,`, `:`, `|`),
 * quotes, escapes, control characters, newlines, non-ASCII. Keys are not empty and never start with `_`
 * (reserved for the system).
 */
export function drawnMessage(): fc.Arbitrary<DrawnMessage> {
  const text = (minLength: number) =>
    fc.oneof(
      fc.string({ unit: 'grapheme', minLength, maxLength: 24 }),
      fc.string({
        unit: fc.constantFrom('=', ';', ',', ':', '|', '"', '\\', '\n', '\t', '\u0000', ' ', 'é', '🚀'),
        minLength,
        maxLength: 8,
      }),
    );
  return fc.record({
    length: fc.oneof(fc.constantFrom(...EDGE_LENGTHS), fc.nat(64 * 1024)),
    seed: fc.integer(),
    properties: fc.dictionary(
      text(1).filter((key) => !key.startsWith('_')),
      fc.oneof(fc.constant(''), text(0)),
      { maxKeys: 8 },
    ),
  });
}

/** The message `drawn` stands for, with `key` set so failures name it. */
export function fromDrawn(drawn: DrawnMessage, key: string): MutableMessage {
  return new MutableMessage(payloadFor(`drawn/${drawn.seed}`, drawn.length), {
    ...drawn.properties,
    key,
  });
}

/** `drawn` as a failure quotes it: the payload length and the properties, escaped. */
export function describeDrawn(drawn: DrawnMessage): string {
  return `{ payload: ${drawn.length} bytes, properties: ${JSON.stringify(drawn.properties)} }`;
}

/**
 * An independent copy of what `message` holds now: the payload bytes and the properties. What the log
 * must deliver for an append of `message` made at this moment, whatever happens to `message` later.
 */
export function copyOf(message: MutableMessage): MutableMessage {
  return new MutableMessage(message.payload.slice(), { ...message.properties });
}

/** `message` still holds exactly what `copy` (made with {@link copyOf}) holds. */
export function assertUnchanged(message: MutableMessage, copy: MutableMessage, where: string): void {
  const payload = message.payload;
  const wanted = copy.payload;
  check(
    payload.byteLength === wanted.byteLength && payload.every((byte, i) => byte === wanted[i]),
    () =>
      `${where}: the caller's payload changed (${payload.byteLength} bytes, were ${wanted.byteLength}; first ` +
      `difference at byte ${firstDifference(payload, wanted)}): an adapter must not write into the caller's buffer`,
  );
  const now = message.properties;
  const was = copy.properties;
  for (const key of new Set([...Object.keys(now), ...Object.keys(was)])) {
    check(
      now[key] === was[key],
      () =>
        `${where}: the caller's property ${JSON.stringify(key)} is ${JSON.stringify(now[key])}, was ` +
        `${JSON.stringify(was[key])}: an adapter must not change the caller's message`,
    );
  }
}

function payloadLength(seq: number): number {
  if (seq % 11 === 3) return 0;
  if (seq % 50 === 7) return 4096;
  return ((seq * 53) % 257) + 1;
}

function payloadFor(seed: string, length: number): Uint8Array {
  let state = 2166136261;
  for (let i = 0; i < seed.length; i++) state = Math.imul(state ^ seed.charCodeAt(i), 16777619);
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    state = Math.imul(state ^ (state >>> 15), 2246822507) + i;
    bytes[i] = state >>> 24;
  }
  return bytes;
}

/** `id` as a reader would quote it. */
export function label(message: ImmutableMessage | Written): string {
  const key = 'message' in message ? message.message.properties.key : message.properties.key;
  return `${message.id.toString()}${key === undefined ? '' : ` (key ${key})`}`;
}

/**
 * The delivered message is the written one: equal id, equal payload bytes, every property the suite wrote
 * with the same value, and no user property the suite did not write. Adapters may add `_`-prefixed
 * properties of their own.
 */
export function assertSameMessage(actual: ImmutableMessage, expected: Written, where: string): void {
  check(
    actual.id.walName === expected.id.walName && actual.id.compare(expected.id) === 0,
    () => `${where}: delivered ${label(actual)}, expected ${label(expected)}`,
  );
  const payload = actual.payload;
  const wanted = expected.message.payload;
  check(
    payload instanceof Uint8Array,
    `${where}: ${label(expected)} was delivered with a payload that is not a Uint8Array`,
  );
  if (payload.byteLength !== wanted.byteLength || !payload.every((byte, i) => byte === wanted[i])) {
    fail(
      `${where}: ${label(expected)} was delivered with other payload bytes (${payload.byteLength} bytes, ` +
        `expected ${wanted.byteLength}; first difference at byte ${firstDifference(payload, wanted)})`,
    );
  }
  const got = actual.properties;
  for (const [key, value] of Object.entries(expected.message.properties)) {
    check(
      got[key] === value,
      () =>
        `${where}: ${label(expected)} was delivered with property ${JSON.stringify(key)} = ` +
        `${JSON.stringify(got[key])}, expected ${JSON.stringify(value)}`,
    );
  }
  for (const key of Object.keys(actual.userProperties)) {
    check(
      key in expected.message.properties,
      () =>
        `${where}: ${label(expected)} was delivered with a user property ${JSON.stringify(key)} it was not written with`,
    );
  }
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.byteLength, b.byteLength);
  for (let i = 0; i < length; i++) if (a[i] !== b[i]) return i;
  return length;
}

/** `delivered` is exactly `expected`, in order, message by message. */
export function assertDelivered(
  delivered: readonly ImmutableMessage[],
  expected: readonly Written[],
  where: string,
): void {
  const length = Math.min(delivered.length, expected.length);
  for (let i = 0; i < length; i++) assertSameMessage(delivered[i]!, expected[i]!, `${where}, message #${i}`);
  if (delivered.length > expected.length) {
    fail(
      `${where}: ${delivered.length - expected.length} message(s) more than expected, first extra: ${label(delivered[length]!)}`,
    );
  }
  if (delivered.length < expected.length) {
    fail(
      `${where}: ${expected.length - delivered.length} message(s) missing out of ${expected.length}, first missing: ` +
        label(expected[length]!),
    );
  }
}

/** Ids strictly increase by the adapter's `compare`. */
export function assertStrictlyIncreasing(ids: readonly MessageID[], where: string): void {
  for (let i = 1; i < ids.length; i++) {
    const previous = ids[i - 1]!;
    const current = ids[i]!;
    check(
      previous.compare(current) < 0,
      () =>
        `${where}: id #${i} ${current.toString()} does not come after id #${i - 1} ${previous.toString()}`,
    );
  }
}

export function sortById(written: readonly Written[]): Written[] {
  return [...written].sort((a, b) => a.id.compare(b.id));
}
