import { SystemMessageType } from '@walstream/core';
import { describe, expect, it } from 'vitest';
import { createCollection, note, semanticsStack, stored } from './support.js';

describe('semantics stack smoke', () => {
  it('opens, fences, appends and emits a persisted TimeTick covering the append', async () => {
    const stack = await semanticsStack();
    const wal = await stack.open(1n);
    const log0 = stored(stack);
    expect(log0).toHaveLength(1);
    expect(log0[0]!.messageType).toBe(SystemMessageType.TimeTick);
    await createCollection(wal, 'ps_av0');
    const result = await wal.append(note('ps_av0', 1));
    await expect
      .poll(
        () =>
          stored(stack).filter(
            (m) => m.messageType === SystemMessageType.TimeTick && m.timeTick >= result.timeTick,
          ).length,
      )
      .toBeGreaterThan(0);
    await stack.close();
  });
});
