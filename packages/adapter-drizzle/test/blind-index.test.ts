/**
 * Blind indexes through the wrapped Drizzle database, on each real database: every write path
 * writes the index column beside the encrypted one (read back around Drizzle and compared with
 * the index computed by a second indexer loaded from the same stored key), `eq` / `inArray`
 * lookups find the rows without a KEK call, every other operator stays refused.
 */
import {
  type BlindIndexer,
  CmekQueryError,
  createBlindIndexKey,
  createEnvelope,
  type Envelope,
  loadBlindIndexes,
} from '@cmek/core';
import { type KekCallCounter, kekCallCounter, type MemoryKekProvider } from '@cmek/test-suite';
import { and, asc, eq, gt, inArray, like, ne, sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type CmekDatabase, withCmek } from '../src/index';
import {
  type AnyDb,
  type Connection,
  createTables,
  databases,
  dropTables,
  itWhen,
  type Tables,
  uniquePrefix,
} from './support/databases';
import { countingProvider } from './support/provider';

for (const d of databases) {
  describe.skipIf(!d.available)(`blind indexes on ${d.name}`, () => {
    let raw: Connection;
    let base: Connection;
    let app: CmekDatabase<AnyDb>;
    let envelope: Envelope;
    let kek: MemoryKekProvider;
    let counter: KekCallCounter;
    let storedKey: string;
    let indexer: BlindIndexer;
    /** Loaded separately from the same stored key: the expected index values. */
    let check: BlindIndexer;
    let t: Tables;

    beforeAll(async () => {
      t = d.tables(uniquePrefix('b'));
      raw = d.connect(t);
      base = d.connect(t);
      await createTables(raw, d, t);
      kek = countingProvider();
      counter = kekCallCounter();
      envelope = createEnvelope({ kek, onEvent: counter.onEvent });
      storedKey = await createBlindIndexKey(kek);
      indexer = await loadBlindIndexes({ keys: [storedKey], kek });
      check = await loadBlindIndexes({ keys: [storedKey], kek });
      app = withCmek(base.db, {
        envelope,
        indexer,
        tables: [
          {
            table: t.secrets,
            columns: {
              token: {},
              tokenHash: { blindIndex: { column: 'token_hash_bidx' } },
            },
          },
        ],
      });
    });
    afterAll(async () => {
      indexer.close();
      check.close();
      await dropTables(raw, t);
      await Promise.all([raw.close(), base.close()]);
    });
    beforeEach(async () => {
      await raw.raw(`delete from ${t.names.secrets}`);
    });

    const label = () => `${t.names.secrets}.token_hash`;
    const storedRow = async (name: string) => {
      const [row] = await raw.raw(
        `select token_hash, token_hash_bidx from ${t.names.secrets} where name = ?`,
        [name],
      );
      expect(row).toBeDefined();
      return row as { token_hash: string | null; token_hash_bidx: string | null };
    };
    /** The raw row holds a token of `plaintext` and its index; neither holds the plaintext. */
    const expectIndexed = async (name: string, plaintext: string | null) => {
      const row = await storedRow(name);
      if (plaintext === null) {
        expect(row).toEqual({ token_hash: null, token_hash_bidx: null });
        return;
      }
      expect(row.token_hash).toMatch(/^cmek:v1:/);
      expect(row.token_hash).not.toContain(plaintext);
      expect(row.token_hash_bidx).not.toContain(plaintext);
      expect(await envelope.decrypt(row.token_hash!, { context: { field: label() } })).toBe(
        plaintext,
      );
      expect(row.token_hash_bidx).toBe(check.compute(label(), plaintext));
    };
    const namesOf = (rows: { name: string }[]) => rows.map((r) => r.name).sort();

    it('insert().values() of one row writes the index column', async () => {
      await app.insert(t.secrets).values({ name: 'one', token: 'x', tokenHash: 'h-one' });
      await expectIndexed('one', 'h-one');
    });

    it('insert().values() of many rows writes each index, null for a null value', async () => {
      await app.insert(t.secrets).values([
        { name: 'm1', tokenHash: 'h-m1' },
        { name: 'm2', tokenHash: null },
        { name: 'm3', tokenHash: 'h-m3' },
      ]);
      await expectIndexed('m1', 'h-m1');
      await expectIndexed('m2', null);
      await expectIndexed('m3', 'h-m3');
    });

    it('update().set() moves the index; null clears it; another column leaves it', async () => {
      await app.insert(t.secrets).values({ name: 'u', tokenHash: 'h-before' });
      await app.update(t.secrets).set({ tokenHash: 'h-after' }).where(eq(t.secrets.name, 'u'));
      await expectIndexed('u', 'h-after');
      const before = (await storedRow('u')).token_hash_bidx;
      await app.update(t.secrets).set({ token: 'other' }).where(eq(t.secrets.name, 'u'));
      expect((await storedRow('u')).token_hash_bidx).toBe(before);
      await app.update(t.secrets).set({ tokenHash: null }).where(eq(t.secrets.name, 'u'));
      await expectIndexed('u', null);
    });

    itWhen(d.name !== 'mysql')(
      'onConflictDoUpdate({ set }) writes the index on the conflict path',
      async () => {
        await app.insert(t.secrets).values({ name: 'c', tokenHash: 'h-old' });
        await app
          .insert(t.secrets)
          .values({ name: 'c', tokenHash: 'h-ignored' })
          .onConflictDoUpdate({ target: t.secrets.name, set: { tokenHash: 'h-new' } });
        await expectIndexed('c', 'h-new');
        // a copy of the inserted value copies its index beside it
        await app
          .insert(t.secrets)
          .values({ name: 'c', tokenHash: 'h-copied' })
          .onConflictDoUpdate({
            target: t.secrets.name,
            set: {
              tokenHash: sql.raw('excluded.token_hash'),
              tokenHashBidx: sql.raw('excluded.token_hash_bidx'),
            },
          });
        await expectIndexed('c', 'h-copied');
      },
    );

    itWhen(d.name === 'mysql')(
      'onDuplicateKeyUpdate({ set }) writes the index on the conflict path',
      async () => {
        await app.insert(t.secrets).values({ name: 'c', tokenHash: 'h-old' });
        await app
          .insert(t.secrets)
          .values({ name: 'c', tokenHash: 'h-ignored' })
          .onDuplicateKeyUpdate({ set: { tokenHash: 'h-new' } });
        await expectIndexed('c', 'h-new');
        await app
          .insert(t.secrets)
          .values({ name: 'c', tokenHash: 'h-copied' })
          .onDuplicateKeyUpdate({
            set: {
              tokenHash: sql`values(${t.secrets.tokenHash})`,
              tokenHashBidx: sql`values(${t.secrets.tokenHashBidx})`,
            },
          });
        await expectIndexed('c', 'h-copied');
      },
    );

    it('writes inside db.transaction() write the index', async () => {
      if (d.name === 'sqlite') {
        // better-sqlite3 transactions are synchronous: $cmek.encryptRow gives the token and index
        const row = await app.$cmek.encryptRow(t.secrets, { name: 'tx', tokenHash: 'h-tx' });
        app.transaction((tx: AnyDb) => {
          tx.insert(t.secrets).values(row).run();
        });
      } else {
        await app.transaction(async (tx: AnyDb) => {
          await tx.insert(t.secrets).values({ name: 'tx', tokenHash: 'h-first' });
          await tx.update(t.secrets).set({ tokenHash: 'h-tx' }).where(eq(t.secrets.name, 'tx'));
        });
      }
      await expectIndexed('tx', 'h-tx');
    });

    it('refuses a write that sets the index column itself', async () => {
      const forged = check.compute(label(), 'h-forged');
      await expect(
        app.insert(t.secrets).values({ name: 'f', tokenHash: 'h-real', tokenHashBidx: forged }),
      ).rejects.toThrow(CmekQueryError);
      await expect(
        app.insert(t.secrets).values({ name: 'f', tokenHashBidx: forged }),
      ).rejects.toThrow(CmekQueryError);
      await expect(
        app.update(t.secrets).set({ tokenHashBidx: forged }).where(eq(t.secrets.name, 'f')),
      ).rejects.toThrow(CmekQueryError);
      expect(await raw.raw(`select * from ${t.names.secrets}`)).toEqual([]);
      await app.insert(t.secrets).values({ name: 'f', tokenHash: 'h-real' });
      const upsert = () =>
        d.name === 'mysql'
          ? app
              .insert(t.secrets)
              .values({ name: 'f' })
              .onDuplicateKeyUpdate({ set: { tokenHashBidx: forged } })
          : app
              .insert(t.secrets)
              .values({ name: 'f' })
              .onConflictDoUpdate({ target: t.secrets.name, set: { tokenHashBidx: forged } });
      expect(upsert).toThrow(CmekQueryError);
      await expectIndexed('f', 'h-real');
    });

    it('refuses a copied value whose index is not copied beside it', () => {
      const copy =
        d.name === 'mysql'
          ? () =>
              app
                .insert(t.secrets)
                .values({ name: 'cp', tokenHash: 'h' })
                .onDuplicateKeyUpdate({ set: { tokenHash: sql`values(${t.secrets.tokenHash})` } })
          : () =>
              app
                .insert(t.secrets)
                .values({ name: 'cp', tokenHash: 'h' })
                .onConflictDoUpdate({
                  target: t.secrets.name,
                  set: { tokenHash: sql.raw('excluded.token_hash') },
                });
      expect(copy).toThrow(CmekQueryError);
    });

    it('a lookup by eq and by inArray finds the rows, in select, $count, update and delete', async () => {
      await app.insert(t.secrets).values([
        { name: 'a', tokenHash: 'h-a' },
        { name: 'b', tokenHash: 'h-b' },
        { name: 'c', tokenHash: 'h-c' },
      ]);
      const select = (where: unknown) =>
        app
          .select({ name: t.secrets.name })
          .from(t.secrets)
          .where(where)
          .orderBy(asc(t.secrets.name));
      expect(namesOf(await select(eq(t.secrets.tokenHash, 'h-b')))).toEqual(['b']);
      expect(namesOf(await select(eq(t.secrets.tokenHash, 'h-absent')))).toEqual([]);
      expect(
        namesOf(await select(inArray(t.secrets.tokenHash, ['h-a', 'h-c', 'h-absent']))),
      ).toEqual(['a', 'c']);
      expect(
        namesOf(await select(and(eq(t.secrets.tokenHash, 'h-a'), gt(t.secrets.id, 0)))),
      ).toEqual(['a']);
      expect(Number(await app.$count(t.secrets, eq(t.secrets.tokenHash, 'h-a')))).toBe(1);
      await app.update(t.secrets).set({ token: 'found' }).where(eq(t.secrets.tokenHash, 'h-c'));
      const [row] = await app
        .select({ token: t.secrets.token })
        .from(t.secrets)
        .where(eq(t.secrets.name, 'c'));
      expect(row.token).toBe('found');
      await app.delete(t.secrets).where(inArray(t.secrets.tokenHash, ['h-a']));
      expect(namesOf((await raw.raw(`select name from ${t.names.secrets}`)) as never)).toEqual([
        'b',
        'c',
      ]);
    });

    it("a lookup in the relational API's where finds the row", async () => {
      await app.insert(t.secrets).values([
        { name: 'r1', tokenHash: 'h-r1' },
        { name: 'r2', tokenHash: 'h-r2' },
      ]);
      const found = await app.query.secrets.findFirst({
        columns: { name: true, tokenHash: true },
        where: (s: typeof t.secrets, { eq: equal }: { eq: typeof eq }) =>
          equal(s.tokenHash, 'h-r2'),
      });
      expect(found).toEqual({ name: 'r2', tokenHash: 'h-r2' });
      const many = await app.query.secrets.findMany({
        columns: { name: true },
        where: inArray(t.secrets.tokenHash, ['h-r1', 'h-r2']),
      });
      expect(namesOf(many)).toEqual(['r1', 'r2']);
    });

    it('a lookup makes no KEK call', async () => {
      await app.insert(t.secrets).values({ name: 'k', tokenHash: 'h-k' });
      counter.reset();
      kek.resetCalls();
      const rows = await app
        .select({ name: t.secrets.name })
        .from(t.secrets)
        .where(inArray(t.secrets.tokenHash, ['h-k', 'h-other']));
      expect(namesOf(rows)).toEqual(['k']);
      expect(counter.counts.total).toBe(0);
      expect(Object.values(kek.calls).reduce((a, b) => a + b, 0)).toBe(0);
    });

    it('every other filter, sort or group on the indexed column stays refused', () => {
      const s = t.secrets;
      const from = () => app.select().from(s);
      expect(() => from().where(like(s.tokenHash, 'h-%'))).toThrow(CmekQueryError);
      expect(() => from().where(ne(s.tokenHash, 'h'))).toThrow(CmekQueryError);
      expect(() => from().where(gt(s.tokenHash, 'h'))).toThrow(CmekQueryError);
      expect(() => from().where(eq(s.tokenHash, s.token))).toThrow(CmekQueryError);
      expect(() => from().where(eq(s.tokenHash, sql.placeholder('v')))).toThrow(CmekQueryError);
      expect(() => from().orderBy(asc(s.tokenHash))).toThrow(CmekQueryError);
      expect(() => from().groupBy(s.tokenHash)).toThrow(CmekQueryError);
      // the column without an index keeps the refusal of eq too
      expect(() => from().where(eq(s.token, 'x'))).toThrow(CmekQueryError);
    });

    it('the unique index column rejects a duplicate secret, with no secret in the error', async () => {
      await app.insert(t.secrets).values({ name: 'u1', tokenHash: 'h-unique-secret' });
      let error: unknown;
      try {
        await app.insert(t.secrets).values({ name: 'u2', tokenHash: 'h-unique-secret' });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(Error);
      const text = `${(error as Error).message} ${(error as Error).stack} ${String((error as { cause?: unknown }).cause)}`;
      expect(text).not.toContain('h-unique-secret');
      expect(await raw.raw(`select name from ${t.names.secrets}`)).toHaveLength(1);
    });

    it('during a rotation inside the column a lookup matches values of either key', async () => {
      await app.insert(t.secrets).values({ name: 'old', tokenHash: 'h-rot' });
      const nextKey = await createBlindIndexKey(kek);
      const both = await loadBlindIndexes({ keys: [nextKey, storedKey], kek });
      const rotating = d.connect(t);
      try {
        const app2 = withCmek(rotating.db, {
          envelope,
          indexer: both,
          tables: [
            {
              table: t.secrets,
              columns: { tokenHash: { blindIndex: { column: 'tokenHashBidx' } } },
            },
          ],
        });
        await app2.insert(t.secrets).values({ name: 'new', tokenHash: 'h-rot-2' });
        // the new row is indexed under the next key
        expect((await storedRow('new')).token_hash_bidx).toBe(both.compute(label(), 'h-rot-2'));
        const rows = await app2
          .select({ name: t.secrets.name })
          .from(t.secrets)
          .where(inArray(t.secrets.tokenHash, ['h-rot', 'h-rot-2']));
        expect(namesOf(rows)).toEqual(['new', 'old']);
      } finally {
        both.close();
        await rotating.close();
      }
    });
  });
}
