/**
 * `changeset version` on a copy of the workspace: the release it prepares is coherent. Every
 * published `@cmek/*` package gets the same new version, every internal dependency range (as pnpm
 * publishes a `workspace:` range) accepts the version it points at, private packages (examples,
 * bench) are neither versioned nor given a changelog, and a later minor release of the core
 * stays a minor release for every package instead of cascading into a major one (changesets bumps
 * peer dependents a major unless told to do so only when a range is left).
 *
 * The checks hold for whatever changesets are pending, so they keep passing as new ones are added.
 * Not checked: the wording of the changelogs. "No CHANGELOG says fix" would only be true of the
 * first release, and only once pending fix changesets are folded into the initial entries by hand;
 * a changeset describing a real fix after the first release is legitimate.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { semver } from './semver';
import { type Manifest, WorkspaceCopy } from './workspace-copy';

const RANGE_FIELDS = ['dependencies', 'peerDependencies', 'optionalDependencies'] as const;

/** The range pnpm writes into the published manifest for a `workspace:` range. */
function publishedRange(range: string, version: string): string {
  if (!range.startsWith('workspace:')) return range;
  const rest = range.slice('workspace:'.length);
  if (rest === '*') return version;
  if (rest === '^' || rest === '~') return `${rest}${version}`;
  return rest;
}

function published(manifests: Map<string, Manifest>): Manifest[] {
  return [...manifests.values()].filter((m) => m.private !== true);
}

describe('changeset version on a copy of the workspace', () => {
  const copy = new WorkspaceCopy();
  let before: Map<string, Manifest>;
  let after: Map<string, Manifest>;

  beforeAll(() => {
    before = copy.manifests();
    copy.changesetVersion();
    after = copy.manifests();
  });

  afterAll(() => copy.remove());

  it('finds the published packages and the private ones', () => {
    const names = published(before).map((m) => m.name);
    expect(names).toContain('@cmek/core');
    expect(names.length).toBeGreaterThanOrEqual(9);
    for (const name of names) expect(name).toMatch(/^@cmek\//);
    const privates = [...before.entries()].filter(([, m]) => m.private === true);
    expect(privates.map(([dir]) => dir)).toEqual(
      expect.arrayContaining(['bench', expect.stringMatching(/^examples\//)]),
    );
  });

  it('gives every published @cmek package the same new version', () => {
    const versions = new Set(published(after).map((m) => m.version));
    expect([...versions]).toHaveLength(1);
    const [version] = [...versions] as [string];
    expect(semver.valid(version)).toBe(version);
    for (const old of published(before)) expect(semver.gt(version, old.version)).toBe(true);
  });

  it('every internal dependency and peer range accepts the version it points at', () => {
    const versionOf = new Map([...after.values()].map((m) => [m.name, m.version]));
    let checked = 0;
    for (const manifest of published(after)) {
      for (const field of RANGE_FIELDS) {
        for (const [name, range] of Object.entries(manifest[field] ?? {})) {
          const version = versionOf.get(name);
          if (version === undefined) continue;
          const effective = publishedRange(range, version);
          expect(semver.validRange(effective), `${manifest.name} ${field} ${name}`).not.toBeNull();
          expect(
            semver.satisfies(version, effective),
            `${manifest.name} ${field}: ${name}@${effective} must accept ${version}`,
          ).toBe(true);
          if (name === '@cmek/core') checked++;
        }
      }
    }
    // core is a peer of every provider and adapter, of the CLI and of the test suite
    expect(checked).toBeGreaterThanOrEqual(published(after).length - 1);
  });

  it('leaves private packages unversioned and without a changelog', () => {
    for (const [dir, manifest] of after) {
      if (manifest.private !== true) continue;
      expect(manifest.version, dir).toBe(before.get(dir)?.version);
      expect(existsSync(join(copy.root, dir, 'CHANGELOG.md')), dir).toBe(false);
    }
  });

  it('writes a changelog section for the new version of every published package', () => {
    for (const [dir, manifest] of after) {
      if (manifest.private === true) continue;
      const changelog = readFileSync(join(copy.root, dir, 'CHANGELOG.md'), 'utf8');
      expect(changelog, dir).toContain(`# ${manifest.name}`);
      expect(changelog, dir).toContain(`## ${manifest.version}`);
    }
  });

  it('consumes every changeset', () => {
    expect(readdirSync(join(copy.root, '.changeset')).filter((f) => f.endsWith('.md'))).toEqual([]);
  });

  it('a later minor change of the core is the next minor of every package, not a major', () => {
    const current = published(after)[0]?.version as string;
    writeFileSync(
      join(copy.root, '.changeset', 'later-core-feature.md'),
      '---\n"@cmek/core": minor\n---\n\nA new option.\n',
    );
    copy.changesetVersion();
    const next = copy.manifests();
    const expected = semver.inc(current, 'minor');
    for (const manifest of published(next)) expect(manifest.version, manifest.name).toBe(expected);
    for (const [dir, manifest] of next) {
      if (manifest.private === true) expect(manifest.version, dir).toBe(before.get(dir)?.version);
    }
  });
});
