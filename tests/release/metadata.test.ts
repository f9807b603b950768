/**
 * The registry metadata of every published package: where its source is (the root's repository,
 * with the package's own folder as `directory`), its homepage, where to report a bug, keywords.
 */
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
