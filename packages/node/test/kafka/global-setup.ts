import { startKafka } from '@walstream/testkit/kafka';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `127.0.0.1:<port>` of the run's broker. */
    kafkaBootstrap: string;
    /** Its console log, for failure messages. */
    kafkaLogFile: string;
  }
}

/** Starts the run's single broker and hands its address to every test file through `inject`. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const kafka = await startKafka();
  project.provide('kafkaBootstrap', kafka.bootstrap);
  project.provide('kafkaLogFile', kafka.logFile);
  return async () => {
    await kafka.stop();
  };
}
