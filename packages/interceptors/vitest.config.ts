import { defineProject } from 'vitest/config';
import { packageTests } from '../../vitest.shared.ts';

// expect.poll waits for a condition; its bound (1 s by default) only turns a condition that never comes
// into a failure. 10 s keeps a loaded machine from failing a test whose event is merely late.
export default defineProject(packageTests('interceptors', { expect: { poll: { timeout: 10_000 } } }));
