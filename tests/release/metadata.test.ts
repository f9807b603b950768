/**
 * The registry metadata of every published package: where its source is (the root's repository,
 * with the package's own folder as `directory`), its homepage, where to report a bug, keywords.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readManifest, repoRoot, workspaceDirs } from './workspace-copy';

interface Metadata {
  repository?: { type?: string; url?: string; directory?: string };
  homepage?: string;
  bugs?: { url?: string };
  keywords?: string[];
}

const root = readManifest(repoRoot, '.') as Metadata;
const published = workspaceDirs(repoRoot).filter(
  (dir) => readManifest(repoRoot, dir).private !== true,
);

describe('package metadata', () => {
  it('the root names the repository once, as a git URL', () => {
    expect(root.repository?.type).toBe('git');
    expect(root.repository?.url).toMatch(/^git\+https:\/\/.+\.git$/);
  });

  it.each(published)('%s points at its own folder of that repository', (dir) => {
    const m = readManifest(repoRoot, dir) as unknown as Metadata;
    expect(m.repository).toEqual({ ...root.repository, directory: dir });
    const web = root.repository!.url!.replace(/^git\+/, '').replace(/\.git$/, '');
    expect(m.homepage).toBe(`${web}/tree/main/${dir}#readme`);
    expect(m.bugs).toEqual({ url: `${web}/issues` });
    expect(m.keywords).toContain('cmek');
  });
});

describe('package READMEs', () => {
  const web = root.repository!.url!.replace(/^git\+/, '').replace(/\.git$/, '');
  const blob = `${web}/blob/main/`;
  const links = (dir: string) =>
    [...readFileSync(join(repoRoot, dir, 'README.md'), 'utf8').matchAll(/\]\(([^)\s]+)\)/g)].map(
      (m) => m[1]!,
    );

  it.each(published)(
    '%s links only with absolute URLs (the registry page has no repository beside it)',
    (dir) => {
      for (const link of links(dir)) expect(link, link).toMatch(/^(https?:\/\/|#|mailto:)/);
    },
  );

  it.each(published)('%s: its links into the repository name files that exist', (dir) => {
    for (const link of links(dir).filter((l) => l.startsWith(blob))) {
      const path = link.slice(blob.length).split('#')[0]!;
      expect(existsSync(join(repoRoot, path)), link).toBe(true);
    }
  });
});
