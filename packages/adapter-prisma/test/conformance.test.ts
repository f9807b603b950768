/**
 * The shared adapter conformance suite, on PostgreSQL, reading raw rows with `pg`; with the
 * `blind-index` group on `tokenHash` (its index in the unique `tokenHashBidx`).
 */
import { type AdapterSession, adapterConformanceSuite, type FieldValues } from '@cmek/test-suite';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { openDatabase, pgUrl, type TestDatabase } from './support/db';

describe.skipIf(!pgUrl)('on postgres', () => {
  let t: TestDatabase | undefined;
  const pick = (row: Record<string, unknown>): FieldValues => ({
    secret: (row.secret as string | null) ?? null,
    note: (row.note as string | null) ?? null,
  });

  adapterConformanceSuite(
    { describe, it, beforeAll, afterAll },
    {
      async setup(): Promise<AdapterSession> {
        t = await openDatabase('conf');
        const { db, raw, envelope, indexer } = t;
        const ids = (rows: { id: number }[]) => rows.map((r) => r.id);
        return {
          envelope,
          fields: ['secret', 'note'],
          contextFor: (field) => ({ field: `Conformance.${field}` }),
          async insert(values) {
            return (await db.conformance.create({ data: values, select: { id: true } })).id;
          },
          async insertMany(rows) {
            const out = await db.conformance.createManyAndReturn({
              data: [...rows],
              select: { id: true },
            });
            return out.map((r) => r.id);
          },
          async update(id, patch) {
            await db.conformance.update({ where: { id: Number(id) }, data: patch });
          },
          async read(id) {
            const row = await db.conformance.findUnique({ where: { id: Number(id) } });
            return row ? pick(row) : null;
          },
          async readAll() {
            const rows = await db.conformance.findMany({ orderBy: { id: 'asc' } });
            return rows.map((row) => ({ id: row.id, values: pick(row) }));
          },
          async rawRow(id) {
            const { rows } = await raw.query(
              'select secret, note from prisma_conformance where id = $1',
              [id],
            );
            return rows[0] ? pick(rows[0]) : null;
          },
          async writeRaw(id, values) {
            for (const [field, value] of Object.entries(values)) {
              await raw.query(`update prisma_conformance set ${field} = $1 where id = $2`, [
                value,
                id,
              ]);
            }
          },
          whereOnEncrypted(field, value) {
            return db.conformance.findMany({ where: { [field]: value } });
          },
          blindIndex: {
            field: 'tokenHash',
            index: { column: 'tokenHashBidx' },
            indexer,
            async findBy(value) {
              return ids(
                await db.conformance.findMany({
                  where: { tokenHash: value },
                  select: { id: true },
                }),
              );
            },
            async findIn(values) {
              return ids(
                await db.conformance.findMany({
                  where: { tokenHash: { in: [...values] } },
                  select: { id: true },
                }),
              );
            },
            async rawIndexed(id) {
              const { rows } = await raw.query<{ value: string | null; index: string | null }>(
                'select "tokenHash" as value, "tokenHashBidx" as index from prisma_conformance where id = $1',
                [id],
              );
              return rows[0] ?? null;
            },
          },
        };
      },
      async cleanup() {
        await t?.close();
      },
      blindIndex: true,
    },
    { name: '@cmek/adapter-prisma conformance (postgres)' },
  );
});
