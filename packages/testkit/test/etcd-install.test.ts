/**
 * The install flow of startEtcd on a machine whose package lists are empty (a fresh container), with
 * `apt-get`, `invoke-rc.d`, `update-rc.d` and `systemctl` replaced on the PATH by scripts that record
 * their arguments: this checks the harness's steps, not etcd or apt.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { installEtcd } from '../src/harness/etcd/install.js';

const bin = mkdtempSync(join(tmpdir(), 'walstream-fake-apt-'));
const calls = join(bin, 'calls.log');
const originalPath = process.env.PATH;
process.env.PATH = `${bin}:${originalPath}`;
afterAll(() => {
  process.env.PATH = originalPath;
  rmSync(bin, { recursive: true, force: true });
});

/** `apt-get` that fails `install` until `update` ran, and fails `update` while `update.fails` exists. */
function fakeApt(): void {
  const script = `#!/bin/sh
echo "apt-get $*" >> ${calls}
case "$1" in
  update) [ -e ${bin}/update.fails ] && { echo "E: network unreachable" >&2; exit 100; }; touch ${bin}/lists; exit 0 ;;
  install) [ -e ${bin}/lists ] || { echo "E: Unable to locate package etcd-server" >&2; exit 100; }; exit 0 ;;
esac
exit 1
`;
  writeFileSync(join(bin, 'apt-get'), script);
  for (const tool of ['invoke-rc.d', 'update-rc.d', 'systemctl']) {
    writeFileSync(join(bin, tool), `#!/bin/sh\necho "${tool} $*" >> ${calls}\n`);
  }
  for (const tool of ['apt-get', 'invoke-rc.d', 'update-rc.d', 'systemctl'])
    chmodSync(join(bin, tool), 0o755);
}

const recorded = () => readFileSync(calls, 'utf8').trim().split('\n');
const apt = (line: string) => line.startsWith('apt-get');

describe('installing etcd-server', () => {
  fakeApt();

  test('an update that fails ends in an error with apt-get output, and a later start tries again', async () => {
    writeFileSync(join(bin, 'update.fails'), '');
    await expect(installEtcd(() => undefined)).rejects.toThrow(
      /apt-get update failed \(100\):\nE: network unreachable/,
    );
    rmSync(join(bin, 'update.fails'));
    writeFileSync(calls, '');
    const lines: string[] = [];
    await installEtcd((line) => lines.push(line));
    expect(recorded().filter(apt)).toEqual([
      'apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=300 etcd-server',
      'apt-get update -o DPkg::Lock::Timeout=300',
      'apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=300 etcd-server',
    ]);
    expect(lines.join('\n')).toMatch(/running apt-get update and trying again/);
  });

  test('once installed, further starts in this process do not run apt-get again', async () => {
    writeFileSync(calls, '');
    await Promise.all([installEtcd(() => undefined), installEtcd(() => undefined)]);
    expect(readFileSync(calls, 'utf8')).toBe('');
  });
});
