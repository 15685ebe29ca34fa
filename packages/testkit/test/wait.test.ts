import { hasCode } from '@walstream/core';
import { expect, test } from 'vitest';
import { waitFor } from '../src/index.js';

test('waitFor resolves once the condition holds, checking it again until then (sync and async)', async () => {
  let checks = 0;
  await waitFor(() => ++checks >= 3, 'the third check', 5_000, 0);
  expect(checks).toBe(3);
  let asyncChecks = 0;
  await waitFor(async () => ++asyncChecks >= 2, 'the second async check', 5_000, 1);
  expect(asyncChecks).toBe(2);
});

test('waitFor rejects TIMEOUT, not retriable, naming what it waited for', async () => {
  const error = await waitFor(() => false, 'a condition that never holds', 30).catch((e: unknown) => e);
  expect(hasCode(error, 'TIMEOUT')).toBe(true);
  expect((error as Error).message).toContain('a condition that never holds');
  expect((error as { retriable: boolean }).retriable).toBe(false);
});
