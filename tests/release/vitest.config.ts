import { packageProject } from '../../vitest.shared';

export default packageProject(import.meta.dirname, {
  include: ['*.test.ts'],
  testTimeout: 120_000,
});
