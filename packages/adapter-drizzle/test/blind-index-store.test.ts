/**
 * Blind indexes in drizzleRowStore, on each real database: scans return the index columns,
 * compare-and-set writes the value and its index in one guarded statement, and core's backfill /
 * verify (with the indexer) fill a missing index and report a mismatched one.
 */
import {
  type BlindIndexer,
  CmekInvalidInputError,
  createBlindIndexKey,
  createEnvelope,
  type Envelope,
  loadBlindIndexes,
} from '@cmek/core';
import { backfill, verify } from '@cmek/core/engine';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { drizzleRowStore, withCmek } from '../src/index';
import {
  type Connection,
  createTables,
  databases,
  dropTables,
  type Tables,
  uniquePrefix,
} from './support/databases';
import { countingProvider } from './support/provider';

for (const d of databases) {
  describe.skipIf(!d.available)(`blind indexes in drizzleRowStore on ${d.name}`, () => {
    let c: Connection;
    let t: Tables;
    let envelope: Envelope;
    let indexer: BlindIndexer;
    /** Loaded separately from the same stored key: the expected index values. */
    let check: BlindIndexer;

    beforeAll(async () => {
      t = d.tables(uniquePrefix('i'));
      c = d.connect(t);
      await createTables(c, d, t);
      const kek = countingProvider();
      envelope = createEnvelope({ kek });
      const stored = await createBlindIndexKey(kek);
      indexer = await loadBlindIndexes({ keys: [stored], kek });
      check = await loadBlindIndexes({ keys: [stored], kek });
    });
    afterAll(async () => {
      indexer.close();
      check.close();
      await dropTables(c, t);
      await c.close();
    });
    beforeEach(async () => {
      await c.raw(`delete from ${t.names.secrets}`);
    });

    const label = () => `${t.names.secrets}.token_hash`;
    const store = () =>
      drizzleRowStore({
        db: c.db,
        table: t.secrets,
        columns: ['tokenHash'],
        blindIndexes: { tokenHash: { column: 'token_hash_bidx' } },
      });
    const insertRaw = async (name: string, value: string | null, index: string | null = null) => {
      await c.raw(
        `insert into ${t.names.secrets} (name, token_hash, token_hash_bidx) values (?, ?, ?)`,
        [name, value, index],
      );
      const [row] = await c.raw(`select id from ${t.names.secrets} where name = ?`, [name]);
      return Number(row!.id);
    };
    const rawOf = async (id: number) =>
      (
        await c.raw(`select token_hash, token_hash_bidx from ${t.names.secrets} where id = ?`, [id])
      )[0];

    it('scans the index columns and writes them with the value in one guarded statement', async () => {
      const s = store();
      expect(s.blindIndexes).toEqual({ tokenHash: [{ column: 'token_hash_bidx' }] });
      const a = await insertRaw('a', 'legacy-a');
      const b = await insertRaw('b', 'legacy-b', 'cmek:bi1:stale-b');
      const rows = await s.scan(undefined, 10);
      expect(rows.map((r) => r.indexes)).toEqual([
        { token_hash_bidx: null },
        { token_hash_bidx: 'cmek:bi1:stale-b' },
      ]);
      const index = check.compute(label(), 'legacy-a');
      expect(
        await s.compareAndSet(a, 'tokenHash', 'stale', 'next', { token_hash_bidx: index }),
      ).toBe(false);
      expect(await rawOf(a)).toEqual({ token_hash: 'legacy-a', token_hash_bidx: null });
      expect(
        await s.compareAndSet(a, 'tokenHash', 'legacy-a', 'next-a', { token_hash_bidx: index }),
      ).toBe(true);
      expect(await rawOf(a)).toEqual({ token_hash: 'next-a', token_hash_bidx: index });
      // a write without indexes (a rewrap) leaves the index column as it is
      expect(await s.compareAndSet(a, 'tokenHash', 'next-a', 'again-a')).toBe(true);
      expect(await rawOf(a)).toEqual({ token_hash: 'again-a', token_hash_bidx: index });
      const other = check.compute(label(), 'legacy-b');
      expect(
        await s.compareAndSetMany!([
          {
            id: b,
            field: 'tokenHash',
            expected: 'legacy-b',
            next: 'next-b',
            indexes: { token_hash_bidx: other },
          },
          {
            id: a,
            field: 'tokenHash',
            expected: 'stale',
            next: 'never',
            indexes: { token_hash_bidx: null },
          },
        ]),
      ).toEqual([true, false]);
      expect(await rawOf(b)).toEqual({ token_hash: 'next-b', token_hash_bidx: other });
      expect(await rawOf(a)).toEqual({ token_hash: 'again-a', token_hash_bidx: index });
      await expect(
        s.compareAndSet(a, 'tokenHash', 'again-a', 'x', { token_bidx: index }),
      ).rejects.toThrow(CmekInvalidInputError);
    });

    it("backfill and verify through core's engine fill a missing index and report a mismatch", async () => {
      const base = d.connect(t);
      try {
        const app = withCmek(base.db, {
          envelope,
          indexer,
          tables: [
            {
              table: t.secrets,
              columns: { tokenHash: { blindIndex: { column: 'token_hash_bidx' } } },
            },
          ],
        });
        const legacy = await insertRaw('legacy', 'p-legacy');
        await app.insert(t.secrets).values({ name: 'app', tokenHash: 'p-app' });
        const [row] = await c.raw(`select id from ${t.names.secrets} where name = 'app'`);
        const written = Number(row!.id);
        await c.raw(`update ${t.names.secrets} set token_hash_bidx = null where id = ?`, [written]);
        await insertRaw('empty', null);
        const s = app.$cmek.rowStore(t.secrets);

        const before = await verify(s, { envelope, indexer });
        expect(before.fields.tokenHash!.indexes!.token_hash_bidx).toMatchObject({
          ok: 1,
          missing: 2,
          mismatched: 0,
        });
        const report = await backfill(s, { envelope, indexer, batchSize: 2 });
        expect(report.status).toBe('completed');
        expect(report.fields.tokenHash!.indexes).toEqual({ candidates: 2, written: 2 });
        for (const [row, plaintext] of [
          [legacy, 'p-legacy'],
          [written, 'p-app'],
        ] as const) {
          const stored = await rawOf(row);
          expect(stored!.token_hash).toMatch(/^cmek:v1:/);
          expect(stored!.token_hash_bidx).toBe(check.compute(label(), plaintext));
        }
        const found = await app
          .select({ name: t.secrets.name })
          .from(t.secrets)
          .where(eq(t.secrets.tokenHash, 'p-legacy'));
        expect(found).toEqual([{ name: 'legacy' }]);
        expect((await verify(s, { envelope, indexer })).indexProblems).toBe(0);

        await c.raw(`update ${t.names.secrets} set token_hash_bidx = ? where id = ?`, [
          check.compute(label(), 'p-other'),
          legacy,
        ]);
        const after = await verify(s, { envelope, indexer });
        expect(after.indexProblems).toBe(1);
        expect(after.fields.tokenHash!.indexes!.token_hash_bidx).toMatchObject({
          ok: 2,
          missing: 0,
          mismatched: 1,
        });
        expect(after.fields.tokenHash!.indexes!.token_hash_bidx!.ids.map(Number)).toEqual([legacy]);
      } finally {
        await base.close();
      }
    });
  });
}
