/**
 * The test projects. vitest 4 reads projects from the root config's `test.projects`; the list
 * lives here and `vitest.config.ts` imports it.
 */
export const projects = [
  'packages/core',
  'packages/provider-local',
  'packages/provider-aws-kms',
  'packages/provider-vault',
  'packages/adapter-sequelize',
  'packages/adapter-knex',
  'packages/adapter-mongoose',
  'packages/adapter-prisma',
  'packages/adapter-drizzle',
  'packages/opentelemetry',
  'packages/cli',
  'packages/test-suite',
  'docs',
  'examples',
  'tests/release',
  'tests/runtimes',
];
