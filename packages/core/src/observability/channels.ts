import { tracingChannel } from 'node:diagnostics_channel';

/**
 * `node:diagnostics_channel` tracing channels, for APMs and tests that want to see each operation without
 * a logger. Subscribers get `{ pchannel, vchannel, messageType }` for appends and `{ pchannel, vchannel,
 * scanner }` for reads; the `asyncEnd` / `error` events carry the result or the error as usual.
 */
export const diagnosticChannelNames = Object.freeze({
  append: 'walstream:wal:append',
  read: 'walstream:wal:read',
});

export interface AppendTraceContext {
  readonly pchannel: string;
  readonly vchannel: string | undefined;
  readonly messageType: number;
}

export interface ReadTraceContext {
  readonly pchannel: string;
  readonly vchannel: string | undefined;
  readonly scanner: string;
}

export const appendChannel = tracingChannel<unknown, AppendTraceContext & object>(
  diagnosticChannelNames.append,
);
export const readChannel = tracingChannel<unknown, ReadTraceContext & object>(diagnosticChannelNames.read);
