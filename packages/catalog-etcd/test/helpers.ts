import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { EtcdCatalog, type EtcdCatalogOptions } from '../src/index.js';

export const endpoints = (): string[] => inject('etcdEndpoints');

/** A key prefix no other test or run uses. */
export const freshPrefix = (label = 'test'): string =>
  `walstream-test/${label}-${randomBytes(6).toString('hex')}/`;

/** A catalog on the run's etcd under a fresh prefix. */
export function freshCatalog(options: Partial<EtcdCatalogOptions> = {}): EtcdCatalog {
  return new EtcdCatalog({ endpoints: endpoints(), prefix: freshPrefix(), ...options });
}
