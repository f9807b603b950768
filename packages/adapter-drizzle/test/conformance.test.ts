/** The shared adapter conformance suite, on each real database, reading raw rows around Drizzle. */
import { createEnvelope } from '@cmek/core';
import { type AdapterSession, adapterConformanceSuite, type FieldValues } from '@cmek/test-suite';
import { asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { withCmek } from '../src/index';
import { type Connection, databases, type Tables, uniquePrefix } from './support/databases';
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
            `create table ${table} (id ${id}, name varchar(64), token ${type}, note ${type}, owner_id integer, touched text)`,
          );
          const secrets = t.secrets;
          const envelope = createEnvelope({ kek: countingProvider() });
          const app = withCmek(base.db, {
            envelope,
            tables: [{ table: secrets, columns: ['token', 'note'] }],
          });
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
            contextFor: (field) => ({ field: `${table}.${field}` }),
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
        async cleanup() {
          if (t) await raw?.raw(`drop table if exists ${t.names.secrets}`);
          await Promise.all([raw?.close(), base?.close()]);
        },
      },
      { name: `@cmek/adapter-drizzle conformance (${d.name})` },
    );
  });
}
