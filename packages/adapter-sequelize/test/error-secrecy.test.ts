/**
 * No error raised for a write shows the value written to an encrypted field: not a non-string
 * (refused with CMEK_INVALID_INPUT before Sequelize's validation or the driver see it), not a
 * plaintext string that fails for another reason (a validator of the field, a NOT NULL or unique
 * violation on another column), not a token (a unique violation on an encrypted column). Every
 * write path of the README, on SQLite, PostgreSQL and MariaDB; every text of each error is
 * scanned (message, String(), stack, JSON.stringify, the cause chain).
 */
import { randomBytes } from 'node:crypto';
import { CmekInvalidInputError, type Envelope } from '@cmek/core';
import { DataTypes, type Model, type ModelStatic, type Sequelize } from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encryptFields } from '../src/index';
import { failureOf, leak } from './secrecy';
import { connect, DATABASES, envelopeFor, newKek, rawRow, TOKEN, uniqueTable } from './support';

type Values = Record<string, unknown>;

/** A marker no message would hold by chance. */
const M = `MRK${randomBytes(4).toString('hex')}`;
const DATE = new Date('2031-05-17T11:22:33.444Z');

interface Case {
  readonly name: string;
  /** The values written besides `name` (a fresh one unless the case sets it). */
  values(ctx: { taken: string; token: string }): Values;
  /** Texts no error may hold. */
  readonly secrets: readonly string[];
  /** A non-string: every path must refuse it with CMEK_INVALID_INPUT. */
  readonly refused?: boolean;
}

const CASES: readonly Case[] = [
  {
    name: 'an object',
    values: () => ({ slackToken: { a: `${M}-obj` } }),
    secrets: [`${M}-obj`],
    refused: true,
  },
  {
    name: 'a number',
    values: () => ({ slackToken: 987654321 }),
    secrets: ['987654321'],
    refused: true,
  },
  {
    name: 'an array',
    values: () => ({ slackToken: [`${M}-arr`, 4242] }),
    secrets: [`${M}-arr`],
    refused: true,
  },
  { name: 'a boolean', values: () => ({ slackToken: true }), secrets: [], refused: true },
  {
    name: 'a bigint',
    values: () => ({ slackToken: 98765432123456789n }),
    secrets: ['98765432123456789'],
    refused: true,
  },
  {
    name: 'a Date',
    values: () => ({ slackToken: DATE }),
    secrets: ['2031-05-17', String(DATE.getTime()), 'May 17 2031'],
    refused: true,
  },
  {
    name: 'a string its length validator refuses',
    values: () => ({ slackToken: `${M}-len-${'x'.repeat(80)}` }),
    secrets: [`${M}-len-`],
  },
  {
    name: 'a string a custom validator quotes in its message',
    values: () => ({ slackToken: `${M}-REJECT` }),
    secrets: [`${M}-REJECT`],
  },
  {
    name: 'a string beside a NOT NULL violation',
    values: () => ({ name: null, slackToken: `${M}-notnull` }),
    secrets: [`${M}-notnull`],
  },
  {
    name: 'a string beside a unique violation',
    values: ({ taken }) => ({ name: taken, slackToken: `${M}-unique` }),
    secrets: [`${M}-unique`],
  },
  {
    name: 'a duplicate token in a unique encrypted column',
    values: ({ token }) => ({ code: token, slackToken: `${M}-dup` }),
    secrets: [`${M}-dup`],
  },
];

for (const db of DATABASES) {
  describe.skipIf(!db.url)(`errors hold no secret (${db.dialect})`, () => {
    let sequelize: Sequelize;
    let envelope: Envelope;
    let Vault: ModelStatic<Model>;
    const table = uniqueTable('vaults');
    let n = 0;
    const fresh = () => `v-${++n}`;
    let baseId: number;
    const taken = 'taken-name';
    let token: string;

    /** Column names, for the query interface paths. */
    const columns = (values: Values): Values => {
      const out: Values = {};
      for (const [k, v] of Object.entries(values)) out[k === 'slackToken' ? 'slack_token' : k] = v;
      return out;
    };
    const named = (values: Values): Values => ({ name: fresh(), ...values });
    const base = async () => (await Vault.findByPk(baseId))!;

    const PATHS: readonly [string, (values: Values) => Promise<unknown>][] = [
      ['Model.create', (v) => Vault.create(named(v))],
      ['Model.create (hooks: false)', (v) => Vault.create(named(v), { hooks: false })],
      ['build + save', (v) => Vault.build(named(v)).save()],
      ['save of a changed instance', async (v) => (await base()).set(v).save()],
      ['instance.update', async (v) => (await base()).update(v)],
      ['instance.update (hooks: false)', async (v) => (await base()).update(v, { hooks: false })],
      ['Model.bulkCreate', (v) => Vault.bulkCreate([named(v)])],
      ['Model.bulkCreate (validate)', (v) => Vault.bulkCreate([named(v)], { validate: true })],
      [
        'Model.bulkCreate (individualHooks)',
        (v) => Vault.bulkCreate([named(v)], { individualHooks: true }),
      ],
      [
        'Model.bulkCreate (updateOnDuplicate)',
        (v) => Vault.bulkCreate([named(v)], { updateOnDuplicate: ['slackToken'] }),
      ],
      ['static Model.update', (v) => Vault.update(v, { where: { id: baseId } })],
      [
        'static Model.update (individualHooks)',
        (v) => Vault.update(v, { where: { id: baseId }, individualHooks: true }),
      ],
      [
        'static Model.update (hooks: false)',
        (v) => Vault.update(v, { where: { id: baseId }, hooks: false }),
      ],
      ['Model.upsert', (v) => Vault.upsert(named(v))],
      [
        'Model.findOrCreate',
        (v) => {
          const values = named(v);
          return Vault.findOrCreate({ where: { name: values.name as string }, defaults: values });
        },
      ],
      [
        'queryInterface.bulkInsert',
        (v) => sequelize.getQueryInterface().bulkInsert(table, [columns(named(v))]),
      ],
      [
        'queryInterface.insert',
        (v) => sequelize.getQueryInterface().insert(null, table, columns(named(v)), {}),
      ],
      [
        'queryInterface.bulkUpdate',
        (v) => sequelize.getQueryInterface().bulkUpdate(table, columns(v), { id: baseId }),
      ],
    ];

    beforeAll(async () => {
      sequelize = connect(db);
      ({ envelope } = envelopeFor(newKek()));
      Vault = sequelize.define(
        'Vault',
        {
          id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
          name: { type: DataTypes.STRING(100), allowNull: false, unique: true },
          slackToken: {
            type: DataTypes.TEXT,
            field: 'slack_token',
            validate: {
              len: [0, 64],
              quotes(value: unknown) {
                if (String(value).includes('REJECT')) throw new Error(`refused: ${String(value)}`);
              },
            },
          },
          code: { type: DataTypes.STRING(700), unique: true },
        },
        { tableName: table, timestamps: false },
      );
      await encryptFields(Vault, {
        envelope,
        fields: { slackToken: {}, code: { maxPlaintextBytes: 64 } },
      });
      await Vault.sync({ force: true });
      const row = await Vault.create({ name: taken, slackToken: 'base', code: 'the-code' });
      baseId = row.get('id') as number;
      token = String((await rawRow(sequelize, table, baseId))!.code);
      expect(token).toMatch(TOKEN);
    }, 60_000);

    afterAll(async () => {
      await Vault?.drop().catch(() => undefined);
      await sequelize?.close();
    });

    for (const [path, write] of PATHS) {
      it(`${path}: no error shows the value; non-strings are CMEK_INVALID_INPUT`, async () => {
        for (const c of CASES) {
          const before = await Vault.count();
          const held = (await base()).get('slackToken');
          const error = await failureOf(() => write(c.values({ taken, token })));
          const where = `${path}, ${c.name}`;
          if (c.refused) {
            expect(CmekInvalidInputError.isInstance(error), `${where}: ${String(error)}`).toBe(
              true,
            );
            expect((error as Error).message).toContain('Vault.slackToken');
            expect(await Vault.count(), `${where} stored nothing`).toBe(before);
            expect((await base()).get('slackToken'), `${where} changed nothing`).toBe(held);
          }
          if (error !== undefined) expect(leak(error, c.secrets), where).toBeUndefined();
        }
      });
    }

    it('the cases do fail where they should, with the errors the application catches', async () => {
      const validation = await failureOf(() =>
        Vault.create({ name: fresh(), slackToken: `${M}-REJECT` }),
      );
      expect((validation as Error).name).toBe('SequelizeValidationError');
      const item = (validation as { errors: { path: string; value: unknown; instance: unknown }[] })
        .errors[0]!;
      expect(item.path).toBe('slackToken');
      expect(item.value).toBe('[redacted by cmek]');
      expect(item.instance).toBeDefined(); // still reachable, not enumerable
      const unique = await failureOf(() => Vault.create({ name: taken, slackToken: `${M}-u` }));
      expect((unique as Error).name).toBe('SequelizeUniqueConstraintError');
      const duplicate = await failureOf(() => Vault.create({ name: fresh(), code: token }));
      expect((duplicate as Error).name).toBe('SequelizeUniqueConstraintError');
      const notNull = await failureOf(() =>
        sequelize.getQueryInterface().bulkInsert(table, [{ name: null, slack_token: `${M}-q` }]),
      );
      expect((notNull as Error).name).toMatch(/^Sequelize/);
      expect(leak(notNull, [`${M}-q`])).toBeUndefined();
    });

    it('the scan can fail: an unredacted error of the driver shows the token', async () => {
      const qi = sequelize.getQueryInterface();
      const error = await failureOf(() =>
        sequelize.query(`INSERT INTO ${qi.quoteIdentifier(table)} (name, code) VALUES (?, ?)`, {
          replacements: [fresh(), token],
        }),
      );
      expect(error).toBeDefined();
      expect(leak(error, [])).toMatch(/a token in/);
    });

    it('bytes: invalid UTF-8 is refused and stores nothing; UTF-8 bytes read back as the string', async () => {
      const before = await Vault.count();
      const bad = await failureOf(() =>
        Vault.create({ name: fresh(), slackToken: Buffer.from([0x4d, 0xff, 0xfe, 0x41]) }),
      );
      expect(CmekInvalidInputError.isInstance(bad), String(bad)).toBe(true);
      expect(await Vault.count()).toBe(before);
      const badBulk = await failureOf(() =>
        sequelize
          .getQueryInterface()
          .bulkInsert(table, [{ name: fresh(), slack_token: Buffer.from([0xc3, 0x28]) }]),
      );
      expect(CmekInvalidInputError.isInstance(badBulk), String(badBulk)).toBe(true);
      expect(await Vault.count()).toBe(before);

      const text = `${M}-bytes-é-秘密`;
      const row = await Vault.create({ name: fresh(), slackToken: Buffer.from(text, 'utf8') });
      expect(row.get('slackToken')).toBe(text);
      const stored = String((await rawRow(sequelize, table, row.get('id')))!.slack_token);
      expect(stored).toMatch(TOKEN);
      expect(stored).not.toContain(M);
      expect(await envelope.decrypt(stored, { context: { field: 'Vault.slackToken' } })).toBe(text);
      expect((await Vault.findByPk(row.get('id') as number))!.get('slackToken')).toBe(text);
    });
  });
}
