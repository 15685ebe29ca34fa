import { describe, expect, test } from 'vitest';
import { resolveEtcdBinary } from '../src/harness/etcd/install.js';

const missing = '/nonexistent/walstream/etcd';
const choice = { given: undefined, defaultBinary: missing, root: false, install: true, log: () => undefined };

describe('startEtcd picks its binary', () => {
  test('without etcd and without root: an error that names the package and how to install it', async () => {
    await expect(resolveEtcdBinary(choice)).rejects.toThrow(
      /\/nonexistent\/walstream\/etcd is missing\. Install Debian's etcd-server package \(sudo apt-get install etcd-server\).*only when it runs as root/,
    );
  });

  test('as root with install turned off: the same error, saying installing was turned off', async () => {
    await expect(resolveEtcdBinary({ ...choice, root: true, install: false })).rejects.toThrow(
      /etcd-server.*install: false/,
    );
  });

  test('a binary given that does not exist is an error naming it, never installed', async () => {
    const lines: string[] = [];
    await expect(
      resolveEtcdBinary({ ...choice, given: missing, root: true, log: (line) => lines.push(line) }),
    ).rejects.toThrow(`etcd binary ${missing} does not exist or is not executable`);
    expect(lines).toEqual([]);
  });

  test('a binary given that exists is used as it is', async () => {
    expect(await resolveEtcdBinary({ ...choice, given: process.execPath })).toBe(process.execPath);
  });
});
