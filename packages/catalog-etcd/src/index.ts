/**
 * @walstream/catalog-etcd — the walstream `Catalog` on etcd, for nodes and coordinators that share
 * metadata across processes.
 */

// The catalog: every checkpoint save, high-water raise and pchannel save one compare-and-swap.
export { EtcdCatalog, type EtcdCatalogOptions } from './catalog.js';
// The etcd client set up as walstream uses it (deadlines, no hidden retries), for sharing with sessions.
export { createEtcdClient, type EtcdClientOptions } from './client.js';
// etcd client errors as coded WalErrors (UNAVAILABLE, CLOSED, UNKNOWN).
export { etcdError } from './errors.js';
