import * as interceptors from '@walstream/interceptors';
import { describe, expect, it } from 'vitest';

describe('@walstream/interceptors exports', () => {
  it('only what users need at run time (types are not visible here)', () => {
    expect(Object.keys(interceptors).sort()).toEqual([
      'DEFAULT_PARTITION_ID',
      'ShardMessageType',
      'beginTxnMessage',
      'commitTxnMessage',
      'createVChannel',
      'dropVChannel',
      'inTxn',
      'isRedoRequest',
      'lock',
      'redo',
      'redoRequest',
      'registerSemantics',
      'rollbackTxnMessage',
      'shard',
      'shardHeaders',
      'shardMessageTypes',
      'shardMessages',
      'timeTick',
      'walCheckpoints',
      'walSemantics',
    ]);
  });
});
