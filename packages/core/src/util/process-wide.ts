/**
 * One instance per process, whichever copy of this package asks: the ESM and the CJS build (or two
 * installed versions with the same `version` key) share it through a global symbol, so a codec or
 * message type registered through one copy is seen by the other.
 */
export function processWide<T>(key: string, create: () => T): T {
  const slot = Symbol.for(`walstream.${key}`);
  const store = globalThis as unknown as Record<symbol, T | undefined>;
  store[slot] ??= create();
  return store[slot];
}
