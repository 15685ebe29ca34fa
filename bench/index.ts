/** `pnpm bench`: every benchmark that needs no external service. Broker benches have their own scripts. */
import { runMemoryBench } from './memory/append-scan.js';

await runMemoryBench();
