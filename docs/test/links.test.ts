/**
 * Every relative link of the docs and the root README points at a file or directory that exists,
 * and a `#anchor` into a Markdown page names one of its headings (GitHub's slugs).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { markdownFiles } from './snippets';

const root = resolve(import.meta.dirname, '..', '..');
const files = markdownFiles(root).filter(
  (file) => !relative(root, file).startsWith('packages/') && existsSync(file),
);

/** The text outside fenced code blocks (fences may be indented, as in list items). */
function prose(text: string): string {
  return text.replace(/^\s*(`{3,}|~{3,})[^\n]*\n[\s\S]*?^\s*\1\s*$/gm, '');
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}_\- ]/gu, '')
    .replace(/ /g, '-');
}

const anchorCache = new Map<string, ReadonlySet<string>>();
function anchorsOf(file: string): ReadonlySet<string> {
  let anchors = anchorCache.get(file);
  if (!anchors) {
    anchors = new Set(
      [...prose(readFileSync(file, 'utf8')).matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => slug(m[1]!)),
    );
    anchorCache.set(file, anchors);
  }
  return anchors;
}

describe('relative links in the docs', () => {
  it('found pages to check', () => {
    expect(files.length).toBeGreaterThan(10);
  });

  for (const file of files) {
    it(relative(root, file), () => {
      const problems: string[] = [];
      for (const match of prose(readFileSync(file, 'utf8')).matchAll(/\]\(([^)\s]+)\)/g)) {
        const link = match[1]!;
        if (/^[a-z][a-z+.-]*:/i.test(link)) continue; // https:, mailto:
        const [path = '', anchor] = link.split('#');
        const target = path === '' ? file : resolve(dirname(file), path);
        if (!existsSync(target)) {
          problems.push(`${link}: no ${relative(root, target)}`);
          continue;
        }
        if (anchor && target.endsWith('.md') && statSync(target).isFile()) {
          if (!anchorsOf(target).has(anchor)) problems.push(`${link}: no heading #${anchor}`);
        }
      }
      expect(problems).toEqual([]);
    });
  }
});
