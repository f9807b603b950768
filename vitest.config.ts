import { existsSync } from 'node:fs';
import { defineConfig } from 'vitest/config';
import { projects } from './vitest.workspace';

export default defineConfig({
  test: {
    // A project folder without a vitest config yet is left out rather than failing the run.
    projects: projects.filter((dir) => existsSync(`${dir}/vitest.config.ts`)),
  },
});
