import { packageProject } from '../../vitest.shared';

// the tests' Prisma client is generated (offline) before any test file loads
export default packageProject(import.meta.dirname, {
  globalSetup: ['test/support/global-setup.ts'],
});
