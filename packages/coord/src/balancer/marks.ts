import { etcdError } from '@walstream/catalog-etcd';
import { WalError } from '@walstream/core';
import { checkKnownKeys, stringOption } from '@walstream/core/internal';
import type { Etcd3 } from 'etcd3';

/** The operator's marks on nodes: frozen ones take no new pchannels, draining ones give theirs away. */
export interface NodeMarks {
  readonly frozen: readonly string[];
  readonly draining: readonly string[];
}

/**
 * Where the balancer keeps its marks, so a coordinator that takes over (or restarts) keeps them: `load`
 * once at start, `save` with the whole set after every change, before the change takes effect.
 */
export interface NodeMarkStore {
  load(): Promise<NodeMarks>;
  save(marks: NodeMarks): Promise<void>;
}

/**
 * Marks in one etcd key, `<prefix>coordinator/marks`. Node ids are never reused, so a mark left on a
 * node that is gone names nobody; the balancer drops such ids at its next save.
 */
export function etcdNodeMarks(options: { client: Etcd3; prefix?: string }): NodeMarkStore {
  const where = 'etcdNodeMarks';
  checkKnownKeys(where, options, ['client', 'prefix']);
  const client = options.client;
  if (typeof client !== 'object' || client === null || typeof (client as Etcd3).get !== 'function') {
    throw new WalError(
      'INVALID_ARGUMENT',
      `${where}: option client must be an etcd client (createEtcdClient)`,
      {
        retriable: false,
        details: { option: 'client' },
      },
    );
  }
  let prefix = stringOption(where, 'prefix', options.prefix, 'walstream/');
  if (!prefix.endsWith('/')) prefix += '/';
  const key = `${prefix}coordinator/marks`;
  return {
    async load() {
      let raw: string | null;
      try {
        raw = await client.get(key).string();
      } catch (error) {
        throw etcdError(error, `load node marks ${key}`);
      }
      if (raw === null) return { frozen: [], draining: [] };
      try {
        const parsed = JSON.parse(raw) as Partial<NodeMarks>;
        return {
          frozen: Array.isArray(parsed.frozen) ? parsed.frozen.map(String) : [],
          draining: Array.isArray(parsed.draining) ? parsed.draining.map(String) : [],
        };
      } catch (error) {
        throw new WalError('UNRECOVERABLE', `node marks ${key} are not JSON`, {
          cause: error,
          retriable: false,
        });
      }
    },
    async save(marks) {
      try {
        await client.put(key).value(JSON.stringify({ frozen: marks.frozen, draining: marks.draining }));
      } catch (error) {
        throw etcdError(error, `save node marks ${key}`);
      }
    },
  };
}
