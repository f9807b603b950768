/** Generates the tests' Prisma client (offline, into the git-ignored test/generated). */
// @ts-expect-error: a plain .mjs script, without type declarations
import { generateClient } from '../../scripts/generate-client.mjs';

export default function setup(): void {
  (generateClient as (schema: string) => string)('test/prisma/schema.prisma');
}
