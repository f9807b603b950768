/**
 * Extracts the TypeScript code blocks of the docs and READMEs. A block fenced as ```ts is
 * type-checked as a module; ```ts nocheck is not (say why beside it). An HTML comment
 * `<!-- ts-prelude: … -->` right before a block is prepended to it (declarations the block assumes).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

export interface Snippet {
  /** `docs/backfill.md#2` */
  readonly name: string;
  readonly code: string;
}

const FENCE = /(?:<!--\s*ts-prelude:([\s\S]*?)-->\s*\n)?```ts\s*\n([\s\S]*?)```/g;

export function markdownFiles(root: string): string[] {
  const files = [join(root, 'README.md')];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.md')) files.push(path);
    }
  };
  walk(join(root, 'docs'));
  for (const pkg of readdirSync(join(root, 'packages')))
    files.push(join(root, 'packages', pkg, 'README.md'));
  return files;
}

export function snippetsOf(root: string, file: string): Snippet[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: Snippet[] = [];
  let index = 0;
  for (const match of text.matchAll(FENCE)) {
    index++;
    const prelude = match[1]?.trim() ?? '';
    out.push({
      name: `${relative(root, file)}#${index}`,
      code: `${prelude}\n${match[2]}\nexport {};\n`,
    });
  }
  return out;
}
