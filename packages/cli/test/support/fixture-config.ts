/**
 * What the test configs (`cmek.config.ts` written by each test into a temp dir) call: a Knex over
 * SQLite or PostgreSQL, the knex adapter's RowStore for one table, and a keyring of local KEK
 * files (and optionally an aws-kms key on moto).
 */
import { knexRowStore } from '@cmek/adapter-knex';
import { createKeyring, type KekProvider, type RowStore } from '@cmek/core';
import { createLocalKekProvider } from '@cmek/provider-local';
import knex, { type Knex } from 'knex';
import { defineConfig } from '../../src/index';
import {
  conflictingStore,
  leakyStore,
  slowStore,
  sqliteRowStore,
  withPgBatchedCas,
} from './stores';

export interface FixtureOptions {
  readonly client: 'better-sqlite3' | 'pg';
  /** A file path (SQLite) or a URL (PostgreSQL). */
  readonly connection: string;
  readonly table: string;
  /** Further tables of the same columns, each one more store (after `table`'s). */
  readonly moreTables?: readonly string[];
  readonly columns: readonly string[];
  /**
   * `knex` (default): the knex adapter's `knexRowStore` (on PostgreSQL with the batched
   * compare-and-set of `withPgBatchedCas`); `direct`: `sqliteRowStore` on better-sqlite3.
   */
  readonly store?: 'knex' | 'direct';
  /**
   * Wraps each store: `conflicting` changes the value in the database just before each
   * compare-and-set (an application writing all the time: every write conflicts); `leaky` makes
   * each write fail with an error quoting the values it was given, as no known driver does;
   * `slow` waits `slowScanMs` before each scan (a long run, for the progress lines), keeping the
   * store's `count()`.
   */
  readonly wrap?: 'conflicting' | 'leaky' | 'slow';
  readonly slowScanMs?: number;
  readonly primary: KeySpec;
  readonly decryptOnly?: readonly KeySpec[];
}

export type KeySpec =
  | { readonly file: string }
  | { readonly kms: { endpoint: string; keyId: string } };

export function openKnex(client: FixtureOptions['client'], connection: string): Knex {
  if (client === 'pg') return knex({ client: 'pg', connection, pool: { min: 0, max: 10 } });
  return knex({
    client: 'better-sqlite3',
    connection: { filename: connection },
    useNullAsDefault: true,
    pool: {
      afterCreate(
        conn: { pragma(s: string): unknown },
        done: (e: Error | null, c: unknown) => void,
      ) {
        conn.pragma('journal_mode = WAL');
        conn.pragma('synchronous = NORMAL');
        conn.pragma('busy_timeout = 10000');
        done(null, conn);
      },
    },
  });
}

export async function providerOf(spec: KeySpec): Promise<KekProvider> {
  if ('file' in spec) return createLocalKekProvider({ path: spec.file });
  const { createAwsKmsKekProvider } = await import('@cmek/provider-aws-kms');
  return createAwsKmsKekProvider({
    keyId: spec.kms.keyId,
    endpoint: spec.kms.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
}

export function makeConfig(options: FixtureOptions) {
  // Opened per command (the config module is imported once but may serve several runs in tests).
  let db: Knex | undefined;
  let direct: ReturnType<typeof sqliteRowStore>[] | undefined;
  return defineConfig({
    keyring: async () =>
      createKeyring({
        primary: await providerOf(options.primary),
        decryptOnly: await Promise.all((options.decryptOnly ?? []).map(providerOf)),
      }),
    stores: () => {
      const tables = [options.table, ...(options.moreTables ?? [])];
      const wrap = (store: RowStore): RowStore => {
        if (options.wrap === 'leaky') return leakyStore(store);
        if (options.wrap === 'slow') return slowStore(store, options.slowScanMs ?? 200);
        if (options.wrap === 'conflicting') {
          return conflictingStore(store, (id, field, value) =>
            db!
              .table(store.name)
              .where({ id })
              .update({ [field]: value }),
          );
        }
        return store;
      };
      if (options.store === 'direct') {
        direct = tables.map((table) => sqliteRowStore(options.connection, table, options.columns));
        return direct.map(wrap);
      }
      const conn = openKnex(options.client, options.connection);
      db = conn;
      return tables.map((table) => {
        const store = knexRowStore({ knex: conn, table, columns: options.columns });
        return wrap(options.client === 'pg' ? withPgBatchedCas(store, conn, table) : store);
      });
    },
    close: async () => {
      for (const store of direct ?? []) store.close();
      direct = undefined;
      await db?.destroy();
      db = undefined;
    },
  });
}

/** The text of a `cmek.config.ts` calling `makeConfig(options)`. */
export function configSource(options: FixtureOptions): string {
  const self = new URL(import.meta.url).pathname;
  return `import { makeConfig } from ${JSON.stringify(self)};\nexport default makeConfig(${JSON.stringify(options)});\n`;
}
