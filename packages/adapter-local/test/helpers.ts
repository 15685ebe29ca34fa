/* Helpers shared by this package's tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LocalAdapter } from '@walstream/adapter-local';
import {
  DeliverPolicy,
  type ErrorCode,
  type ImmutableMessage,
  MutableMessage,
  WalError,
} from '@walstream/core';
import type { createObservability, RawScanner, WalImpls } from '@walstream/core/spi';
import { afterAll, expect } from 'vitest';

/** A fresh directory under the system's temporary directory, removed after the file's tests. */
export function scratchDirectory(label: string): string {
  const directory = mkdtempSync(join(tmpdir(), `walstream-local-${label}-`));
  afterAll(() => rmSync(directory, { recursive: true, force: true }));
  return directory;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A message whose payload and `seq` property say which one it is. */
export function message(seq: number, size = 0): MutableMessage {
  const text = `message-${seq}`;
  const payload = new Uint8Array(Math.max(size, text.length));
  payload.set(encoder.encode(text));
  for (let i = text.length; i < payload.length; i++) payload[i] = (seq + i) & 0xff;
  return new MutableMessage(payload, { seq: String(seq) });
}

export function seqOf(message: ImmutableMessage): number {
  return Number(message.properties.seq);
}

export function text(message: ImmutableMessage): string {
  return decoder.decode(message.payload);
}

/** Resolves with the first `count` messages of `scanner`, or fails with TIMEOUT after `timeoutMs`. */
export async function take(
  scanner: RawScanner,
  count: number,
  timeoutMs = 10_000,
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

/** Every record of `wal` from the first retained one to the end (as the stats say it is now). */
export async function readAll(wal: WalImpls, adapter: LocalAdapter): Promise<ImmutableMessage[]> {
  const stats = await adapter.stats(wal.channel.name);
  if (!stats) throw new Error(`no stats for ${wal.channel.name}: is it open?`);
  const scanner = await wal.read({ name: 'read-all', deliverPolicy: DeliverPolicy.all() });
  try {
    return await take(scanner, stats.nextOffset - stats.firstOffset);
  } finally {
    await scanner.close();
  }
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

/** The coded error `promise` rejects with, checked to carry `code`. */
export async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<WalError> {
  const error = await promise.then(
    () => {
      throw new Error(`expected a rejection with ${code}, but it resolved`);
    },
    (reason: unknown) => reason,
  );
  expect(WalError.is(error), String(error)).toBe(true);
  expect((error as WalError).code, (error as WalError).message).toBe(code);
  return error as WalError;
}

/** The coded error `fn` throws, checked to carry `code`. */
export function throwsWith(fn: () => unknown, code: ErrorCode): WalError {
  try {
    fn();
  } catch (error) {
    expect(WalError.is(error), String(error)).toBe(true);
    expect((error as WalError).code, (error as WalError).message).toBe(code);
    return error as WalError;
  }
  throw new Error(`expected a throw with ${code}`);
}

/** A meter provider that adds up every counter by name (histograms are ignored), for tests of what is counted. */
export function countingMeterProvider(): { provider: MeterProviderLike; counts: Map<string, number> } {
  const counts = new Map<string, number>();
  const meter = {
    createCounter: (name: string) => ({
      add: (value: number) => counts.set(name, (counts.get(name) ?? 0) + value),
    }),
    createHistogram: () => ({ record: () => undefined }),
  };
  return { provider: { getMeter: () => meter } as unknown as MeterProviderLike, counts };
}

export type MeterProviderLike = NonNullable<Parameters<typeof createObservability>[0]>['meterProvider'];
