/**
 * The redaction test of `redaction.test.ts`, for the other adapters' row stores: a write the
 * database really refuses during `cmek backfill`, through `sequelizeRowStore` (SQLite, PostgreSQL)
 * and `mongooseRowStore` (FerretDB or MongoDB), and the CLI prints neither the plaintext nor a
 * whole token: not on stderr, not on stdout, not in the `--json` report, not with `--verbose`.
 * The command exits 1 (a database error) and the report's error is the adapter's `CMEK_QUERY`.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { serviceUrl } from '@cmek/test-suite';
import Database from 'better-sqlite3';
import { MongoClient } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { type CliResult, cmek } from './support/cli';
import { openKnex } from './support/fixture-config';
import { ormConfigSource } from './support/orm-config';
import { tempDir } from './support/sqlite';

const PLAINTEXT = /secret-\d/;
/** More of a token than the short prefix the redactor keeps. */
const TOKEN = /cmek:v1:[A-Za-z0-9_-]{3,}/;

const pgUrl = serviceUrl({
  name: 'PostgreSQL',
  env: 'CMEK_PG_URL',
  start: 'bash scripts/services/up.sh postgres',
});
const mongoUrl =
  process.env.MONGODB_URI ??
  serviceUrl({
    name: 'FerretDB',
    env: 'CMEK_MONGO_URL',
    start: 'bash scripts/services/up.sh ferretdb',
  });

interface ErrorJson {
  command: string;
  exitCode: number;
  error: {
    name: string;
    code: string;
    message: string;
    retryable: boolean;
    store?: string;
    causes?: { name: string; code: string | null; message: string }[];
  };
}

function expectClean(result: CliResult): void {
  for (const text of [result.stdout, result.stderr]) {
    expect(text).not.toMatch(PLAINTEXT);
    expect(text).not.toMatch(TOKEN);
  }
}

/** A project dir with a local key file; `config(keyFile)` is its `cmek.config.ts`. */
async function project(config: (keyFile: string) => string): Promise<string> {
  const dir = tempDir();
  const keyFile = join(dir, 'a.key');
  expect((await cmek(['keygen', keyFile])).code).toBe(0);
  writeFileSync(join(dir, 'cmek.config.ts'), config(keyFile));
  return dir;
}

/**
 * `cmek backfill` four ways (human and `--json`, each with and without `--verbose`): every run
 * exits 1 with the store's CMEK_QUERY error and prints no plaintext and no whole token. `message`
 * matches the store's error; `driver` the database's own, which only the cause chain shows.
 * Returns the `--json --verbose` report.
 */
async function expectRedactedFailure(
  dir: string,
  store: string,
  message: RegExp,
  driver: string | RegExp,
): Promise<ErrorJson> {
  const human = await cmek(['backfill'], { cwd: dir });
  expect(human.code).toBe(1);
  expect(human.stderr).toMatch(message);
  expect(human.stderr).toContain(`[CMEK_QUERY] (store ${store})`);
  expect(human.stderr).not.toContain('caused by');
  expectClean(human);

  const json = await cmek(['backfill', '--json'], { cwd: dir });
  expect(json.code).toBe(1);
  const plain = JSON.parse(json.stdout) as ErrorJson;
  expect(plain).toMatchObject({
    command: 'backfill',
    exitCode: 1,
    error: { name: 'CmekQueryError', code: 'CMEK_QUERY', retryable: false, store },
  });
  expect(plain.error.message).toMatch(message);
  expect(plain.error.causes).toBeUndefined();
  expectClean(json);

  const full = await cmek(['backfill', '--json', '--verbose'], { cwd: dir });
  expect(full.code).toBe(1);
  const report = JSON.parse(full.stdout) as ErrorJson;
  expect(report).toMatchObject({ exitCode: 1, error: { code: 'CMEK_QUERY', store } });
  expect(report.error.message).toBe(plain.error.message);
  expect(report.error.causes!.length).toBeGreaterThan(0);
  expect(report.error.causes!.map((c) => c.message).join('\n')).toMatch(driver);
  expectClean(full);

  // The same chain on stderr, one line per cause.
  const verbose = await cmek(['backfill', '--verbose'], { cwd: dir });
  expect(verbose.code).toBe(1);
  expect(verbose.stderr.split('\n').filter((line) => line.startsWith('  caused by '))).toEqual(
    report.error.causes!.map(
      (c) => `  caused by ${c.name}${c.code === null ? '' : ` [${c.code}]`}: ${c.message}`,
    ),
  );
  expectClean(verbose);
  return report;
}

/**
 * What is left of a `refused <old plaintext> -> <new token>` message: both values replaced, by
 * the adapter (`[redacted by cmek]`) or, failing that, by the CLI (`[value]`).
 */
const REDACTED = String.raw`\[(?:redacted by cmek|value)\]`;
const REFUSED = new RegExp(`refused ${REDACTED} -> (?:cmek:v1:)?${REDACTED}`);

/**
 * A project on a SQLite file (written through `sqlite3` by Sequelize) whose `integrations` table
 * has a trigger refusing every token written to `secret`; `refusal` is the trigger's statement.
 */
async function sqliteProject(refusal: string): Promise<{ dir: string; dbFile: string }> {
  let dbFile = '';
  const dir = await project((keyFile) => {
    dbFile = join(keyFile, '..', 'app.sqlite');
    return ormConfigSource('makeSequelizeConfig', {
      dialect: 'sqlite',
      connection: dbFile,
      table: 'integrations',
      columns: ['secret', 'note'],
      primary: { file: keyFile },
    });
  });
  const db = new Database(dbFile);
  db.exec(`CREATE TABLE integrations (id INTEGER PRIMARY KEY, secret TEXT, note TEXT);
    CREATE TRIGGER refuse_tokens BEFORE UPDATE OF secret ON integrations
    WHEN substr(NEW.secret, 1, 5) = 'cmek:' BEGIN ${refusal}; END;`);
  db.prepare(
    `INSERT INTO integrations (id, secret, note) VALUES (1, 'secret-1', 'note-1'), (2, 'secret-2', NULL)`,
  ).run();
  // What the database says about such a write: both values, in its own message.
  expect(() =>
    db.prepare(`UPDATE integrations SET secret = 'cmek:v1:AbCdEf' WHERE id = 2`).run(),
  ).toThrow('refused secret-2 -> cmek:v1:AbCdEf');
  db.close();
  return { dir, dbFile };
}

/** The database refused every write: the rows still hold their plaintext. */
function expectSqliteUnchanged(dbFile: string): void {
  const db = new Database(dbFile, { readonly: true });
  expect(db.prepare('SELECT secret FROM integrations ORDER BY id').pluck().all()).toEqual([
    'secret-1',
    'secret-2',
  ]);
  db.close();
}

describe('sequelizeRowStore: a write the database refuses is redacted before the CLI prints it', () => {
  it('SQLite: a trigger RAISE quoting the old plaintext and the new token (Sequelize: a UniqueConstraintError)', {
    timeout: 60_000,
  }, async () => {
    const { dir, dbFile } = await sqliteProject(
      `SELECT RAISE(ABORT, 'refused ' || OLD.secret || ' -> ' || NEW.secret)`,
    );
    // Sequelize makes every SQLITE_CONSTRAINT a UniqueConstraintError ("Validation error") and
    // keeps the driver's error as its `parent`, which is no `cause`: the chain ends there.
    const report = await expectRedactedFailure(
      dir,
      'integrations',
      /the compare-and-set of \w+\.secret failed in the database \(SequelizeUniqueConstraintError, code SQLITE_CONSTRAINT\)/,
      'Validation error',
    );
    expect(report.error.causes).toEqual([
      { name: 'SequelizeUniqueConstraintError', code: null, message: 'Validation error' },
    ]);
    expectSqliteUnchanged(dbFile);
  });

  it('SQLite: a trigger failing with an SQLITE_ERROR whose message quotes the old plaintext and the new token', {
    timeout: 60_000,
  }, async () => {
    // SQLite quotes a bad JSON path in its message: here the path is made of the two values.
    const { dir, dbFile } = await sqliteProject(
      `SELECT json_extract('{}', 'refused ' || OLD.secret || ' -> ' || NEW.secret)`,
    );
    const report = await expectRedactedFailure(
      dir,
      'integrations',
      /the compare-and-set of \w+\.secret failed in the database \(SequelizeDatabaseError, code SQLITE_ERROR\)/,
      REFUSED,
    );
    // The database's message is shown, both of its values taken out.
    expect(report.error.causes).toHaveLength(1);
    expect(report.error.causes![0]).toMatchObject({ name: 'SequelizeDatabaseError', code: null });
    expect(report.error.causes![0]!.message).toMatch(
      new RegExp(`^SQLITE_ERROR: bad JSON path: '${REFUSED.source}'$`),
    );
    expectSqliteUnchanged(dbFile);
  });

  describe.skipIf(!pgUrl)('PostgreSQL', () => {
    it('a trigger whose error, detail and hint quote the old plaintext and the new token', {
      timeout: 60_000,
    }, async () => {
      const table = `cmek_cli_redact_${randomBytes(4).toString('hex')}`;
      const knex = openKnex('pg', pgUrl!);
      try {
        await knex.raw(`CREATE TABLE ${table} (id integer PRIMARY KEY, secret text, note text)`);
        await knex.raw(`CREATE FUNCTION ${table}_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN
            RAISE EXCEPTION 'refused % -> %', OLD.secret, NEW.secret
              USING ERRCODE = 'check_violation', DETAIL = 'old ' || OLD.secret, HINT = NEW.secret;
          END $$`);
        await knex.raw(`CREATE TRIGGER refuse_tokens BEFORE UPDATE OF secret ON ${table}
          FOR EACH ROW WHEN (NEW.secret LIKE 'cmek:%') EXECUTE FUNCTION ${table}_refuse()`);
        await knex(table).insert([
          { id: 1, secret: 'secret-1', note: 'note-1' },
          { id: 2, secret: 'secret-2', note: null },
        ]);
        await expect(
          knex(table).where({ id: 2 }).update({ secret: 'cmek:v1:AbCdEf' }),
        ).rejects.toThrow('refused secret-2 -> cmek:v1:AbCdEf');

        const dir = await project((keyFile) =>
          ormConfigSource('makeSequelizeConfig', {
            dialect: 'postgres',
            connection: pgUrl!,
            table,
            columns: ['secret', 'note'],
            primary: { file: keyFile },
          }),
        );
        const report = await expectRedactedFailure(
          dir,
          table,
          /the compare-and-set of \w+\.secret failed in the database \(SequelizeDatabaseError, code 23514\)/,
          REFUSED,
        );
        expect(report.error.causes).toHaveLength(1);
        expect(report.error.causes![0]).toMatchObject({ name: 'SequelizeDatabaseError' });
        expect(report.error.causes![0]!.message).toMatch(new RegExp(`^${REFUSED.source}$`));
        expect(await knex(table).orderBy('id').pluck('secret')).toEqual(['secret-1', 'secret-2']);
      } finally {
        await knex.raw(`DROP TABLE IF EXISTS ${table}`);
        await knex.raw(`DROP FUNCTION IF EXISTS ${table}_refuse()`);
        await knex.destroy();
      }
    });
  });
});

describe.skipIf(!mongoUrl)(
  'mongooseRowStore: a write the database refuses is redacted before the CLI prints it',
  () => {
    it('a unique index on the encrypted path refuses the compare-and-set of a duplicate token', {
      timeout: 60_000,
    }, async () => {
      const dbName = `cmek_cli_redact_${randomBytes(4).toString('hex')}`;
      const collection = 'integrations';
      const client = new MongoClient(mongoUrl!);
      await client.connect();
      try {
        const raw = client.db(dbName).collection(collection);
        await raw.createIndex({ secret: 1 }, { unique: true });
        await raw.insertMany([{ secret: 'secret-1' }, { secret: 'secret-2' }]);
        // The server refuses a second document with a value already stored.
        await expect(raw.insertOne({ secret: 'secret-1' })).rejects.toThrow();

        const dir = await project((keyFile) =>
          ormConfigSource('makeMongooseConfig', {
            url: mongoUrl!,
            dbName,
            collection,
            paths: ['secret'],
            primary: { file: keyFile },
            wrap: 'duplicating',
          }),
        );
        await expectRedactedFailure(
          dir,
          collection,
          /compareAndSet on integrations\.secret failed in the database \((1|11000)\)/,
          // FerretDB's own words (it quotes no value), or MongoDB's (which quotes the token).
          /UNIQUE constraint failed|duplicate key error/,
        );
        // Refused: the legacy documents still hold their plaintext; beside them, the duplicates.
        const docs = await raw.find().sort({ _id: 1 }).toArray();
        expect(docs.map((d) => d.secret as string).slice(0, 2)).toEqual(['secret-1', 'secret-2']);
        expect(docs.length).toBeGreaterThan(2);
        expect(docs.slice(2).every((d) => (d.secret as string).startsWith('cmek:v1:'))).toBe(true);
      } finally {
        await client
          .db(dbName)
          .dropDatabase()
          .catch(() => undefined);
        await client.close();
      }
    });
  },
);
