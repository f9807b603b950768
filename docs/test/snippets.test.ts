import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { markdownFiles, snippetsOf } from './snippets';

const root = resolve(import.meta.dirname, '..', '..');
const outDir = join(root, 'docs', '.snippets');
const snippets = markdownFiles(root).flatMap((file) => snippetsOf(root, file));

// Third-party types (sequelize, knex, mongoose, the AWS SDK) live in the packages that use them.
const packageModules = readdirSync(join(root, 'packages')).map(
  (p) => `packages/${p}/node_modules/*`,
);
const options: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  esModuleInterop: true,
  types: ['node'],
  typeRoots: [join(root, 'node_modules', '@types')],
  baseUrl: root,
  paths: {
    '@cmek/core/engine': ['packages/core/src/engine/index.ts'],
    '@cmek/*': ['packages/*/src/index.ts'],
    // node-vault's types sit beside its package.json while its main is in src/.
    'node-vault': ['packages/provider-vault/node_modules/node-vault/index.d.ts'],
    '*': ['node_modules/*', ...packageModules],
  },
};

describe('every TypeScript block in the docs type-checks', () => {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const files = snippets.map((snippet, i) => {
    const file = join(
      outDir,
      `${String(i).padStart(3, '0')}-${snippet.name.replace(/[^a-z0-9]+/gi, '_')}.ts`,
    );
    writeFileSync(file, snippet.code);
    return file;
  });
  const program = ts.createProgram(files, options);

  it('found blocks to check', () => {
    expect(snippets.length).toBeGreaterThan(0);
  });

  snippets.forEach((snippet, i) => {
    it(snippet.name, () => {
      const diagnostics = ts.getPreEmitDiagnostics(program, program.getSourceFile(files[i]!));
      const messages = diagnostics.map((d) => {
        const where =
          d.file && d.start !== undefined
            ? d.file.getLineAndCharacterOfPosition(d.start).line + 1
            : '?';
        return `line ${where}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
      });
      expect(messages).toEqual([]);
    });
  });
});
