/**
 * `sequelizeRowStore().compareAndSetMany`: one statement (one transaction on MariaDB) per batch
 * and field, exact compare-and-set semantics (byte for byte, a row changed meanwhile is left
 * alone and reported), driven by the core `backfill` and `rewrap`; and the store's database
 * errors, which hold no value. SQLite, PostgreSQL and MariaDB.
 */
import { randomBytes } from 'node:crypto';
import {
  type CasWrite,
  CmekQueryError,
  createEnvelope,
  createKeyring,
  type RowStore,
} from '@cmek/core';
import { backfill, rewrap, verify } from '@cmek/core/engine';
import { createLocalKekProviderFromKey } from '@cmek/provider-local';
import { DataTypes, type Model, type ModelStatic, type Sequelize } from 'sequelize';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sequelizeRowStore } from '../src/index';
import { failureOf, leak } from './secrecy';
import { connect, DATABASES, rawRow, rawRows, rawUpdate, TOKEN, uniqueTable } from './support';

const ROWS = 12;

for (const db of DATABASES) {
  describe.skipIf(!db.url)(`sequelizeRowStore batched compare-and-set (${db.dialect})`, () => {
    let sequelize: Sequelize;
    let Legacy: ModelStatic<Model>;
    const table = uniqueTable('legacy');
    const kek = createLocalKekProviderFromKey(randomBytes(32));
    const envelope = createEnvelope({ kek });
    let ids: number[] = [];
    /** The SQL statements run, when `recording`. */
    const statements: string[] = [];
    let recording = false;
    const ctx = (field: string) => ({ context: { field: `Legacy.${field}` } });

    beforeAll(async () => {
      sequelize = connect(db);
      (sequelize as unknown as { options: { logging: unknown } }).options.logging = (
        sql: string,
      ) => {
        if (recording) statements.push(sql);
      };
      Legacy = sequelize.define(
        'Legacy',
        {
          token: { type: DataTypes.STRING(700), field: 'token_col', unique: true },
          note: DataTypes.TEXT,
        },
        { tableName: table, timestamps: false },
      );
      await Legacy.sync({ force: true });
    }, 60_000);

    beforeEach(async () => {
      await Legacy.destroy({ where: {}, truncate: true });
      ids = [];
      for (let i = 0; i < ROWS; i++) {
        const row = await Legacy.create({
          token: `legacy-${i}`,
          note: i % 4 === 0 ? null : `n-${i}`,
        });
        ids.push(row.get('id') as number);
      }
      statements.length = 0;
    });

    afterAll(async () => {
      await Legacy?.drop().catch(() => undefined);
      await sequelize?.close();
    });

    const store = (): RowStore =>
      sequelizeRowStore(Legacy, ['token', 'note'], { labels: { token: 'Legacy.token' } });
    /** The store's compare-and-set statements (not the test's own raw UPDATE, nor `FOR UPDATE`). */
    const updates = () => statements.filter((sql) => /: UPDATE .* CASE /s.test(sql));

    it('writes the rows that still hold the expected value, in one UPDATE per field', async () => {
      const s = store();
      const next = async (field: string, plain: string) => envelope.encrypt(plain, ctx(field));
      const writes: CasWrite[] = [
        {
          id: ids[0]!,
          field: 'token',
          expected: 'legacy-0',
          next: await next('token', 'legacy-0'),
        },
        { id: ids[1]!, field: 'token', expected: 'not-it', next: await next('token', 'x') },
        { id: ids[2]!, field: 'note', expected: 'n-2', next: await next('note', 'n-2') },
        // letter case and a trailing space differ: MariaDB's collation would call them equal
        { id: ids[3]!, field: 'token', expected: 'LEGACY-3', next: await next('token', 'y') },
        { id: ids[5]!, field: 'token', expected: 'legacy-5 ', next: await next('token', 'z') },
        { id: 999_999, field: 'note', expected: 'n-1', next: await next('note', 'n-1') },
        {
          id: ids[6]!,
          field: 'token',
          expected: 'legacy-6',
          next: await next('token', 'legacy-6'),
        },
      ];
      recording = true;
      const results = await s.compareAndSetMany!(writes);
      recording = false;
      expect(results).toEqual([true, false, true, false, false, false, true]);
      expect(updates()).toHaveLength(2); // one per field
      for (const sql of statements) expect(sql).not.toMatch(/legacy-|cmek:v1:/);
      const raw = async (i: number) => (await rawRow(sequelize, table, ids[i]))!;
      expect((await raw(0)).token_col).toBe(writes[0]!.next);
      expect((await raw(1)).token_col).toBe('legacy-1');
      expect((await raw(2)).note).toBe(writes[2]!.next);
      expect((await raw(3)).token_col).toBe('legacy-3');
      expect((await raw(5)).token_col).toBe('legacy-5');
      expect((await raw(6)).token_col).toBe(writes[6]!.next);
      expect(await s.compareAndSetMany!([])).toEqual([]);
    });

    it('two writes to one row in one call: the second compares with what the first wrote', async () => {
      const s = store();
      const first = await envelope.encrypt('legacy-0', ctx('token'));
      const second = await envelope.encrypt('again', ctx('token'));
      const results = await s.compareAndSetMany!([
        { id: ids[0]!, field: 'token', expected: 'legacy-0', next: first },
        { id: ids[0]!, field: 'token', expected: first, next: second },
        { id: ids[0]!, field: 'token', expected: 'legacy-0', next: second },
      ]);
      expect(results).toEqual([true, true, false]);
      expect((await rawRow(sequelize, table, ids[0]))!.token_col).toBe(second);
    });

    it('a single compareAndSet compares bytes too', async () => {
      const s = store();
      const next = await envelope.encrypt('legacy-4', ctx('token'));
      expect(await s.compareAndSet(ids[4]!, 'token', 'Legacy-4', next)).toBe(false);
      expect(await s.compareAndSet(ids[4]!, 'token', 'legacy-4 ', next)).toBe(false);
      expect((await rawRow(sequelize, table, ids[4]))!.token_col).toBe('legacy-4');
      expect(await s.compareAndSet(ids[4]!, 'token', 'legacy-4', next)).toBe(true);
      expect((await rawRow(sequelize, table, ids[4]))!.token_col).toBe(next);
    });

    it('backfill uses it, and leaves a row the application changed after the scan', async () => {
      const inner = store();
      let singles = 0;
      let scans = 0;
      const s: RowStore = {
        ...inner,
        async scan(after, limit) {
          const rows = await inner.scan(after, limit);
          // the live application writes a new plaintext between the scan and the write
          if (scans++ === 0) await rawUpdate(sequelize, table, ids[1], 'token_col', 'changed-1');
          return rows;
        },
        async compareAndSet(...args) {
          singles++;
          return inner.compareAndSet(...args);
        },
      };
      recording = true;
      const report = await backfill(s, { envelope, batchSize: 5, conflictRetries: 0 });
      recording = false;
      expect(report.status).toBe('completed');
      expect(singles).toBe(0);
      expect(report.fields.token!.conflicts).toBe(1);
      expect(report.fields.token!.written).toBe(ROWS - 1);
      expect(report.fields.note!.written).toBe(ROWS - 3);
      // 3 batches (5 + 5 + 2 rows), 2 fields each: one UPDATE per batch and field
      expect(updates()).toHaveLength(6);
      const rows = await rawRows(sequelize, table);
      expect(rows[1]!.token_col).toBe('changed-1'); // not overwritten with the old plaintext
      for (const [i, row] of rows.entries()) {
        if (i === 1) continue;
        expect(String(row.token_col)).toMatch(TOKEN);
        expect(await envelope.decrypt(String(row.token_col), ctx('token'))).toBe(`legacy-${i}`);
      }
      // a second run picks the changed row up
      const again = await backfill(store(), { envelope, batchSize: 5 });
      expect(again.fields.token!.written).toBe(1);
      const changed = String((await rawRow(sequelize, table, ids[1]))!.token_col);
      expect(await envelope.decrypt(changed, ctx('token'))).toBe('changed-1');
    });

    it('rewrap uses it, and leaves a row the application re-encrypted after the scan', async () => {
      await backfill(store(), { envelope, batchSize: 50 });
      const next = createLocalKekProviderFromKey(randomBytes(32));
      const keyring = createKeyring({ primary: next, decryptOnly: [kek] });
      const fresh = await envelope.encrypt('rewritten', ctx('token'));
      const inner = store();
      let scans = 0;
      const s: RowStore = {
        ...inner,
        async scan(after, limit) {
          const rows = await inner.scan(after, limit);
          if (scans++ === 0) await rawUpdate(sequelize, table, ids[2], 'token_col', fresh);
          return rows;
        },
      };
      recording = true;
      const moved = await rewrap(s, { keyring, batchSize: 4, conflictRetries: 0 });
      recording = false;
      expect(moved.status).toBe('completed');
      expect(moved.fields.token!.conflicts).toBe(1);
      expect(moved.fields.token!.written).toBe(ROWS - 1);
      expect(updates()).toHaveLength(6); // 3 batches × 2 fields
      expect((await rawRow(sequelize, table, ids[2]))!.token_col).toBe(fresh);
      const onlyNext = createEnvelope({ kek: createKeyring({ primary: next }) });
      const counts = await verify(store(), { envelope: createEnvelope({ kek: keyring }) });
      expect(JSON.stringify(counts)).toContain('"plaintext":0');
      const rows = await rawRows(sequelize, table);
      for (const [i, row] of rows.entries()) {
        if (i === 2) continue;
        expect(onlyNext.inspect(String(row.token_col)).keyRef).toBe(next.keyRef);
        expect(await onlyNext.decrypt(String(row.token_col), ctx('token'))).toBe(`legacy-${i}`);
      }
    });

    it('a failing write is a CmekQueryError holding neither the plaintext nor the token', async () => {
      const s = store();
      // row 0 holds a token; writing the same token into row 1 violates the unique constraint
      const taken = await envelope.encrypt('legacy-0', ctx('token'));
      expect(await s.compareAndSet(ids[0]!, 'token', 'legacy-0', taken)).toBe(true);
      for (const attempt of [
        () => s.compareAndSet(ids[1]!, 'token', 'legacy-1', taken),
        () =>
          s.compareAndSetMany!([
            { id: ids[1]!, field: 'token', expected: 'legacy-1', next: taken },
            { id: ids[3]!, field: 'token', expected: 'legacy-3', next: taken },
          ]),
      ]) {
        const error = await failureOf(attempt);
        expect(CmekQueryError.isInstance(error), String(error)).toBe(true);
        expect((error as CmekQueryError).field).toBe('Legacy.token');
        expect((error as Error).message).toMatch(/UniqueConstraintError/);
        const cause = (error as Error).cause as { name?: string } | undefined;
        expect(cause?.name).toBe('SequelizeUniqueConstraintError');
        expect(Object.keys(error as object)).not.toContain('cause');
        expect(leak(error, ['legacy-1', 'legacy-3'])).toBeUndefined();
      }
      expect((await rawRow(sequelize, table, ids[1]))!.token_col).toBe('legacy-1');
    });

    it('a closed pool is a CmekQueryError too, for scan and writes', async () => {
      const other = connect(db);
      const Copy = other.define('Legacy', Legacy.getAttributes(), {
        tableName: table,
        timestamps: false,
      });
      const s = sequelizeRowStore(Copy, ['token']);
      await other.close();
      for (const attempt of [
        () => s.scan(undefined, 10),
        () => s.compareAndSet(ids[0]!, 'token', 'legacy-0', 'cmek:v1:AAAA|BBBB|CCCC'),
        () =>
          s.compareAndSetMany!([
            { id: ids[0]!, field: 'token', expected: 'legacy-0', next: 'cmek:v1:AAAA|BBBB|CCCC' },
          ]),
      ]) {
        const error = await failureOf(attempt);
        expect(CmekQueryError.isInstance(error), String(error)).toBe(true);
        expect(leak(error, ['legacy-0'])).toBeUndefined();
      }
    });
  });
}
