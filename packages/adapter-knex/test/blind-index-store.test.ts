/**
 * Blind indexes in knexRowStore, on each real database: scans return the index columns,
 * compare-and-set (one, and the set-based batch) writes the value and its index in one guarded
 * statement, and core's backfill / verify (with the indexer) fill a missing index and report a
 * mismatched one.
 */
import {
  type BlindIndexer,
  CmekConfigError,
  CmekInvalidInputError,
  createBlindIndexKey,
  createEnvelope,
  type Envelope,
  loadBlindIndexes,
} from '@cmek/core';
import { backfill, verify } from '@cmek/core/engine';
import type { Knex } from 'knex';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { knexRowStore, withCmek } from '../src/index';
import { databases, uniquePrefix } from './support/databases';
import { countingProvider } from './support/provider';

for (const db of databases) {
  describe.skipIf(!db.available)(`blind indexes in knexRowStore on ${db.name}`, () => {
    const table = `${uniquePrefix('s')}tokens`;
    const label = `${table}.token_hash`;
    let plain: Knex;
    let envelope: Envelope;
    let indexer: BlindIndexer;
    let check: BlindIndexer;

    beforeAll(async () => {
      plain = db.connect();
      await plain.schema.dropTableIfExists(table);
      await plain.schema.createTable(table, (t) => {
        t.increments('id').primary();
        t.string('name', 64);
        t.text('token_hash');
        t.string('token_hash_bidx', 80).unique();
      });
      const kek = countingProvider();
      envelope = createEnvelope({ kek });
      const stored = await createBlindIndexKey(kek);
      indexer = await loadBlindIndexes({ keys: [stored], kek });
      check = await loadBlindIndexes({ keys: [stored], kek });
    });
    afterAll(async () => {
      indexer?.close();
      check?.close();
      await plain?.schema.dropTableIfExists(table);
      await plain?.destroy();
    });
    beforeEach(async () => {
      await plain(table).del();
    });

    const store = () =>
      knexRowStore({
        knex: plain,
        table,
        columns: ['token_hash'],
        blindIndexes: { token_hash: { column: 'token_hash_bidx' } },
      });
    const insertRaw = async (name: string, value: string | null, index: string | null = null) => {
      await plain(table).insert({ name, token_hash: value, token_hash_bidx: index });
      return Number((await plain(table).where({ name }).first('id'))!.id);
    };
    const rawOf = async (id: number) =>
      plain(table).where({ id }).first('token_hash', 'token_hash_bidx');

    it('scans the index columns and writes them with the value in one guarded statement', async () => {
      const s = store();
      expect(s.blindIndexes).toEqual({ token_hash: [{ column: 'token_hash_bidx' }] });
      const a = await insertRaw('a', 'legacy-a');
      const b = await insertRaw('b', 'legacy-b', 'cmek:bi1:stale-b');
      const c = await insertRaw('c', 'legacy-c');
      const rows = await s.scan(undefined, 10);
      expect(rows.map((r) => r.indexes)).toEqual([
        { token_hash_bidx: null },
        { token_hash_bidx: 'cmek:bi1:stale-b' },
        { token_hash_bidx: null },
      ]);
      const index = check.compute(label, 'legacy-a');
      expect(
        await s.compareAndSet(a, 'token_hash', 'stale', 'next', { token_hash_bidx: index }),
      ).toBe(false);
      expect(await rawOf(a)).toEqual({ token_hash: 'legacy-a', token_hash_bidx: null });
      expect(
        await s.compareAndSet(a, 'token_hash', 'legacy-a', 'next-a', { token_hash_bidx: index }),
      ).toBe(true);
      expect(await rawOf(a)).toEqual({ token_hash: 'next-a', token_hash_bidx: index });
      // a write without indexes (a rewrap) leaves the index column as it is
      expect(await s.compareAndSet(a, 'token_hash', 'next-a', 'again-a')).toBe(true);
      expect(await rawOf(a)).toEqual({ token_hash: 'again-a', token_hash_bidx: index });
      // the set-based batch: writes with and without indexes, one of them stale
      const other = check.compute(label, 'legacy-b');
      expect(
        await s.compareAndSetMany!([
          {
            id: b,
            field: 'token_hash',
            expected: 'legacy-b',
            next: 'next-b',
            indexes: { token_hash_bidx: other },
          },
          {
            id: a,
            field: 'token_hash',
            expected: 'stale',
            next: 'never',
            indexes: { token_hash_bidx: null },
          },
          { id: c, field: 'token_hash', expected: 'legacy-c', next: 'next-c' },
        ]),
      ).toEqual([true, false, true]);
      expect(await rawOf(b)).toEqual({ token_hash: 'next-b', token_hash_bidx: other });
      expect(await rawOf(a)).toEqual({ token_hash: 'again-a', token_hash_bidx: index });
      expect(await rawOf(c)).toEqual({ token_hash: 'next-c', token_hash_bidx: null });
      await expect(
        s.compareAndSet(a, 'token_hash', 'again-a', 'x', { token_bidx: index }),
      ).rejects.toThrow(CmekInvalidInputError);
      expect(() =>
        knexRowStore({
          knex: plain,
          table,
          columns: ['token_hash'],
          blindIndexes: { token_hash: { column: 'token_hash' } },
        }),
      ).toThrow(CmekConfigError);
    });

    it("backfill and verify through core's engine fill a missing index and report a mismatch", async () => {
      const base = db.connect();
      try {
        const app = withCmek(base, {
          envelope,
          indexer,
          tables: {
            [table]: { columns: { token_hash: { blindIndex: { column: 'token_hash_bidx' } } } },
          },
        });
        const legacy = await insertRaw('legacy', 'p-legacy');
        await app(table).insert({ name: 'app', token_hash: 'p-app' });
        const written = Number((await plain(table).where({ name: 'app' }).first('id'))!.id);
        await plain(table).where({ id: written }).update({ token_hash_bidx: null });
        await insertRaw('empty', null);
        const s = app.rowStore(table);
        expect(s.blindIndexes).toEqual({ token_hash: [{ column: 'token_hash_bidx' }] });

        const before = await verify(s, { envelope, indexer });
        expect(before.fields.token_hash!.indexes!.token_hash_bidx).toMatchObject({
          ok: 1,
          missing: 2,
          mismatched: 0,
        });
        const report = await backfill(s, { envelope, indexer, batchSize: 2 });
        expect(report.status).toBe('completed');
        expect(report.fields.token_hash!.indexes).toEqual({ candidates: 2, written: 2 });
        for (const [row, plaintext] of [
          [legacy, 'p-legacy'],
          [written, 'p-app'],
        ] as const) {
          const stored = await rawOf(row);
          expect(stored!.token_hash).toMatch(/^cmek:v1:/);
          expect(stored!.token_hash_bidx).toBe(check.compute(label, plaintext));
        }
        expect(await app(table).where('token_hash', 'p-legacy').pluck('name')).toEqual(['legacy']);
        expect((await verify(s, { envelope, indexer })).indexProblems).toBe(0);

        await plain(table)
          .where({ id: legacy })
          .update({ token_hash_bidx: check.compute(label, 'p-other') });
        const after = await verify(s, { envelope, indexer });
        expect(after.indexProblems).toBe(1);
        expect(after.fields.token_hash!.indexes!.token_hash_bidx).toMatchObject({
          ok: 2,
          missing: 0,
          mismatched: 1,
        });
        expect(after.fields.token_hash!.indexes!.token_hash_bidx!.ids.map(Number)).toEqual([
          legacy,
        ]);
      } finally {
        await base.destroy();
      }
    });
  });
}
