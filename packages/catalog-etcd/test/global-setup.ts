import { startEtcd } from '@walstream/testkit/etcd';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Client URLs of the run's etcd. */
    etcdEndpoints: string[];
    /** Its log, for failure messages. */
    etcdLogFile: string;
  }
}

/** Starts the run's single etcd and hands its endpoints to every test file through `inject`. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const etcd = await startEtcd();
  project.provide('etcdEndpoints', [...etcd.endpoints]);
  project.provide('etcdLogFile', etcd.logFile);
  return async () => {
    await etcd.stop();
  };
}
