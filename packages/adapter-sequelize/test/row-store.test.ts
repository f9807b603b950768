/** `sequelizeRowStore` on the real databases, driven directly and by the core backfill. */
import { backfill, verify } from '@cmek/core/engine';
import { DataTypes, type Model, type ModelStatic, type Sequelize } from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encryptFields, sequelizeRowStore } from '../src/index';
import { connect, DATABASES, envelopeFor, newKek, rawRow, rawUpdate, uniqueTable } from './support';

for (const db of DATABASES) {
  describe.skipIf(!db.url)(`sequelizeRowStore (${db.dialect})`, () => {
    let sequelize: Sequelize;
    let Secret: ModelStatic<Model>;
    const table = uniqueTable('secrets');
    const { envelope } = envelopeFor(newKek());
    const ids: number[] = [];

    beforeAll(async () => {
      sequelize = connect(db);
      Secret = sequelize.define(
        'Secret',
        { token: { type: DataTypes.TEXT, field: 'token_col' }, note: DataTypes.TEXT },
        { tableName: table, timestamps: false },
      );
      await Secret.sync({ force: true });
      // legacy rows, written before encryption was turned on
      for (let i = 0; i < 7; i++) {
        const row = await Secret.create({
          token: `legacy-${i}`,
          note: i % 3 === 0 ? null : `note-${i}`,
        });
        ids.push(row.get('id') as number);
      }
      await encryptFields(Secret, { envelope, fields: ['token', 'note'] });
    }, 60_000);

    afterAll(async () => {
      await Secret?.drop().catch(() => undefined);
      await sequelize?.close();
    });

    it('scans by primary key in pages, returning the stored values', async () => {
      const store = sequelizeRowStore(Secret);
      expect(store.name).toBe('Secret');
      expect(store.fields).toEqual(['token', 'note']);
      expect(store.contextFor('token')).toEqual({ field: 'Secret.token' });
      const first = await store.scan(undefined, 3);
      expect(first.map((r) => Number(r.id))).toEqual(ids.slice(0, 3));
      expect(first[0]!.values).toEqual({ token: 'legacy-0', note: null });
      const second = await store.scan(first[2]!.id, 3);
      expect(second.map((r) => Number(r.id))).toEqual(ids.slice(3, 6));
      const last = await store.scan(second[2]!.id, 3);
      expect(last.map((r) => Number(r.id))).toEqual(ids.slice(6));
      expect(await store.scan(last[0]!.id, 3)).toEqual([]);
    });

    it('compare-and-set writes only when the value is unchanged', async () => {
      const store = sequelizeRowStore(Secret, ['token']);
      const id = ids[1]!;
      const next = await envelope.encrypt('legacy-1', { context: store.contextFor('token') });
      expect(await store.compareAndSet(id, 'token', 'not the value', next)).toBe(false);
      expect((await rawRow(sequelize, table, id))!.token_col).toBe('legacy-1');
      expect(await store.compareAndSet(id, 'token', 'legacy-1', next)).toBe(true);
      expect((await rawRow(sequelize, table, id))!.token_col).toBe(next);
      expect(await store.compareAndSet(999_999, 'token', 'legacy-1', next)).toBe(false);
      expect((await Secret.findByPk(id))!.get('token')).toBe('legacy-1');
    });

    it('scans soft-deleted rows and rows a default scope hides', async () => {
      const hiddenTable = uniqueTable('hidden');
      const Hidden = sequelize.define(
        'Hidden',
        { token: DataTypes.TEXT, archived: { type: DataTypes.BOOLEAN, defaultValue: false } },
        { tableName: hiddenTable, paranoid: true, defaultScope: { where: { archived: false } } },
      );
      await encryptFields(Hidden, { envelope, fields: ['token'] });
      await Hidden.sync({ force: true });
      try {
        const kept = await Hidden.create({ token: 'kept' });
        const deleted = await Hidden.create({ token: 'deleted' });
        const archived = await Hidden.create({ token: 'archived', archived: true });
        await deleted.destroy();
        expect(await Hidden.count()).toBe(1);
        const rows = await sequelizeRowStore(Hidden).scan(undefined, 10);
        expect(rows.map((r) => Number(r.id))).toEqual([
          Number(kept.get('id')),
          Number(deleted.get('id')),
          Number(archived.get('id')),
        ]);
        for (const [i, plain] of ['kept', 'deleted', 'archived'].entries()) {
          const stored = rows[i]!.values.token!;
          expect(stored).toMatch(/^cmek:v1:/);
          expect(await envelope.decrypt(stored, { context: { field: 'Hidden.token' } })).toBe(
            plain,
          );
        }
      } finally {
        await Hidden.drop().catch(() => undefined);
      }
    });

    it('count() is every row the scan reads, soft-deleted and scoped ones included', async () => {
      expect(await sequelizeRowStore(Secret).count()).toBe(7);
      const countedTable = uniqueTable('counted');
      const Counted = sequelize.define(
        'Counted',
        { token: DataTypes.TEXT, archived: { type: DataTypes.BOOLEAN, defaultValue: false } },
        { tableName: countedTable, paranoid: true, defaultScope: { where: { archived: false } } },
      );
      await encryptFields(Counted, { envelope, fields: ['token'] });
      await Counted.sync({ force: true });
      try {
        const store = sequelizeRowStore(Counted);
        expect(await store.count()).toBe(0);
        await Counted.create({ token: 'kept' });
        const deleted = await Counted.create({ token: 'deleted' });
        await Counted.create({ token: 'archived', archived: true });
        await deleted.destroy();
        expect(await Counted.count()).toBe(1);
        expect(await store.count()).toBe(3);
        expect(await store.scan(undefined, 10)).toHaveLength(3);
        const totals: (number | undefined)[] = [];
        await verify(store, { envelope, batchSize: 2, onProgress: (e) => totals.push(e.total) });
        expect(totals).toEqual([3, 3, 3, 3]);
      } finally {
        await Counted.drop().catch(() => undefined);
      }
    });

    it('drives the core backfill: every legacy value ends up encrypted and readable', async () => {
      const store = sequelizeRowStore(Secret);
      await rawUpdate(sequelize, table, ids[0], 'note', 'late note');
      const report = await backfill(store, { envelope, batchSize: 2 });
      expect(report.status).toBe('completed');
      expect(report.fields.token!.skipped).toBe(1); // the one compare-and-set above
      expect(report.fields.token!.written).toBe(6);
      for (const [i, id] of ids.entries()) {
        const raw = (await rawRow(sequelize, table, id))!;
        expect(String(raw.token_col)).toMatch(/^cmek:v1:/);
        const row = (await Secret.findByPk(id))!;
        expect(row.get('token')).toBe(`legacy-${i}`);
      }
      const counts = await verify(store, { envelope });
      expect(JSON.stringify(counts)).toContain('"plaintext":0');
    });
  });
}
