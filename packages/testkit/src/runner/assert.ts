import { type ErrorCode, hasCode, WalError } from '@walstream/core';

/** A conformance violation. Its message says what the adapter did and what the SPI expects. */
export class ConformanceFailure extends Error {
  override readonly name = 'ConformanceFailure';
}

export function fail(message: string, cause?: unknown): never {
  throw new ConformanceFailure(message, cause === undefined ? undefined : { cause });
}

export function check(condition: boolean, message: string | (() => string)): asserts condition {
  if (!condition) fail(typeof message === 'string' ? message : message());
}

/** `code: message` for coded errors, the message otherwise: what a failure report should quote. */
export function describeError(error: unknown): string {
  if (WalError.is(error))
    return `${error.code} (${error.retriable ? 'retriable' : 'not retriable'}): ${error.message}`;
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/**
 * Expects `operation` to reject with one of `codes`. Rejections marked retriable with another code are
 * tried again up to `retries` times (an injected UNAVAILABLE may come before the check under test).
 */
export async function expectRejection(
  what: string,
  operation: () => Promise<unknown>,
  codes: readonly ErrorCode[],
  retries = 0,
): Promise<WalError> {
  for (let attempt = 0; ; attempt++) {
    let outcome: unknown;
    try {
      outcome = await operation();
    } catch (error) {
      if (hasCode(error, ...codes)) return error;
      if (WalError.is(error) && error.retriable && attempt < retries) continue;
      fail(`${what}: expected a rejection coded ${codes.join(' or ')}, got ${describeError(error)}`, error);
    }
    fail(
      `${what}: expected a rejection coded ${codes.join(' or ')}, but it resolved${describeValue(outcome)}`,
    );
  }
}

function describeValue(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value === 'object' && value !== null && 'toString' in value) return ` with ${String(value)}`;
  return ` with ${JSON.stringify(value)}`;
}

/** Thrown by a test context's `skip`; the runner turns it into a skipped result. */
export class CaseSkipped extends Error {
  override readonly name = 'CaseSkipped';
}
