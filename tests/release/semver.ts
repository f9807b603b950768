/**
 * The `semver` package, as `@changesets/cli` (a root devDependency) depends on it: the root has
 * no `semver` of its own to import. Only the functions these tests use, typed here.
 */
import { createRequire } from 'node:module';

export interface Semver {
  valid(version: string): string | null;
  validRange(range: string): string | null;
  satisfies(version: string, range: string): boolean;
  gt(a: string, b: string): boolean;
  inc(version: string, release: 'major' | 'minor' | 'patch'): string | null;
  minVersion(range: string): { version: string; major: number; minor: number } | null;
  parse(version: string): { major: number; minor: number } | null;
}

const fromRoot = createRequire(import.meta.url);
const fromChangesets = createRequire(fromRoot.resolve('@changesets/cli/package.json'));

export const semver = fromChangesets('semver') as Semver;
