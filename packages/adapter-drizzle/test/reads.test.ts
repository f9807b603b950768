/**
 * Every read path of the wrapped Drizzle database, on each real database: rows written through
 * the adapter come back as plaintext; filters, sorts, groups and computed selections on an
 * encrypted column are refused with CmekQueryError before anything runs.
 */
import { CmekQueryError, createEnvelope, type Envelope } from '@cmek/core';
import { asc, count, desc, eq, gt, inArray, isNotNull, like, sql } from 'drizzle-orm';
import { alias as pgAlias } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
  describe.skipIf(!d.available)(`reads on ${d.name}`, () => {
    let raw: Connection;
    let base: Connection;
    let app: CmekDatabase<AnyDb>;
    let envelope: Envelope;
    let t: Tables;
    let ownerId: number;

    beforeAll(async () => {
      t = d.tables(uniquePrefix('r'));
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
      await app.insert(t.owners).values({ name: 'ada', token: 'owner-secret' });
      const [owner] = await raw.raw(`select id from ${t.names.owners}`);
      ownerId = Number(owner!.id);
      await app.insert(t.secrets).values([
        { name: 's1', token: 'token-one', note: 'note-one', ownerId },
        { name: 's2', token: 'token-two', note: null, ownerId },
        { name: 's3', token: null, note: 'note-three', ownerId: null },
      ]);
    });
    afterAll(async () => {
      await dropTables(raw, t);
      await Promise.all([raw.close(), base.close()]);
    });

    it('the rows read around Drizzle hold ciphertext', async () => {
      const rows = await raw.raw(`select token, note from ${t.names.secrets} order by id`);
      expect(rows[0]!.token).toMatch(/^cmek:v1:/);
      expect(rows[0]!.note).toMatch(/^cmek:v1:/);
      expect(JSON.stringify(rows)).not.toContain('token-one');
    });

    it('db.select().from() decrypts every row', async () => {
      const rows = await app.select().from(t.secrets).orderBy(asc(t.secrets.id));
      expect(rows.map((r: { token: unknown; note: unknown }) => [r.token, r.note])).toEqual([
        ['token-one', 'note-one'],
        ['token-two', null],
        [null, 'note-three'],
      ]);
    });

    it('a partial select with nested objects decrypts by result key', async () => {
      const rows = await app
        .select({ name: t.secrets.name, secret: { value: t.secrets.token } })
        .from(t.secrets)
        .where(eq(t.secrets.name, 's1'));
      expect(rows).toEqual([{ name: 's1', secret: { value: 'token-one' } }]);
    });

    it('a join decrypts the encrypted columns of both tables', async () => {
      const rows = await app
        .select()
        .from(t.secrets)
        .leftJoin(t.owners, eq(t.secrets.ownerId, t.owners.id))
        .orderBy(asc(t.secrets.id));
      const key = (table: string) => table;
      expect(rows[0][key(t.names.secrets)].token).toBe('token-one');
      expect(rows[0][key(t.names.owners)].token).toBe('owner-secret');
      expect(rows[2][key(t.names.owners)]).toBeNull();
    });

    it('a selectDistinct, a limit and a filter on a plain column decrypt', async () => {
      const rows = await app
        .selectDistinct({ name: t.secrets.name, token: t.secrets.token })
        .from(t.secrets)
        .where(gt(t.secrets.id, 0))
        .orderBy(asc(t.secrets.name))
        .limit(1);
      expect(rows).toEqual([{ name: 's1', token: 'token-one' }]);
    });

    itWhen(d.name === 'postgres')('a select through alias() of a table decrypts', async () => {
      const o = pgAlias(t.owners, 'o');
      const rows = await app.select({ token: o.token }).from(o);
      expect(rows).toEqual([{ token: 'owner-secret' }]);
    });

    it('a subquery built with the wrapped database decrypts in the outer select', async () => {
      const sq = app
        .select({ id: t.secrets.id, token: t.secrets.token })
        .from(t.secrets)
        .where(eq(t.secrets.name, 's2'))
        .as('sq');
      const rows = await app.select({ token: sq.token }).from(sq);
      expect(rows).toEqual([{ token: 'token-two' }]);
    });

    it('db.query.findMany({ with }) decrypts the rows and their relations', async () => {
      const owners = await app.query.owners.findMany({ with: { secrets: true } });
      expect(owners).toHaveLength(1);
      expect(owners[0].token).toBe('owner-secret');
      const tokens = owners[0].secrets.map((s: { token: string }) => s.token).sort();
      expect(tokens).toEqual(['token-one', 'token-two']);
    });

    it('db.query.findFirst({ columns, with }) decrypts the row and a many relation', async () => {
      const row = await app.query.owners.findFirst({
        columns: { token: true },
        with: { secrets: { columns: { note: true }, where: eq(t.secrets.name, 's1') } },
      });
      expect(row).toEqual({ token: 'owner-secret', secrets: [{ note: 'note-one' }] });
    });

    // MariaDB cannot run Drizzle's query of a one relation (a correlated derived table)
    itWhen(d.name !== 'mysql')(
      'db.query.findFirst({ columns, with }) decrypts a one relation',
      async () => {
        const row = await app.query.secrets.findFirst({
          columns: { name: true, note: true },
          where: eq(t.secrets.name, 's1'),
          with: { owner: { columns: { token: true } } },
        });
        expect(row).toEqual({ name: 's1', note: 'note-one', owner: { token: 'owner-secret' } });
      },
    );

    it('a result set costs one decryptMany per column', async () => {
      let calls = 0;
      const original = envelope.decryptMany.bind(envelope);
      envelope.decryptMany = ((values: never, options: never) => {
        calls += 1;
        return original(values, options);
      }) as typeof envelope.decryptMany;
      try {
        await app.select().from(t.secrets);
      } finally {
        envelope.decryptMany = original;
      }
      expect(calls).toBe(2);
    });

    describe('refusals', () => {
      const expectRefused = async (run: () => unknown, column = 'token') => {
        let error: unknown;
        try {
          await run();
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(CmekQueryError);
        expect((error as CmekQueryError).field).toContain(column);
        expect((error as Error).message).not.toContain('needle');
      };

      it('refuses where(eq()) on an encrypted column', async () => {
        await expectRefused(() =>
          app.select().from(t.secrets).where(eq(t.secrets.token, 'needle')),
        );
      });

      it('refuses inArray, like, gt and isNotNull on an encrypted column', async () => {
        await expectRefused(() =>
          app
            .select()
            .from(t.secrets)
            .where(inArray(t.secrets.token, ['needle'])),
        );
        await expectRefused(
          () => app.select().from(t.secrets).where(like(t.secrets.note, 'needle%')),
          'note',
        );
        await expectRefused(() =>
          app.select().from(t.secrets).where(gt(t.secrets.token, 'needle')),
        );
        await expectRefused(() => app.select().from(t.secrets).where(isNotNull(t.secrets.token)));
      });

      it('refuses orderBy and groupBy on an encrypted column', async () => {
        await expectRefused(() => app.select().from(t.secrets).orderBy(desc(t.secrets.token)));
        await expectRefused(() =>
          app.select({ n: count() }).from(t.secrets).groupBy(t.secrets.token),
        );
      });

      it('refuses a join condition and an aggregate on an encrypted column', async () => {
        await expectRefused(() =>
          app.select().from(t.secrets).innerJoin(t.owners, eq(t.owners.token, t.secrets.token)),
        );
        await expectRefused(() => app.select({ n: count(t.secrets.token) }).from(t.secrets));
      });

      it('refuses update().where() and delete().where() on an encrypted column', async () => {
        await expectRefused(() =>
          app.update(t.secrets).set({ name: 'x' }).where(eq(t.secrets.token, 'needle')),
        );
        await expectRefused(() => app.delete(t.secrets).where(eq(t.secrets.token, 'needle')));
      });

      it('refuses a relational where or orderBy on an encrypted column, at any depth', async () => {
        await expectRefused(() =>
          app.query.secrets.findMany({ where: eq(t.secrets.token, 'needle') }),
        );
        await expectRefused(() =>
          app.query.secrets.findMany({
            where: (s: Tables['secrets'], { eq: e }: { eq: typeof eq }) => e(s.token, 'needle'),
          }),
        );
        await expectRefused(
          () =>
            app.query.owners.findMany({
              with: {
                secrets: {
                  orderBy: (s: Tables['secrets'], o: { asc: typeof asc }) => [o.asc(s.note)],
                },
              },
            }),
          'note',
        );
      });

      it('refuses $count with a filter on an encrypted column', async () => {
        await expectRefused(() => app.$count(t.secrets, eq(t.secrets.token, 'needle')));
      });

      it('refuses a raw sql template condition naming an encrypted column', async () => {
        await expectRefused(() =>
          app.select().from(t.secrets).where(sql`${t.secrets.token} = ${'needle'}`),
        );
      });

      itWhen(d.name === 'sqlite')(
        'refuses a synchronous .all() that would return ciphertext',
        () => {
          expect(() => app.select().from(t.secrets).all()).toThrow(CmekQueryError);
          expect(app.select({ id: t.secrets.id }).from(t.secrets).all()).toHaveLength(3);
        },
      );

      it('refuses prepare() of a select of an encrypted column', () => {
        expect(() => app.select().from(t.secrets).prepare('p1')).toThrow(CmekQueryError);
      });
    });
  });
}
