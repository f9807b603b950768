/**
 * The API reference (`docs/api/<package>.md`) is complete: every name a package's `src/index.ts`
 * exports (following `export *`) has its own `### \`name\`` heading on the package's page, and
 * every such heading names a current export. The `cmek` page also names every command and every
 * option that the CLI's own `--help` lists.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { run } from '@cmek/cli';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..', '..');
const PACKAGES = [
  'core',
  'provider-local',
  'provider-vault',
  'provider-aws-kms',
  'adapter-sequelize',
  'adapter-mongoose',
  'adapter-knex',
  'adapter-prisma',
  'adapter-drizzle',
  'opentelemetry',
  'cli',
  'test-suite',
] as const;

/** A package's entry points: `src/index.ts`, and core's `@cmek/core/engine` subpath. */
const entriesOf = (pkg: string): string[] => [
  join(root, 'packages', pkg, 'src', 'index.ts'),
  ...(pkg === 'core' ? [join(root, 'packages', 'core', 'src', 'engine', 'index.ts')] : []),
];

const program = ts.createProgram(PACKAGES.flatMap(entriesOf), {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  noEmit: true,
  skipLibCheck: true,
});
const checker = program.getTypeChecker();

/** The names a package's entry points export, values and types alike. */
function exportedNames(pkg: string): string[] {
  return entriesOf(pkg)
    .flatMap((entry) => {
      const source = program.getSourceFile(entry);
      const module = source && checker.getSymbolAtLocation(source);
      if (!module) throw new Error(`cannot read ${entry}`);
      return checker.getExportsOfModule(module).map((symbol) => symbol.name);
    })
    .sort();
}

/** The `### \`name\`` headings of a page that name an identifier (not `cmek <command>`). */
function documentedNames(text: string): string[] {
  return [...text.matchAll(/^#{2,4}\s+`([A-Za-z_$][\w$]*)`\s*$/gm)].map((m) => m[1]!);
}

for (const pkg of PACKAGES) {
  const page = join(root, 'docs', 'api', `${pkg}.md`);
  describe(`docs/api/${pkg}.md`, () => {
    const text = existsSync(page) ? readFileSync(page, 'utf8') : '';
    const names = exportedNames(pkg);
    const documented = new Set(documentedNames(text));

    it('exists and is linked from the API index', () => {
      expect(existsSync(page), `${page} is missing`).toBe(true);
      const index = readFileSync(join(root, 'docs', 'api', 'README.md'), 'utf8');
      expect(index).toContain(`](${pkg}.md)`);
    });

    it('has a heading for every export of its entry points', () => {
      expect(names.length).toBeGreaterThan(0);
      expect(names.filter((name) => !documented.has(name))).toEqual([]);
    });

    it('has no heading for a name that is not exported', () => {
      const exported = new Set(names);
      expect([...documented].filter((name) => !exported.has(name))).toEqual([]);
    });
  });
}

async function help(args: readonly string[]): Promise<string> {
  const chunks: Buffer[] = [];
  const out = new PassThrough().on('data', (c: Buffer) => chunks.push(c));
  await run([...args, '--help'], {
    stdout: out,
    stderr: out,
    stdin: Readable.from(['']),
    cwd: root,
    importModule: () => Promise.reject(new Error('--help loads no config')),
  });
  return Buffer.concat(chunks).toString('utf8');
}

/** The option flags of a help text's `Options:` section. */
function optionsOf(text: string): string[] {
  const section = text.split(/^Options:\s*$/m)[1]?.split(/^\S.*:\s*$/m)[0] ?? '';
  return [...section.matchAll(/^\s+(?:-\w,\s+)?(--[a-z][a-z-]*)/gm)].map((m) => m[1]!);
}

describe('docs/api/cli.md names every command and option of cmek --help', async () => {
  const page = readFileSync(join(root, 'docs', 'api', 'cli.md'), 'utf8');
  const top = await help([]);
  const commands = [...(top.split(/^Commands:\s*$/m)[1] ?? '').matchAll(/^\s{2}([a-z]+)\b/gm)]
    .map((m) => m[1]!)
    .filter((name) => name !== 'help');

  it('found the commands', () => {
    expect(commands).toEqual(
      expect.arrayContaining(['keygen', 'backfill', 'rotate', 'verify', 'inspect', 'decrypt']),
    );
  });

  for (const command of commands) {
    it(`cmek ${command}`, async () => {
      expect(page).toMatch(new RegExp(`^### \`cmek ${command}\\b`, 'm'));
      const section = page.split(new RegExp(`^### \`cmek ${command}\\b.*$`, 'm'))[1] ?? '';
      // The command's own section, plus the intro of `## Commands` (options every command has).
      const intro = page.split(/^## Commands\s*$/m)[1]?.split(/^### /m)[0] ?? '';
      const own = `${intro}\n${section.split(/^##+ /m)[0] ?? ''}`;
      const missing = optionsOf(await help([command])).filter(
        (option) =>
          option !== '--help' && !own.includes(`\`${option}`) && !own.includes(` ${option}`),
      );
      expect(missing, `options of cmek ${command} missing from its section`).toEqual([]);
    });
  }
});
