/** `pnpm bench`: every benchmark that needs no external service. Broker benches have their own scripts. */

import { runMemoryBench } from './memory/append-scan.js';
import { runChainBench } from './memory/chain.js';

await runMemoryBench();
await runChainBench();
