import { defineConfig } from 'tsup';
import { tsupBase } from '../../tsup.base';

/**
 * Two entries: the envelope (`@cmek/core`, no file system) and the backfill / rewrap / verify
 * engine (`@cmek/core/engine`, whose file checkpoints use `node:fs`). Splitting puts the modules
 * both use in shared chunks, so the two entries share one copy of the error classes and caches.
 */
export default defineConfig({
  ...tsupBase,
  entry: { index: 'src/index.ts', engine: 'src/engine/index.ts' },
  splitting: true,
});
