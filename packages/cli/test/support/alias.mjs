// The workspace packages from their sources, for code loaded through jiti (configs, child runs).
import { readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
// (jiti tries the longer alias first: `@cmek/core/engine` before `@cmek/core`)
export const alias = Object.fromEntries([
  ['@cmek/core/engine', join(repoRoot, 'packages', 'core', 'src', 'engine', 'index.ts')],
  ...readdirSync(join(repoRoot, 'packages')).map((dir) => [
    `@cmek/${dir}`,
    join(repoRoot, 'packages', dir, 'src', 'index.ts'),
  ]),
]);
