import type { Options } from 'tsup';

/** The build every published package spreads: ESM + CJS + declarations for both. */
export const tsupBase: Options = {
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  platform: 'node',
  splitting: false,
  treeshake: true,
  // `node:crypto`, not `crypto`: unambiguous for bundlers and for Deno / Bun
  removeNodeProtocol: false,
};
