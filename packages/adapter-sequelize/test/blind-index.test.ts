/**
 * Blind indexes on every Sequelize write path, on SQLite, PostgreSQL and MariaDB: each write
 * checked by reading the raw row around the ORM, the index compared with a value computed by a
 * second indexer loaded from the same wrapped key; lookups (`where`, `Op.eq`, `Op.in`, inside
 * `Op.and` / `Op.or`, in finders, count, update, destroy and an include's where) find the rows
 * without a KEK call; every other operator stays refused; a write of the index itself is refused;
 * the unique index column rejects a duplicate secret.
 */
import {
  type BlindIndexer,
  CmekConfigError,
  CmekInvalidInputError,
  CmekQueryError,
  createBlindIndexKey,
  createEnvelope,
  type Envelope,
  loadBlindIndexes,
} from '@cmek/core';
import { createLocalKekProviderFromKey } from '@cmek/provider-local';
import { type KekCallCounter, kekCallCounter } from '@cmek/test-suite';
import {
  col,
  DataTypes,
  fn,
  type Model,
  type ModelStatic,
  Op,
  type QueryInterface,
  type Sequelize,
} from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encryptFields } from '../src/index';
import { connect, DATABASES, newKek, rawRow, TOKEN, uniqueTable } from './support';

const LABEL = 'ApiToken.tokenHash';

for (const db of DATABASES) {
  describe.skipIf(!db.url)(`blind indexes (${db.dialect})`, () => {
    let sequelize: Sequelize;
    let envelope: Envelope;
    let indexer: BlindIndexer;
    /** A second indexer, loaded from the same wrapped key: the expected index values. */
    let check: BlindIndexer;
    let counter: KekCallCounter;
    let ApiToken: ModelStatic<Model>;
    let Owner: ModelStatic<Model>;
    const table = uniqueTable('api_tokens');
    const owners = uniqueTable('owners');

    beforeAll(async () => {
      sequelize = connect(db);
      counter = kekCallCounter();
      const kek = createLocalKekProviderFromKey(newKek());
      envelope = createEnvelope({ kek, onEvent: counter.onEvent });
      const stored = await createBlindIndexKey(kek);
      indexer = await loadBlindIndexes({ keys: [stored], kek, onEvent: counter.onEvent });
      check = await loadBlindIndexes({ keys: [stored], kek });
      Owner = sequelize.define(
        'Owner',
        { name: { type: DataTypes.STRING(64) } },
        { tableName: owners, timestamps: false },
      );
      ApiToken = sequelize.define(
        'ApiToken',
        {
          id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
          name: { type: DataTypes.STRING(64), allowNull: false, unique: true },
          tokenHash: { type: DataTypes.TEXT, field: 'token_hash' },
          tokenHashBidx: { type: DataTypes.STRING(80), field: 'token_hash_bidx', unique: true },
          note: { type: DataTypes.STRING(64) },
        },
        { tableName: table, timestamps: false },
      );
      Owner.hasMany(ApiToken, { foreignKey: 'ownerId', as: 'tokens' });
      await encryptFields(ApiToken, {
        envelope,
        indexer,
        fields: { tokenHash: { blindIndex: { column: 'tokenHashBidx' } } },
      });
      await Owner.sync({ force: true });
      await ApiToken.sync({ force: true });
    }, 60_000);

    afterAll(async () => {
      await ApiToken?.drop().catch(() => undefined);
      await Owner?.drop().catch(() => undefined);
      await sequelize?.close();
      indexer?.close();
      check?.close();
    });

    let n = 0;
    const name = () => `t-${++n}`;
    const idOf = async (rowName: string): Promise<number> =>
      Number((await ApiToken.findOne({ where: { name: rowName }, attributes: ['id'] }))!.get('id'));

    /** The raw row holds a token of `plain` and its index (null beside null), no plaintext. */
    async function expectIndexed(id: unknown, plain: string | null): Promise<void> {
      const row = await rawRow(sequelize, table, id);
      expect(row, `row ${id} exists`).toBeDefined();
      const [value, index] = [row!.token_hash, row!.token_hash_bidx];
      if (plain === null) {
        expect(value).toBeNull();
        expect(index).toBeNull();
        return;
      }
      expect(value).toMatch(TOKEN);
      expect(String(value)).not.toContain(plain);
      expect(String(index)).not.toContain(plain);
      expect(await envelope.decrypt(String(value), { context: { field: LABEL } })).toBe(plain);
      expect(index).toBe(check.compute(LABEL, plain));
    }

    describe('writes', () => {
      it('Model.create writes the index; null gives a null index', async () => {
        const a = await ApiToken.create({ name: name(), tokenHash: 'h-create' });
        await expectIndexed(a.get('id'), 'h-create');
        expect(a.get('tokenHash')).toBe('h-create');
        expect(a.get('tokenHashBidx')).toBe(check.compute(LABEL, 'h-create'));
        const b = await ApiToken.create({ name: name(), tokenHash: null });
        await expectIndexed(b.get('id'), null);
      });

      it('save writes the index of a changed field only; null clears it', async () => {
        const row = ApiToken.build({ name: name(), tokenHash: 'h-save' });
        await row.save();
        await expectIndexed(row.get('id'), 'h-save');
        row.set('note', 'other field');
        await row.save();
        await expectIndexed(row.get('id'), 'h-save');
        row.set('tokenHash', 'h-save-2');
        await row.save();
        await expectIndexed(row.get('id'), 'h-save-2');
        expect(row.changed()).toBe(false);
        row.set('tokenHash', null);
        await row.save();
        await expectIndexed(row.get('id'), null);
      });

      it('instance.update moves the index', async () => {
        const row = await ApiToken.create({ name: name(), tokenHash: 'h-iu' });
        await row.update({ tokenHash: 'h-iu-2' });
        await expectIndexed(row.get('id'), 'h-iu-2');
      });

      it('static Model.update, with and without individualHooks, moves the index', async () => {
        const row = await ApiToken.create({ name: name(), tokenHash: 'h-su' });
        const id = row.get('id');
        await ApiToken.update({ tokenHash: 'h-su-2' }, { where: { id } });
        await expectIndexed(id, 'h-su-2');
        await ApiToken.update({ tokenHash: 'h-su-3' }, { where: { id }, individualHooks: true });
        await expectIndexed(id, 'h-su-3');
        await ApiToken.update({ note: 'n' }, { where: { id } });
        await expectIndexed(id, 'h-su-3');
        await ApiToken.update({ tokenHash: null }, { where: { id } });
        await expectIndexed(id, null);
      });

      it('Model.bulkCreate, with and without individualHooks, writes each index', async () => {
        const plain = await ApiToken.bulkCreate([
          { name: 'bulk-a', tokenHash: 'h-bulk-a' },
          { name: 'bulk-b', tokenHash: null },
        ]);
        expect(plain).toHaveLength(2);
        await expectIndexed(await idOf('bulk-a'), 'h-bulk-a');
        await expectIndexed(await idOf('bulk-b'), null);
        await ApiToken.bulkCreate([{ name: 'bulk-c', tokenHash: 'h-bulk-c' }], {
          individualHooks: true,
        });
        await expectIndexed(await idOf('bulk-c'), 'h-bulk-c');
      });

      it('Model.bulkCreate with updateOnDuplicate updates the index with the value', async () => {
        await ApiToken.bulkCreate([{ name: 'dup', tokenHash: 'h-dup-1' }]);
        await ApiToken.bulkCreate([{ name: 'dup', tokenHash: 'h-dup-2' }], {
          updateOnDuplicate: ['tokenHash'],
        });
        await expectIndexed(await idOf('dup'), 'h-dup-2');
      });

      it('Model.upsert writes the index, inserting then updating', async () => {
        await ApiToken.upsert({ name: 'ups', tokenHash: 'h-ups-1' });
        const id = await idOf('ups');
        await expectIndexed(id, 'h-ups-1');
        await ApiToken.upsert({ id, name: 'ups', tokenHash: 'h-ups-2' });
        await expectIndexed(id, 'h-ups-2');
      });

      it('Model.findOrCreate finds by the index, else creates with it', async () => {
        const [created, wasCreated] = await ApiToken.findOrCreate({
          where: { tokenHash: 'h-foc' },
          defaults: { name: 'foc' },
        });
        expect(wasCreated).toBe(true);
        await expectIndexed(created.get('id'), 'h-foc');
        const [found, again] = await ApiToken.findOrCreate({
          where: { tokenHash: 'h-foc' },
          defaults: { name: 'foc-2' },
        });
        expect(again).toBe(false);
        expect(found.get('id')).toBe(created.get('id'));
      });

      it('inside a transaction and with hooks: false the index is written', async () => {
        const t = await sequelize.transaction();
        const row = await ApiToken.create({ name: name(), tokenHash: 'h-trx' }, { transaction: t });
        await t.commit();
        await expectIndexed(row.get('id'), 'h-trx');
        const rolled = await sequelize.transaction();
        await ApiToken.create({ name: 'rolled', tokenHash: 'h-rolled' }, { transaction: rolled });
        await rolled.rollback();
        expect(await ApiToken.count({ where: { tokenHash: 'h-rolled' } })).toBe(0);
        const quiet = await ApiToken.create(
          { name: name(), tokenHash: 'h-nohooks' },
          { hooks: false },
        );
        await expectIndexed(quiet.get('id'), 'h-nohooks');
      });

      it("the model's query interface writes the index", async () => {
        // the model's own view (every write of the model goes through it)
        const qi = (ApiToken as unknown as { queryInterface: QueryInterface }).queryInterface;
        await qi.bulkInsert(table, [{ name: 'mqi', token_hash: 'h-mqi' }]);
        await expectIndexed(await idOf('mqi'), 'h-mqi');
      });

      it('the shared query interface writes the index by table and column (seeders)', async () => {
        const qi = sequelize.getQueryInterface();
        await qi.bulkInsert(table, [
          { name: 'seed-a', token_hash: 'h-seed-a' },
          { name: 'seed-b', token_hash: null },
        ]);
        await expectIndexed(await idOf('seed-a'), 'h-seed-a');
        await expectIndexed(await idOf('seed-b'), null);
        await qi.bulkUpdate(table, { token_hash: 'h-seed-a2' }, { name: 'seed-a' });
        await expectIndexed(await idOf('seed-a'), 'h-seed-a2');
        // a data migration finds a row by the encrypted column through its index
        await qi.bulkUpdate(table, { note: 'migrated' }, { token_hash: 'h-seed-a2' });
        const raw = await rawRow(sequelize, table, await idOf('seed-a'));
        expect(raw!.note).toBe('migrated');
        await qi.bulkDelete(table, { token_hash: 'h-seed-a2' });
        expect(await ApiToken.count({ where: { name: 'seed-a' } })).toBe(0);
      });

      it('a token of the field written back is indexed by its plaintext', async () => {
        const row = await ApiToken.create({ name: name(), tokenHash: 'h-token' });
        const token = (await rawRow(sequelize, table, row.get('id')))!.token_hash as string;
        await row.update({ tokenHash: null });
        const copy = await ApiToken.create({ name: 'copy', tokenHash: token });
        const raw = await rawRow(sequelize, table, copy.get('id'));
        expect(raw!.token_hash_bidx).toBe(check.compute(LABEL, 'h-token'));
      });

      it('a write that sets the index attribute itself is refused, writing nothing', async () => {
        const index = check.compute(LABEL, 'h-direct');
        const attempts = [
          () => ApiToken.create({ name: 'direct', tokenHash: 'h-direct', tokenHashBidx: index }),
          () => ApiToken.update({ tokenHashBidx: index }, { where: { name: 'direct' } }),
          () => ApiToken.bulkCreate([{ name: 'direct', tokenHashBidx: index }]),
          // the index updated on a duplicate without its value
          () =>
            ApiToken.bulkCreate([{ name: 'direct', tokenHash: 'h-direct' }], {
              updateOnDuplicate: ['tokenHashBidx'],
            }),
          () =>
            sequelize
              .getQueryInterface()
              .bulkInsert(table, [{ name: 'direct', token_hash_bidx: index }]),
        ];
        for (const attempt of attempts) {
          const error = await attempt().then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(error).toBeInstanceOf(CmekQueryError);
          expect((error as Error).message).not.toContain(index);
        }
        expect(await ApiToken.count({ where: { name: 'direct' } })).toBe(0);
      });
    });

    describe('lookups', () => {
      beforeAll(async () => {
        const owner = await Owner.create({ name: 'owner' });
        await ApiToken.bulkCreate([
          { name: 'look-a', tokenHash: 'h-look-a', ownerId: owner.get('id') },
          { name: 'look-b', tokenHash: 'h-look-b' },
        ]);
      });
      const names = (rows: readonly Model[]) => rows.map((r) => r.get('name')).sort();

      it('where: value, Op.eq, Op.in and arrays find the rows, decrypted', async () => {
        const one = await ApiToken.findOne({ where: { tokenHash: 'h-look-a' } });
        expect(one?.get('name')).toBe('look-a');
        expect(one?.get('tokenHash')).toBe('h-look-a');
        expect(
          names(await ApiToken.findAll({ where: { tokenHash: { [Op.eq]: 'h-look-b' } } })),
        ).toEqual(['look-b']);
        expect(
          names(
            await ApiToken.findAll({
              where: { tokenHash: { [Op.in]: ['h-look-a', 'h-look-b', 'h-absent'] } },
            }),
          ),
        ).toEqual(['look-a', 'look-b']);
        expect(
          names(await ApiToken.findAll({ where: { tokenHash: ['h-look-a', 'h-absent'] } })),
        ).toEqual(['look-a']);
        expect(await ApiToken.findOne({ where: { tokenHash: 'h-absent' } })).toBeNull();
        expect(await ApiToken.findOne({ where: { tokenHash: 'H-LOOK-A' } })).toBeNull();
      });

      it('inside Op.and and Op.or, and in count, findAndCountAll, update and destroy', async () => {
        expect(
          names(
            await ApiToken.findAll({
              where: {
                [Op.or]: [{ tokenHash: 'h-look-a' }, { [Op.and]: [{ tokenHash: 'h-look-b' }] }],
              },
            }),
          ),
        ).toEqual(['look-a', 'look-b']);
        expect(
          await ApiToken.count({
            where: { [Op.and]: [{ name: 'look-a' }, { tokenHash: 'h-look-a' }] },
          }),
        ).toBe(1);
        const { count } = await ApiToken.findAndCountAll({ where: { tokenHash: 'h-look-b' } });
        expect(count).toBe(1);
        const [updated] = await ApiToken.update(
          { note: 'found' },
          { where: { tokenHash: 'h-look-b' } },
        );
        expect(updated).toBe(1);
        const temp = await ApiToken.create({ name: 'temp', tokenHash: 'h-temp' });
        expect(await ApiToken.destroy({ where: { tokenHash: 'h-temp' } })).toBe(1);
        expect(await rawRow(sequelize, table, temp.get('id'))).toBeUndefined();
        expect(await ApiToken.count({ where: { tokenHash: null, name: 'look-a' } })).toBe(0);
      });

      it("an include's where and a $nested.tokenHash$ key find the rows through the index", async () => {
        const found = await Owner.findAll({
          include: [{ model: ApiToken, as: 'tokens', where: { tokenHash: 'h-look-a' } }],
        });
        expect(found.map((o) => o.get('name'))).toEqual(['owner']);
        const tokens = found[0]!.get('tokens') as Model[];
        expect(tokens.map((t) => t.get('tokenHash'))).toEqual(['h-look-a']);
        const none = await Owner.findAll({
          include: [{ model: ApiToken, as: 'tokens', where: { tokenHash: 'h-look-b' } }],
        });
        expect(none).toEqual([]);
        const nested = await Owner.findAll({
          include: [{ model: ApiToken, as: 'tokens' }],
          where: { '$tokens.tokenHash$': 'h-look-a' },
        });
        expect(nested.map((o) => o.get('name'))).toEqual(['owner']);
      });

      it('a lookup makes no KEK call', async () => {
        await ApiToken.findAll({ where: { tokenHash: 'h-look-a' }, attributes: ['id'] });
        counter.reset();
        const rows = await ApiToken.findAll({
          where: { tokenHash: { [Op.in]: ['h-look-a', 'h-look-b'] } },
          attributes: ['id', 'name'],
        });
        expect(rows).toHaveLength(2);
        expect(await ApiToken.count({ where: { tokenHash: 'h-look-a' } })).toBe(1);
        expect(counter.counts.total).toBe(0);
      });

      it('like, ranges, ne, notIn, Op.not, order, group and aggregates stay refused', async () => {
        const refused = [
          () => ApiToken.findAll({ where: { tokenHash: { [Op.like]: 'h-%' } } }),
          () => ApiToken.findAll({ where: { tokenHash: { [Op.gt]: 'h' } } }),
          () => ApiToken.findAll({ where: { tokenHash: { [Op.ne]: 'h-look-a' } } }),
          () => ApiToken.findAll({ where: { tokenHash: { [Op.notIn]: ['h-look-a'] } } }),
          () => ApiToken.findAll({ where: { [Op.not]: { tokenHash: 'h-look-a' } } }),
          () => ApiToken.findAll({ where: { 'tokenHash.x': 'h-look-a' } }),
          () => ApiToken.findAll({ where: { tokenHash: { [Op.eq]: 'a', [Op.ne]: 'b' } } }),
          () => ApiToken.findAll({ order: [['tokenHash', 'ASC']] }),
          () => ApiToken.findAll({ attributes: ['tokenHash'], group: ['tokenHash'] }),
          () => ApiToken.findAll({ attributes: [[fn('max', col('tokenHash')), 'm']] }),
          () => ApiToken.max('tokenHash'),
        ];
        for (const [i, query] of refused.entries()) {
          const error = await query().then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(error, `refused[${i}]`).toBeInstanceOf(CmekQueryError);
        }
      });

      it('a lookup of a value that is no string is refused with CmekInvalidInputError', async () => {
        await expect(ApiToken.findAll({ where: { tokenHash: 42 } })).rejects.toBeInstanceOf(
          CmekInvalidInputError,
        );
      });

      it('the unique index column rejects a duplicate secret, with neither value in the error', async () => {
        const first = await ApiToken.create({ name: 'uniq-1', tokenHash: 'h-unique-secret' });
        const index = check.compute(LABEL, 'h-unique-secret');
        const error = await ApiToken.create({ name: 'uniq-2', tokenHash: 'h-unique-secret' }).then(
          () => undefined,
          (e: unknown) => e as Error,
        );
        expect(error).toBeInstanceOf(Error);
        const token = (await rawRow(sequelize, table, first.get('id')))!.token_hash as string;
        const text = `${error!.message} ${error!.stack} ${JSON.stringify(error)}`;
        expect(text).not.toContain('h-unique-secret');
        expect(text).not.toContain(index.slice(0, 40));
        expect(text).not.toContain(token.slice(0, 40));
        expect(await ApiToken.count({ where: { name: 'uniq-2' } })).toBe(0);
      });
    });
  });
}

describe('blind index options', () => {
  it('are refused without an indexer, on a missing, short, non-string or encrypted attribute, or twice', async () => {
    const { Sequelize: S } = await import('sequelize');
    const sequelize = new S({ dialect: 'sqlite', storage: ':memory:', logging: false });
    const kek = createLocalKekProviderFromKey(newKek());
    const envelope = createEnvelope({ kek });
    const indexer = await loadBlindIndexes({ keys: [await createBlindIndexKey(kek)], kek });
    let i = 0;
    const define = () =>
      sequelize.define(
        `M${++i}`,
        {
          a: DataTypes.TEXT,
          b: DataTypes.TEXT,
          aBidx: DataTypes.STRING(80),
          short: DataTypes.STRING(40),
          num: DataTypes.INTEGER,
        },
        { timestamps: false },
      );
    const cases: [unknown, boolean][] = [
      [{ fields: { a: { blindIndex: { column: 'aBidx' } } } }, false],
      [{ indexer, fields: { a: { blindIndex: { column: 'missing' } } } }, true],
      [{ indexer, fields: { a: { blindIndex: { column: 'short' } } } }, true],
      [{ indexer, fields: { a: { blindIndex: { column: 'num' } } } }, true],
      [{ indexer, fields: { a: { blindIndex: { column: 'id' } } } }, true],
      [{ indexer, fields: { a: { blindIndex: { column: 'b' } }, b: {} } }, true],
      [
        {
          indexer,
          fields: {
            a: { blindIndex: { column: 'aBidx' } },
            b: { blindIndex: { column: 'aBidx' } },
          },
        },
        true,
      ],
      [{ indexer, fields: { a: { blindIndex: { column: 'aBidx', mode: 'fast' } } } }, true],
      [{ indexer: {}, fields: ['a'] }, true],
    ];
    for (const [options, withIndexer] of cases) {
      const error = await encryptFields(define(), {
        envelope,
        ...(options as object),
      } as never).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, JSON.stringify(Object.keys(options as object))).toBeInstanceOf(CmekConfigError);
      if (!withIndexer) expect((error as Error).message).toContain('indexer');
    }
    await expect(
      encryptFields(define(), {
        envelope,
        indexer,
        fields: { a: { blindIndex: { column: 'aBidx' } } },
      }),
    ).resolves.toBeDefined();
    indexer.close();
    await sequelize.close();
  });
});
