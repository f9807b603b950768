/**
 * What the published builds import (checked on `packages/<pkg>/dist`, which the test command
 * builds first): `@cmek/core` loads no file-system module (the engine, whose checkpoints use
 * `node:fs`, is the `@cmek/core/engine` entry), and Node's built-in modules keep their `node:`
 * prefix in every package's output.
 */

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readManifest, repoRoot, workspaceDirs } from './workspace-copy';

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)['"]([^'"]+)['"]/g;

function specifiers(file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(SPECIFIER)].map((m) => m[1]!);
}

/** Every module `entry` loads, through its relative imports (the shared chunks). */
function closure(entry: string): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    const found = specifiers(file);
    seen.set(file, found);
    for (const s of found) if (s.startsWith('.')) visit(resolve(dirname(file), s));
  };
  visit(entry);
  return seen;
}

const coreDist = join(repoRoot, 'packages', 'core', 'dist');
const FS = /^(node:)?fs(\/promises)?$/;

describe('builds', () => {
  for (const entry of ['index.js', 'index.cjs']) {
    it(`@cmek/core (${entry}) loads no file-system module`, () => {
      const modules = closure(join(coreDist, entry));
      const all = [...modules.values()].flat();
      expect(all).toContain('node:crypto');
      expect(all.filter((s) => FS.test(s))).toEqual([]);
    });
  }

  it('@cmek/core/engine is the entry that does', () => {
    const all = [...closure(join(coreDist, 'engine.js')).values()].flat();
    expect(all.filter((s) => FS.test(s))).not.toEqual([]);
  });

  const bare = new Set(builtinModules.filter((m) => !m.startsWith('_')));
  const published = workspaceDirs(repoRoot).filter(
    (dir) => readManifest(repoRoot, dir).private !== true,
  );
  it.each(published)('%s: built-in modules keep their node: prefix', (dir) => {
    const dist = join(repoRoot, dir, 'dist');
    expect(existsSync(dist), `${dist}: build first`).toBe(true);
    const files = readdirSync(dist).filter((f) => /\.(c?js)$/.test(f));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const unprefixed = specifiers(join(dist, file)).filter((s) => bare.has(s));
      expect(unprefixed, `${dir}/dist/${file}`).toEqual([]);
    }
  });
});
