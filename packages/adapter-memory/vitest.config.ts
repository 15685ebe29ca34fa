import { defineProject } from 'vitest/config';
import { packageTests } from '../../vitest.shared';

export default defineProject(packageTests('adapter-memory'));
