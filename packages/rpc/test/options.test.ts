import { WalError } from '@walstream/core';
import { describe, expect, it } from 'vitest';
import { channelOptions } from '../src/transport/options.js';

describe('channel options', () => {
  it('default to 256 MiB messages both ways and keepalive pings after 10 s with a 20 s timeout', () => {
    expect(channelOptions('test', undefined, undefined)).toEqual({
      'grpc.max_receive_message_length': 256 * 1024 * 1024,
      'grpc.max_send_message_length': 256 * 1024 * 1024,
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 20_000,
      'grpc.keepalive_permit_without_calls': 1,
    });
  });

  it('take the given limit and keepalive', () => {
    const options = channelOptions('test', 4096, { timeMs: 500, timeoutMs: 1_500 });
    expect(options['grpc.max_send_message_length']).toBe(4096);
    expect(options['grpc.keepalive_time_ms']).toBe(500);
    expect(options['grpc.keepalive_timeout_ms']).toBe(1_500);
  });

  it('refuse a limit grpc-js cannot hold, a misspelt keepalive key, a fractional time', () => {
    const option = (run: () => unknown) => {
      try {
        run();
      } catch (error) {
        if (WalError.is(error) && error.code === 'INVALID_ARGUMENT') return error.details.option;
      }
      return 'accepted';
    };
    expect(option(() => channelOptions('test', 2 ** 31, undefined))).toBe('maxMessageBytes');
    expect(option(() => channelOptions('test', undefined, { timeMS: 5 } as never))).toBe('keepalive.timeMS');
    expect(option(() => channelOptions('test', undefined, { timeoutMs: 1.5 }))).toBe('keepalive.timeoutMs');
  });
});
