/**
 * Whatever a store's driver puts in its error, the CLI prints neither the plaintext nor the token:
 * not on stderr, not on stdout, not in the `--json` report, not with `--verbose`.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { type CliResult, cmek } from './support/cli';
import { configSource, type FixtureOptions } from './support/fixture-config';
import { seedSqlite, tempDir } from './support/sqlite';

const TABLE = 'integrations';
const PLAINTEXT = /secret-\d/;
/** More of a token than the short prefix the redactor keeps. */
const TOKEN = /cmek:v1:[A-Za-z0-9_-]{3,}/;

async function project(options: Partial<FixtureOptions>, seed: (file: string) => void) {
  const dir = tempDir();
  const dbFile = join(dir, 'app.sqlite');
  const keyFile = join(dir, 'a.key');
  seed(dbFile);
  expect((await cmek(['keygen', keyFile])).code).toBe(0);
  writeFileSync(
    join(dir, 'cmek.config.ts'),
    configSource({
      client: 'better-sqlite3',
      connection: dbFile,
      table: TABLE,
      columns: ['secret'],
      primary: { file: keyFile },
      ...options,
    }),
  );
  return dir;
}

function expectClean(result: CliResult): void {
  for (const text of [result.stdout, result.stderr]) {
    expect(text).not.toMatch(PLAINTEXT);
    expect(text).not.toMatch(TOKEN);
  }
}

describe('errors are redacted before the CLI prints them', () => {
  it("knex's SQL with the bound values, from a real SQLite CHECK failure", async () => {
    const dir = await project({ store: 'knex' }, (file) => {
      const db = new Database(file);
      db.exec(
        `CREATE TABLE ${TABLE} (id INTEGER PRIMARY KEY, secret TEXT CHECK (substr(secret, 1, 5) <> 'cmek:'), note TEXT)`,
      );
      db.prepare(`INSERT INTO ${TABLE} (id, secret) VALUES (1, 'secret-1'), (2, 'secret-2')`).run();
      db.close();
    });
    const human = await cmek(['backfill', '--verbose'], { cwd: dir });
    expect(human.code).toBe(1);
    // The driver's message is there, its values are not.
    expect(human.stderr).toContain('CHECK constraint failed');
    expectClean(human);
    const json = await cmek(['backfill', '--json', '--verbose'], { cwd: dir });
    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout) as {
      error: { code: string; message: string; causes: unknown[] };
    };
    // The adapter's own CMEK_QUERY, or the driver's code where an adapter passes its error on.
    expect(report.error.code).toMatch(/^(CMEK_QUERY|SQLITE_CONSTRAINT)/);
    expect(report.error.message).toContain('CHECK constraint failed');
    expectClean(json);
  });

  it('values quoted in a message no pattern knows are removed too', async () => {
    const dir = await project({ store: 'direct', wrap: 'leaky' }, (file) =>
      seedSqlite(file, TABLE, 3),
    );
    const result = await cmek(['backfill', '--json', '--verbose'], { cwd: dir });
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as {
      error: { message: string; causes: { name: string; message: string }[] };
    };
    expect(report.error.message).toBe('the write failed');
    // The cause chain is shown, with the values replaced.
    expect(report.error.causes[0]!.message).toMatch(
      /^row 1 rejected: had <\[value\]>, got <\[value\]>$/,
    );
    expectClean(result);
    const human = await cmek(['backfill', '--verbose'], { cwd: dir });
    expect(human.stderr).toContain('caused by Error: row 1 rejected');
    expectClean(human);
  });
});
