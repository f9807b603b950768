/**
 * The licence files: the official Apache License 2.0 text (the file published at
 * apache.org/licenses/LICENSE-2.0.txt, identified by its SHA-256) at the root and in every package
 * folder, where npm packs it whatever `files` says, and the `license` field agreeing with it.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readManifest, repoRoot, workspaceDirs } from './workspace-copy';

const APACHE_2_0_SHA256 = 'cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30';

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('licence', () => {
  it('the root LICENSE is the official Apache License 2.0 text', () => {
    const path = join(repoRoot, 'LICENSE');
    expect(readFileSync(path, 'utf8')).toContain('Version 2.0, January 2004');
    expect(sha256(path)).toBe(APACHE_2_0_SHA256);
  });

  const published = workspaceDirs(repoRoot).filter(
    (dir) => readManifest(repoRoot, dir).private !== true,
  );

  it('finds the published packages', () => {
    expect(published.length).toBeGreaterThanOrEqual(9);
  });

  it.each(published)('%s has the same LICENSE and license "Apache-2.0"', (dir) => {
    expect(sha256(join(repoRoot, dir, 'LICENSE'))).toBe(APACHE_2_0_SHA256);
    expect(readManifest(repoRoot, dir).license).toBe('Apache-2.0');
  });
});
