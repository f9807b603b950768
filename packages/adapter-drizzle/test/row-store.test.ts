/** drizzleRowStore on each real database: keyset scans by primary key, compare-and-set, the engine. */
import { CmekInvalidInputError, CmekQueryError, createEnvelope } from '@cmek/core';
import { backfill, verify } from '@cmek/core/engine';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
  describe.skipIf(!d.available)(`drizzleRowStore on ${d.name}`, () => {
    let c: Connection;
    let t: Tables;
    const ids: number[] = [];

    beforeAll(async () => {
      t = d.tables(uniquePrefix('s'));
      c = d.connect(t);
      await createTables(c, d, t);
      for (let i = 0; i < 7; i++) {
        await c.raw(`insert into ${t.names.secrets} (name, token) values (?, ?)`, [
          `r${i}`,
          i === 3 ? null : `legacy-${i}`,
        ]);
      }
      const rows = await c.raw(`select id from ${t.names.secrets} order by id`);
      ids.push(...rows.map((r) => Number(r.id)));
    });
    afterAll(async () => {
      await dropTables(c, t);
      await c.close();
    });

    const store = () => drizzleRowStore({ db: c.db, table: t.secrets, columns: ['token', 'note'] });
    const tokenOf = async (id: number) =>
      (await c.raw(`select token from ${t.names.secrets} where id = ?`, [id]))[0]?.token;

    it('names its fields and uses the adapter default context', () => {
      const s = store();
      expect(s.name).toBe(t.names.secrets);
      expect(s.fields).toEqual(['token', 'note']);
      expect(s.contextFor('token')).toEqual({ field: `${t.names.secrets}.token` });
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
      expect(await tokenOf(id)).toBe('next-1');
      expect(await s.compareAndSet(id, 'token', 'legacy-1', 'other')).toBe(false);
      // a value that differs only by case or trailing space is a different value
      expect(await s.compareAndSet(id, 'token', 'NEXT-1', 'other')).toBe(false);
      expect(await s.compareAndSet(id, 'token', 'next-1 ', 'other')).toBe(false);
      expect(await tokenOf(id)).toBe('next-1');
      expect(await s.compareAndSet(999_999, 'token', 'x', 'y')).toBe(false);
      await c.raw(`update ${t.names.secrets} set token = ? where id = ?`, ['legacy-1', id]);
    });

    it('compareAndSetMany applies each write that still matches, in one transaction', async () => {
      const s = store();
      const [a, b, x] = [ids[5]!, ids[6]!, ids[0]!];
      const results = await s.compareAndSetMany!([
        { id: a, field: 'token', expected: 'legacy-5', next: 'next-5' },
        { id: b, field: 'token', expected: 'stale', next: 'never' },
        { id: x, field: 'token', expected: 'legacy-0', next: 'next-0' },
      ]);
      expect(results).toEqual([true, false, true]);
      expect([await tokenOf(x), await tokenOf(a), await tokenOf(b)]).toEqual([
        'next-0',
        'next-5',
        'legacy-6',
      ]);
      await expect(
        s.compareAndSetMany!([{ id: a, field: 'name', expected: 'x', next: 'y' }]),
      ).rejects.toThrow(CmekInvalidInputError);
      for (const i of [0, 5]) {
        await c.raw(`update ${t.names.secrets} set token = ? where id = ?`, [
          `legacy-${i}`,
          ids[i],
        ]);
      }
    });

    it('a refused write is a CmekQueryError holding neither the old value nor the new one', async () => {
      const s = drizzleRowStore({ db: c.db, table: t.secrets, columns: ['name'] });
      // `name` is unique: writing r1's name over r2 fails in the database
      let error: unknown;
      try {
        await s.compareAndSet(ids[2]!, 'name', 'r2', 'r1');
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(CmekQueryError);
      const text = JSON.stringify({ m: (error as Error).message, s: (error as Error).stack });
      const cause = (error as { cause?: Error }).cause;
      const causeText = `${cause?.message} ${cause?.stack} ${JSON.stringify(cause)}`;
      for (const secret of ["'r2'", "'r1'", 'params: r1']) {
        expect(text).not.toContain(secret);
        expect(causeText).not.toContain(secret);
      }
    });

    it('backfill encrypts legacy plaintext through the store, and the adapter reads it back', async () => {
      const envelope = createEnvelope({ kek: countingProvider() });
      const base = d.connect(t);
      try {
        const app = withCmek(base.db, {
          envelope,
          tables: [{ table: t.secrets, columns: { token: { context: { field: 'pinned' } } } }],
        });
        const s = app.$cmek.rowStore(t.secrets);
        expect(s.contextFor('token')).toEqual({ field: 'pinned' });
        const report = await backfill(s, { envelope, batchSize: 3 });
        expect(report.status).toBe('completed');
        const stored = await c.raw(`select token from ${t.names.secrets} where token is not null`);
        expect(stored.every((r) => String(r.token).startsWith('cmek:v1:'))).toBe(true);
        const rows = await app.select({ id: t.secrets.id, token: t.secrets.token }).from(t.secrets);
        expect(rows.find((r: { id: number }) => Number(r.id) === ids[4])?.token).toBe('legacy-4');
        const checked = await verify(s, { envelope });
        expect(checked.undecryptable).toBe(0);
        expect(checked.fields.token!.plaintext).toBe(0);
      } finally {
        await base.close();
      }
    });

    it('count() is the number of rows of the table', async () => {
      const s = store();
      expect(await s.count()).toBe(7);
      await c.raw(`insert into ${t.names.secrets} (name) values ('extra')`);
      expect(await s.count()).toBe(8);
      await c.raw(`delete from ${t.names.secrets} where name = 'extra'`);
      expect(await s.count()).toBe(7);
    });
  });
}
