/**
 * The read paths decrypt a result set with one `decryptMany` per encrypted column, never one
 * call per row: the envelope is wrapped to count its calls, over 600 rows of two encrypted
 * columns (one call per row would be 1,200).
 */
import { createEnvelope, type Envelope } from '@cmek/core';
import type { Knex } from 'knex';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type CmekKnex, withCmek } from '../src/index';
import { databases, itWhen, uniquePrefix } from './support/databases';
import { countingProvider } from './support/provider';
import { createTables, dropTables, type Tables } from './support/schema';

const ROWS = 600;

interface Calls {
  decryptMany: number;
  decrypt: number;
}

/** The envelope, counting the decrypt calls made into it. */
function counted(envelope: Envelope, calls: Calls): Envelope {
  return new Proxy(envelope, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if ((prop === 'decryptMany' || prop === 'decrypt') && typeof value === 'function') {
        return (...args: unknown[]) => {
          calls[prop]++;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

for (const db of databases)
  describe.skipIf(!db.available)(`core calls of reads on ${db.name}`, () => {
    let plain: Knex;
    let base: Knex;
    let app: CmekKnex;
    let t: Tables;
    const calls: Calls = { decryptMany: 0, decrypt: 0 };

    beforeAll(async () => {
      plain = db.connect();
      base = db.connect();
      t = await createTables(plain, uniquePrefix('q'));
      const envelope = createEnvelope({ kek: countingProvider() });
      app = withCmek(base, {
        envelope: counted(envelope, calls),
        tables: { [t.secrets]: { columns: ['token', 'note'] }, [t.owners]: { columns: ['token'] } },
      });
      await app(t.owners).insert({ name: 'o', token: 'owner-token' });
      const { id } = (await plain(t.owners).first('id')) as { id: number };
      const rows = Array.from({ length: ROWS }, (_, i) => ({
        name: `n${i}`,
        owner_id: id,
        token: `tok-${i}`,
        note: `note-${i}`,
      }));
      await app.batchInsert(t.secrets, rows, 200);
    });
    afterAll(async () => {
      await dropTables(plain, t);
      await Promise.all([plain.destroy(), base.destroy()]);
    });
    beforeEach(() => {
      calls.decryptMany = 0;
      calls.decrypt = 0;
    });

    const expectCalls = (decryptMany: number) => {
      expect(calls).toEqual({ decryptMany, decrypt: 0 });
    };

    it('select, first, pluck and a join decrypt with one decryptMany per column', async () => {
      const all = await app(t.secrets).select('*').orderBy('id');
      expect(all).toHaveLength(ROWS);
      expect(all[ROWS - 1]).toMatchObject({ token: `tok-${ROWS - 1}`, note: `note-${ROWS - 1}` });
      expectCalls(2);
      calls.decryptMany = 0;
      expect(await app(t.secrets).pluck('token')).toHaveLength(ROWS);
      expectCalls(1);
      calls.decryptMany = 0;
      expect(await app(t.secrets).first('token', 'note')).toBeDefined();
      expectCalls(2);
      calls.decryptMany = 0;
      const joined = await app(t.secrets)
        .join(t.owners, `${t.owners}.id`, `${t.secrets}.owner_id`)
        .select(`${t.secrets}.token as s`, `${t.owners}.token as o`);
      expect(joined).toHaveLength(ROWS);
      expect(joined[0]).toEqual({ s: expect.stringMatching(/^tok-/), o: 'owner-token' });
      expectCalls(2);
    });

    it('decryptRows of a raw select decrypts with one decryptMany per column', async () => {
      const raw = await app.raw(`select token, note from ${t.secrets}`);
      const rows = (db.name === 'postgres' ? raw.rows : db.name === 'mariadb' ? raw[0] : raw) as {
        token: string;
      }[];
      await app.decryptRows(t.secrets, rows);
      expect(rows).toHaveLength(ROWS);
      expect(rows.every((r) => r.token.startsWith('tok-'))).toBe(true);
      expectCalls(2);
    });

    itWhen(db.returning)(
      'update ... returning decrypts the returned rows with one call per column',
      async () => {
        const returned = await app(t.secrets).update({ hits: 1 }).returning(['token', 'note']);
        expect(returned).toHaveLength(ROWS);
        expectCalls(2);
      },
    );

    // PostgreSQL streams need pg-query-stream, which the tests do not install
    itWhen(db.name !== 'postgres')('stream() decrypts in batches, not row by row', async () => {
      const seen: string[] = [];
      for await (const row of app(t.secrets).select('token', 'note').orderBy('id').stream()) {
        seen.push((row as { token: string }).token);
      }
      expect(seen).toHaveLength(ROWS);
      expect(seen[ROWS - 1]).toBe(`tok-${ROWS - 1}`);
      expect(calls.decrypt).toBe(0);
      // one call per column per batch: per row would be 1,200
      expect(calls.decryptMany).toBeGreaterThanOrEqual(2);
      expect(calls.decryptMany).toBeLessThanOrEqual(2 * 12);
    });
  });
