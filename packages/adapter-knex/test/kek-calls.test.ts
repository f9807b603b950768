/** The KEK cost of a large result set: one KEK call per distinct DEK, not per row. */
import { createEnvelope } from '@cmek/core';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withCmek } from '../src/index';
import { databases, uniquePrefix } from './support/databases';
import { countingProvider } from './support/provider';
import { createTables, dropTables, type Tables } from './support/schema';

for (const db of databases)
  describe.skipIf(!db.available)(`KEK calls on ${db.name}`, () => {
    let plain: Knex;
    let base: Knex;
    let t: Tables;
    beforeAll(async () => {
      plain = db.connect();
      base = db.connect();
      t = await createTables(plain, uniquePrefix('k'));
    });
    afterAll(async () => {
      await dropTables(plain, t);
      await Promise.all([plain.destroy(), base.destroy()]);
    });

    it('inserting and then selecting 10,000 rows sharing a DEK costs one generate and one unwrap', async () => {
      const provider = countingProvider();
      const tables = { [t.secrets]: { columns: ['token'] } };
      const writer = withCmek(base, { envelope: createEnvelope({ kek: provider }), tables });
      const rows = Array.from({ length: 10_000 }, (_, i) => ({
        name: `n${i}`,
        token: `secret-${i}`,
      }));
      await writer.batchInsert(t.secrets, rows, 500);
      expect(provider.calls.generateDataKey).toBe(1);
      const stored = await plain(t.secrets).select('token');
      expect(stored).toHaveLength(10_000);
      expect(new Set(stored.map((r) => (r.token as string).split('|')[0])).size).toBe(1);

      // a fresh envelope (cold decrypt cache) over the same KEK
      const reader = withCmek(base, { envelope: createEnvelope({ kek: provider }), tables });
      const before = provider.calls.unwrap;
      const read = await reader(t.secrets).select('name', 'token').orderBy('id');
      expect(read).toHaveLength(10_000);
      expect(read[9_999]).toEqual({ name: 'n9999', token: 'secret-9999' });
      expect(provider.calls.unwrap - before).toBe(1);
    });
  });
