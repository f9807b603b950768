/**
 * Writes that reach an encrypted model's table without the model: `sequelize.getQueryInterface()`
 * called directly (seeders, data migrations) and another model over the same table. Each write
 * is checked by reading the row with a plain SQL query, on SQLite, PostgreSQL and MariaDB.
 */
import { CmekConfigError, CmekInvalidInputError, CmekQueryError, type Envelope } from '@cmek/core';
import {
  DataTypes,
  type Model,
  type ModelStatic,
  Op,
  QueryTypes,
  type Sequelize,
  type WhereOptions,
} from 'sequelize';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { encryptFields } from '../src/index';
import {
  connect,
  DATABASES,
  envelopeFor,
  newKek,
  rawRows,
  TOKEN,
  UNICODE,
  uniqueTable,
} from './support';

for (const db of DATABASES) {
  describe.skipIf(!db.url)(`the shared query interface (${db.dialect})`, () => {
    let sequelize: Sequelize;
    let envelope: Envelope;
    let Integration: ModelStatic<Model>;
    const table = uniqueTable('seeded');
    const ctx = (field: string) => ({ context: { field: `Integration.${field}` } });
    const qi = () => sequelize.getQueryInterface();

    let n = 0;
    const name = () => `s-${++n}`;

    /** The stored row of `rowName`, read around the ORM. */
    async function stored(rowName: string): Promise<Record<string, unknown> | undefined> {
      return (await rawRows(sequelize, table)).find((row) => row.name === rowName);
    }

    /** The stored value is a token that decrypts under the field's context, and reads back through the model. */
    async function expectEncrypted(rowName: string, field: string, plain: string): Promise<string> {
      const row = await stored(rowName);
      expect(row, `row ${rowName}`).toBeDefined();
      const value = row![field === 'slackToken' ? 'slack_token' : field] as string;
      expect(value).toMatch(TOKEN);
      if (plain.length > 3) expect(value).not.toContain(plain);
      expect(await envelope.decrypt(value, ctx(field))).toBe(plain);
      const read = await Integration.findOne({ where: { name: rowName } });
      expect(read!.get(field)).toBe(plain);
      return value;
    }

    /** Refused with `code`, the message naming the table and column and holding no value. */
    const refused =
      (code: string, column: string, secret: string) =>
      (e: unknown): boolean =>
        (e as { code?: unknown }).code === code &&
        (e as Error).message.includes(`${table}.${column}`) &&
        !(e as Error).message.includes(secret);

    beforeAll(async () => {
      sequelize = connect(db);
      ({ envelope } = envelopeFor(newKek()));
      Integration = sequelize.define(
        'Integration',
        {
          id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
          name: { type: DataTypes.STRING(100), allowNull: false, unique: true },
          slackToken: { type: DataTypes.TEXT, field: 'slack_token' },
          webhookSecret: DataTypes.TEXT,
          plan: DataTypes.STRING(20),
          logins: { type: DataTypes.INTEGER, defaultValue: 0 },
        },
        { tableName: table, timestamps: false },
      );
      await encryptFields(Integration, { envelope, fields: ['slackToken', 'webhookSecret'] });
      await Integration.sync({ force: true });
    }, 60_000);

    afterAll(async () => {
      await Integration?.drop().catch(() => undefined);
      await sequelize?.close();
    });

    it('queryInterface.bulkInsert stores tokens, by column name, under the fields’ contexts', async () => {
      const [a, b, c] = [name(), name(), name()];
      await qi().bulkInsert(table, [
        { name: a, slack_token: 'seeded-1', webhookSecret: '' },
        { name: b, slack_token: null, webhookSecret: UNICODE },
      ]);
      await expectEncrypted(a, 'slackToken', 'seeded-1');
      await expectEncrypted(a, 'webhookSecret', '');
      expect((await stored(b))!.slack_token).toBeNull();
      await expectEncrypted(b, 'webhookSecret', UNICODE);
      // the table named as Sequelize names it, as an object, in a transaction
      await sequelize.transaction(async (transaction) => {
        await qi().bulkInsert({ tableName: table }, [{ name: c, slack_token: 'in-tx' }], {
          transaction,
        });
      });
      await expectEncrypted(c, 'slackToken', 'in-tx');
      // and read back through it: decrypted by column
      const rows = (await qi().select(null, table, { where: { name: [a, b] } })) as Record<
        string,
        unknown
      >[];
      rows.sort((x, y) => Number(x.id) - Number(y.id));
      expect(rows.map((r) => [r.name, r.slack_token, r.webhookSecret])).toEqual([
        [a, 'seeded-1', ''],
        [b, null, UNICODE],
      ]);
    });

    it('a column named in another letter case is encrypted, and a where on it refused', async () => {
      const [a, b] = [name(), name()];
      const before = await rawRows(sequelize, table);
      const writes = async () => {
        await qi().bulkInsert(table, [
          { name: a, SLACK_TOKEN: 'upper-1', WebhookSecret: 'mixed-1' },
        ]);
        await qi().insert(null, table, { name: b, Slack_Token: 'mixed-2' }, {});
      };
      if (db.dialect === 'postgres') {
        // Sequelize quotes identifiers there: another spelling is another column, which does
        // not exist, so the database refuses the write and nothing is stored
        await expect(writes()).rejects.toThrow();
        expect(await rawRows(sequelize, table)).toEqual(before);
      } else {
        // SQLite and MariaDB resolve column names in any letter case
        await writes();
        await expectEncrypted(a, 'slackToken', 'upper-1');
        await expectEncrypted(a, 'webhookSecret', 'mixed-1');
        await expectEncrypted(b, 'slackToken', 'mixed-2');
      }
      const stored = await rawRows(sequelize, table);
      await expect(
        qi().bulkUpdate(table, { plan: 'changed' }, { SLACK_TOKEN: 'needle-value' }),
      ).rejects.toSatisfy(refused('CMEK_QUERY', 'slack_token', 'needle'));
      expect(await rawRows(sequelize, table)).toEqual(stored);
    });

    it('queryInterface.insert stores a token', async () => {
      const key = name();
      await qi().insert(
        null,
        table,
        { name: key, slack_token: 'inserted', webhookSecret: 'w' },
        {},
      );
      await expectEncrypted(key, 'slackToken', 'inserted');
      await expectEncrypted(key, 'webhookSecret', 'w');
    });

    it('queryInterface.bulkUpdate encrypts the values; a where on an encrypted column is refused and writes nothing', async () => {
      const [a, b] = [name(), name()];
      await Integration.bulkCreate([
        { name: a, slackToken: 'before', plan: 'bulk-qi' },
        { name: b, slackToken: 'before', plan: 'bulk-qi' },
      ]);
      await qi().bulkUpdate(
        table,
        { slack_token: 'after', webhookSecret: 'w2' },
        { plan: 'bulk-qi' },
      );
      for (const key of [a, b]) {
        await expectEncrypted(key, 'slackToken', 'after');
        await expectEncrypted(key, 'webhookSecret', 'w2');
      }
      const before = await rawRows(sequelize, table);
      const wheres: [WhereOptions, string][] = [
        [{ slack_token: 'needle-value' }, 'slack_token'],
        [
          { [Op.or]: [{ plan: 'bulk-qi' }, { webhookSecret: { [Op.like]: 'needle-value%' } }] },
          'webhookSecret',
        ],
      ];
      for (const [where, column] of wheres) {
        await expect(qi().bulkUpdate(table, { plan: 'changed' }, where), column).rejects.toSatisfy(
          (e: unknown) =>
            CmekQueryError.isInstance(e) && refused('CMEK_QUERY', column, 'needle')(e),
        );
      }
      await expect(qi().bulkDelete(table, { slack_token: 'needle-value' })).rejects.toSatisfy(
        refused('CMEK_QUERY', 'slack_token', 'needle'),
      );
      expect(await rawRows(sequelize, table)).toEqual(before);
    });

    it('queryInterface.upsert stores tokens, inserting then updating', async () => {
      const key = name();
      const options = { model: Integration, conflictFields: ['name'] };
      await qi().upsert(
        table,
        { name: key, slack_token: 'up-1' },
        { slack_token: 'up-1' },
        { name: key },
        options,
      );
      const first = await expectEncrypted(key, 'slackToken', 'up-1');
      await qi().upsert(
        table,
        { name: key, slack_token: 'up-2', webhookSecret: 'w' },
        { slack_token: 'up-2', webhookSecret: 'w' },
        { name: key },
        options,
      );
      expect(await expectEncrypted(key, 'slackToken', 'up-2')).not.toBe(first);
      await expectEncrypted(key, 'webhookSecret', 'w');
      expect((await rawRows(sequelize, table)).filter((r) => r.name === key)).toHaveLength(1);
    });

    it('another model over the same table: its writes are encrypted by column, its reads decrypted', async () => {
      const Legacy = sequelize.define(
        'LegacyIntegration',
        {
          id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
          name: { type: DataTypes.STRING(100), allowNull: false },
          token: { type: DataTypes.TEXT, field: 'slack_token' },
          webhookSecret: DataTypes.TEXT,
          plan: DataTypes.STRING(20),
          logins: DataTypes.INTEGER,
        },
        { tableName: table, timestamps: false },
      );
      try {
        const [a, b, c] = [name(), name(), name()];
        const row = await Legacy.create({ name: a, token: 'legacy-create', webhookSecret: 'lw' });
        await expectEncrypted(a, 'slackToken', 'legacy-create');
        await expectEncrypted(a, 'webhookSecret', 'lw');
        expect(row.get('token')).toBe('legacy-create');
        await row.update({ token: 'legacy-save' });
        await expectEncrypted(a, 'slackToken', 'legacy-save');
        await Legacy.bulkCreate([
          { name: b, token: 'legacy-bulk' },
          { name: c, webhookSecret: 'legacy-bulk-w' },
        ]);
        await expectEncrypted(b, 'slackToken', 'legacy-bulk');
        await expectEncrypted(c, 'webhookSecret', 'legacy-bulk-w');
        await Legacy.update({ token: 'legacy-static' }, { where: { name: c } });
        await expectEncrypted(c, 'slackToken', 'legacy-static');
        const read = await Legacy.findAll({ where: { name: [a, b, c] }, order: [['id', 'ASC']] });
        expect(read.map((r) => r.get('token'))).toEqual([
          'legacy-save',
          'legacy-bulk',
          'legacy-static',
        ]);
        expect(read.every((r) => r.changed() === false)).toBe(true);
        const raw = (await Legacy.findAll({
          where: { name: a },
          raw: true,
        })) as unknown as Record<string, unknown>[];
        expect([raw[0]!.token, raw[0]!.webhookSecret]).toEqual(['legacy-save', 'lw']);
        await expect(
          Legacy.update({ plan: 'x' }, { where: { token: 'needle' } }),
        ).rejects.toSatisfy(refused('CMEK_QUERY', 'slack_token', 'needle'));
        await expect(Legacy.max('token')).rejects.toSatisfy(
          refused('CMEK_QUERY', 'slack_token', 'needle'),
        );
      } finally {
        sequelize.modelManager.removeModel(Legacy);
      }
    });

    it('a model’s own writes are encrypted once, never through the shared query interface again', async () => {
      const decryptMany = vi.spyOn(envelope, 'decryptMany');
      const encryptMany = vi.spyOn(envelope, 'encryptMany');
      try {
        const key = name();
        const row = await Integration.create({ name: key, slackToken: 'once', webhookSecret: 'w' });
        await row.update({ slackToken: 'twice' });
        await Integration.update({ webhookSecret: 'w2' }, { where: { name: key } });
        await Integration.bulkCreate([{ name: name(), slackToken: 'bulk' }]);
        await Integration.upsert({
          id: row.get('id'),
          name: key,
          slackToken: 'upserted',
          webhookSecret: 'w3',
        });
        // each plaintext was encrypted once (2 + 1 + 1 + 1 + 2), and no token the writes made
        // was checked again, as a second pass through the shared query interface would
        const encrypted = encryptMany.mock.calls.flatMap(([values]) =>
          values.filter((v) => v !== null && v !== undefined),
        );
        expect(encrypted).toEqual(['once', 'w', 'twice', 'w2', 'bulk', 'upserted', 'w3']);
        expect(decryptMany).not.toHaveBeenCalled();
        await expectEncrypted(key, 'slackToken', 'upserted');
        await expectEncrypted(key, 'webhookSecret', 'w3');
      } finally {
        decryptMany.mockRestore();
        encryptMany.mockRestore();
      }
    });

    it('a token of the field is stored as it is; another field’s token, a non-string and an SQL expression are refused, writing nothing', async () => {
      const key = name();
      const token = await envelope.encrypt('made by app', ctx('slackToken'));
      await qi().bulkInsert(table, [{ name: key, slack_token: token }]);
      expect(await expectEncrypted(key, 'slackToken', 'made by app')).toBe(token);

      const before = await rawRows(sequelize, table);
      const foreign = await envelope.encrypt('of webhookSecret', ctx('webhookSecret'));
      await expect(
        qi().bulkInsert(table, [{ name: name(), slack_token: foreign }]),
      ).rejects.toSatisfy(
        (e: unknown) =>
          CmekInvalidInputError.isInstance(e) &&
          refused('CMEK_INVALID_INPUT', 'slack_token', foreign.slice(8, 40))(e),
      );
      await expect(
        qi().bulkInsert(table, [{ name: name(), slack_token: 4242424242 }]),
      ).rejects.toSatisfy(refused('CMEK_INVALID_INPUT', 'slack_token', '4242424242'));
      await expect(
        qi().bulkUpdate(table, { webhookSecret: sequelize.fn('upper', 'needle') }, { name: key }),
      ).rejects.toSatisfy(refused('CMEK_QUERY', 'webhookSecret', 'needle'));
      await expect(
        // the runtime signature (the typings lag): model, table, where, amounts, extra, options
        (qi() as unknown as { increment(...args: unknown[]): Promise<unknown> }).increment(
          null,
          table,
          { name: key },
          { slack_token: 1 },
          {},
          {},
        ),
      ).rejects.toSatisfy(
        (e: unknown) =>
          CmekQueryError.isInstance(e) &&
          (e as CmekQueryError).field === 'Integration.slackToken' &&
          refused('CMEK_QUERY', 'slack_token', 'needle')(e),
      );
      expect(await rawRows(sequelize, table)).toEqual(before);
    });

    it('Model.schema(…) copies and a table named with its schema are encrypted and decrypted', async () => {
      const schema = uniqueTable('tenant');
      if (db.dialect === 'postgres') await sequelize.createSchema(schema, {});
      const Tenant = Integration.schema(schema);
      const quoted =
        db.dialect === 'postgres'
          ? `${qi().quoteIdentifier(schema)}.${qi().quoteIdentifier(table)}`
          : qi().quoteIdentifier(`${schema}.${table}`);
      const rawOf = async (rowName: string) =>
        (
          await sequelize.query<Record<string, unknown>>(`SELECT * FROM ${quoted} WHERE name = ?`, {
            replacements: [rowName],
            type: QueryTypes.SELECT,
          })
        )[0]!;
      try {
        await Tenant.sync({ force: true });
        const [a, b] = [name(), name()];
        const row = await Tenant.create({ name: a, slackToken: 'tenant-secret' });
        expect(row.get('slackToken')).toBe('tenant-secret');
        await qi().bulkInsert({ tableName: table, schema }, [
          { name: b, slack_token: 'tenant-seed' },
        ]);
        for (const [rowName, plain] of [
          [a, 'tenant-secret'],
          [b, 'tenant-seed'],
        ] as const) {
          const value = (await rawOf(rowName)).slack_token as string;
          expect(value).toMatch(TOKEN);
          expect(await envelope.decrypt(value, ctx('slackToken'))).toBe(plain);
          expect((await Tenant.findOne({ where: { name: rowName } }))!.get('slackToken')).toBe(
            plain,
          );
        }
        // the table of the same name outside the schema holds neither row
        expect(await stored(a)).toBeUndefined();
        await expect(Tenant.findAll({ where: { slackToken: 'needle' } })).rejects.toSatisfy(
          (e: unknown) => CmekQueryError.isInstance(e),
        );
      } finally {
        await Tenant.drop().catch(() => undefined);
        if (db.dialect === 'postgres')
          await sequelize.dropSchema(schema, {}).catch(() => undefined);
      }
    });

    it('a column two models encrypt under different contexts is refused, writing nothing', async () => {
      const Mirror = sequelize.define(
        'Mirror',
        { name: DataTypes.STRING(100), webhookSecret: DataTypes.TEXT },
        { tableName: table, timestamps: false },
      );
      await encryptFields(Mirror, { envelope, fields: ['webhookSecret'] });
      try {
        const before = await rawRows(sequelize, table);
        await expect(
          qi().bulkInsert(table, [{ name: name(), webhookSecret: 'needle-value' }]),
        ).rejects.toSatisfy(
          (e: unknown) =>
            CmekConfigError.isInstance(e) && refused('CMEK_CONFIG', 'webhookSecret', 'needle')(e),
        );
        expect(await rawRows(sequelize, table)).toEqual(before);
        // the column only one model encrypts is still written, encrypted
        const key = name();
        await qi().bulkInsert(table, [{ name: key, slack_token: 'only-one' }]);
        await expectEncrypted(key, 'slackToken', 'only-one');
      } finally {
        sequelize.modelManager.removeModel(Mirror);
      }
    });
  });
}
