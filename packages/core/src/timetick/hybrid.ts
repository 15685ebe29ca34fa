/**
 * Hybrid timestamps ("timeticks"): physical milliseconds in the high bits, an 18-bit logical counter in
 * the low bits, the layout of the Milvus TSO. Always `bigint`.
 */
export const LOGICAL_BITS = 18n;
export const LOGICAL_MASK = (1n << LOGICAL_BITS) - 1n;
/** The largest timetick; used as "never expires". */
export const MAX_TIMETICK = (1n << 64n) - 1n;

export function composeTimeTick(physicalMs: number | bigint, logical: number | bigint = 0n): bigint {
  return (BigInt(physicalMs) << LOGICAL_BITS) | (BigInt(logical) & LOGICAL_MASK);
}

export function physicalMsOf(timeTick: bigint): number {
  return Number(timeTick >> LOGICAL_BITS);
}

export function logicalOf(timeTick: bigint): number {
  return Number(timeTick & LOGICAL_MASK);
}

/** Adds wall-clock milliseconds to a timetick, saturating at {@link MAX_TIMETICK}. */
export function addMilliseconds(timeTick: bigint, ms: number | bigint): bigint {
  const sum = timeTick + (BigInt(ms) << LOGICAL_BITS);
  return sum > MAX_TIMETICK ? MAX_TIMETICK : sum;
}
