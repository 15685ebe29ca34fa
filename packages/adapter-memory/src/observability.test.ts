import { DeliverPolicy, pchannel } from '@walstream/core';
import { createObservability } from '@walstream/core/spi';
import { describe, expect, it } from 'vitest';
import { memoryAdapter } from './adapter.js';
import { type LogLine, message, recordingLogger, rejectsWith } from './test-helpers.js';

describe('observability: the adapter logs through what build() receives', () => {
  it('open, injected faults and close are logged at debug with the pchannel and term bound', async () => {
    const lines: LogLine[] = [];
    const adapter = memoryAdapter();
    const opener = await adapter.build({
      observability: createObservability({ logger: recordingLogger(lines) }),
    });
    const wal = await opener.open({ channel: pchannel('logged', 4n) });
    adapter.store.faults('logged').set({ appendErrorRate: 1 });
    await rejectsWith(wal.append(message(0)), 'UNAVAILABLE');
    await opener.close();

    const texts = lines.map((line) => line.message ?? '');
    expect(texts).toContain('memory WAL opened');
    expect(texts).toContain('memory WAL closed');
    expect(texts.some((text) => text.startsWith('injected fault:'))).toBe(true);
    for (const line of lines) {
      expect(line.level).toBe('debug');
      expect(line.fields).toMatchObject({ adapter: 'memory', pchannel: 'logged', term: '4' });
    }
  });

  it('without observability it is silent and works', async () => {
    const opener = await memoryAdapter().build();
    const wal = await opener.open({ channel: pchannel('silent', 1n) });
    const id = await wal.append(message(0));
    const scanner = await wal.read({ name: 'r', deliverPolicy: DeliverPolicy.startFrom(id) });
    await scanner.close();
    await opener.close();
  });
});
