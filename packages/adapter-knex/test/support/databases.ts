/** The three real databases the adapter is tested on, each through a fresh plain Knex. */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serviceUrl } from '@cmek/test-suite';
import type { Knex } from 'knex';
import { it } from 'vitest';
import { knexFactory } from './knex';

export interface Database {
  readonly name: 'sqlite' | 'postgres' | 'mariadb';
  /** Undefined when the service is not running (its tests are skipped, or fail under CI). */
  readonly available: boolean;
  /** A new Knex instance on this database: plain, unless `extra` adds config (identifier mappers). */
  connect(extra?: Partial<Knex.Config>): Knex;
  readonly returning: boolean;
}

let sqliteDir: string | undefined;
function sqliteFile(): string {
  sqliteDir ??= mkdtempSync(join(tmpdir(), 'cmek-knex-'));
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

export const databases: readonly Database[] = [
  {
    name: 'sqlite',
    available: true,
    returning: true,
    connect: (extra = {}) =>
      knexFactory({
        client: 'better-sqlite3',
        connection: { filename: sqliteFile() },
        useNullAsDefault: true,
        ...extra,
      }),
  },
  {
    name: 'postgres',
    available: pgUrl !== undefined,
    returning: true,
    connect: (extra = {}) =>
      knexFactory({ client: 'pg', connection: pgUrl!, pool: { min: 0, max: 4 }, ...extra }),
  },
  {
    name: 'mariadb',
    available: mysqlUrl !== undefined,
    returning: false,
    connect: (extra = {}) =>
      knexFactory({ client: 'mysql2', connection: mysqlUrl!, pool: { min: 0, max: 4 }, ...extra }),
  },
];

/** A table-name prefix unique to this run: the services are shared with other test files. */
export function uniquePrefix(tag: string): string {
  return `k${tag}_${process.pid}_${Math.floor(Math.random() * 1e6)}_`;
}

/**
 * `it` for a test of a feature only some databases have (MySQL's upsert, pg's rowMode...): on
 * the others the test is not registered at all, rather than reported as skipped.
 */
export function itWhen(condition: boolean): typeof it {
  return condition ? it : (((..._args: unknown[]) => undefined) as unknown as typeof it);
}
