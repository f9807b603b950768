/**
 * The three real databases the adapter is tested on: for each, a Drizzle database over a fresh
 * driver connection, a raw query function that reads and writes around Drizzle, and the test
 * schema declared with that dialect's table builders.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serviceUrl } from '@cmek/test-suite';
import { relations } from 'drizzle-orm';
import { drizzle as drizzleSqlite } from 'drizzle-orm/better-sqlite3';
import * as my from 'drizzle-orm/mysql-core';
import { drizzle as drizzleMysql } from 'drizzle-orm/mysql2';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import * as pgc from 'drizzle-orm/pg-core';
import * as lite from 'drizzle-orm/sqlite-core';
import mysql from 'mysql2/promise';
import { it } from 'vitest';

export type DatabaseName = 'sqlite' | 'postgres' | 'mysql';

/** The test tables of one dialect (loosely typed: the tests run the same code on all three). */
// biome-ignore lint/suspicious/noExplicitAny: one test body for three dialects' table types
export type AnyTable = any;
// biome-ignore lint/suspicious/noExplicitAny: one test body for three dialects' database types
export type AnyDb = any;

export interface Tables {
  readonly prefix: string;
  /**
   * `<prefix>secrets`: id, name (unique), token (text), note (varchar 1000), owner_id, touched,
   * token_hash (text, for a blind index) and token_hash_bidx (varchar 80, unique).
   */
  readonly secrets: AnyTable;
  /** `<prefix>owners`: id, name, token (text). */
  readonly owners: AnyTable;
  readonly names: { readonly secrets: string; readonly owners: string };
  readonly schema: Record<string, unknown>;
}

export interface Connection {
  /** A Drizzle database over its own connection, with the relational schema. */
  readonly db: AnyDb;
  /** A raw SQL statement around Drizzle (`?` placeholders on every database). */
  raw(sql: string, params?: readonly unknown[]): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

export interface TestDatabase {
  readonly name: DatabaseName;
  /** False when the service is not running (its tests are not registered; under CI it throws). */
  readonly available: boolean;
  /** Whether the dialect has `returning()` (MySQL has not). */
  readonly returning: boolean;
  tables(prefix: string): Tables;
  connect(tables: Tables): Connection;
  /** The DDL of the test tables. */
  ddl(t: Tables): string[];
}

/** The DDL of the blind-indexed column and its index column, the same on the three databases. */
export const INDEXED_DDL = 'token_hash text, token_hash_bidx varchar(80) unique';

let sqliteDir: string | undefined;
function sqliteFile(): string {
  sqliteDir ??= mkdtempSync(join(tmpdir(), 'cmek-drizzle-'));
  return join(sqliteDir, 'test.sqlite');
}
process.on('exit', () => {
  if (sqliteDir) rmSync(sqliteDir, { recursive: true, force: true });
});

const pgUrl = serviceUrl({
  name: 'PostgreSQL',
  env: 'CMEK_PG_URL',
  start: 'bash scripts/services/up.sh postgres',
});
const mysqlUrl = serviceUrl({
  name: 'MariaDB',
  env: 'CMEK_MYSQL_URL',
  start: 'bash scripts/services/up.sh mariadb',
});

function relationsOf(secrets: AnyTable, owners: AnyTable) {
  const secretsRelations = relations(secrets, ({ one }) => ({
    owner: one(owners, { fields: [secrets.ownerId], references: [owners.id] }),
  }));
  const ownersRelations = relations(owners, ({ many }) => ({ secrets: many(secrets) }));
  return { secretsRelations, ownersRelations };
}

function named(prefix: string) {
  return { secrets: `${prefix}secrets`, owners: `${prefix}owners` };
}

const sqlite: TestDatabase = {
  name: 'sqlite',
  available: true,
  returning: true,
  tables(prefix) {
    const names = named(prefix);
    const secrets = lite.sqliteTable(names.secrets, {
      id: lite.integer('id').primaryKey({ autoIncrement: true }),
      name: lite.text('name').notNull().unique(),
      token: lite.text('token'),
      note: lite.text('note', { length: 1000 }),
      ownerId: lite.integer('owner_id'),
      touched: lite.text('touched').$onUpdate(() => 'updated'),
      tokenHash: lite.text('token_hash'),
      tokenHashBidx: lite.text('token_hash_bidx', { length: 80 }).unique(),
    });
    const owners = lite.sqliteTable(names.owners, {
      id: lite.integer('id').primaryKey({ autoIncrement: true }),
      name: lite.text('name').notNull(),
      token: lite.text('token'),
    });
    return {
      prefix,
      secrets,
      owners,
      names,
      schema: { secrets, owners, ...relationsOf(secrets, owners) },
    };
  },
  ddl: (t) => [
    `create table ${t.names.secrets} (id integer primary key autoincrement, name text not null unique, token text, note text, owner_id integer, touched text, ${INDEXED_DDL})`,
    `create table ${t.names.owners} (id integer primary key autoincrement, name text not null, token text)`,
  ],
  connect(t) {
    const db = drizzleSqlite({ connection: { source: sqliteFile() }, schema: t.schema });
    const client = db.$client;
    client.pragma('busy_timeout = 5000');
    return {
      db,
      async raw(sql, params = []) {
        const statement = client.prepare(sql);
        if (statement.reader) return statement.all(...params) as Record<string, unknown>[];
        statement.run(...params);
        return [];
      },
      async close() {
        client.close();
      },
    };
  },
};

const postgres: TestDatabase = {
  name: 'postgres',
  available: pgUrl !== undefined,
  returning: true,
  tables(prefix) {
    const names = named(prefix);
    const secrets = pgc.pgTable(names.secrets, {
      id: pgc.serial('id').primaryKey(),
      name: pgc.varchar('name', { length: 64 }).notNull().unique(),
      token: pgc.text('token'),
      note: pgc.varchar('note', { length: 1000 }),
      ownerId: pgc.integer('owner_id'),
      touched: pgc.text('touched').$onUpdate(() => 'updated'),
      tokenHash: pgc.text('token_hash'),
      tokenHashBidx: pgc.varchar('token_hash_bidx', { length: 80 }).unique(),
    });
    const owners = pgc.pgTable(names.owners, {
      id: pgc.serial('id').primaryKey(),
      name: pgc.text('name').notNull(),
      token: pgc.text('token'),
    });
    return {
      prefix,
      secrets,
      owners,
      names,
      schema: { secrets, owners, ...relationsOf(secrets, owners) },
    };
  },
  ddl: (t) => [
    `create table ${t.names.secrets} (id serial primary key, name varchar(64) not null unique, token text, note varchar(1000), owner_id integer, touched text, ${INDEXED_DDL})`,
    `create table ${t.names.owners} (id serial primary key, name text not null, token text)`,
  ],
  connect(t) {
    const db = drizzlePg({ connection: { connectionString: pgUrl!, max: 4 }, schema: t.schema });
    const pool = db.$client;
    return {
      db,
      async raw(sql, params = []) {
        let n = 0;
        const result = await pool.query(
          sql.replace(/\?/g, () => `$${++n}`),
          params as unknown[],
        );
        return result.rows as Record<string, unknown>[];
      },
      close: () => pool.end(),
    };
  },
};

const mysqlDb: TestDatabase = {
  name: 'mysql',
  available: mysqlUrl !== undefined,
  returning: false,
  tables(prefix) {
    const names = named(prefix);
    const secrets = my.mysqlTable(names.secrets, {
      id: my.serial('id').primaryKey(),
      name: my.varchar('name', { length: 64 }).notNull().unique(),
      token: my.mediumtext('token'),
      note: my.varchar('note', { length: 1000 }),
      ownerId: my.int('owner_id'),
      touched: my.text('touched').$onUpdate(() => 'updated'),
      tokenHash: my.text('token_hash'),
      tokenHashBidx: my.varchar('token_hash_bidx', { length: 80 }).unique(),
    });
    const owners = my.mysqlTable(names.owners, {
      id: my.serial('id').primaryKey(),
      name: my.text('name').notNull(),
      token: my.text('token'),
    });
    return {
      prefix,
      secrets,
      owners,
      names,
      schema: { secrets, owners, ...relationsOf(secrets, owners) },
    };
  },
  ddl: (t) => [
    `create table ${t.names.secrets} (id serial primary key, name varchar(64) not null unique, token mediumtext, note varchar(1000), owner_id int, touched text, ${INDEXED_DDL})`,
    `create table ${t.names.owners} (id serial primary key, name text not null, token text)`,
  ],
  connect(t) {
    const pool = mysql.createPool({ uri: mysqlUrl!, connectionLimit: 4 });
    return {
      // MariaDB has no LATERAL joins: the relational API's 'planetscale' mode does without them
      db: drizzleMysql(pool, { schema: t.schema, mode: 'planetscale' }),
      async raw(sql, params = []) {
        const [rows] = await pool.query(sql, params as unknown[]);
        return Array.isArray(rows) ? (rows as Record<string, unknown>[]) : [];
      },
      close: () => pool.end(),
    };
  },
};

export const databases: readonly TestDatabase[] = [sqlite, postgres, mysqlDb];

/** A table-name prefix unique to this run: the services are shared with other test files. */
export function uniquePrefix(tag: string): string {
  return `dz${tag}_${process.pid}_${Math.floor(Math.random() * 1e6)}_`;
}

/**
 * `it` for a test of a feature only some databases have (returning, onDuplicateKeyUpdate): on
 * the others the test is not registered at all, rather than reported as skipped.
 */
export function itWhen(condition: boolean): typeof it {
  return condition ? it : (((..._args: unknown[]) => undefined) as unknown as typeof it);
}

/** Creates the test tables (dropping leftovers of the same prefix). */
export async function createTables(c: Connection, d: TestDatabase, t: Tables): Promise<void> {
  await dropTables(c, t);
  for (const statement of d.ddl(t)) await c.raw(statement);
}

export async function dropTables(c: Connection, t: Tables): Promise<void> {
  await c.raw(`drop table if exists ${t.names.secrets}`);
  await c.raw(`drop table if exists ${t.names.owners}`);
}
