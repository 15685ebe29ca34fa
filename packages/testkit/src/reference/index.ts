/**
 * @walstream/testkit/reference: the reference array adapter that docs/write-an-adapter.md walks through.
 * A separate entry, so importing the suites does not register its MessageID codec.
 */
export {
  ARRAY_WAL_NAME,
  type ArrayAdapter,
  type ArrayAdapterOptions,
  ArrayId,
  ArrayLog,
  ArrayOpener,
  ArrayStore,
  ArrayWal,
  arrayAdapter,
  asArrayId,
} from './array-adapter.js';
