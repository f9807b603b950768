/**
 * The coverage tables of the adapter guides (`docs/adapters/<orm>.md`) are true to the tests.
 *
 * A coverage table is a Markdown table with a `tested by` column. Each row names one write or
 * read path (by the heading above the table: `Write paths`, `Read paths`, or another one for
 * setup and tooling), says what the adapter does with it (`covered`, `refused (CMEK_…)` or
 * `not intercepted`), and names the tests that prove it:
 *
 *     `packages/adapter-knex/test/writes.test.ts` › `batchInsert encrypts every chunk`
 *
 * Each reference must name a test file of that adapter that holds a test (`it(…)`, `test(…)`,
 * `it.skipIf(…)(…)`, `it.runIf(…)(…)` or the Knex tests' `itWhen(…)(…)`) with exactly that
 * title: skipped and todo tests do not count. The shared conformance suite builds its tests
 * itself, so its titles are looked up where they are written, in
 * `packages/test-suite/src/adapter-conformance.ts`, and the adapter must have a test file that
 * runs the suite. A row may say `no test` only for a path the adapter does not intercept: no
 * path is called covered or refused without a test.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..', '..');
const GUIDES = join(root, 'docs', 'adapters');
const ORMS = ['drizzle', 'knex', 'mongoose', 'prisma', 'sequelize'] as const;
const CONFORMANCE = 'packages/test-suite/src/adapter-conformance.ts';
const NO_TEST = 'no test';
const STATUSES = ['covered', 'refused', 'not intercepted'] as const;
const REFERENCE = /`([^`]+)`\s*›\s*`([^`]+)`/g;

type Kind = 'write' | 'read' | 'other';

interface Reference {
  readonly file: string;
  readonly title: string;
}

interface Row {
  readonly line: number;
  readonly kind: Kind;
  readonly path: string;
  readonly status: string;
  readonly testedBy: string;
  readonly references: readonly Reference[];
}

/** The cells of a table row; `\|` is a pipe inside a cell. */
function cellsOf(line: string): string[] {
  return line
    .trim()
    .replace(/^\|/, '')
    .replace(/(?<!\\)\|$/, '')
    .split(/(?<!\\)\|/)
    .map((cell) => cell.trim().replace(/\\\|/g, '|'));
}

function kindOf(heading: string): Kind {
  if (/^write paths\b/i.test(heading)) return 'write';
  if (/^read paths\b/i.test(heading)) return 'read';
  return 'other';
}

/** The rows of every coverage table of a guide. */
function coverageRows(text: string): Row[] {
  const lines = text.split('\n');
  const rows: Row[] = [];
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const title = /^#{1,6}\s+(.*)$/.exec(line);
    if (title) {
      heading = title[1]!.trim();
      continue;
    }
    if (!line.startsWith('|') || !/^\|[\s:|-]+\|\s*$/.test(lines[i + 1] ?? '')) continue;
    const header = cellsOf(line).map((c) => c.toLowerCase());
    const testedByAt = header.indexOf('tested by');
    let end = i + 2;
    while (end < lines.length && lines[end]!.startsWith('|')) end++;
    if (testedByAt !== -1) {
      const statusAt = header.indexOf('behaviour');
      for (let r = i + 2; r < end; r++) {
        const cells = cellsOf(lines[r]!);
        const testedBy = cells[testedByAt] ?? '';
        rows.push({
          line: r + 1,
          kind: kindOf(heading),
          path: cells[0] ?? '',
          status: statusAt === -1 ? '' : (cells[statusAt] ?? ''),
          testedBy,
          references: [...testedBy.matchAll(REFERENCE)].map((m) => ({
            file: m[1]!,
            title: m[2]!,
          })),
        });
      }
    }
    i = end - 1;
  }
  return rows;
}

/** `it('title')`, `test('title')`, `it.skipIf(c)('title')`, `it.runIf(c)('title')`, `itWhen(c)('title')`. */
function isTestCall(callee: ts.Expression): boolean {
  if (ts.isIdentifier(callee)) return callee.text === 'it' || callee.text === 'test';
  if (!ts.isCallExpression(callee)) return false;
  const inner = callee.expression;
  if (ts.isIdentifier(inner)) return inner.text === 'itWhen';
  return (
    ts.isPropertyAccessExpression(inner) &&
    ts.isIdentifier(inner.expression) &&
    (inner.expression.text === 'it' || inner.expression.text === 'test') &&
    (inner.name.text === 'skipIf' || inner.name.text === 'runIf')
  );
}

function parse(file: string): ts.SourceFile {
  return ts.createSourceFile(
    file,
    readFileSync(join(root, file), 'utf8'),
    ts.ScriptTarget.Latest,
    true,
    ts.ScriptKind.TS,
  );
}

function visit(node: ts.Node, fn: (node: ts.Node) => void): void {
  fn(node);
  ts.forEachChild(node, (child) => visit(child, fn));
}

const titleCache = new Map<string, ReadonlySet<string>>();

/** The literal titles of the tests a file registers. */
function testTitles(file: string): ReadonlySet<string> {
  let titles = titleCache.get(file);
  if (!titles) {
    const found = new Set<string>();
    visit(parse(file), (node) => {
      if (!ts.isCallExpression(node) || !isTestCall(node.expression)) return;
      const first = node.arguments[0];
      if (first && (ts.isStringLiteral(first) || ts.isNoSubstitutionTemplateLiteral(first))) {
        found.add(first.text);
      }
    });
    titles = found;
    titleCache.set(file, titles);
  }
  return titles;
}

/** The adapter's test files that run the shared conformance suite. */
function conformanceRunners(orm: string): string[] {
  const dir = `packages/adapter-${orm}/test`;
  return readdirSync(join(root, dir))
    .filter((name) => name.endsWith('.test.ts'))
    .map((name) => `${dir}/${name}`)
    .filter((file) => {
      let runs = false;
      visit(parse(file), (node) => {
        if (
          ts.isCallExpression(node) &&
          ts.isIdentifier(node.expression) &&
          node.expression.text === 'adapterConformanceSuite'
        ) {
          runs = true;
        }
      });
      return runs;
    });
}

/** What is wrong with one row; empty when it is true to the tests. */
function problemsOf(orm: string, row: Row): string[] {
  const problems: string[] = [];
  const status = STATUSES.find((s) => row.status.toLowerCase().startsWith(s));
  if (status === undefined) {
    problems.push(`behaviour must start with ${STATUSES.join(' / ')}: "${row.status}"`);
  }
  if (status === 'refused' && !/`CMEK_[A-Z_]+`/.test(row.status)) {
    problems.push('a refused path must name its error code (`CMEK_…`)');
  }
  if (row.testedBy === NO_TEST) {
    if (status !== 'not intercepted') {
      problems.push(`only a path that is not intercepted may have no test (this one is ${status})`);
    }
    return problems;
  }
  if (row.references.length === 0) problems.push(`no test reference in "${row.testedBy}"`);
  const rest = row.testedBy.replace(REFERENCE, '').replace(/<br>|;|,/g, '');
  if (rest.trim() !== '') problems.push(`text that is not a test reference: "${rest.trim()}"`);
  for (const { file, title } of row.references) {
    const own = file.startsWith(`packages/adapter-${orm}/test/`) && file.endsWith('.test.ts');
    if (!own && file !== CONFORMANCE) {
      problems.push(`${file} is neither a test file of adapter-${orm} nor ${CONFORMANCE}`);
      continue;
    }
    if (!existsSync(join(root, file))) {
      problems.push(`${file} does not exist`);
      continue;
    }
    if (!testTitles(file).has(title)) problems.push(`${file} has no test titled "${title}"`);
    if (file === CONFORMANCE && conformanceRunners(orm).length === 0) {
      problems.push(`no test file of adapter-${orm} runs adapterConformanceSuite`);
    }
  }
  return problems;
}

describe('the adapter guides', () => {
  it('are one per adapter', () => {
    const guides = readdirSync(GUIDES).filter((name) => name.endsWith('.md'));
    expect(guides.sort()).toEqual(ORMS.map((orm) => `${orm}.md`));
  });

  it('are linked from docs/adapters.md and from their adapter README', () => {
    const overview = readFileSync(join(root, 'docs', 'adapters.md'), 'utf8');
    for (const orm of ORMS) {
      expect(overview, 'docs/adapters.md').toContain(`](adapters/${orm}.md)`);
      const readme = readFileSync(join(root, 'packages', `adapter-${orm}`, 'README.md'), 'utf8');
      expect(readme, `adapter-${orm}/README.md`).toContain(
        `](https://github.com/cmek/cmek/blob/main/docs/adapters/${orm}.md)`,
      );
    }
  });
});

for (const orm of ORMS) {
  const file = join(GUIDES, `${orm}.md`);
  const rows = existsSync(file) ? coverageRows(readFileSync(file, 'utf8')) : [];

  describe(`docs/adapters/${orm}.md`, () => {
    it('has write and read rows backed by tests', () => {
      for (const kind of ['write', 'read'] as const) {
        const tested = rows.filter((row) => row.kind === kind && row.references.length > 0);
        expect(tested.length, `${kind} rows with a test`).toBeGreaterThan(0);
      }
    });

    for (const row of rows) {
      it(`line ${row.line}, ${row.kind}: ${row.path}`, () => {
        expect(problemsOf(orm, row)).toEqual([]);
      });
    }
  });
}
