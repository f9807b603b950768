/** The shared adapter conformance suite, on each real database, reading raw rows around Drizzle. */
import { createBlindIndexKey, createEnvelope, loadBlindIndexes } from '@cmek/core';
import { type AdapterSession, adapterConformanceSuite, type FieldValues } from '@cmek/test-suite';
import { asc, eq, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { withCmek } from '../src/index';
import {
  type Connection,
  databases,
  INDEXED_DDL,
  type Tables,
  uniquePrefix,
} from './support/databases';
import { countingProvider } from './support/provider';

for (const d of databases) {
  describe.skipIf(!d.available)(`on ${d.name}`, () => {
    let raw: Connection | undefined;
    let base: Connection | undefined;
    let t: Tables | undefined;

    adapterConformanceSuite(
      { describe, it, beforeAll, afterAll },
      {
        async setup(): Promise<AdapterSession> {
          t = d.tables(uniquePrefix('a'));
          const table = t.names.secrets;
          raw = d.connect(t);
          base = d.connect(t);
          await raw.raw(`drop table if exists ${table}`);
          // MySQL TEXT holds 64 KiB bytes; the suite's 64 KiB values need more once encrypted
          const type = d.name === 'mysql' ? 'mediumtext' : 'text';
          const id =
            d.name === 'sqlite' ? 'integer primary key autoincrement' : 'serial primary key';
          await raw.raw(
            `create table ${table} (id ${id}, name varchar(64), token ${type}, note ${type}, owner_id integer, touched text, ${INDEXED_DDL})`,
          );
          const secrets = t.secrets;
          const kek = countingProvider();
          const envelope = createEnvelope({ kek });
          const indexer = await loadBlindIndexes({ keys: [await createBlindIndexKey(kek)], kek });
          const index = { column: 'token_hash_bidx' };
          const app = withCmek(base.db, {
            envelope,
            indexer,
            tables: [
              {
                table: secrets,
                columns: { token: {}, note: {}, tokenHash: { blindIndex: index } },
              },
            ],
          });
          const ids = (rows: { id: number }[]) => rows.map((r) => Number(r.id));
          const fields = ['token', 'note'] as const;
          const pick = (row: Record<string, unknown>): FieldValues => ({
            token: (row.token as string | null) ?? null,
            note: (row.note as string | null) ?? null,
          });
          const insertRows = async (rows: readonly FieldValues[]): Promise<number[]> => {
            if (d.name === 'mysql') {
              // $returningId(): the ids MySQL reports for a multi-row insert
              const out = await app.insert(secrets).values(rows).$returningId();
              return out.map((r: { id: number }) => Number(r.id));
            }
            const out = await app.insert(secrets).values(rows).returning({ id: secrets.id });
            return out.map((r: { id: number }) => Number(r.id));
          };
          return {
            envelope,
            fields,
            contextFor: (field) => ({
              field: `${table}.${field === 'tokenHash' ? 'token_hash' : field}`,
            }),
            blindIndex: {
              field: 'tokenHash',
              index,
              indexer,
              findBy: async (value) =>
                ids(
                  await app
                    .select({ id: secrets.id })
                    .from(secrets)
                    .where(eq(secrets.tokenHash, value)),
                ),
              findIn: async (values) =>
                ids(
                  await app
                    .select({ id: secrets.id })
                    .from(secrets)
                    .where(inArray(secrets.tokenHash, [...values])),
                ),
              async rawIndexed(id) {
                const [row] = await raw!.raw(
                  `select token_hash, token_hash_bidx from ${table} where id = ?`,
                  [id],
                );
                if (!row) return null;
                return {
                  value: (row.token_hash as string | null) ?? null,
                  index: (row.token_hash_bidx as string | null) ?? null,
                };
              },
            },
            async insert(values) {
              return (await insertRows([values]))[0]!;
            },
            insertMany: insertRows,
            async update(id, patch) {
              await app
                .update(secrets)
                .set(patch)
                .where(eq(secrets.id, Number(id)));
            },
            async read(id) {
              const [row] = await app
                .select({ token: secrets.token, note: secrets.note })
                .from(secrets)
                .where(eq(secrets.id, Number(id)));
              return row ? pick(row) : null;
            },
            async readAll() {
              const rows = await app
                .select({ id: secrets.id, token: secrets.token, note: secrets.note })
                .from(secrets)
                .orderBy(asc(secrets.id));
              return rows.map((row: Record<string, unknown>) => ({
                id: Number(row.id),
                values: pick(row),
              }));
            },
            async rawRow(id) {
              const [row] = await raw!.raw(`select token, note from ${table} where id = ?`, [id]);
              return row ? pick(row) : null;
            },
            async writeRaw(id, values) {
              const keys = Object.keys(values);
              await raw!.raw(
                `update ${table} set ${keys.map((k) => `${k} = ?`).join(', ')} where id = ?`,
                [...keys.map((k) => values[k as keyof FieldValues]), id],
              );
            },
            async whereOnEncrypted(field, value) {
              const column = field === 'token' ? secrets.token : secrets.note;
              return app.select().from(secrets).where(eq(column, value));
            },
          };
        },
        blindIndex: true,
        async cleanup() {
          if (t) await raw?.raw(`drop table if exists ${t.names.secrets}`);
          await Promise.all([raw?.close(), base?.close()]);
        },
      },
      { name: `@cmek/adapter-drizzle conformance (${d.name})` },
    );
  });
}
