/**
 * Every write path of the wrapped Drizzle database, on each real database: the stored value is
 * read back around Drizzle (a raw driver query) and must be a cmek token that decrypts, under
 * the column's context, to what the application wrote.
 */
import { CmekInvalidInputError, CmekQueryError, createEnvelope, type Envelope } from '@cmek/core';
import { eq, sql } from 'drizzle-orm';
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
  describe.skipIf(!d.available)(`writes on ${d.name}`, () => {
    let raw: Connection;
    let base: Connection;
    let app: CmekDatabase<AnyDb>;
    let envelope: Envelope;
    let t: Tables;

    beforeAll(async () => {
      t = d.tables(uniquePrefix('w'));
      raw = d.connect(t);
      base = d.connect(t);
      await createTables(raw, d, t);
      envelope = createEnvelope({ kek: countingProvider() });
      app = withCmek(base.db, {
        envelope,
        tables: [
          { table: t.secrets, columns: ['token', 'note'] },
          { table: t.owners, columns: ['token'] },
        ],
      });
    });
    afterAll(async () => {
      await dropTables(raw, t);
      await Promise.all([raw.close(), base.close()]);
    });
    beforeEach(async () => {
      await raw.raw(`delete from ${t.names.secrets}`);
      await raw.raw(`delete from ${t.names.owners}`);
    });

    /** The stored row, read around Drizzle. */
    const storedRow = async (name: string): Promise<Record<string, unknown>> => {
      const [row] = await raw.raw(`select * from ${t.names.secrets} where name = ?`, [name]);
      expect(row).toBeDefined();
      return row!;
    };
    /** Asserts the stored column holds a token that opens to `expected` under its context. */
    const expectStored = async (name: string, column: string, expected: string | null) => {
      const value = (await storedRow(name))[column];
      if (expected === null) {
        expect(value).toBeNull();
        return;
      }
      expect(typeof value).toBe('string');
      expect(value as string).toMatch(/^cmek:v1:/);
      // a short plaintext ('n2') may appear in a random token by chance
      if (expected.length >= 6) expect(value as string).not.toContain(expected);
      const context = { field: `${t.names.secrets}.${column}` };
      expect(await envelope.decrypt(value as string, { context })).toBe(expected);
    };

    it('insert().values() of one row stores ciphertext', async () => {
      await app.insert(t.secrets).values({ name: 'one', token: 'tok-one', note: 'note-one' });
      await expectStored('one', 'token', 'tok-one');
      await expectStored('one', 'note', 'note-one');
    });

    it('insert().values() of many rows stores ciphertext in each', async () => {
      await app.insert(t.secrets).values([
        { name: 'm1', token: 'tok-m1', note: null },
        { name: 'm2', token: 'tok-m2', note: 'note-m2' },
        { name: 'm3', token: null, note: 'note-m3' },
      ]);
      await expectStored('m1', 'token', 'tok-m1');
      await expectStored('m1', 'note', null);
      await expectStored('m2', 'token', 'tok-m2');
      await expectStored('m2', 'note', 'note-m2');
      await expectStored('m3', 'token', null);
      await expectStored('m3', 'note', 'note-m3');
    });

    it('update().set() stores ciphertext and leaves the other column alone', async () => {
      await app.insert(t.secrets).values({ name: 'u', token: 'before', note: 'kept' });
      const note = (await storedRow('u')).note;
      await app.update(t.secrets).set({ token: 'after' }).where(eq(t.secrets.name, 'u'));
      await expectStored('u', 'token', 'after');
      expect((await storedRow('u')).note).toBe(note);
    });

    it('update().set() with $onUpdate columns beside stores ciphertext once', async () => {
      await app.insert(t.secrets).values({ name: 'ou', token: 'first' });
      await app.update(t.secrets).set({ note: 'second' }).where(eq(t.secrets.name, 'ou'));
      await expectStored('ou', 'note', 'second');
      expect((await storedRow('ou')).touched).toBe('updated');
    });

    itWhen(d.name !== 'mysql')(
      'onConflictDoUpdate({ set }) stores ciphertext on the conflict path',
      async () => {
        await app.insert(t.secrets).values({ name: 'c', token: 'old' });
        await app
          .insert(t.secrets)
          .values({ name: 'c', token: 'ignored' })
          .onConflictDoUpdate({ target: t.secrets.name, set: { token: 'new', note: 'added' } });
        await expectStored('c', 'token', 'new');
        await expectStored('c', 'note', 'added');
      },
    );

    itWhen(d.name !== 'mysql')(
      'onConflictDoUpdate with set to excluded.<column> stores the inserted ciphertext',
      async () => {
        await app.insert(t.secrets).values({ name: 'x', token: 'old' });
        await app
          .insert(t.secrets)
          .values({ name: 'x', token: 'from-insert' })
          .onConflictDoUpdate({
            target: t.secrets.name,
            set: { token: sql.raw('excluded.token') },
          });
        await expectStored('x', 'token', 'from-insert');
      },
    );

    itWhen(d.name === 'mysql')(
      'onDuplicateKeyUpdate({ set }) stores ciphertext on the conflict path',
      async () => {
        await app.insert(t.secrets).values({ name: 'c', token: 'old' });
        await app
          .insert(t.secrets)
          .values({ name: 'c', token: 'ignored' })
          .onDuplicateKeyUpdate({ set: { token: 'new', note: 'added' } });
        await expectStored('c', 'token', 'new');
        await expectStored('c', 'note', 'added');
      },
    );

    itWhen(d.name === 'mysql')(
      'onDuplicateKeyUpdate with set to values(<column>) stores the inserted ciphertext',
      async () => {
        await app.insert(t.secrets).values({ name: 'x', token: 'old' });
        await app
          .insert(t.secrets)
          .values({ name: 'x', token: 'from-insert' })
          .onDuplicateKeyUpdate({ set: { token: sql`values(${t.secrets.token})` } });
        await expectStored('x', 'token', 'from-insert');
      },
    );

    itWhen(d.returning)(
      'insert().values().returning() stores ciphertext and returns plaintext',
      async () => {
        const rows = await app
          .insert(t.secrets)
          .values([
            { name: 'r1', token: 'tok-r1' },
            { name: 'r2', token: 'tok-r2', note: 'n2' },
          ])
          .returning();
        expect(rows.map((r: { token: string }) => r.token)).toEqual(['tok-r1', 'tok-r2']);
        expect(rows[1].note).toBe('n2');
        await expectStored('r1', 'token', 'tok-r1');
        await expectStored('r2', 'note', 'n2');
      },
    );

    itWhen(d.returning)(
      'update().set().returning() with a partial selection returns plaintext',
      async () => {
        await app.insert(t.secrets).values({ name: 'ur', token: 'returning-before' });
        const rows = await app
          .update(t.secrets)
          .set({ token: 'returning-after' })
          .where(eq(t.secrets.name, 'ur'))
          .returning({ secret: t.secrets.token, name: t.secrets.name });
        expect(rows).toEqual([{ secret: 'returning-after', name: 'ur' }]);
        await expectStored('ur', 'token', 'returning-after');
      },
    );

    it('writes inside db.transaction() store ciphertext', async () => {
      if (d.name === 'sqlite') {
        // better-sqlite3 transactions are synchronous: encrypt first, then write the tokens
        const row = await app.$cmek.encryptRow(t.secrets, { name: 'tx', token: 'tok-tx' });
        app.transaction((tx: AnyDb) => {
          tx.insert(t.secrets).values(row).run();
        });
      } else {
        await app.transaction(async (tx: AnyDb) => {
          await tx.insert(t.secrets).values({ name: 'tx', token: 'tok-tx' });
          await tx.update(t.secrets).set({ note: 'in-tx' }).where(eq(t.secrets.name, 'tx'));
        });
        await expectStored('tx', 'note', 'in-tx');
      }
      await expectStored('tx', 'token', 'tok-tx');
    });

    it('a token of the column written back is kept as it is', async () => {
      await app.insert(t.secrets).values({ name: 'k1', token: 'same' });
      const token = (await storedRow('k1')).token as string;
      await app.insert(t.secrets).values({ name: 'k2', token });
      expect((await storedRow('k2')).token).toBe(token);
    });

    it('refuses a value that is not a string or null, before writing', async () => {
      for (const value of [42, { a: 1 }, true]) {
        await expect(
          app.insert(t.secrets).values({ name: 'bad', token: value as never }),
        ).rejects.toThrow(CmekInvalidInputError);
      }
      expect(await raw.raw(`select * from ${t.names.secrets}`)).toEqual([]);
    });

    it('refuses a SQL expression that binds a value for an encrypted column', async () => {
      await expect(
        app.insert(t.secrets).values({ name: 'sq', token: sql`lower(${'PLAIN'})` }),
      ).rejects.toThrow(CmekQueryError);
      await expect(app.update(t.secrets).set({ token: sql`upper(${'plain'})` })).rejects.toThrow(
        CmekQueryError,
      );
      expect(await raw.raw(`select * from ${t.names.secrets}`)).toEqual([]);
    });

    it('refuses a placeholder bound to an encrypted column', async () => {
      const query = app.insert(t.secrets).values({ name: 'ph', token: sql.placeholder('token') });
      expect(() => query.prepare()).toThrow(CmekQueryError);
      await expect(query).rejects.toThrow(CmekQueryError);
    });

    itWhen(d.name === 'sqlite')(
      'refuses a synchronous .run() that would write plaintext',
      async () => {
        expect(() => app.insert(t.secrets).values({ name: 'sync', token: 'plain' }).run()).toThrow(
          CmekQueryError,
        );
        expect(await raw.raw(`select * from ${t.names.secrets}`)).toEqual([]);
      },
    );
  });
}
