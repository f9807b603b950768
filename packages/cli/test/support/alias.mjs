// The workspace packages from their sources, for code loaded through jiti (configs, child runs).
import { readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
export const alias = Object.fromEntries(
  readdirSync(join(repoRoot, 'packages')).map((dir) => [
    `@cmek/${dir}`,
    join(repoRoot, 'packages', dir, 'src', 'index.ts'),
  ]),
);
