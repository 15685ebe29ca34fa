import { type MessageID, unmarshalMessageId } from '@walstream/core';
import fc from 'fast-check';
import { check, describeError, fail } from '../runner/assert.js';
import { assertCovered, draw } from '../runner/property.js';
import type { MessageIdSpace } from './types.js';

/** The pure MessageID checks run this many times the I/O-bound checks' runs. */
export const PURE_RUNS_FACTOR = 20;

/** An id `t.append` returned, with the logical times its call started and resolved. */
export interface AppendRecord {
  readonly id: MessageID;
  /** The suite's clock when the append was called (before the first attempt). */
  readonly called: number;
  /** The suite's clock when it resolved. */
  readonly resolved: number;
}

export interface IdCheckSettings {
  readonly numRuns: number;
  readonly seed: number | undefined;
}

function sign(n: number): -1 | 0 | 1 {
  return n < 0 ? -1 : n > 0 ? 1 : 0;
}

const RELATION = { [-1]: 'before', 0: 'equal to', 1: 'after' } as const;

/** `a.compare(b)`, failing on a throw or on something that is not a number. */
export function compareIds(a: MessageID, b: MessageID, where: string): number {
  let result: unknown;
  try {
    result = a.compare(b);
  } catch (error) {
    fail(`${where}: ${a.toString()}.compare(${b.toString()}) threw ${describeError(error)}`, error);
  }
  check(
    typeof result === 'number' && !Number.isNaN(result),
    () => `${where}: ${a.toString()}.compare(${b.toString()}) returned ${String(result)}, expected a number`,
  );
  return result;
}

/**
 * `unmarshal(marshal(id))` through the process-wide registry: a string, an id of the adapter that compares
 * equal to `id` both ways and marshals to the same string. Returns the decoded id.
 */
export function roundTrip(walName: string, id: MessageID, where: string): MessageID {
  let text: unknown;
  try {
    text = id.marshal();
  } catch (error) {
    fail(`${where}: ${id.toString()}.marshal() threw ${describeError(error)}`, error);
  }
  check(
    typeof text === 'string',
    () => `${where}: ${id.toString()}.marshal() returned ${typeof text}, expected a string`,
  );
  let decoded: MessageID;
  try {
    decoded = unmarshalMessageId(walName, text);
  } catch (error) {
    fail(
      `${where}: unmarshalMessageId(${JSON.stringify(walName)}, ${JSON.stringify(text)}) (the marshalled ` +
        `${id.toString()}) threw ${describeError(error)}`,
      error,
    );
  }
  check(
    decoded?.walName === walName,
    () =>
      `${where}: unmarshalling ${JSON.stringify(text)} gave an id with walName ${JSON.stringify(decoded?.walName)}`,
  );
  const there = compareIds(decoded, id, where);
  const back = compareIds(id, decoded, where);
  check(
    there === 0 && back === 0,
    () =>
      `${where}: unmarshal(marshal(${id.toString()})) = ${decoded.toString()} (marshalled ${JSON.stringify(text)}) ` +
      `does not compare equal to it (${there} and ${back}): marshal or the codec loses information`,
  );
  const again = decoded.marshal();
  check(
    again === text,
    () =>
      `${where}: marshal is not stable: ${JSON.stringify(text)} decoded and marshalled again is ${JSON.stringify(again)}`,
  );
  return decoded;
}

/**
 * One pair: `compare` is antisymmetric, agrees with `expected` (-1: `a` comes first, 0: the same position,
 * 1: `b` first; `undefined`: two different positions in an unknown order) and keeps its answer for the
 * decoded copies.
 */
export function checkPair(
  walName: string,
  a: MessageID,
  b: MessageID,
  expected: -1 | 0 | 1 | undefined,
  where: string,
): void {
  const ab = compareIds(a, b, where);
  const ba = compareIds(b, a, where);
  check(
    sign(ab) === -sign(ba),
    () =>
      `${where}: ${a.toString()}.compare(${b.toString()}) is ${ab} and ${b.toString()}.compare(${a.toString()}) ` +
      `is ${ba}: compare must be antisymmetric`,
  );
  if (expected === undefined) {
    check(
      ab !== 0,
      () =>
        `${where}: ${a.toString()} and ${b.toString()} are ids of two appends, yet compare says they are equal`,
    );
  } else {
    check(
      sign(ab) === expected,
      () =>
        `${where}: ${a.toString()}.compare(${b.toString()}) is ${ab}, but ${a.toString()} is ${RELATION[expected]} ` +
        `${b.toString()}${expected === 0 ? '' : ` (expected ${expected < 0 ? '< 0' : '> 0'})`}`,
    );
  }
  const da = roundTrip(walName, a, where);
  const db = roundTrip(walName, b, where);
  const decoded = compareIds(da, db, where);
  check(
    sign(decoded) === sign(ab),
    () =>
      `${where}: ${a.toString()}.compare(${b.toString()}) is ${ab}, but their unmarshalled copies compare ${decoded}: ` +
      'the order changes through marshal and unmarshal',
  );
}

/** `a ≤ b ≤ c` in `compare` implies `a ≤ c` (and likewise for `≥` and equality). */
export function checkTransitive(a: MessageID, b: MessageID, c: MessageID, where: string): void {
  const ab = sign(compareIds(a, b, where));
  const bc = sign(compareIds(b, c, where));
  if (ab !== bc && ab !== 0 && bc !== 0) return;
  const expected = ab !== 0 ? ab : bc;
  const ac = sign(compareIds(a, c, where));
  check(
    ac === expected,
    () =>
      `${where}: compare is not transitive: ${a.toString()} is ${RELATION[ab]} ${b.toString()}, which is ` +
      `${RELATION[bc]} ${c.toString()}, yet ${a.toString()}.compare(${c.toString()}) is ${compareIds(a, c, where)}`,
  );
}

/**
 * Every id `t.append` returned on one pchannel during a case: each round-trips; drawn pairs compare in
 * append order (an append that resolved before another was called comes first; two appends never have
 * equal ids), antisymmetrically, and the same after a round trip; drawn triples are transitive.
 */
export function checkAppendedIds(
  walName: string,
  channel: string,
  records: readonly AppendRecord[],
  settings: IdCheckSettings,
): void {
  const where = `the ids appended on ${channel} in this case`;
  for (const { id } of records) {
    check(
      id.walName === walName,
      () =>
        `${where}: ${id.toString()} has walName ${JSON.stringify(id.walName)}, expected ${JSON.stringify(walName)}`,
    );
    roundTrip(walName, id, where);
  }
  const n = records.length;
  if (n < 2) return;
  const index = fc.nat(n - 1);
  const describe = (indices: readonly number[]) =>
    indices.map((i) => `append #${i} → ${records[i]!.id.toString()}`).join(', ');
  draw<[number, number]>(
    `${where}, pairs of them`,
    fc.tuple(index, index),
    ([i, j]) => {
      const a = records[i]!;
      const b = records[j]!;
      const expected = i === j ? 0 : a.resolved < b.called ? -1 : b.resolved < a.called ? 1 : undefined;
      checkPair(walName, a.id, b.id, expected, where);
    },
    {
      numRuns: settings.numRuns * PURE_RUNS_FACTOR,
      seed: settings.seed,
      examples: [
        [0, n - 1],
        [n - 1, 0],
        [0, 0],
        [n - 2, n - 1],
      ],
      describe,
      shrink: true,
    },
  );
  if (n < 3) return;
  draw<[number, number, number]>(
    `${where}, triples of them`,
    fc.tuple(index, index, index),
    ([i, j, k]) => checkTransitive(records[i]!.id, records[j]!.id, records[k]!.id, where),
    {
      numRuns: settings.numRuns * PURE_RUNS_FACTOR,
      seed: settings.seed,
      examples: [
        [0, Math.floor(n / 2), n - 1],
        [n - 1, Math.floor(n / 2), 0],
      ],
      describe,
      shrink: true,
    },
  );
}

/** Positions near 2^k (k up to the width of `max`), where widths, pages and wrap-arounds bite. */
function nearPowerOfTwo(max: bigint): fc.Arbitrary<bigint> {
  const bits = max.toString(2).length;
  return fc
    .tuple(fc.integer({ min: 0, max: bits }), fc.integer({ min: -1, max: 1 }))
    .map(([k, d]) => clamp((1n << BigInt(k)) + BigInt(d), max));
}

function clamp(position: bigint, max: bigint): bigint {
  return position < 0n ? 0n : position > max ? max : position;
}

/** A position in [0, max]: the ends, neighbours of powers of two, anything. */
function positionIn(max: bigint): fc.Arbitrary<bigint> {
  return fc.oneof(fc.bigInt({ min: 0n, max }), nearPowerOfTwo(max), fc.constantFrom(0n, 1n, max - 1n, max));
}

/** Two positions: independent, or a distance apart that is small or near a power of two. */
function pairIn(max: bigint): fc.Arbitrary<[bigint, bigint]> {
  const distance = fc.oneof(fc.bigInt({ min: 0n, max: 3n }), nearPowerOfTwo(max));
  return fc.oneof(
    fc.tuple(positionIn(max), positionIn(max)),
    fc
      .tuple(positionIn(max), distance, fc.boolean())
      .map(([p, d, up]): [bigint, bigint] => [p, clamp(up ? p + d : p - d, max)]),
  );
}

/**
 * The adapter's ids anywhere in `space`: each has the adapter's walName and round-trips; drawn pairs
 * compare like their positions, antisymmetrically, and the same after a round trip; drawn triples are
 * transitive. Covers both ends of the range, equal, neighbouring and far-apart positions.
 */
export function checkIdSpace(walName: string, space: MessageIdSpace, settings: IdCheckSettings): void {
  const max = space.max;
  check(
    typeof max === 'bigint' && max >= 1n,
    `messageIds.max must be a bigint of at least 1n, got ${String(max)}`,
  );
  const where = 'ids from the messageIds option';
  const at = (position: bigint): MessageID => {
    let id: MessageID;
    try {
      id = space.at(position);
    } catch (error) {
      fail(`${where}: messageIds.at(${position}n) threw ${describeError(error)}`, error);
    }
    check(
      id?.walName === walName,
      () =>
        `${where}: messageIds.at(${position}n) has walName ${JSON.stringify(id?.walName)}, expected ${JSON.stringify(walName)}`,
    );
    return id;
  };
  const half = max / 2n;
  const seen = {
    'equal positions': 0,
    'neighbouring positions': 0,
    'positions more than max/2 apart': 0,
    'position max': 0,
  };
  draw<[bigint, bigint]>(
    `${where}, pairs of positions`,
    pairIn(max),
    ([p, q]) => {
      const distance = p > q ? p - q : q - p;
      if (distance === 0n) seen['equal positions']++;
      if (distance === 1n) seen['neighbouring positions']++;
      if (distance > half) seen['positions more than max/2 apart']++;
      if (p === max || q === max) seen['position max']++;
      checkPair(walName, at(p), at(q), p < q ? -1 : p > q ? 1 : 0, `${where} at ${p}n and ${q}n`);
    },
    {
      numRuns: settings.numRuns * PURE_RUNS_FACTOR,
      seed: settings.seed,
      examples: [
        [0n, max],
        [max, 0n],
        [max, max],
        [max - 1n, max],
        [0n, 1n],
      ],
      describe: ([p, q]) => `positions ${p}n and ${q}n`,
      shrink: true,
    },
  );
  assertCovered(`${where}, pairs of positions`, seen);
  draw<[bigint, bigint, bigint]>(
    `${where}, triples of positions`,
    fc.tuple(positionIn(max), positionIn(max), positionIn(max)),
    ([p, q, r]) => checkTransitive(at(p), at(q), at(r), `${where} at ${p}n, ${q}n and ${r}n`),
    {
      numRuns: settings.numRuns * PURE_RUNS_FACTOR,
      seed: settings.seed,
      examples: [[0n, half, max]],
      describe: ([p, q, r]) => `positions ${p}n, ${q}n and ${r}n`,
      shrink: true,
    },
  );
}
