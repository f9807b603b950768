/**
 * Blind indexes in sequelizeRowStore, on SQLite, PostgreSQL and MariaDB: scans return the index
 * attributes, compare-and-set (one, and the set-based batch) writes the value and its index in one
 * guarded statement, and core's backfill / verify (with the indexer) fill a missing index and
 * report a mismatched one.
 */
import {
  type BlindIndexer,
  CmekConfigError,
  CmekInvalidInputError,
  createBlindIndexKey,
  createEnvelope,
  type Envelope,
  loadBlindIndexes,
} from '@cmek/core';
import { backfill, verify } from '@cmek/core/engine';
import { createLocalKekProviderFromKey } from '@cmek/provider-local';
import { DataTypes, type Model, type ModelStatic, QueryTypes, type Sequelize } from 'sequelize';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { encryptFields, sequelizeRowStore } from '../src/index';
import { connect, DATABASES, newKek, rawRow, uniqueTable } from './support';

const LABEL = 'StoredToken.tokenHash';

for (const db of DATABASES) {
  describe.skipIf(!db.url)(`blind indexes in sequelizeRowStore (${db.dialect})`, () => {
    const table = uniqueTable('stored_tokens');
    let sequelize: Sequelize;
    let envelope: Envelope;
    let indexer: BlindIndexer;
    let check: BlindIndexer;
    /** The model without encryptFields: what a CLI configuration declares. */
    let Plain: ModelStatic<Model>;
    let Encrypted: ModelStatic<Model>;

    const attributes = {
      id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
      name: { type: DataTypes.STRING(64) },
      tokenHash: { type: DataTypes.TEXT, field: 'token_hash' },
      tokenHashBidx: { type: DataTypes.STRING(80), field: 'token_hash_bidx', unique: true },
    };

    beforeAll(async () => {
      sequelize = connect(db);
      const kek = createLocalKekProviderFromKey(newKek());
      envelope = createEnvelope({ kek });
      const stored = await createBlindIndexKey(kek);
      indexer = await loadBlindIndexes({ keys: [stored], kek });
      check = await loadBlindIndexes({ keys: [stored], kek });
      Plain = sequelize.define('StoredToken', attributes, { tableName: table, timestamps: false });
      Encrypted = sequelize.define('StoredTokenApp', attributes, {
        tableName: table,
        timestamps: false,
      });
      await encryptFields(Encrypted, {
        envelope,
        indexer,
        fields: {
          tokenHash: { context: { field: LABEL }, blindIndex: { column: 'tokenHashBidx' } },
        },
      });
      await Plain.sync({ force: true });
    }, 60_000);
    afterAll(async () => {
      await Plain?.drop().catch(() => undefined);
      await sequelize?.close();
      indexer?.close();
      check?.close();
    });
    // around the ORM: the shared query interface encrypts the table's writes by column
    const sql = async (text: string, replacements: unknown[] = []) => {
      const qi = sequelize.getQueryInterface();
      await sequelize.query(text.replaceAll('$t', qi.quoteIdentifier(table)), { replacements });
    };
    beforeEach(async () => {
      await sql('DELETE FROM $t');
    });

    const store = () =>
      sequelizeRowStore(Plain, ['tokenHash'], {
        blindIndexes: { tokenHash: { column: 'tokenHashBidx' } },
      });
    const insertRaw = async (name: string, value: string | null, index: string | null = null) => {
      await sql('INSERT INTO $t (name, token_hash, token_hash_bidx) VALUES (?, ?, ?)', [
        name,
        value,
        index,
      ]);
      const [row] = (await sequelize.query(
        `SELECT id FROM ${sequelize.getQueryInterface().quoteIdentifier(table)} WHERE name = ?`,
        { replacements: [name], type: QueryTypes.SELECT },
      )) as { id: unknown }[];
      return Number(row!.id);
    };
    const setIndex = (id: number, index: string | null) =>
      sql('UPDATE $t SET token_hash_bidx = ? WHERE id = ?', [index, id]);
    const rawOf = async (id: number) => {
      const row = await rawRow(sequelize, table, id);
      return { tokenHash: row?.token_hash ?? null, tokenHashBidx: row?.token_hash_bidx ?? null };
    };

    it('scans the index attributes and writes them with the value in one guarded statement', async () => {
      const s = store();
      expect(s.blindIndexes).toEqual({ tokenHash: [{ column: 'tokenHashBidx' }] });
      const a = await insertRaw('a', 'legacy-a');
      const b = await insertRaw('b', 'legacy-b', 'cmek:bi1:stale-b');
      const c = await insertRaw('c', 'legacy-c');
      const rows = await s.scan(undefined, 10);
      expect(rows.map((r) => r.indexes)).toEqual([
        { tokenHashBidx: null },
        { tokenHashBidx: 'cmek:bi1:stale-b' },
        { tokenHashBidx: null },
      ]);
      const index = check.compute(LABEL, 'legacy-a');
      expect(await s.compareAndSet(a, 'tokenHash', 'stale', 'next', { tokenHashBidx: index })).toBe(
        false,
      );
      expect(await rawOf(a)).toEqual({ tokenHash: 'legacy-a', tokenHashBidx: null });
      expect(
        await s.compareAndSet(a, 'tokenHash', 'legacy-a', 'next-a', { tokenHashBidx: index }),
      ).toBe(true);
      expect(await rawOf(a)).toEqual({ tokenHash: 'next-a', tokenHashBidx: index });
      // a write without indexes (a rewrap) leaves the index as it is
      expect(await s.compareAndSet(a, 'tokenHash', 'next-a', 'again-a')).toBe(true);
      expect(await rawOf(a)).toEqual({ tokenHash: 'again-a', tokenHashBidx: index });
      // the set-based batch: writes with and without indexes, one of them stale
      const other = check.compute(LABEL, 'legacy-b');
      expect(
        await s.compareAndSetMany!([
          {
            id: b,
            field: 'tokenHash',
            expected: 'legacy-b',
            next: 'next-b',
            indexes: { tokenHashBidx: other },
          },
          {
            id: a,
            field: 'tokenHash',
            expected: 'stale',
            next: 'never',
            indexes: { tokenHashBidx: null },
          },
          { id: c, field: 'tokenHash', expected: 'legacy-c', next: 'next-c' },
        ]),
      ).toEqual([true, false, true]);
      expect(await rawOf(b)).toEqual({ tokenHash: 'next-b', tokenHashBidx: other });
      expect(await rawOf(a)).toEqual({ tokenHash: 'again-a', tokenHashBidx: index });
      expect(await rawOf(c)).toEqual({ tokenHash: 'next-c', tokenHashBidx: null });
      await expect(
        s.compareAndSet(a, 'tokenHash', 'again-a', 'x', { name: index }),
      ).rejects.toBeInstanceOf(CmekInvalidInputError);
      for (const column of ['tokenHash', 'id', 'missing']) {
        expect(() =>
          sequelizeRowStore(Plain, ['tokenHash'], { blindIndexes: { tokenHash: { column } } }),
        ).toThrow(CmekConfigError);
      }
      // a model configured by encryptFields declares its own indexes
      expect(sequelizeRowStore(Encrypted).blindIndexes).toEqual({
        tokenHash: [{ column: 'tokenHashBidx' }],
      });
    });

    it("backfill and verify through core's engine fill a missing index and report a mismatch", async () => {
      const legacy = await insertRaw('legacy', 'p-legacy');
      const app = await Encrypted.create({ name: 'app', tokenHash: 'p-app' });
      const written = Number(app.get('id'));
      await setIndex(written, null);
      await insertRaw('empty', null);
      const s = sequelizeRowStore(Encrypted);

      const before = await verify(s, { envelope, indexer });
      expect(before.fields.tokenHash!.indexes!.tokenHashBidx).toMatchObject({
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
        expect(stored.tokenHash).toMatch(/^cmek:v1:/);
        expect(stored.tokenHashBidx).toBe(check.compute(LABEL, plaintext));
      }
      const found = await Encrypted.findAll({ where: { tokenHash: 'p-legacy' } });
      expect(found.map((r) => r.get('name'))).toEqual(['legacy']);
      expect((await verify(s, { envelope, indexer })).indexProblems).toBe(0);

      await setIndex(legacy, check.compute(LABEL, 'p-other'));
      const after = await verify(s, { envelope, indexer });
      expect(after.indexProblems).toBe(1);
      expect(after.fields.tokenHash!.indexes!.tokenHashBidx).toMatchObject({
        ok: 2,
        missing: 0,
        mismatched: 1,
      });
      expect(after.fields.tokenHash!.indexes!.tokenHashBidx!.ids.map(Number)).toEqual([legacy]);
    });
  });
}
