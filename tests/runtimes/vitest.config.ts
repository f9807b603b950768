import { packageProject } from '../../vitest.shared';

/** Bun and Deno, spawned on the built packages (`runtimes.ts`): the Node running vitest does not matter. */
export default packageProject(import.meta.dirname, {
  include: ['*.test.ts'],
});
