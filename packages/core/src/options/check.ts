import { WalError } from '../errors/wal-error.js';

/**
 * Option checks shared by every walstream package, so every options object fails the same way: an
 * INVALID_ARGUMENT that names the function, the option, what it must be and what it got.
 */

function invalid(where: string, name: string, must: string, got: unknown): WalError {
  return new WalError('INVALID_ARGUMENT', `${where}: option ${name} must be ${must}, got ${describe(got)}`, {
    retriable: false,
    details: { option: name },
  });
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}

/**
 * Checks that `options` is absent or a plain object whose keys are all in `known`; a misspelt key is an
 * error rather than a default silently kept. `prefix` names nested objects (`timeTick.`).
 */
export function checkKnownKeys(where: string, options: unknown, known: readonly string[], prefix = ''): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new WalError(
      'INVALID_ARGUMENT',
      `${where}: ${prefix ? `option ${prefix.slice(0, -1)}` : 'options'} must be an object, got ${describe(options)}`,
      { retriable: false, details: prefix ? { option: prefix.slice(0, -1) } : {} },
    );
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new WalError(
        'INVALID_ARGUMENT',
        `${where}: unknown option ${prefix}${key} (known: ${known.map((k) => prefix + k).join(', ')})`,
        { retriable: false, details: { option: `${prefix}${key}` } },
      );
    }
  }
}

export interface IntegerRange {
  readonly min?: number;
  readonly max?: number;
}

/** `value`, or `fallback` when it is undefined; it must be an integer within `range` (default ≥ 1). */
export function integerOption(
  where: string,
  name: string,
  value: unknown,
  fallback: number,
  range: IntegerRange = {},
): number {
  if (value === undefined) return fallback;
  const min = range.min ?? 1;
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const must =
      max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer between ${min} and ${max}`;
    throw invalid(where, name, must, value);
  }
  return value;
}

/** `value`, or `fallback` when it is undefined; it must be a finite number ≥ `min`. */
export function numberOption(where: string, name: string, value: unknown, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw invalid(where, name, `a finite number ≥ ${min}`, value);
  }
  return value;
}

/** `value`, or `fallback` when it is undefined; it must be a boolean. */
export function booleanOption(where: string, name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalid(where, name, 'true or false', value);
  return value;
}

/** `value`, or `fallback` when it is undefined; it must be one of `allowed`. */
export function oneOfOption<T extends string>(
  where: string,
  name: string,
  value: unknown,
  allowed: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    throw invalid(where, name, `one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`, value);
  }
  return value as T;
}

/** `value` when it is a function or undefined. */
export function functionOption<F extends (...args: never[]) => unknown>(
  where: string,
  name: string,
  value: unknown,
): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw invalid(where, name, 'a function', value);
  return value as F;
}

/** `value`, or `fallback` when it is undefined; it must be a string, and not empty unless `allowEmpty`. */
export function stringOption(
  where: string,
  name: string,
  value: unknown,
  fallback: string,
  allowEmpty = true,
): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || (!allowEmpty && value === '')) {
    throw invalid(where, name, allowEmpty ? 'a string' : 'a non-empty string', value);
  }
  return value;
}
