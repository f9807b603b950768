/** The shared adapter conformance suite, on each real database. */
import {
  type BlindIndexer,
  createBlindIndexKey,
  createEnvelope,
  loadBlindIndexes,
} from '@cmek/core';
import { type AdapterSession, adapterConformanceSuite, type FieldValues } from '@cmek/test-suite';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { withCmek } from '../src/index';
import { databases, uniquePrefix } from './support/databases';
import { countingProvider } from './support/provider';

for (const db of databases) {
  describe.skipIf(!db.available)(`on ${db.name}`, () => {
    let plain: Knex | undefined;
    let base: Knex | undefined;
    let indexer: BlindIndexer | undefined;
    const table = `${uniquePrefix('a')}conformance`;

    adapterConformanceSuite(
      { describe, it, beforeAll, afterAll },
      {
        async setup(): Promise<AdapterSession> {
          plain = db.connect();
          base = db.connect();
          const raw = plain;
          await raw.schema.dropTableIfExists(table);
          await raw.schema.createTable(table, (t) => {
            t.increments('id').primary();
            // MySQL TEXT holds 64 KiB bytes; the suite's 64 KiB values need more once encrypted
            if (db.name === 'mariadb') {
              t.specificType('secret', 'mediumtext');
              t.specificType('note', 'mediumtext');
            } else {
              t.text('secret');
              t.text('note');
            }
            t.text('token_hash');
            t.string('token_hash_bidx', 80).unique();
          });
          const kek = countingProvider();
          const envelope = createEnvelope({ kek });
          indexer = await loadBlindIndexes({ keys: [await createBlindIndexKey(kek)], kek });
          const index = { column: 'token_hash_bidx' };
          const app = withCmek(base, {
            envelope,
            indexer,
            tables: {
              [table]: { columns: { secret: {}, note: {}, token_hash: { blindIndex: index } } },
            },
          });
          const fields = ['secret', 'note'] as const;
          const pick = (row: Record<string, unknown>): FieldValues => ({
            secret: (row.secret as string | null) ?? null,
            note: (row.note as string | null) ?? null,
          });
          /** The id of an insert: `returning` where the database has it, else MySQL's insert id. */
          const insertRows = async (rows: readonly FieldValues[]): Promise<number[]> => {
            if (db.name === 'mariadb') {
              // one statement per row: a multi-row insert returns only the first id
              const ids: number[] = [];
              for (const row of rows) ids.push(Number((await app(table).insert(row))[0]));
              return ids;
            }
            const out = (await app(table).insert(rows).returning('id')) as { id: number }[];
            return out.map((r) => Number(r.id));
          };
          return {
            envelope,
            fields,
            contextFor: (field) => ({ field: `${table}.${field}` }),
            async insert(values) {
              return (await insertRows([values]))[0]!;
            },
            async insertMany(rows) {
              if (db.name === 'mariadb') {
                // the batch path: one multi-row insert; MySQL returns the first id of the batch
                const [first] = (await app(table).insert(rows)) as number[];
                return rows.map((_, i) => Number(first) + i);
              }
              return insertRows(rows);
            },
            async update(id, patch) {
              await app(table).where({ id }).update(patch);
            },
            async read(id) {
              const row = await app(table).where({ id }).first('secret', 'note');
              return row ? pick(row) : null;
            },
            async readAll() {
              const rows = await app(table).select('id', 'secret', 'note').orderBy('id');
              return rows.map((row) => ({ id: Number(row.id), values: pick(row) }));
            },
            async rawRow(id) {
              const row = await raw(table).where({ id }).first('secret', 'note');
              return row ? pick(row) : null;
            },
            async writeRaw(id, values) {
              await raw(table).where({ id }).update(values);
            },
            whereOnEncrypted(field, value) {
              return Promise.resolve(app(table).where(field, value));
            },
            blindIndex: {
              field: 'token_hash',
              index,
              indexer,
              async findBy(value) {
                return (await app(table).where('token_hash', value).pluck('id')).map(Number);
              },
              async findIn(values) {
                return (await app(table).whereIn('token_hash', values).pluck('id')).map(Number);
              },
              async rawIndexed(id) {
                const row = await raw(table).where({ id }).first('token_hash', 'token_hash_bidx');
                return row
                  ? { value: row.token_hash ?? null, index: row.token_hash_bidx ?? null }
                  : null;
              },
            },
          };
        },
        blindIndex: true,
        async cleanup() {
          indexer?.close();
          await plain?.schema.dropTableIfExists(table);
          await Promise.all([plain?.destroy(), base?.destroy()]);
        },
      },
      { name: `@cmek/adapter-knex conformance (${db.name})` },
    );
  });
}
