/**
 * A throwaway copy of what `changeset version` reads and writes: the root manifest, the workspace
 * list, every workspace package's `package.json` and `.changeset/`. `node_modules` is a link to
 * the repository's, so the changelog generator named in the config resolves.
 */
import { execFileSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

export const repoRoot = resolve(import.meta.dirname, '..', '..');

export interface Manifest {
  readonly name: string;
  readonly version: string;
  readonly private?: boolean;
  readonly license?: string;
  readonly dependencies?: Record<string, string>;
  readonly peerDependencies?: Record<string, string>;
  readonly optionalDependencies?: Record<string, string>;
  readonly devDependencies?: Record<string, string>;
}

/** The folders of the workspace packages: each `<dir>/*` or `<dir>` of `pnpm-workspace.yaml`. */
export function workspaceDirs(root: string): string[] {
  const yaml = readFileSync(join(root, 'pnpm-workspace.yaml'), 'utf8');
  const block = /^packages:\s*\n((?:[ \t]+-.*\n?)+)/m.exec(yaml)?.[1] ?? '';
  const dirs: string[] = [];
  for (const match of block.matchAll(/-\s*['"]?([^'"\s#]+)['"]?/g)) {
    const pattern = match[1] as string;
    if (pattern.endsWith('/*')) {
      const parent = pattern.slice(0, -2);
      for (const entry of readdirSync(join(root, parent), { withFileTypes: true })) {
        if (entry.isDirectory()) dirs.push(`${parent}/${entry.name}`);
      }
    } else {
      dirs.push(pattern);
    }
  }
  return dirs.filter((dir) => existsSync(join(root, dir, 'package.json'))).sort();
}

export function readManifest(root: string, dir: string): Manifest {
  return JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) as Manifest;
}

export class WorkspaceCopy {
  readonly root = mkdtempSync(join(tmpdir(), 'cmek-release-'));
  readonly dirs = workspaceDirs(repoRoot);

  constructor() {
    for (const file of ['package.json', 'pnpm-workspace.yaml']) {
      cpSync(join(repoRoot, file), join(this.root, file));
    }
    for (const dir of this.dirs) {
      mkdirSync(join(this.root, dir), { recursive: true });
      cpSync(join(repoRoot, dir, 'package.json'), join(this.root, dir, 'package.json'));
    }
    cpSync(join(repoRoot, '.changeset'), join(this.root, '.changeset'), { recursive: true });
    symlinkSync(join(repoRoot, 'node_modules'), join(this.root, 'node_modules'), 'dir');
  }

  manifests(): Map<string, Manifest> {
    return new Map(this.dirs.map((dir) => [dir, readManifest(this.root, dir)]));
  }

  /** `changeset version` in the copy (no git: the config's `commit` is false). */
  changesetVersion(): void {
    const bin = join(
      dirname(createRequire(import.meta.url).resolve('@changesets/cli/package.json')),
      'bin.js',
    );
    execFileSync(process.execPath, [bin, 'version'], {
      cwd: this.root,
      stdio: 'pipe',
      env: { ...process.env, CI: 'true', NO_COLOR: '1' },
    });
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}
