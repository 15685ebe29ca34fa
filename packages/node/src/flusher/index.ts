export {
  FILE_SINK_VERSION,
  type FileSinkOptions,
  type FileSinkRecord,
  fileSink,
  fileSinkPath,
  readFileSink,
} from './file-sink.js';
export type { FlusherOptions, RetentionOptions, WalFlusher } from './flusher.js';
export type { FlushedMessage, FlushSink, FlushSinkWriter } from './sink.js';
