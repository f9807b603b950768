/**
 * Every Sequelize write path stores ciphertext and every read path decrypts: each write checked
 * by reading the row with a plain SQL query, on SQLite, PostgreSQL and MariaDB.
 */
import { CmekDecryptionError, CmekInvalidInputError, type Envelope } from '@cmek/core';
import { DataTypes, type Model, type ModelStatic, type Sequelize } from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encryptFields } from '../src/index';
import {
  BIG,
  connect,
  DATABASES,
  envelopeFor,
  newKek,
  rawRow,
  rawUpdate,
  TOKEN,
  UNICODE,
  uniqueTable,
} from './support';

for (const db of DATABASES) {
  describe.skipIf(!db.url)(`write and read paths (${db.dialect})`, () => {
    let sequelize: Sequelize;
    let envelope: Envelope;
    let Integration: ModelStatic<Model>;
    const table = uniqueTable('integrations');
    const ctx = (field: string) => ({ context: { field: `Integration.${field}` } });

    /** The stored value decrypts under the field's context to `plain` (null stays null). */
    async function expectStored(
      id: unknown,
      field: string,
      plain: string | null,
    ): Promise<string | null> {
      const row = await rawRow(sequelize, table, id);
      expect(row, `row ${id} exists`).toBeDefined();
      const stored = row![field === 'slackToken' ? 'slack_token' : field] as string | null;
      if (plain === null) {
        expect(stored).toBeNull();
        return null;
      }
      expect(stored).toMatch(TOKEN);
      if (plain.length > 3) expect(stored).not.toContain(plain);
      expect(await envelope.decrypt(stored!, ctx(field))).toBe(plain);
      return stored;
    }

    beforeAll(async () => {
      sequelize = connect(db);
      ({ envelope } = envelopeFor(newKek()));
      Integration = sequelize.define(
        'Integration',
        {
          id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
          name: { type: DataTypes.STRING(100), allowNull: false, unique: true },
          slackToken: { type: DataTypes.TEXT('long'), field: 'slack_token' },
          webhookSecret: { type: DataTypes.TEXT('long') },
          plan: { type: DataTypes.STRING(20), defaultValue: 'free' },
        },
        { tableName: table },
      );
      await encryptFields(Integration, { envelope, fields: ['slackToken', 'webhookSecret'] });
      await Integration.sync({ force: true });
    }, 60_000);

    afterAll(async () => {
      await Integration?.drop().catch(() => undefined);
      await sequelize?.close();
    });

    let n = 0;
    const name = () => `i-${++n}`;

    it('Model.create stores tokens; null, empty, unicode and 64 KiB values', async () => {
      for (const value of ['xoxb-1', '', UNICODE, BIG]) {
        const row = await Integration.create({
          name: name(),
          slackToken: value,
          webhookSecret: null,
        });
        await expectStored(row.get('id'), 'slackToken', value);
        await expectStored(row.get('id'), 'webhookSecret', null);
        expect(row.get('slackToken')).toBe(value);
        expect(row.changed()).toBe(false);
      }
    });

    it('build + save (new), then save after changing an encrypted field', async () => {
      const row = Integration.build({ name: name(), slackToken: 'new-one' });
      await row.save();
      const first = await expectStored(row.get('id'), 'slackToken', 'new-one');
      expect(row.get('slackToken')).toBe('new-one');
      row.set('slackToken', 'changed');
      expect(row.changed()).toEqual(['slackToken']);
      await row.save();
      const second = await expectStored(row.get('id'), 'slackToken', 'changed');
      expect(second).not.toBe(first);
      expect(row.get('slackToken')).toBe('changed');
      expect(row.changed()).toBe(false);
    });

    it('saving twice does not encrypt again', async () => {
      const row = await Integration.create({ name: name(), slackToken: 'once' });
      const first = await expectStored(row.get('id'), 'slackToken', 'once');
      await row.save();
      row.set('plan', 'pro');
      await row.save();
      expect(await expectStored(row.get('id'), 'slackToken', 'once')).toBe(first);
      await row.reload();
      await row.save();
      expect(await expectStored(row.get('id'), 'slackToken', 'once')).toBe(first);
    });

    it('instance.update', async () => {
      const row = await Integration.create({ name: name(), slackToken: 'a' });
      await row.update({ slackToken: 'b', webhookSecret: 'whsec' });
      await expectStored(row.get('id'), 'slackToken', 'b');
      await expectStored(row.get('id'), 'webhookSecret', 'whsec');
      expect(row.get('slackToken')).toBe('b');
      expect(row.get('webhookSecret')).toBe('whsec');
    });

    it('instance.set then save, and a field set back to null', async () => {
      const row = await Integration.create({ name: name(), slackToken: 'a', webhookSecret: 'w' });
      row.set({ slackToken: 'set-then-save', webhookSecret: null });
      await row.save();
      await expectStored(row.get('id'), 'slackToken', 'set-then-save');
      await expectStored(row.get('id'), 'webhookSecret', null);
    });

    it('Model.bulkCreate without individualHooks', async () => {
      const rows = await Integration.bulkCreate([
        { name: name(), slackToken: 'bulk-1', webhookSecret: '' },
        { name: name(), slackToken: null, webhookSecret: UNICODE },
      ]);
      const stored = await Integration.findAll({
        where: { name: rows.map((r) => r.get('name') as string) },
        order: [['id', 'ASC']],
      });
      await expectStored(stored[0]!.get('id'), 'slackToken', 'bulk-1');
      await expectStored(stored[0]!.get('id'), 'webhookSecret', '');
      await expectStored(stored[1]!.get('id'), 'slackToken', null);
      await expectStored(stored[1]!.get('id'), 'webhookSecret', UNICODE);
      expect(rows.map((r) => r.get('slackToken'))).toEqual(['bulk-1', null]);
      expect(rows[1]!.get('webhookSecret')).toBe(UNICODE);
    });

    it('Model.bulkCreate with individualHooks', async () => {
      const rows = await Integration.bulkCreate(
        [
          { name: name(), slackToken: 'ih-1' },
          { name: name(), slackToken: 'ih-2' },
        ],
        { individualHooks: true },
      );
      for (const [i, row] of rows.entries()) {
        await expectStored(row.get('id'), 'slackToken', `ih-${i + 1}`);
        expect(row.get('slackToken')).toBe(`ih-${i + 1}`);
      }
    });

    it('Model.bulkCreate with updateOnDuplicate', async () => {
      const existing = await Integration.create({
        name: name(),
        slackToken: 'old',
        webhookSecret: 'kept',
      });
      const fresh = name();
      const rows = await Integration.bulkCreate(
        [
          { name: existing.get('name'), slackToken: 'replaced', webhookSecret: 'ignored' },
          { name: fresh, slackToken: 'inserted' },
        ],
        { updateOnDuplicate: ['slackToken'] },
      );
      await expectStored(existing.get('id'), 'slackToken', 'replaced');
      await expectStored(existing.get('id'), 'webhookSecret', 'kept');
      const inserted = await Integration.findOne({ where: { name: fresh } });
      await expectStored(inserted!.get('id'), 'slackToken', 'inserted');
      expect(rows.map((r) => r.get('slackToken'))).toEqual(['replaced', 'inserted']);
    });

    it('static Model.update without individualHooks', async () => {
      const a = await Integration.create({ name: name(), slackToken: 'a', plan: 'bulk-update' });
      const b = await Integration.create({ name: name(), slackToken: 'b', plan: 'bulk-update' });
      const [count] = await Integration.update(
        { slackToken: 'updated', webhookSecret: '' },
        { where: { plan: 'bulk-update' } },
      );
      expect(count).toBe(2);
      for (const row of [a, b]) {
        await expectStored(row.get('id'), 'slackToken', 'updated');
        await expectStored(row.get('id'), 'webhookSecret', '');
      }
    });

    it('static Model.update with individualHooks', async () => {
      const a = await Integration.create({ name: name(), slackToken: 'a', plan: 'ih-update' });
      const b = await Integration.create({ name: name(), slackToken: 'b', plan: 'ih-update' });
      const seen: unknown[] = [];
      const result = await Integration.update(
        { slackToken: 'per-row' },
        {
          where: { plan: 'ih-update' },
          individualHooks: true,
          hooks: true,
        },
      );
      const [count, instances] = result as unknown as [number, Model[]];
      expect(count).toBe(2);
      for (const row of [a, b]) await expectStored(row.get('id'), 'slackToken', 'per-row');
      for (const instance of instances) seen.push(instance.get('slackToken'));
      expect(seen).toEqual(['per-row', 'per-row']);
    });

    it('Model.upsert, inserting then updating', async () => {
      const key = name();
      const [created] = await Integration.upsert({ name: key, slackToken: 'up-1' });
      const id =
        created.get('id') ?? (await Integration.findOne({ where: { name: key } }))!.get('id');
      await expectStored(id, 'slackToken', 'up-1');
      expect(created.get('slackToken')).toBe('up-1');
      const [updated] = await Integration.upsert({
        id,
        name: key,
        slackToken: 'up-2',
        webhookSecret: 'w',
      });
      await expectStored(id, 'slackToken', 'up-2');
      await expectStored(id, 'webhookSecret', 'w');
      expect(updated.get('slackToken')).toBe('up-2');
    });

    it('Model.findOrCreate', async () => {
      const key = name();
      const [row, created] = await Integration.findOrCreate({
        where: { name: key },
        defaults: { slackToken: 'foc' },
      });
      expect(created).toBe(true);
      await expectStored(row.get('id'), 'slackToken', 'foc');
      expect(row.get('slackToken')).toBe('foc');
      const [again, createdAgain] = await Integration.findOrCreate({
        where: { name: key },
        defaults: { slackToken: 'other' },
      });
      expect(createdAgain).toBe(false);
      expect(again.get('slackToken')).toBe('foc');
    });

    it('inside a transaction: commit stores ciphertext, rollback stores nothing', async () => {
      const committed = name();
      await sequelize.transaction(async (transaction) => {
        const row = await Integration.create(
          { name: committed, slackToken: 'in-tx' },
          { transaction },
        );
        await Integration.update(
          { webhookSecret: 'tx-bulk' },
          { where: { id: row.get('id') as number }, transaction },
        );
        const inside = await Integration.findByPk(row.get('id') as number, { transaction });
        expect(inside!.get('webhookSecret')).toBe('tx-bulk');
      });
      const row = await Integration.findOne({ where: { name: committed } });
      await expectStored(row!.get('id'), 'slackToken', 'in-tx');
      await expectStored(row!.get('id'), 'webhookSecret', 'tx-bulk');

      const rolledBack = name();
      let id: unknown;
      await expect(
        sequelize.transaction(async (transaction) => {
          const r = await Integration.create(
            { name: rolledBack, slackToken: 'gone' },
            { transaction },
          );
          id = r.get('id');
          await Integration.update(
            { slackToken: 'changed-in-tx' },
            { where: { id: row!.get('id') as number }, transaction },
          );
          throw new Error('roll back');
        }),
      ).rejects.toThrow('roll back');
      expect(await rawRow(sequelize, table, id)).toBeUndefined();
      await expectStored(row!.get('id'), 'slackToken', 'in-tx');
    });

    it('hooks: false still stores ciphertext', async () => {
      const row = await Integration.create(
        { name: name(), slackToken: 'no-hooks' },
        { hooks: false },
      );
      await expectStored(row.get('id'), 'slackToken', 'no-hooks');
      await Integration.update(
        { slackToken: 'no-hooks-2' },
        { where: { id: row.get('id') as number }, hooks: false },
      );
      await expectStored(row.get('id'), 'slackToken', 'no-hooks-2');
      const key = name();
      await Integration.bulkCreate([{ name: key, slackToken: 'bulk-no-hooks' }], { hooks: false });
      const found = await Integration.findOne({ where: { name: key } });
      await expectStored(found!.get('id'), 'slackToken', 'bulk-no-hooks');
    });

    it('a value set by a hook added after encryptFields is encrypted too', async () => {
      const hook = (instance: Model) => {
        if (instance.get('plan') === 'hooked') instance.set('webhookSecret', 'set-by-hook');
      };
      Integration.addHook('beforeSave', 'test-hook', hook);
      try {
        const row = await Integration.create({ name: name(), slackToken: 'x', plan: 'hooked' });
        await expectStored(row.get('id'), 'webhookSecret', 'set-by-hook');
        expect(row.get('webhookSecret')).toBe('set-by-hook');
      } finally {
        Integration.removeHook('beforeSave', 'test-hook');
      }
    });

    it("a token of the field is written as it is; another field's token is refused", async () => {
      const token = await envelope.encrypt('made by app', ctx('slackToken'));
      const row = await Integration.create({ name: name(), slackToken: token });
      expect(await expectStored(row.get('id'), 'slackToken', 'made by app')).toBe(token);
      expect(row.get('slackToken')).toBe('made by app');
      const copy = await Integration.create({ name: name(), slackToken: 'original' });
      const stored = await expectStored(copy.get('id'), 'slackToken', 'original');
      await copy.update({ slackToken: stored });
      expect(await expectStored(copy.get('id'), 'slackToken', 'original')).toBe(stored);

      const foreign = await envelope.encrypt('of webhookSecret', ctx('webhookSecret'));
      const before = (await Integration.count()) as number;
      const attempt = Integration.create({ name: name(), slackToken: foreign });
      await expect(attempt).rejects.toSatisfy(
        (e: unknown) =>
          CmekInvalidInputError.isInstance(e) && !(e as Error).message.includes(foreign),
      );
      await expect(
        Integration.update({ slackToken: foreign }, { where: { id: copy.get('id') as number } }),
      ).rejects.toSatisfy(CmekInvalidInputError.isInstance.bind(CmekInvalidInputError));
      await expect(
        Integration.create({ name: name(), slackToken: 'cmek:v2:future' }),
      ).rejects.toSatisfy(CmekInvalidInputError.isInstance.bind(CmekInvalidInputError));
      expect(await Integration.count()).toBe(before);
      expect(await expectStored(copy.get('id'), 'slackToken', 'original')).toBe(stored);
    });

    it('non-string values are refused', async () => {
      await expect(
        Integration.create({ name: name(), slackToken: 42 }, { validate: false }),
      ).rejects.toSatisfy(CmekInvalidInputError.isInstance.bind(CmekInvalidInputError));
      await expect(
        Integration.update(
          { slackToken: sequelize.fn('upper', sequelize.col('name')) },
          { where: { id: 1 } },
        ),
      ).rejects.toMatchObject({ code: 'CMEK_QUERY' });
    });

    describe('reads', () => {
      let ids: number[] = [];
      const plan = 'reads';
      beforeAll(async () => {
        const rows = await Integration.bulkCreate([
          { name: name(), slackToken: 'r-1', webhookSecret: UNICODE, plan },
          { name: name(), slackToken: 'r-2', webhookSecret: null, plan },
          { name: name(), slackToken: '', webhookSecret: 'w-3', plan },
        ]);
        ids = (
          await Integration.findAll({ where: { plan }, order: [['id', 'ASC']], attributes: ['id'] })
        ).map((r) => r.get('id') as number);
        expect(ids).toHaveLength(rows.length);
      });

      it('findAll, findOne, findByPk, findAndCountAll', async () => {
        const all = await Integration.findAll({ where: { plan }, order: [['id', 'ASC']] });
        expect(all.map((r) => r.get('slackToken'))).toEqual(['r-1', 'r-2', '']);
        expect(all.map((r) => r.get('webhookSecret'))).toEqual([UNICODE, null, 'w-3']);
        expect(all.every((r) => r.changed() === false)).toBe(true);
        expect((await Integration.findOne({ where: { id: ids[0] } }))!.get('slackToken')).toBe(
          'r-1',
        );
        expect((await Integration.findByPk(ids[1]))!.get('slackToken')).toBe('r-2');
        const { count, rows } = await Integration.findAndCountAll({
          where: { plan },
          order: [['id', 'ASC']],
        });
        expect(count).toBe(3);
        expect(rows.map((r) => r.get('webhookSecret'))).toEqual([UNICODE, null, 'w-3']);
      });

      it('raw: true, attributes subsets and aliases', async () => {
        const raw = await Integration.findAll({
          where: { plan },
          order: [['id', 'ASC']],
          raw: true,
        });
        expect(raw.map((r) => (r as unknown as Record<string, unknown>).slackToken)).toEqual([
          'r-1',
          'r-2',
          '',
        ]);
        const subset = await Integration.findAll({
          where: { plan },
          order: [['id', 'ASC']],
          attributes: ['id', 'webhookSecret'],
        });
        expect(subset.map((r) => r.get('webhookSecret'))).toEqual([UNICODE, null, 'w-3']);
        expect(subset[0]!.get('slackToken')).toBeUndefined();
        const aliased = await Integration.findAll({
          where: { plan },
          order: [['id', 'ASC']],
          attributes: [['slack_token', 'token'], 'id'],
          raw: true,
        });
        expect(aliased.map((r) => (r as unknown as Record<string, unknown>).token)).toEqual([
          'r-1',
          'r-2',
          '',
        ]);
      });

      it('finders with hooks: false return plaintext', async () => {
        const noHooks = { hooks: false } as object;
        const all = await Integration.findAll({
          where: { plan },
          order: [['id', 'ASC']],
          ...noHooks,
        });
        expect(all.map((r) => r.get('slackToken'))).toEqual(['r-1', 'r-2', '']);
        expect(all.map((r) => r.get('webhookSecret'))).toEqual([UNICODE, null, 'w-3']);
        expect(all.every((r) => r.changed() === false)).toBe(true);
        const raw = (await Integration.findAll({
          where: { plan },
          order: [['id', 'ASC']],
          raw: true,
          ...noHooks,
        })) as unknown as Record<string, unknown>[];
        expect(raw.map((r) => r.slackToken)).toEqual(['r-1', 'r-2', '']);
        expect(
          (await Integration.findOne({ where: { id: ids[0] }, ...noHooks }))!.get('slackToken'),
        ).toBe('r-1');
        const byPk = (await Integration.findByPk(ids[2], noHooks))!;
        expect(byPk.get('webhookSecret')).toBe('w-3');
        const { rows } = await Integration.findAndCountAll({
          where: { plan },
          order: [['id', 'ASC']],
          ...noHooks,
        });
        expect(rows.map((r) => r.get('slackToken'))).toEqual(['r-1', 'r-2', '']);
        await rawUpdate(
          sequelize,
          table,
          ids[2],
          'webhookSecret',
          await envelope.encrypt('w-3 again', ctx('webhookSecret')),
        );
        await byPk.reload(noHooks);
        expect(byPk.get('webhookSecret')).toBe('w-3 again');
        await byPk.update({ webhookSecret: 'w-3' });
        // the stored values stay tokens: the finders decrypt what they read, nothing more
        await expectStored(ids[2], 'webhookSecret', 'w-3');
      });

      it('an afterFind hook sees plaintext, even one added before encryptFields', async () => {
        const hookedTable = uniqueTable('hooked');
        const Hooked = sequelize.define(
          'Hooked',
          { secret: DataTypes.TEXT },
          { tableName: hookedTable, timestamps: false },
        );
        const seen: unknown[] = [];
        Hooked.addHook('afterFind', (result: unknown) => {
          for (const row of Array.isArray(result) ? result : [result])
            seen.push((row as Model | null)?.get('secret'));
        });
        await encryptFields(Hooked, { envelope, fields: ['secret'] });
        await Hooked.sync({ force: true });
        try {
          const row = await Hooked.create({ secret: 'for the hook' });
          const stored = (await rawRow(sequelize, hookedTable, row.get('id')))!.secret as string;
          expect(stored).toMatch(TOKEN);
          expect(await envelope.decrypt(stored, { context: { field: 'Hooked.secret' } })).toBe(
            'for the hook',
          );
          await Hooked.findAll();
          await Hooked.findByPk(row.get('id') as number);
          expect(seen).toEqual(['for the hook', 'for the hook']);
        } finally {
          await Hooked.drop().catch(() => undefined);
        }
      });

      it('reload gives plaintext and a clean changed()', async () => {
        const row = (await Integration.findByPk(ids[0]))!;
        await rawUpdate(
          sequelize,
          table,
          ids[0],
          'slack_token',
          await envelope.encrypt('changed elsewhere', ctx('slackToken')),
        );
        await row.reload();
        expect(row.get('slackToken')).toBe('changed elsewhere');
        expect(row.changed()).toBe(false);
        expect(row.previous('slackToken')).toBe('changed elsewhere');
        await row.update({ slackToken: 'r-1' });
      });

      it('a token of another field in the column fails with CmekDecryptionError', async () => {
        const other = (await rawRow(sequelize, table, ids[0]))!.webhookSecret as string;
        const mine = (await rawRow(sequelize, table, ids[0]))!.slack_token as string;
        await rawUpdate(sequelize, table, ids[0], 'slack_token', other);
        try {
          await expect(Integration.findByPk(ids[0])).rejects.toSatisfy(
            CmekDecryptionError.isInstance.bind(CmekDecryptionError),
          );
        } finally {
          await rawUpdate(sequelize, table, ids[0], 'slack_token', mine);
        }
      });
    });
  });
}
