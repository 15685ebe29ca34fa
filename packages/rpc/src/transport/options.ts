import { readFileSync } from 'node:fs';
import { type ChannelCredentials, credentials, ServerCredentials } from '@grpc/grpc-js';
import { WalError } from '@walstream/core';
import { booleanOption, checkKnownKeys, integerOption, stringOption } from '@walstream/core/internal';
import type { KeepaliveOptions, TlsClientOptions, TlsMaterial, TlsServerOptions } from './types.js';

export const DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024;
export const DEFAULT_KEEPALIVE_TIME_MS = 10_000;
export const DEFAULT_KEEPALIVE_TIMEOUT_MS = 20_000;

/** Channel options both ends share: message size limits and keepalive. */
export function channelOptions(
  where: string,
  maxMessageBytes: unknown,
  keepalive: KeepaliveOptions | undefined,
): Record<string, number> {
  // grpc-js keeps the limit in a 32-bit signed integer.
  const max = integerOption(where, 'maxMessageBytes', maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES, {
    min: 1,
    max: 2 ** 31 - 1,
  });
  checkKnownKeys(where, keepalive, ['timeMs', 'timeoutMs'], 'keepalive.');
  const timeMs = integerOption(where, 'keepalive.timeMs', keepalive?.timeMs, DEFAULT_KEEPALIVE_TIME_MS);
  const timeoutMs = integerOption(
    where,
    'keepalive.timeoutMs',
    keepalive?.timeoutMs,
    DEFAULT_KEEPALIVE_TIMEOUT_MS,
  );
  return {
    'grpc.max_receive_message_length': max,
    'grpc.max_send_message_length': max,
    'grpc.keepalive_time_ms': timeMs,
    'grpc.keepalive_timeout_ms': timeoutMs,
    // A stream that waits for a long-polling response has no traffic; it must still be watched.
    'grpc.keepalive_permit_without_calls': 1,
  };
}

export function tokenOption(where: string, token: unknown): string | undefined {
  if (token === undefined) return undefined;
  const value = stringOption(where, 'token', token, '', false);
  if (/[\r\n]/.test(value)) {
    throw new WalError('INVALID_ARGUMENT', `${where}: option token must be one line`, {
      retriable: false,
      details: { option: 'token' },
    });
  }
  return value;
}

function pem(where: string, tls: TlsMaterial, name: 'cert' | 'key' | 'ca'): Buffer | undefined {
  const inline = tls[name];
  const file = tls[`${name}File`];
  if (inline !== undefined && file !== undefined) {
    throw new WalError('INVALID_ARGUMENT', `${where}: give tls.${name} or tls.${name}File, not both`, {
      retriable: false,
      details: { option: `tls.${name}` },
    });
  }
  if (inline !== undefined) {
    if (typeof inline !== 'string' && !Buffer.isBuffer(inline)) {
      throw new WalError('INVALID_ARGUMENT', `${where}: option tls.${name} must be PEM text or a Buffer`, {
        retriable: false,
        details: { option: `tls.${name}` },
      });
    }
    return Buffer.from(inline);
  }
  if (file === undefined) return undefined;
  const path = stringOption(where, `tls.${name}File`, file, '', false);
  try {
    return readFileSync(path);
  } catch (error) {
    throw new WalError('INVALID_ARGUMENT', `${where}: cannot read tls.${name}File ${path}`, {
      cause: error,
      retriable: false,
      details: { option: `tls.${name}File` },
    });
  }
}

const MATERIAL_KEYS = ['cert', 'certFile', 'key', 'keyFile', 'ca', 'caFile'];

export function serverCredentials(where: string, tls: TlsServerOptions | undefined): ServerCredentials {
  if (tls === undefined) return ServerCredentials.createInsecure();
  checkKnownKeys(where, tls, [...MATERIAL_KEYS, 'requireClientCert'], 'tls.');
  const cert = pem(where, tls, 'cert');
  const key = pem(where, tls, 'key');
  const ca = pem(where, tls, 'ca');
  const requireClientCert = booleanOption(where, 'tls.requireClientCert', tls.requireClientCert, false);
  if (!cert || !key) {
    throw new WalError('INVALID_ARGUMENT', `${where}: a TLS server needs tls.cert(File) and tls.key(File)`, {
      retriable: false,
      details: { option: 'tls' },
    });
  }
  if (requireClientCert && !ca) {
    throw new WalError(
      'INVALID_ARGUMENT',
      `${where}: tls.requireClientCert needs tls.ca(File) to check clients against`,
      {
        retriable: false,
        details: { option: 'tls.ca' },
      },
    );
  }
  return ServerCredentials.createSsl(ca ?? null, [{ cert_chain: cert, private_key: key }], requireClientCert);
}

export function clientCredentials(
  where: string,
  tls: TlsClientOptions | undefined,
): { credentials: ChannelCredentials; options: Record<string, string> } {
  if (tls === undefined) return { credentials: credentials.createInsecure(), options: {} };
  checkKnownKeys(where, tls, [...MATERIAL_KEYS, 'serverName'], 'tls.');
  const cert = pem(where, tls, 'cert');
  const key = pem(where, tls, 'key');
  const ca = pem(where, tls, 'ca');
  if ((cert === undefined) !== (key === undefined)) {
    throw new WalError(
      'INVALID_ARGUMENT',
      `${where}: a client certificate needs both tls.cert(File) and tls.key(File)`,
      {
        retriable: false,
        details: { option: 'tls' },
      },
    );
  }
  const serverName =
    tls.serverName === undefined
      ? undefined
      : stringOption(where, 'tls.serverName', tls.serverName, '', false);
  return {
    credentials: credentials.createSsl(ca ?? null, key ?? null, cert ?? null),
    options:
      serverName === undefined
        ? {}
        : { 'grpc.ssl_target_name_override': serverName, 'grpc.default_authority': serverName },
  };
}
