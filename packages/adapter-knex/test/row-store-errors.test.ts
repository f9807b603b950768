/**
 * A compare-and-set of `knexRowStore` that fails in the database (here: a CHECK constraint that
 * refuses every token, as a too-narrow column or a lost connection would fail it) binds the old
 * value, a legacy plaintext during `cmek backfill`, and the new token: its error is a
 * `CmekQueryError` whose message holds neither, with the driver's error (scrubbed of them too)
 * as its non-enumerable `cause`. Checked for `compareAndSet`, `compareAndSetMany` and a backfill.
 */
import { createEnvelope } from '@cmek/core';
import { backfill } from '@cmek/core/engine';
import type { Knex } from 'knex';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { knexRowStore } from '../src/index';
import { databases, uniquePrefix } from './support/databases';
import { countingProvider } from './support/provider';
import { expectNoSecret, rejection } from './support/secrecy';

const PLAINTEXT = 'legacy-Pl41ntext-Marker-93c1';

for (const db of databases) {
  describe.skipIf(!db.available)(`knexRowStore errors on ${db.name}`, () => {
    let plain: Knex;
    let table: string;
    const envelope = createEnvelope({ kek: countingProvider() });

    beforeAll(async () => {
      plain = db.connect();
      table = `${uniquePrefix('c')}cas`;
      await plain.schema.createTable(table, (t) => {
        t.increments('id').primary();
        t.text('token');
        t.check("token not like 'cmek:%'", [], `${table}_no_tokens`);
      });
    });
    afterAll(async () => {
      await plain.schema.dropTableIfExists(table);
      await plain.destroy();
    });
    beforeEach(async () => {
      await plain(table).del();
      await plain(table).insert([{ token: `${PLAINTEXT}-1` }, { token: `${PLAINTEXT}-2` }]);
    });

    const store = () => knexRowStore({ knex: plain, table, columns: ['token'] });
    const rows = async () => (await plain(table).orderBy('id')) as { id: number; token: string }[];
    const tokenOf = (plaintext: string) =>
      envelope.encrypt(plaintext, { context: store().contextFor('token') });

    const expectWrapped = (error: unknown, markers: readonly string[]) => {
      expect(error).toMatchObject({ code: 'CMEK_QUERY' });
      expect((error as Error).message).toContain(table);
      // the driver's error is kept, scrubbed, as a cause JSON.stringify does not show
      const cause = (error as { cause?: { code?: unknown } }).cause;
      expect(cause).toBeInstanceOf(Error);
      expect(cause?.code).toBeDefined();
      expect(Object.keys(error as object)).not.toContain('cause');
      expectNoSecret(error, markers);
    };

    it('compareAndSet: the failing UPDATE shows neither the old plaintext nor the token', async () => {
      const [row] = await rows();
      const token = await tokenOf(row!.token);
      const error = await rejection(store().compareAndSet(row!.id, 'token', row!.token, token));
      expectWrapped(error, [PLAINTEXT, token, token.slice(0, 40)]);
      expect((await rows())[0]!.token).toBe(row!.token);
    });

    it('compareAndSetMany: the failing batch shows neither the old plaintexts nor the tokens', async () => {
      const all = await rows();
      const writes = await Promise.all(
        all.map(async (r) => ({
          id: r.id,
          field: 'token',
          expected: r.token,
          next: await tokenOf(r.token),
        })),
      );
      const error = await rejection(store().compareAndSetMany!(writes));
      expectWrapped(error, [PLAINTEXT, ...writes.map((w) => w.next)]);
      expect((await rows()).map((r) => r.token)).toEqual(all.map((r) => r.token));
    });

    it('backfill: the error it stops with shows no plaintext and no token', async () => {
      const error = await rejection(backfill(store(), { envelope }));
      expectWrapped(error, [PLAINTEXT]);
    });
  });
}
