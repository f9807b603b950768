/**
 * Every `cmek …` command line in a shell block of the docs and READMEs names a real subcommand and
 * only options that subcommand has: each one is checked against the CLI's own `--help`.
 */
import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { run } from '@cmek/cli';
import { describe, expect, it } from 'vitest';
import { markdownFiles } from './snippets';

const root = resolve(import.meta.dirname, '..', '..');
const SHELL_BLOCK = /```(?:bash|sh|shell)\s*\n([\s\S]*?)```/g;

interface CommandLine {
  readonly where: string;
  readonly words: readonly string[];
}

/** The words of a shell line without its comment (quoted words kept whole). */
function wordsOf(text: string): string[] {
  const words: string[] = [];
  for (const match of text.matchAll(/'[^']*'|"[^"]*"|#.*$|\S+/g)) {
    if (match[0].startsWith('#')) break;
    words.push(match[0]);
  }
  return words;
}

function commandLines(): CommandLine[] {
  const out: CommandLine[] = [];
  for (const file of markdownFiles(root)) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const block of text.matchAll(SHELL_BLOCK)) {
      for (const raw of (block[1] ?? '').split('\n')) {
        const words = wordsOf(raw.replace(/^\s*\$\s+/, '').trim());
        const start = words[0] === 'npx' || words[0] === 'pnpm' ? words.indexOf('cmek') : 0;
        if (start < 0 || words[start] !== 'cmek' || words.length < start + 2) continue;
        out.push({ where: relative(root, file), words: words.slice(start + 1) });
      }
    }
  }
  return out;
}

async function help(subcommand: string): Promise<{ code: number; text: string }> {
  const chunks: Buffer[] = [];
  const out = new PassThrough().on('data', (c: Buffer) => chunks.push(c));
  const code = await run([subcommand, '--help'], {
    stdout: out,
    stderr: out,
    stdin: Readable.from(['']),
    cwd: root,
    importModule: () => Promise.reject(new Error('--help loads no config')),
  });
  return { code, text: Buffer.concat(chunks).toString('utf8') };
}

const lines = commandLines();

describe('every cmek command line in the docs exists with those options', () => {
  it('found command lines to check', () => {
    expect(lines.length).toBeGreaterThan(5);
  });

  for (const { where, words } of lines) {
    const [subcommand = '', ...rest] = words;
    it(`${where}: cmek ${words.join(' ')}`, async () => {
      const { code, text } = await help(subcommand);
      expect(code, `cmek ${subcommand} is not a command`).toBe(0);
      expect(text).toContain(`Usage: cmek ${subcommand}`);
      for (const word of rest) {
        const option = /^(--?[a-z][a-z-]*)/.exec(word)?.[1];
        if (option === undefined || option === '-') continue;
        expect(text, `cmek ${subcommand} has no option ${option}`).toMatch(
          new RegExp(`(^|[\\s,])${option}([\\s,=]|$)`, 'm'),
        );
      }
    });
  }
});
