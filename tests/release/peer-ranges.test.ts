/**
 * Peer ranges claim only what is tested: the lowest version each branch of a peer range allows
 * (`^8.24.0 || ^9.12.0` has two) must be, up to the patch, a version the package's tests run on,
 * i.e. one installed in its `node_modules` as the peer itself or as an alias
 * (`"mongoose8": "npm:mongoose@…"`, `"knex-lowest": "npm:knex@…"`). Optional peers (the test
 * suite's `vitest`, which only hands over the caller's runner) and `@cmek/*` are not checked.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { semver } from './semver';
import { readManifest, repoRoot, workspaceDirs } from './workspace-copy';

interface Peers {
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  devDependencies?: Record<string, string>;
}

function installedVersion(dir: string, name: string): string | undefined {
  const path = join(repoRoot, dir, 'node_modules', name, 'package.json');
  return existsSync(path)
    ? (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version
    : undefined;
}

/** The versions of `peer` the tests of `dir` run on: the peer and its aliases. */
function testedVersions(dir: string, manifest: Peers, peer: string): string[] {
  const names = [peer];
  for (const [alias, spec] of Object.entries(manifest.devDependencies ?? {})) {
    if (spec.startsWith(`npm:${peer}@`)) names.push(alias);
  }
  return names.flatMap((name) => installedVersion(dir, name) ?? []);
}

const checked = workspaceDirs(repoRoot).flatMap((dir) => {
  const manifest = readManifest(repoRoot, dir) as unknown as Peers & { private?: boolean };
  if (manifest.private === true) return [];
  return Object.entries(manifest.peerDependencies ?? {})
    .filter(([name]) => !name.startsWith('@cmek/'))
    .filter(([name]) => manifest.peerDependenciesMeta?.[name]?.optional !== true)
    .map(([name, range]) => ({ dir, name, range, tested: testedVersions(dir, manifest, name) }));
});

describe('peer ranges', () => {
  it('finds the ORM and SDK peers', () => {
    expect(checked.map((c) => c.name)).toEqual(
      expect.arrayContaining(['sequelize', 'knex', 'mongoose', '@aws-sdk/client-kms']),
    );
  });

  it.each(checked)('$dir: the lowest $name of $range is tested', ({ range, tested }) => {
    expect(tested.length).toBeGreaterThan(0);
    for (const branch of range.split('||').map((b) => b.trim())) {
      const lowest = semver.minVersion(branch);
      expect(lowest, branch).not.toBeNull();
      const sameMinor = tested.filter((version) => {
        const v = semver.parse(version);
        return (
          semver.satisfies(version, branch) &&
          v?.major === lowest!.major &&
          v.minor === lowest!.minor
        );
      });
      expect(
        sameMinor,
        `${branch}: lowest ${lowest!.version}, tested ${tested.join(', ')}`,
      ).not.toHaveLength(0);
    }
  });
});
