export { type LocalAllocatorOptions, LocalTimestampAllocator, type TimestampAllocator } from './allocator.js';
export {
  addMilliseconds,
  composeTimeTick,
  LOGICAL_BITS,
  LOGICAL_MASK,
  logicalOf,
  MAX_TIMETICK,
  physicalMsOf,
} from './hybrid.js';
