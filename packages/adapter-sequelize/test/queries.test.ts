/** Includes, the where guard, the column length check and the batched KEK calls. */
import { CmekConfigError, CmekQueryError } from '@cmek/core';
import {
  DataTypes,
  type Model,
  type ModelStatic,
  Op,
  type Sequelize,
  type WhereOptions,
} from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encryptFields } from '../src/index';
import { connect, DATABASES, envelopeFor, newKek, rawRows, uniqueTable } from './support';

const isQueryError = (field: string) => (e: unknown) =>
  CmekQueryError.isInstance(e) &&
  (e as CmekQueryError).field === field &&
  !(e as Error).message.includes('needle');

for (const db of DATABASES) {
  describe.skipIf(!db.url)(`queries (${db.dialect})`, () => {
    let sequelize: Sequelize;
    let User: ModelStatic<Model>;
    let Account: ModelStatic<Model>;
    let Integration: ModelStatic<Model>;
    const tables = {
      users: uniqueTable('users'),
      accounts: uniqueTable('accounts'),
      integrations: uniqueTable('integrations'),
    };

    beforeAll(async () => {
      sequelize = connect(db);
      const { envelope } = envelopeFor(newKek());
      User = sequelize.define('User', { name: DataTypes.STRING }, { tableName: tables.users });
      Account = sequelize.define(
        'Account',
        { apiKey: DataTypes.TEXT },
        { tableName: tables.accounts },
      );
      Integration = sequelize.define(
        'Integration',
        { name: DataTypes.STRING, secret: DataTypes.TEXT },
        { tableName: tables.integrations },
      );
      User.hasMany(Integration, { as: 'integrations', foreignKey: 'userId' });
      Integration.belongsTo(Account, { as: 'account', foreignKey: 'accountId' });
      await encryptFields(Integration, { envelope, fields: ['secret'] });
      await encryptFields(Account, { envelope, fields: { apiKey: { label: 'accounts.api_key' } } });
      await User.sync({ force: true });
      await Account.sync({ force: true });
      await Integration.sync({ force: true });
      const user = await User.create({ name: 'ada' });
      const account = await Account.create({ apiKey: 'ak-1' });
      await Integration.bulkCreate([
        { name: 'one', secret: 's-1', userId: user.get('id'), accountId: account.get('id') },
        { name: 'two', secret: 's-2', userId: user.get('id'), accountId: account.get('id') },
      ]);
    }, 60_000);

    afterAll(async () => {
      for (const M of [Integration, Account, User]) await M?.drop().catch(() => undefined);
      await sequelize?.close();
    });

    it('the stored values are tokens (read around the ORM)', async () => {
      const rows = await rawRows(sequelize, tables.integrations);
      expect(rows.map((r) => String(r.secret).slice(0, 8))).toEqual(['cmek:v1:', 'cmek:v1:']);
      const accounts = await rawRows(sequelize, tables.accounts);
      expect(String(accounts[0]!.apiKey)).toMatch(/^cmek:v1:/);
    });

    it('include of an encrypted model under a plain one decrypts it', async () => {
      const users = await User.findAll({
        include: [
          { model: Integration, as: 'integrations', include: [{ model: Account, as: 'account' }] },
        ],
        order: [[{ model: Integration, as: 'integrations' }, 'id', 'ASC']],
      });
      const integrations = users[0]!.get('integrations') as Model[];
      expect(integrations.map((i) => i.get('secret'))).toEqual(['s-1', 's-2']);
      expect((integrations[0]!.get('account') as Model).get('apiKey')).toBe('ak-1');
      expect(integrations[0]!.changed()).toBe(false);
    });

    it('include of an encrypted model under an encrypted one, and raw includes', async () => {
      const rows = await Integration.findAll({
        include: [{ model: Account, as: 'account' }],
        order: [['id', 'ASC']],
      });
      expect(rows.map((r) => r.get('secret'))).toEqual(['s-1', 's-2']);
      expect(rows.map((r) => (r.get('account') as Model).get('apiKey'))).toEqual(['ak-1', 'ak-1']);
      const raw = (await Integration.findAll({
        include: [{ model: Account, as: 'account' }],
        order: [['id', 'ASC']],
        raw: true,
      })) as unknown as Record<string, unknown>[];
      expect(raw.map((r) => [r.secret, r['account.apiKey']])).toEqual([
        ['s-1', 'ak-1'],
        ['s-2', 'ak-1'],
      ]);
      const nested = (await Integration.findAll({
        include: [{ model: Account, as: 'account' }],
        order: [['id', 'ASC']],
        raw: true,
        nest: true,
      })) as unknown as { account: { apiKey: string } }[];
      expect(nested[0]!.account.apiKey).toBe('ak-1');
      const plainRaw = (await User.findAll({
        include: [{ model: Integration, as: 'integrations' }],
        raw: true,
        order: [[{ model: Integration, as: 'integrations' }, 'id', 'ASC']],
      })) as unknown as Record<string, unknown>[];
      expect(plainRaw.map((r) => r['integrations.secret'])).toEqual(['s-1', 's-2']);
    });

    it('a where on an encrypted field throws CmekQueryError, any operator, any nesting', async () => {
      const wheres: WhereOptions[] = [
        { secret: 'needle' },
        { secret: { [Op.like]: 'needle%' } },
        { secret: { [Op.in]: ['needle'] } },
        { secret: null },
        { [Op.or]: [{ name: 'one' }, { secret: 'needle' }] },
        { [Op.and]: [{ name: 'one' }, { [Op.or]: { secret: 'needle', name: 'x' } }] },
        { [Op.not]: { secret: 'needle' } },
        { name: 'one', $secret$: 'needle' },
        sequelize.where(sequelize.col('secret'), 'needle'),
        sequelize.where(sequelize.fn('lower', sequelize.col('Integration.secret')), 'needle'),
        { name: { [Op.eq]: sequelize.col('secret') } },
      ];
      for (const where of wheres) {
        await expect(Integration.findAll({ where }), JSON.stringify(where)).rejects.toSatisfy(
          isQueryError('Integration.secret'),
        );
      }
      await expect(Integration.findOne({ where: { secret: 'needle' } })).rejects.toSatisfy(
        isQueryError('Integration.secret'),
      );
      await expect(Integration.count({ where: { secret: 'needle' } })).rejects.toSatisfy(
        isQueryError('Integration.secret'),
      );
      await expect(Integration.findAndCountAll({ where: { secret: 'needle' } })).rejects.toSatisfy(
        isQueryError('Integration.secret'),
      );
      await expect(
        Integration.update({ name: 'x' }, { where: { secret: 'needle' } }),
      ).rejects.toSatisfy(isQueryError('Integration.secret'));
      await expect(Integration.destroy({ where: { secret: 'needle' } })).rejects.toSatisfy(
        isQueryError('Integration.secret'),
      );
      await expect(
        Integration.findAll({ where: { secret: 'needle' }, hooks: false } as object),
      ).rejects.toSatisfy(isQueryError('Integration.secret'));
      await expect(Integration.findAll({ order: [['secret', 'ASC']] })).rejects.toSatisfy(
        isQueryError('Integration.secret'),
      );
      await expect(
        Integration.increment({ secret: 1 } as object, { where: { name: 'one' } }),
      ).rejects.toSatisfy(isQueryError('Integration.secret'));
      // through an include, under a plain model and under an encrypted one
      await expect(
        User.findAll({
          include: [{ model: Integration, as: 'integrations', where: { secret: 'needle' } }],
        }),
      ).rejects.toSatisfy(isQueryError('Integration.secret'));
      await expect(
        User.findAll({
          where: { '$integrations.secret$': 'needle' },
          include: [{ model: Integration, as: 'integrations' }],
        }),
      ).rejects.toSatisfy(isQueryError('Integration.secret'));
      await expect(
        Integration.findAll({
          include: [{ model: Account, as: 'account', where: { apiKey: 'needle' } }],
        }),
      ).rejects.toSatisfy(isQueryError('Account.apiKey'));
      await expect(
        Integration.findAll({
          where: { '$account.apiKey$': 'needle' },
          include: [{ model: Account, as: 'account' }],
        }),
      ).rejects.toSatisfy(isQueryError('Account.apiKey'));
      // a where on other columns still works
      expect(
        (await Integration.findAll({ where: { [Op.or]: [{ name: 'one' }, { name: 'two' }] } }))
          .length,
      ).toBe(2);
    });

    it('Model.max, min, sum, aggregate and fn() of an encrypted field throw CmekQueryError', async () => {
      const { fn, col } = sequelize;
      const calls: [string, () => Promise<unknown>, string][] = [
        ['max', () => Integration.max('secret'), 'Integration.secret'],
        ['min', () => Integration.min('secret'), 'Integration.secret'],
        ['sum', () => Integration.sum('secret'), 'Integration.secret'],
        ['aggregate', () => Integration.aggregate('secret', 'max'), 'Integration.secret'],
        [
          'aggregate DISTINCT',
          () => Integration.aggregate('secret', 'DISTINCT', { plain: false }),
          'Integration.secret',
        ],
        [
          'count distinct',
          () => Integration.count({ col: 'secret', distinct: true }),
          'Integration.secret',
        ],
        [
          'fn in attributes',
          () => Integration.findAll({ attributes: ['id', [fn('lower', col('secret')), 'l']] }),
          'Integration.secret',
        ],
        [
          'fn in attributes.include, hooks: false',
          () =>
            Integration.findAll({
              attributes: { include: [[fn('length', col('Integration.secret')), 'n']] },
              hooks: false,
            } as object),
          'Integration.secret',
        ],
        [
          'fn in an include',
          () =>
            User.findAll({
              include: [
                {
                  model: Integration,
                  as: 'integrations',
                  attributes: ['id', [fn('upper', col('integrations.secret')), 'u']],
                },
              ],
            }),
          'Integration.secret',
        ],
        [
          'fn over an included column',
          () =>
            Integration.findAll({
              attributes: ['id', [fn('max', col('account.apiKey')), 'm']],
              include: [{ model: Account, as: 'account', attributes: [] }],
              group: ['Integration.id'],
            }),
          'Account.apiKey',
        ],
        ['group', () => Integration.count({ group: ['secret'] }), 'Integration.secret'],
        [
          'queryInterface.rawSelect',
          () =>
            sequelize
              .getQueryInterface()
              .rawSelect(
                tables.integrations,
                { attributes: [[fn('max', col('secret')), 'm']] } as object,
                'm',
              ),
          'Integration.secret',
        ],
      ];
      for (const [what, call, field] of calls) {
        await expect(call(), what).rejects.toSatisfy(
          (e: unknown) => isQueryError(field)(e) && !(e as Error).message.includes('cmek:v1:'),
        );
      }
      // what works on ciphertext still runs: counting rows and non-null values, aggregates of
      // other columns, and selecting the column itself (decrypted, under an alias too)
      expect(await Integration.count()).toBe(2);
      expect(await Integration.count({ col: 'secret' })).toBe(2);
      expect(await Integration.max('name')).toBe('two');
      const aliased = await Integration.findAll({
        attributes: ['id', [col('secret'), 'copy']],
        order: [['id', 'ASC']],
        raw: true,
      });
      expect(aliased.map((r) => (r as unknown as { copy: string }).copy)).toEqual(['s-1', 's-2']);
    });
  });
}

describe('the column length check', () => {
  let sequelize: Sequelize;
  beforeAll(() => {
    sequelize = connect(DATABASES[0]!);
  });
  afterAll(async () => sequelize.close());

  it('reports a STRING(255) column too short for the ciphertext, with the length it needs', async () => {
    const { envelope } = envelopeFor(newKek());
    const Short = sequelize.define('ShortIntegration', {
      slackToken: DataTypes.STRING(255),
      ok: DataTypes.TEXT,
    });
    // the token of a 255-byte value, measured independently of the check
    const needed = (await envelope.encrypt('x'.repeat(255))).length;
    expect(needed).toBeGreaterThan(255);
    const error = await encryptFields(Short, { envelope, fields: ['slackToken', 'ok'] }).catch(
      (e: unknown) => e,
    );
    expect(CmekConfigError.isInstance(error)).toBe(true);
    expect((error as Error).message).toContain(
      `ShortIntegration.slackToken is STRING(255); a 255-byte value needs ${needed} characters`,
    );
    expect((error as Error).message).not.toContain('ShortIntegration.ok');
  });

  it('accepts a wide enough STRING, a smaller maxPlaintextBytes, and TEXT; refuses non-string types', async () => {
    const { envelope } = envelopeFor(newKek());
    const needed = (await envelope.encrypt('x'.repeat(40))).length;
    const Wide = sequelize.define('Wide', {
      a: DataTypes.STRING(needed),
      b: DataTypes.STRING(needed - 1),
    });
    await expect(
      encryptFields(Wide, {
        envelope,
        fields: { a: {}, b: { maxPlaintextBytes: 30 } },
        maxPlaintextBytes: 40,
      }),
    ).resolves.toBeDefined();
    const Tight = sequelize.define('Tight', { b: DataTypes.STRING(needed - 1) });
    await expect(
      encryptFields(Tight, { envelope, fields: ['b'], maxPlaintextBytes: 40 }),
    ).rejects.toThrow(`needs ${needed} characters`);
    const Numbers = sequelize.define('Numbers', { n: DataTypes.INTEGER });
    await expect(encryptFields(Numbers, { envelope, fields: ['n'] })).rejects.toSatisfy(
      CmekConfigError.isInstance.bind(CmekConfigError),
    );
    const Missing = sequelize.define('Missing', { n: DataTypes.TEXT });
    await expect(encryptFields(Missing, { envelope, fields: ['nope'] })).rejects.toThrow(
      'Missing.nope is not an attribute',
    );
  });

  it('knows that a MariaDB TEXT holds 65,535 bytes', async () => {
    const { envelope } = envelopeFor(newKek());
    const maria = new (sequelize.constructor as typeof Sequelize)('mysql://u:p@127.0.0.1:1/x', {
      logging: false,
    });
    try {
      const Text = maria.define('Text', { a: DataTypes.TEXT, b: DataTypes.TEXT('long') });
      await expect(
        encryptFields(Text, { envelope, fields: ['a', 'b'], maxPlaintextBytes: 64 * 1024 }),
      ).rejects.toThrow(/Text\.a is TEXT; a 65536-byte value needs \d+ characters/);
    } finally {
      await maria.close();
    }
  });
});

describe.skipIf(!DATABASES[1]!.url && !DATABASES[0]!.url)('KEK calls', () => {
  it('a findAll of 10,000 rows sharing a DEK makes one KEK call', async () => {
    const sequelize = connect(DATABASES[1]!.url ? DATABASES[1]! : DATABASES[0]!);
    const table = uniqueTable('many');
    const kek = newKek();
    try {
      // written through one envelope (one DEK for all rows), read through a fresh one
      const writer = envelopeFor(kek, { maxUses: 100_000 });
      const reader = envelopeFor(kek);
      const define = () =>
        sequelize.define(
          'Many',
          { secret: DataTypes.TEXT },
          { tableName: table, timestamps: false },
        );
      const Writer = define();
      await encryptFields(Writer, { envelope: writer.envelope, fields: ['secret'] });
      await Writer.sync({ force: true });
      const rows = Array.from({ length: 10_000 }, (_, i) => ({ secret: `secret-${i}` }));
      for (let i = 0; i < rows.length; i += 2_000)
        await Writer.bulkCreate(rows.slice(i, i + 2_000));
      expect(writer.counts.generate).toBe(1);
      const stored = await rawRows(sequelize, table);
      expect(stored).toHaveLength(10_000);
      const dekIds = new Set(stored.map((r) => writer.envelope.inspect(String(r.secret)).dekId));
      expect(dekIds.size).toBe(1);

      sequelize.modelManager.removeModel(Writer);
      const Reader = define();
      await encryptFields(Reader, {
        envelope: reader.envelope,
        fields: ['secret'],
        maxPlaintextBytes: 0,
      });
      const before = reader.counts.unwrap;
      const all = await Reader.findAll({ order: [['id', 'ASC']] });
      expect(all).toHaveLength(10_000);
      expect(all[9_999]!.get('secret')).toBe('secret-9999');
      expect(reader.counts.unwrap - before).toBe(1);
    } finally {
      await sequelize
        .getQueryInterface()
        .dropTable(table)
        .catch(() => undefined);
      await sequelize.close();
    }
  }, 120_000);
});
