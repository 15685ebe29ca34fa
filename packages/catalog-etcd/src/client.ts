import { checkKnownKeys, integerOption, walError } from '@walstream/core/internal';
import { noop } from 'cockatiel';
import { Etcd3, type IOptions } from 'etcd3';

/** How to reach etcd. The catalog takes these, and so can anything else that shares its client. */
export interface EtcdClientOptions {
  /** Client URLs, e.g. `['http://127.0.0.1:2379']`. */
  readonly endpoints: readonly string[];
  /** Deadline of every unary call (get, put, txn, lease grant). Default 5000 ms. */
  readonly callTimeoutMs?: number;
  /** How long connecting may take before a call fails. Default 5000 ms. */
  readonly dialTimeoutMs?: number;
  /** etcd user and password, when authentication is on. */
  readonly auth?: { readonly username: string; readonly password: string };
  /** TLS: PEM bytes of the CA, and of the client certificate and key for mutual TLS. */
  readonly tls?: { readonly ca: Buffer; readonly cert?: Buffer; readonly key?: Buffer };
}

const CLIENT_KEYS = ['endpoints', 'callTimeoutMs', 'dialTimeoutMs', 'auth', 'tls'] as const;
const DEFAULT_CALL_TIMEOUT_MS = 5_000;
const DEFAULT_DIAL_TIMEOUT_MS = 5_000;

/**
 * An `etcd3` client set up the way walstream uses etcd: a deadline on every unary call, and none of the
 * client's own retries or circuit breaker. A retried compare-and-swap whose first attempt landed would
 * come back as a conflict, and a breaker keeps failing calls for seconds after etcd is back; walstream's
 * callers get UNAVAILABLE instead and decide themselves. Sessions, leases and elections built later on the
 * same etcd should use a client made here, so every walstream call fails the same way.
 */
export function createEtcdClient(options: EtcdClientOptions): Etcd3 {
  checkKnownKeys('etcd client', options, CLIENT_KEYS);
  const endpoints = options.endpoints;
  if (!Array.isArray(endpoints) || endpoints.length === 0 || !endpoints.every((e) => typeof e === 'string')) {
    throw walError('INVALID_ARGUMENT', 'etcd client: endpoints must be a non-empty array of URLs', {
      retriable: false,
      details: { option: 'endpoints' },
    });
  }
  const callTimeoutMs = integerOption(
    'etcd client',
    'callTimeoutMs',
    options.callTimeoutMs,
    DEFAULT_CALL_TIMEOUT_MS,
  );
  const dialTimeoutMs = integerOption(
    'etcd client',
    'dialTimeoutMs',
    options.dialTimeoutMs,
    DEFAULT_DIAL_TIMEOUT_MS,
  );
  const config: IOptions = {
    hosts: [...endpoints],
    dialTimeout: dialTimeoutMs,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
    faultHandling: { host: () => noop, global: noop },
    ...(options.auth ? { auth: { username: options.auth.username, password: options.auth.password } } : {}),
    ...(options.tls
      ? {
          credentials: {
            rootCertificate: options.tls.ca,
            ...(options.tls.cert ? { certChain: options.tls.cert } : {}),
            ...(options.tls.key ? { privateKey: options.tls.key } : {}),
          },
        }
      : {}),
  };
  return new Etcd3(config);
}
