import { join } from 'node:path';
import { localAdapter } from '@walstream/adapter-local';
import { pchannel } from '@walstream/core';
import { createObservability } from '@walstream/core/spi';
import { type LogLine, recordingLogger } from '@walstream/testkit';
import { describe, expect, it } from 'vitest';
import { countingMeterProvider, message, scratchDirectory } from './helpers.js';

const root = scratchDirectory('observability');

describe('observability: the adapter logs and counts through what build() receives', () => {
  it('logs the open (info, with what recovery found) and the closes (debug), with the adapter and pchannel bound', async () => {
    const lines: LogLine[] = [];
    const opener = await localAdapter({ directory: join(root, 'logged') }).build({
      observability: createObservability({ logger: recordingLogger(lines) }),
    });
    const wal = await opener.open({ channel: pchannel('logged', 3n) });
    await wal.append(message(0));
    await opener.close();
    const opened = lines.find((line) => line.message === 'local log opened');
    expect(opened?.level).toBe('info');
    expect(opened?.fields).toMatchObject({ adapter: 'local', pchannel: 'logged', segments: 0, records: 0 });
    expect(lines.map((line) => line.message)).toEqual(
      expect.arrayContaining(['local WAL opened', 'local WAL closed', 'local log closed']),
    );
    for (const line of lines) expect(line.fields).toMatchObject({ adapter: 'local', pchannel: 'logged' });
    expect(lines.filter((line) => line.level === 'warn' || line.level === 'error')).toEqual([]);
  });

  it('counts appends, bytes and group commits per pchannel', async () => {
    const { provider, counts } = countingMeterProvider();
    const opener = await localAdapter({ directory: join(root, 'counted') }).build({
      observability: createObservability({ meterProvider: provider }),
    });
    const wal = await opener.open({ channel: pchannel('counted', 1n) });
    await Promise.all(Array.from({ length: 10 }, (_, i) => wal.append(message(i))));
    await opener.close();
    expect(counts.get('walstream.local.appends')).toBe(10);
    expect(counts.get('walstream.local.bytes')).toBeGreaterThan(10 * 20);
    expect(counts.get('walstream.local.commits')).toBeGreaterThanOrEqual(1);
    expect(counts.get('walstream.local.commits')).toBeLessThanOrEqual(2);
  });

  it('without observability it is silent and works', async () => {
    const opener = await localAdapter({ directory: join(root, 'silent') }).build();
    const wal = await opener.open({ channel: pchannel('silent', 1n) });
    expect((await wal.append(message(0))).marshal()).toBe('0');
    await opener.close();
  });
});
