/**
 * @walstream/catalog-etcd — the walstream `Catalog` on etcd, for nodes and coordinators that share
 * metadata across processes.
 */
export {};
