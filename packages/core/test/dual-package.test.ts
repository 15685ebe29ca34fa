import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'tsup';
import { beforeAll, describe, expect, it } from 'vitest';

/**
 * The ESM and CJS builds of core loaded side by side in one process, as happens when an ESM adapter and
 * CJS application code (or a CJS test runner) share a process: both copies must see one set of registries.
 * JS-only builds (no declarations) of core and the memory adapter, laid out as an installed package tree
 * under the repo's cache so that rxjs and @opentelemetry/api resolve from the workspace root.
 */
const root = fileURLToPath(new URL('../../../', import.meta.url));
const tree = join(root, 'node_modules/.cache/dual-package-test');

async function install(name: string, entries: Record<string, string>): Promise<void> {
  const target = join(tree, 'node_modules/@walstream', name);
  mkdirSync(target, { recursive: true });
  copyFileSync(join(root, 'packages', name, 'package.json'), join(target, 'package.json'));
  await build({
    entry: Object.fromEntries(
      Object.entries(entries).map(([out, src]) => [out, join(root, 'packages', name, src)]),
    ),
    format: ['esm', 'cjs'],
    outDir: join(target, 'dist'),
    target: 'node20',
    platform: 'node',
    external: [/^@walstream\//, 'rxjs', '@opentelemetry/api'],
    silent: true,
    dts: false,
    config: false,
  });
}

const probe = `
const core = require('@walstream/core');
(async () => {
  const esmCore = await import('@walstream/core');
  const { memoryAdapter } = await import('@walstream/adapter-memory');
  const Note = esmCore.defineMessageType({ name: 'DualNote', code: 4131, flags: {} });
  const opener = await core.createWal().adapter(memoryAdapter()).build();
  const wal = await opener.open({ channel: core.pchannel('dual', 1n) });
  const { messageId } = await wal.append(core.newMessage('DualNote').vchannel('dual_1v0').build());
  const decoded = core.unmarshalMessageId('memory', messageId.marshal());
  await opener.close();
  process.stdout.write(JSON.stringify({
    twoCopies: core.createWal !== esmCore.createWal,
    sameRegistry: core.registry === esmCore.registry,
    typeSeenByCjs: core.messageTypes.byName('DualNote')?.code === Note.code,
    idRoundTrip: decoded.compare(messageId) === 0,
  }));
})().catch((error) => { process.stdout.write(String(error)); process.exitCode = 1; });
`;

describe('ESM and CJS copies of core in one process', () => {
  beforeAll(async () => {
    rmSync(tree, { recursive: true, force: true });
    await install('core', { index: 'src/index.ts', spi: 'src/spi.ts', internal: 'src/internal.ts' });
    await install('adapter-memory', { index: 'src/index.ts' });
    writeFileSync(join(tree, 'probe.cjs'), probe);
  }, 120_000);

  it('share registries: a codec and a type registered through one copy work through the other', () => {
    const run = spawnSync(process.execPath, [join(tree, 'probe.cjs')], { encoding: 'utf8', timeout: 60_000 });
    expect(run.stdout).toBe(
      JSON.stringify({ twoCopies: true, sameRegistry: true, typeSeenByCjs: true, idRoundTrip: true }),
    );
  });
});
