/* Helpers shared by this package's unit tests (not exported from the index). */
import {
  type ErrorCode,
  type ImmutableMessage,
  type Logger,
  type MessageID,
  MutableMessage,
  WalError,
} from '@walstream/core';
import type { RawScanner } from '@walstream/core/spi';
import { expect } from 'vitest';

const encoder = new TextEncoder();

/** A message with a payload and a user `id` property, as the conformance suite writes them. */
export function message(id: number | string, extra: Record<string, string> = {}): MutableMessage {
  return new MutableMessage(encoder.encode(`payload-${id}`), { id: String(id), ...extra });
}

/** Resolves with the first `count` messages of `scanner`, or fails with TIMEOUT after `timeoutMs`. */
export async function take(
  scanner: RawScanner,
  count: number,
  timeoutMs = 2_000,
): Promise<ImmutableMessage[]> {
  const iterator = scanner[Symbol.asyncIterator]();
  const taken: ImmutableMessage[] = [];
  while (taken.length < count) {
    const next = await within(iterator.next(), timeoutMs, `message ${taken.length + 1} of ${count}`);
    if (next.done)
      throw new Error(`scanner ${scanner.name} ended after ${taken.length} of ${count} messages`);
    taken.push(next.value);
  }
  return taken;
}

/** Rejects with TIMEOUT when `promise` has not settled after `timeoutMs`: a bound, never a correctness sleep. */
export function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new WalError('TIMEOUT', `${what} did not arrive in ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** True when `promise` is still pending after every queued microtask and one macrotask turn ran. */
export async function isPending(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  await new Promise<void>((resolve) => setImmediate(resolve));
  return !settled;
}

/** Asserts that `promise` rejects with a WalError of `code`, and returns the error for further checks. */
export async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<WalError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error, `expected a ${code} rejection`).toBeDefined();
  expect(WalError.is(error)).toBe(true);
  const coded = error as WalError;
  expect(coded.code).toBe(code);
  return coded;
}

/** Synchronous variant of {@link rejectsWith}. */
export function throwsWith(fn: () => unknown, code: ErrorCode): WalError {
  try {
    fn();
  } catch (error) {
    expect(WalError.is(error)).toBe(true);
    expect((error as WalError).code).toBe(code);
    return error as WalError;
  }
  throw new Error(`expected a ${code} error, nothing was thrown`);
}

/** A MessageID of some other adapter, to prove ids never cross adapters. */
export function foreignId(offset = 0): MessageID {
  return {
    walName: 'kafka',
    compare: (other) => offset - (other as unknown as { offset: number }).offset,
    marshal: () => offset.toString(36),
    toString: () => `kafka:${offset}`,
  };
}

/** The `id` properties of `messages`, in order. */
export function ids(messages: readonly ImmutableMessage[]): string[] {
  return messages.map((m) => m.properties.id ?? '?');
}

/** Resolves once `condition()` holds, checking after each event-loop turn; TIMEOUT after `timeoutMs`. */
export async function waitUntil(condition: () => boolean, what: string, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new WalError('TIMEOUT', `${what}: not reached in ${timeoutMs} ms`);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** One line a {@link recordingLogger} received. */
export interface LogLine {
  readonly level: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  readonly fields: Record<string, unknown>;
  readonly message: string | undefined;
}

/** A pino-shaped logger that keeps every line (with its child bindings merged in) in `lines`. */
export function recordingLogger(lines: LogLine[] = [], bindings: Record<string, unknown> = {}): Logger {
  const at =
    (level: LogLine['level']) =>
    (fields: object, message?: string): void => {
      lines.push({ level, fields: { ...bindings, ...fields }, message });
    };
  return {
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => recordingLogger(lines, { ...bindings, ...more }),
  };
}
