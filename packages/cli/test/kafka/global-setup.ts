import { startKafka } from '@walstream/testkit/kafka';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `127.0.0.1:<port>` of the run's broker. */
    kafkaBootstrap: string;
  }
}

/** One Kafka broker for the cli-kafka project's files, handed to them through `inject`. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const kafka = await startKafka();
  project.provide('kafkaBootstrap', kafka.bootstrap);
  return async () => {
    await kafka.stop();
  };
}
