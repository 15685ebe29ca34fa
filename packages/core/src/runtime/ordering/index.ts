export { MinHeap } from './min-heap.js';
export { ReorderBuffer } from './reorder-buffer.js';
export { TimeTickOrderer } from './timetick-orderer.js';
export { TxnBuffer } from './txn-buffer.js';
