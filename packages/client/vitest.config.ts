import { defineProject } from 'vitest/config';
import { packageTests } from '../../vitest.shared.ts';

export default defineProject(packageTests('client'));
