import { readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineProject, type UserWorkspaceConfig } from 'vitest/config';

const root = dirname(fileURLToPath(import.meta.url));

/**
 * Tests import the workspace packages from their sources, so a change in `@cmek/core` is seen by
 * every adapter's tests without a rebuild. The published builds are checked by publint and attw.
 */
const alias = [
  {
    find: /^@cmek\/core\/engine$/,
    replacement: resolve(root, 'packages', 'core', 'src', 'engine', 'index.ts'),
  },
  ...readdirSync(join(root, 'packages')).map((dir) => ({
    find: new RegExp(`^@cmek/${dir}$`),
    replacement: resolve(root, 'packages', dir, 'src', 'index.ts'),
  })),
];

/** The vitest project of one package: `test/**\/*.test.ts`, named after the package folder. */
export function packageProject(
  packageDir: string,
  test: UserWorkspaceConfig['test'] = {},
): UserWorkspaceConfig {
  const name = packageDir.split(/[\\/]/).pop() ?? packageDir;
  return defineProject({
    resolve: { alias },
    test: {
      name,
      root: packageDir,
      include: ['test/**/*.test.ts'],
      testTimeout: 30_000,
      hookTimeout: 120_000,
      ...test,
    },
  });
}
