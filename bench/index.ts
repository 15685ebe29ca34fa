/** `pnpm bench`: every benchmark that needs no external service. Broker benches have their own scripts. */
import { runChainBench } from './memory/chain.js';
import { runMemoryBench } from './memory/append-scan.js';

await runMemoryBench();
await runChainBench();
