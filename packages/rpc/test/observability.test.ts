import { WalError } from '@walstream/core';
import type { createObservability } from '@walstream/core/spi';
import { describe, expect, it } from 'vitest';
import { AllocateRequestSchema, connectRpc, create } from '../src/index.js';
import { echoTso, serve } from './support/fixtures.js';

type MeterProvider = NonNullable<NonNullable<Parameters<typeof createObservability>[0]>['meterProvider']>;
type Logger = NonNullable<NonNullable<Parameters<typeof createObservability>[0]>['logger']>;

interface Line {
  readonly level: string;
  readonly message: string | undefined;
  readonly fields: Record<string, unknown>;
}

function recordingLogger(lines: Line[], bindings: Record<string, unknown> = {}): Logger {
  const at = (level: string) => (fields: object, message?: string) =>
    lines.push({ level, message, fields: { ...bindings, ...fields } });
  return {
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => recordingLogger(lines, { ...bindings, ...more }),
  };
}

/** Sums of every counter and up-down counter by `name{outcome}`, and the number of histogram records. */
function countingMeterProvider(): { provider: MeterProvider; sums: Map<string, number> } {
  const sums = new Map<string, number>();
  const add = (key: string, value: number) => sums.set(key, (sums.get(key) ?? 0) + value);
  const keyOf = (name: string, attributes?: Record<string, unknown>) =>
    attributes?.outcome === undefined ? name : `${name}{${String(attributes.outcome)}}`;
  const meter = {
    createCounter: (name: string) => ({
      add: (v: number, a?: Record<string, unknown>) => add(keyOf(name, a), v),
    }),
    createUpDownCounter: (name: string) => ({
      add: (v: number, a?: Record<string, unknown>) => add(keyOf(name, a), v),
    }),
    createHistogram: (name: string) => ({
      record: (_v: number, a?: Record<string, unknown>) => add(`${keyOf(name, a)}#`, 1),
    }),
  };
  return { provider: { getMeter: () => meter } as unknown as MeterProvider, sums };
}

describe('server observability', () => {
  it('counts calls by outcome, times those that reached a handler, and the active count returns to 0', async () => {
    const { provider, sums } = countingMeterProvider();
    let fail: unknown;
    await using server = await serve(
      {
        tso: {
          allocate: async (request, call) => {
            if (fail !== undefined) throw fail;
            return echoTso.allocate(request, call);
          },
        },
      },
      { token: 't', observability: { meterProvider: provider } },
    );
    await using channel = connectRpc(server.address, { token: 't' });
    await using stranger = connectRpc(server.address);
    const call = () => channel.tso.allocate(create(AllocateRequestSchema, { count: 1 }));
    await call();
    await call();
    fail = new WalError('CHANNEL_FENCED', 'fenced');
    await call().catch(() => {});
    fail = new Error('boom');
    await call().catch(() => {});
    await stranger.tso.allocate(create(AllocateRequestSchema, { count: 1 })).catch(() => {});
    expect(sums.get('walstream.rpc.server.calls{ok}')).toBe(2);
    expect(sums.get('walstream.rpc.server.calls{CHANNEL_FENCED}')).toBe(1);
    expect(sums.get('walstream.rpc.server.calls{UNKNOWN}')).toBe(1);
    expect(sums.get('walstream.rpc.server.calls{UNAUTHENTICATED}')).toBe(1);
    expect(sums.get('walstream.rpc.server.duration{ok}#')).toBe(2);
    expect(sums.get('walstream.rpc.server.duration{UNAUTHENTICATED}#')).toBeUndefined();
    expect(sums.get('walstream.rpc.server.active')).toBe(0);
  });

  it('logs the listen address, and a handler that fails with a non-walstream error at warn', async () => {
    const lines: Line[] = [];
    await using server = await serve(
      {
        tso: {
          allocate: async () => {
            throw new TypeError('boom');
          },
        },
      },
      { observability: { logger: recordingLogger(lines) } },
    );
    await using channel = connectRpc(server.address);
    await channel.tso.allocate(create(AllocateRequestSchema, { count: 1 })).catch(() => {});
    const listening = lines.find((line) => line.message === 'rpc server listening');
    expect(listening?.fields).toMatchObject({ address: server.address, component: 'rpc-server', tls: false });
    const warned = lines.filter((line) => line.level === 'warn');
    expect(warned).toHaveLength(1);
    expect(warned[0]?.fields.method).toBe('/walstream.v1.TsoService/Allocate');
  });
});
