import type { Command } from '../command.js';
import { bench } from './bench.js';
import { consume } from './consume.js';
import { coord } from './coord.js';
import { drain } from './drain.js';
import { node } from './node.js';
import { produce } from './produce.js';
import { status } from './status.js';
import { up } from './up.js';

/**
 * Every `walstream` command, in the order `walstream --help` lists them. A new command is a file in this
 * folder exporting `defineCommand({...})`, added here.
 */
export const COMMANDS: readonly Command[] = [up, produce, consume, status, drain, bench, coord, node];
