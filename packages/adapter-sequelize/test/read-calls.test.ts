/**
 * The read path calls into the core once per field per result set, never once per row: every
 * finder over many rows, `raw` too, with includes, and a read through the shared query interface,
 * counted on the envelope itself (SQLite, PostgreSQL, MariaDB).
 */
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
  uniqueTable,
} from './support';

const PARENTS = 120;
const CHILDREN_EACH = 3;

for (const db of DATABASES) {
  describe.skipIf(!db.url)(`read path: core calls per result set (${db.dialect})`, () => {
    let sequelize: Sequelize;
    let Team: ModelStatic<Model>;
    let Member: ModelStatic<Model>;
    const teams = uniqueTable('teams');
    const members = uniqueTable('members');
    const { envelope: real } = envelopeFor(newKek());
    const { envelope, calls } = counting(real);

    /** The calls `read` makes. */
    const count = (read: () => Promise<unknown>): Promise<Calls> => callsDuring(calls, read);

    beforeAll(async () => {
      sequelize = connect(db);
      Team = sequelize.define(
        'Team',
        { name: DataTypes.STRING(40), slackToken: DataTypes.TEXT, webhookSecret: DataTypes.TEXT },
        { tableName: teams, timestamps: false },
      );
      Member = sequelize.define(
        'Member',
        { totp: DataTypes.TEXT },
        { tableName: members, timestamps: false },
      );
      Team.hasMany(Member, { as: 'members', foreignKey: 'teamId' });
      await encryptFields(Team, { envelope, fields: ['slackToken', 'webhookSecret'] });
      await encryptFields(Member, { envelope, fields: ['totp'] });
      await Team.sync({ force: true });
      await Member.sync({ force: true });
      const made = await Team.bulkCreate(
        Array.from({ length: PARENTS }, (_, i) => ({
          name: `t-${i}`,
          slackToken: `xoxb-${i}`,
          webhookSecret: `whsec-${i}`,
        })),
      );
      await Member.bulkCreate(
        made.flatMap((team, i) =>
          Array.from({ length: CHILDREN_EACH }, (_, j) => ({
            teamId: team.get('id'),
            totp: `totp-${i}-${j}`,
          })),
        ),
      );
    }, 60_000);

    afterAll(async () => {
      await Member?.drop().catch(() => undefined);
      await Team?.drop().catch(() => undefined);
      await sequelize?.close();
    });

    it('findAll, raw, findAndCountAll, attributes: one decryptMany per field', async () => {
      for (const read of [
        () => Team.findAll(),
        () => Team.findAll({ raw: true }),
        () => Team.findAll({ hooks: false } as Parameters<typeof Team.findAll>[0]),
        () => Team.findAndCountAll(),
        () => Team.findAll({ attributes: ['id', ['slackToken', 'token'], 'webhookSecret'] }),
      ]) {
        const used = await count(read);
        expect(used.decrypt).toBe(0);
        expect(used.decryptMany).toBe(2);
        expect(used.values).toBe(2 * PARENTS);
      }
      const rows = await Team.findAll({ order: [['id', 'ASC']] });
      expect(rows[PARENTS - 1]!.get('slackToken')).toBe(`xoxb-${PARENTS - 1}`);
    });

    it('includes: one decryptMany per model and field, nested or raw', async () => {
      for (const read of [
        () => Team.findAll({ include: [{ model: Member, as: 'members' }] }),
        () => Team.findAll({ include: [{ model: Member, as: 'members' }], raw: true, nest: true }),
        () => Team.findAll({ include: [{ model: Member, as: 'members', separate: true }] }),
      ]) {
        const used = await count(read);
        expect(used.decrypt).toBe(0);
        expect(used.decryptMany).toBe(3); // Team.slackToken, Team.webhookSecret, Member.totp
      }
      const [team] = await Team.findAll({
        where: { name: 't-7' },
        include: [{ model: Member, as: 'members' }],
      });
      const totps = (team!.get('members') as Model[]).map((m) => m.get('totp')).sort();
      expect(totps).toEqual(['totp-7-0', 'totp-7-1', 'totp-7-2']);
    });

    it('a read of the table through the shared query interface: one decryptMany per column', async () => {
      const qi = sequelize.getQueryInterface();
      const used = await count(() =>
        qi.select(null, teams, { type: QueryTypes.SELECT } as Parameters<typeof qi.select>[2]),
      );
      expect(used.decrypt).toBe(0);
      expect(used.decryptMany).toBe(2);
    });
  });
}
