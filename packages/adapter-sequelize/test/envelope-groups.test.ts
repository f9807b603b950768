/**
 * One write or result set holding fields of several models, each with its own envelope and
 * plaintext policy: an include of another model, two models encrypting different columns of one
 * table. Each field is encrypted and decrypted by its own model's envelope, under its own policy,
 * one call per field, counted on the envelopes and checked on the stored rows (SQLite,
 * PostgreSQL, MariaDB).
 */
import { CmekPlaintextRejectedError } from '@cmek/core';
import { DataTypes, type Model, type ModelStatic, QueryTypes, type Sequelize } from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encryptFields } from '../src/index';
import {
  type Calls,
  callsDuring,
  connect,
  counting,
  DATABASES,
  envelopeFor,
  newKek,
  rawRows,
  rawUpdate,
  TOKEN,
  uniqueTable,
} from './support';

for (const db of DATABASES) {
  describe.skipIf(!db.url)(
    `models with their own envelope and policy in one call (${db.dialect})`,
    () => {
      let sequelize: Sequelize;
      let Team: ModelStatic<Model>;
      let Member: ModelStatic<Model>;
      const teams = uniqueTable('groups_teams');
      const members = uniqueTable('groups_members');
      const accounts = uniqueTable('groups_accounts');
      const first = counting(envelopeFor(newKek()).envelope);
      const second = counting(envelopeFor(newKek()).envelope);

      /** The calls `run` makes into the first envelope and into the second. */
      async function callsOf(run: () => Promise<unknown>): Promise<[Calls, Calls]> {
        let ofFirst: Calls | undefined;
        const ofSecond = await callsDuring(second.calls, async () => {
          ofFirst = await callsDuring(first.calls, run);
        });
        return [ofFirst!, ofSecond];
      }

      const withMembers = () =>
        Team.findAll({ include: [{ model: Member, as: 'members' }], order: [['name', 'ASC']] });

      beforeAll(async () => {
        sequelize = connect(db);
        Team = sequelize.define(
          'Team',
          { name: DataTypes.STRING(40), slackToken: DataTypes.TEXT },
          { tableName: teams, timestamps: false },
        );
        Member = sequelize.define(
          'Member',
          { totp: DataTypes.TEXT },
          { tableName: members, timestamps: false },
        );
        Team.hasMany(Member, { as: 'members', foreignKey: 'teamId' });
        await encryptFields(Team, {
          envelope: first.envelope,
          fields: ['slackToken'],
          plaintextPolicy: 'allow',
        });
        await encryptFields(Member, {
          envelope: second.envelope,
          fields: ['totp'],
          plaintextPolicy: 'reject',
        });
        await Team.sync({ force: true });
        await Member.sync({ force: true });
        for (const i of [1, 2]) {
          const team = await Team.create({ name: `t-${i}`, slackToken: `xoxb-${i}` });
          await Member.bulkCreate([
            { teamId: team.get('id'), totp: `totp-${i}-a` },
            { teamId: team.get('id'), totp: `totp-${i}-b` },
          ]);
        }
        // Two models over one table, each encrypting its own column with its own envelope.
        const Left = sequelize.define(
          'Left',
          { a: DataTypes.TEXT, b: DataTypes.TEXT },
          { tableName: accounts, timestamps: false },
        );
        const Right = sequelize.define(
          'Right',
          { a: DataTypes.TEXT, b: DataTypes.TEXT },
          { tableName: accounts, timestamps: false },
        );
        await encryptFields(Left, { envelope: first.envelope, fields: ['a'] });
        await encryptFields(Right, { envelope: second.envelope, fields: ['b'] });
        await Left.sync({ force: true });
      }, 60_000);

      afterAll(async () => {
        await Member?.drop().catch(() => undefined);
        await Team?.drop().catch(() => undefined);
        await sequelize
          ?.getQueryInterface()
          .dropTable(accounts)
          .catch(() => undefined);
        await sequelize?.close();
      });

      it("an include: each field decrypted by its own model's envelope, one decryptMany per field", async () => {
        // Instances: one per team; raw rows: one per team and member (the join's rows).
        for (const [read, teamValues] of [
          [withMembers, 2],
          [
            () =>
              Team.findAll({ include: [{ model: Member, as: 'members' }], raw: true, nest: true }),
            4,
          ],
        ] as const) {
          const [ofFirst, ofSecond] = await callsOf(read);
          expect(ofFirst).toMatchObject({ decrypt: 0, decryptMany: 1, values: teamValues });
          expect(ofSecond).toMatchObject({ decrypt: 0, decryptMany: 1, values: 4 });
        }
        const found = await withMembers();
        expect(found.map((team) => team.get('slackToken'))).toEqual(['xoxb-1', 'xoxb-2']);
        const totps = found.flatMap((team) =>
          (team.get('members') as Model[]).map((member) => member.get('totp')),
        );
        expect(totps.sort()).toEqual(['totp-1-a', 'totp-1-b', 'totp-2-a', 'totp-2-b']);
      });

      it("legacy plaintext follows the policy of the field's own model, in the same result set", async () => {
        const team = (await rawRows(sequelize, teams))[0]!;
        const member = (await rawRows(sequelize, members))[0]!;
        try {
          // Team's policy allows legacy plaintext: read as it is, the include still decrypted.
          await rawUpdate(sequelize, teams, team.id, 'slackToken', 'legacy-xoxb');
          const found = await withMembers();
          expect(found.map((t) => t.get('slackToken'))).toEqual(['legacy-xoxb', 'xoxb-2']);
          // Member's policy rejects it: the read with the include fails, the one without does not.
          await rawUpdate(sequelize, members, member.id, 'totp', 'legacy-totp');
          const refused = await withMembers().catch((error: unknown) => error);
          expect(refused).toBeInstanceOf(CmekPlaintextRejectedError);
          expect((refused as CmekPlaintextRejectedError).code).toBe('CMEK_PLAINTEXT_REJECTED');
          expect((await Team.findAll({ order: [['name', 'ASC']] }))[0]!.get('slackToken')).toBe(
            'legacy-xoxb',
          );
        } finally {
          // The stored tokens back, for the tests after this one.
          for (const [table, row, column] of [
            [teams, team, 'slackToken'],
            [members, member, 'totp'],
          ] as const) {
            await rawUpdate(sequelize, table, row.id, column, row[column] as string);
          }
        }
      });

      it('one write to a table through the shared query interface: each column encrypted by the envelope of the model that encrypts it', async () => {
        const qi = sequelize.getQueryInterface();
        const [ofFirst, ofSecond] = await callsOf(() =>
          qi.bulkInsert(accounts, [
            { id: 1, a: 'a-1', b: 'b-1' },
            { id: 2, a: 'a-2', b: 'b-2' },
          ]),
        );
        expect(ofFirst.encryptMany).toBe(1);
        expect(ofSecond.encryptMany).toBe(1);
        const rows = await rawRows(sequelize, accounts);
        for (const row of rows) {
          expect(row.a).toMatch(TOKEN);
          expect(row.b).toMatch(TOKEN);
        }
        const a = rows.map((row) => row.a as string);
        const b = rows.map((row) => row.b as string);
        expect(await first.envelope.decryptMany(a, { context: { field: 'Left.a' } })).toEqual([
          'a-1',
          'a-2',
        ]);
        expect(await second.envelope.decryptMany(b, { context: { field: 'Right.b' } })).toEqual([
          'b-1',
          'b-2',
        ]);
        await expect(
          first.envelope.decryptMany(b, { context: { field: 'Right.b' } }),
        ).rejects.toMatchObject({ code: 'CMEK_UNKNOWN_KEK' });

        // Read back by column through the shared query interface: each by its own envelope.
        let selected: unknown;
        const [readFirst, readSecond] = await callsOf(async () => {
          selected = await qi.select(null, accounts, {
            type: QueryTypes.SELECT,
          } as Parameters<typeof qi.select>[2]);
        });
        expect(readFirst).toMatchObject({ decryptMany: 1, values: 2 });
        expect(readSecond).toMatchObject({ decryptMany: 1, values: 2 });
        const plain = (selected as Record<string, unknown>[])
          .map((row) => `${row.a} ${row.b}`)
          .sort();
        expect(plain).toEqual(['a-1 b-1', 'a-2 b-2']);
      });
    },
  );
}
