/** knexRowStore on each real database: keyset scans by primary key and compare-and-set. */
import { CmekInvalidInputError, createEnvelope } from '@cmek/core';
import { verify } from '@cmek/core/engine';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { knexRowStore, withCmek } from '../src/index';
import { databases, uniquePrefix } from './support/databases';
import { countingProvider } from './support/provider';
import { createTables, dropTables, type Tables } from './support/schema';

for (const db of databases) {
  describe.skipIf(!db.available)(`knexRowStore on ${db.name}`, () => {
    let plain: Knex;
    let t: Tables;
    const ids: number[] = [];

    beforeAll(async () => {
      plain = db.connect();
      t = await createTables(plain, uniquePrefix('s'));
      for (let i = 0; i < 7; i++) {
        await plain(t.secrets).insert({ name: `r${i}`, token: i === 3 ? null : `legacy-${i}` });
      }
      ids.push(...(await plain(t.secrets).orderBy('id').pluck('id')).map(Number));
    });
    afterAll(async () => {
      await dropTables(plain, t);
      await plain.destroy();
    });

    const store = () => knexRowStore({ knex: plain, table: t.secrets, columns: ['token', 'note'] });

    it('names its fields and uses the adapter default context', () => {
      const s = store();
      expect(s.name).toBe(t.secrets);
      expect(s.fields).toEqual(['token', 'note']);
      expect(s.contextFor('token')).toEqual({ field: `${t.secrets}.token` });
      expect(() => s.contextFor('name')).toThrow(CmekInvalidInputError);
    });

    it('scans in primary-key order, page by page, with the stored values', async () => {
      const s = store();
      const first = await s.scan(undefined, 3);
      expect(first.map((r) => Number(r.id))).toEqual(ids.slice(0, 3));
      expect(first[0]!.values).toEqual({ token: 'legacy-0', note: null });
      const second = await s.scan(first[2]!.id, 3);
      expect(second.map((r) => Number(r.id))).toEqual(ids.slice(3, 6));
      expect(second[0]!.values.token).toBeNull();
      const last = await s.scan(second[2]!.id, 3);
      expect(last.map((r) => Number(r.id))).toEqual(ids.slice(6));
      expect(await s.scan(last[0]!.id, 3)).toEqual([]);
    });

    it('compareAndSet writes only when the stored value is still the expected one', async () => {
      const s = store();
      const id = ids[1]!;
      expect(await s.compareAndSet(id, 'token', 'legacy-1', 'next-1')).toBe(true);
      expect((await plain(t.secrets).where({ id }).first()).token).toBe('next-1');
      // stale expectation: nothing written
      expect(await s.compareAndSet(id, 'token', 'legacy-1', 'other')).toBe(false);
      // a value that differs only by case or trailing space is a different value
      expect(await s.compareAndSet(id, 'token', 'NEXT-1', 'other')).toBe(false);
      expect(await s.compareAndSet(id, 'token', 'next-1 ', 'other')).toBe(false);
      expect((await plain(t.secrets).where({ id }).first()).token).toBe('next-1');
      // a missing row
      expect(await s.compareAndSet(999_999, 'token', 'x', 'y')).toBe(false);
    });

    it('compareAndSetMany applies each write that still matches, in one transaction', async () => {
      const s = store();
      const [a, b, c] = [ids[5]!, ids[6]!, ids[0]!];
      const results = await s.compareAndSetMany!([
        { id: a, field: 'token', expected: 'legacy-5', next: 'next-5' },
        { id: b, field: 'token', expected: 'stale', next: 'never' },
        { id: c, field: 'token', expected: 'legacy-0', next: 'next-0' },
      ]);
      expect(results).toEqual([true, false, true]);
      const stored = await plain(t.secrets).whereIn('id', [a, b, c]).orderBy('id').pluck('token');
      expect(stored).toEqual(['next-0', 'next-5', 'legacy-6']);
      await expect(
        s.compareAndSetMany!([{ id: a, field: 'name', expected: 'x', next: 'y' }]),
      ).rejects.toThrow(CmekInvalidInputError);
    });

    it('compareAndSetMany compares bytes: letter case, a trailing space or a missing row write nothing', async () => {
      const s = store();
      const id = ids[2]!;
      const results = await s.compareAndSetMany!([
        { id, field: 'token', expected: 'LEGACY-2', next: 'never-1' },
        { id, field: 'token', expected: 'legacy-2 ', next: 'never-2' },
        { id: 999_999, field: 'token', expected: 'legacy-2', next: 'never-3' },
      ]);
      expect(results).toEqual([false, false, false]);
      expect((await plain(t.secrets).where({ id }).first()).token).toBe('legacy-2');
    });

    it('compareAndSetMany applies writes to one row in their order, each field on its own', async () => {
      const s = store();
      const id = ids[2]!;
      await plain(t.secrets).where({ id }).update({ note: 'note-2' });
      const results = await s.compareAndSetMany!([
        { id, field: 'token', expected: 'legacy-2', next: 'first-2' },
        { id, field: 'note', expected: 'note-2', next: 'note-next-2' },
        { id, field: 'token', expected: 'first-2', next: 'second-2' },
        { id, field: 'token', expected: 'legacy-2', next: 'never' },
        { id, field: 'note', expected: 'note-2', next: 'never' },
      ]);
      expect(results).toEqual([true, true, true, false, false]);
      expect(await plain(t.secrets).where({ id }).first('token', 'note')).toEqual({
        token: 'second-2',
        note: 'note-next-2',
      });
      await plain(t.secrets).where({ id }).update({ token: 'legacy-2', note: null });
    });

    it('compareAndSetMany reports each write of a batch larger than one statement, over a string key', async () => {
      const many = `${t.secrets}_many`;
      await plain.schema.createTable(many, (table) => {
        table.string('code', 32).primary();
        table.string('token', 255);
      });
      try {
        const codes = Array.from({ length: 1_205 }, (_, i) => `k-${String(i).padStart(4, '0')}`);
        await plain.batchInsert(
          many,
          codes.map((code) => ({ code, token: `v-${code}` })),
          100,
        );
        const s = knexRowStore({
          knex: plain,
          table: many,
          primaryKey: 'code',
          columns: ['token'],
        });
        // every third write is stale, every seventh names no row
        const writes = codes.map((code, i) => ({
          id: i % 7 === 6 ? `${code}-missing` : code,
          field: 'token',
          expected: i % 3 === 2 ? `stale-${code}` : `v-${code}`,
          next: `n-${code}`,
        }));
        const results = await s.compareAndSetMany!(writes);
        const expected = codes.map((_, i) => i % 7 !== 6 && i % 3 !== 2);
        expect(results).toEqual(expected);
        const stored = (await plain(many).orderBy('code')) as { code: string; token: string }[];
        expect(stored.map((r) => r.code)).toEqual(codes);
        expect(stored.map((r) => r.token)).toEqual(
          codes.map((code, i) => (expected[i] ? `n-${code}` : `v-${code}`)),
        );
      } finally {
        await plain.schema.dropTableIfExists(many);
      }
    });

    it('rowStore(table) on the wrapped instance uses the configured contexts, and the adapter reads what it backfills', async () => {
      const envelope = createEnvelope({ kek: countingProvider() });
      const base = db.connect();
      try {
        const app = withCmek(base, {
          envelope,
          tables: { [t.secrets]: { columns: ['token'], context: { token: { field: 'pinned' } } } },
        });
        const s = app.rowStore(t.secrets);
        expect(s.contextFor('token')).toEqual({ field: 'pinned' });
        const [row] = await s.scan(ids[4]! - 1, 1);
        const token = await envelope.encrypt(row!.values.token!, {
          context: s.contextFor('token'),
        });
        expect(await s.compareAndSet(row!.id, 'token', row!.values.token!, token)).toBe(true);
        expect(await app(t.secrets).where({ id: ids[4] }).first('token')).toEqual({
          token: 'legacy-4',
        });
      } finally {
        await base.destroy();
      }
    });

    it('count() is the number of rows of the table, and the engine puts it in its progress', async () => {
      const s = store();
      expect(await s.count()).toBe(7);
      await plain(t.secrets).insert({ name: 'extra', token: 'x' });
      expect(await s.count()).toBe(8);
      await plain(t.secrets).where({ name: 'extra' }).delete();
      expect(await s.count()).toBe(7);
      let scanned = 0;
      for (let page = await s.scan(undefined, 3); page.length > 0; ) {
        scanned += page.length;
        page = await s.scan(page[page.length - 1]!.id, 3);
      }
      expect(scanned).toBe(await s.count());
      const totals: (number | undefined)[] = [];
      await verify(s, {
        envelope: createEnvelope({ kek: countingProvider() }),
        batchSize: 3,
        onProgress: (e) => totals.push(e.total),
      });
      expect(totals).toEqual([7, 7, 7, 7, 7]);
    });
  });
}
