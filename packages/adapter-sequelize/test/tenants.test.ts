/**
 * A tenant envelope (`createTenantEnvelope`) through `encryptFields(…, { tenantColumn })`, on
 * SQLite and PostgreSQL: two tenants on two KEKs plus one on the default KEK. Each write path
 * stores the value under its row's tenant's KEK (read back around Sequelize, the KEK named by the
 * token), a write whose tenant is unknown is refused and not written, a token copied to another
 * tenant's row does not read, a revoked tenant fails alone, and core's engine moves exactly one
 * tenant's values through the row store.
 */
import {
  CmekConfigError,
  CmekError,
  CmekKekAccessDeniedError,
  CmekQueryError,
  CmekTenantKeyRevokedError,
  CmekUnknownTenantError,
  createEnvelope,
  createKeyring,
  createTenantEnvelope,
  inspectToken,
  type KekProvider,
  type Keyring,
  type Row,
  type TenantEnvelope,
} from '@cmek/core';
import { rewrap, verify } from '@cmek/core/engine';
import { type MemoryKekProvider, memoryKekProvider } from '@cmek/test-suite';
import { DataTypes, Model, Op, type Sequelize } from 'sequelize';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { encryptFields, sequelizeRowStore } from '../src/index';
import { connect, DATABASES, rawRows, uniqueTable } from './support';

const ENCRYPTED = ['token', 'note'] as const;

for (const db of DATABASES.filter((d) => d.dialect !== 'mariadb')) {
  describe.skipIf(!db.url)(`tenant envelope (${db.dialect})`, () => {
    class Account extends Model {
      declare id: number;
      declare workspaceId: string | null;
      declare name: string;
      declare token: string | null;
      declare note: string | null;
    }
    let sequelize: Sequelize;
    let table: string;
    let envelope: TenantEnvelope;
    let kekA: MemoryKekProvider;
    let kekB: MemoryKekProvider;
    let appKek: MemoryKekProvider;
    /** What the resolver answers for 'b' (a test replaces it to move the tenant). */
    let forB: KekProvider | Keyring;

    beforeAll(async () => {
      sequelize = connect(db);
      table = uniqueTable('adapter_sequelize_tenants');
      Account.init(
        {
          id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
          workspaceId: { type: DataTypes.STRING(32), field: 'workspace_id' },
          name: { type: DataTypes.STRING(64), allowNull: false, unique: true },
          token: DataTypes.TEXT,
          note: DataTypes.TEXT,
        },
        { sequelize, tableName: table, timestamps: false },
      );
      await Account.sync({ force: true });
      kekA = memoryKekProvider({ keyRef: 'tenant-a' });
      kekB = memoryKekProvider({ keyRef: 'tenant-b' });
      appKek = memoryKekProvider({ keyRef: 'app-default' });
      forB = kekB;
      envelope = createTenantEnvelope({
        defaultKek: appKek,
        resolve: (tenant) =>
          tenant === 'a' ? kekA : tenant === 'b' ? forB : tenant === 'd' ? 'default' : undefined,
      });
      await encryptFields(Account, { envelope, tenantColumn: 'workspaceId', fields: ENCRYPTED });
    });
    afterAll(async () => {
      await Account.drop();
      await sequelize.close();
    });
    beforeEach(async () => {
      await Account.destroy({ where: {}, hooks: false });
      kekB.failWith = undefined;
      forB = kekB;
      await envelope.forgetTenant('b');
    });

    const stored = async (name: string): Promise<Record<string, unknown> | undefined> =>
      (await rawRows(sequelize, table)).find((r) => r.name === name);
    /** The key reference of the KEK each encrypted column of the stored row is under. */
    const keysOf = async (name: string): Promise<Record<string, string | null>> => {
      const row = await stored(name);
      expect(row).toBeDefined();
      return Object.fromEntries(
        ENCRYPTED.map((c) => [
          c,
          typeof row![c] === 'string' ? inspectToken(row![c] as string).keyRef : null,
        ]),
      );
    };
    const under = (keyRef: string) => ({ token: keyRef, note: keyRef });
    const codeOf = async (run: Promise<unknown>): Promise<string | undefined> => {
      try {
        await run;
        return undefined;
      } catch (error) {
        return CmekError.isInstance(error) ? error.code : String(error);
      }
    };
    const plain = (rows: Account[]) => rows.map((r) => [r.name, r.workspaceId, r.token, r.note]);

    it("create and bulkCreate store each row under its tenant's KEK, one DEK per tenant; findAll reads them back", async () => {
      kekA.resetCalls();
      await Account.create({ workspaceId: 'b', name: 'b1', token: 'tb1', note: 'nb1' });
      await Account.bulkCreate([
        { workspaceId: 'a', name: 'a1', token: 'ta1', note: 'na1' },
        { workspaceId: 'd', name: 'd1', token: 'td1', note: 'nd1' },
        { workspaceId: 'a', name: 'a2', token: 'ta2', note: 'na2' },
      ]);
      expect(await keysOf('a1')).toEqual(under('tenant-a'));
      expect(await keysOf('a2')).toEqual(under('tenant-a'));
      expect(await keysOf('b1')).toEqual(under('tenant-b'));
      expect(await keysOf('d1')).toEqual(under('app-default'));
      expect(kekA.calls.generateDataKey).toBe(1);
      const rows = await Account.findAll({ order: [['name', 'ASC']] });
      expect(plain(rows)).toEqual([
        ['a1', 'a', 'ta1', 'na1'],
        ['a2', 'a', 'ta2', 'na2'],
        ['b1', 'b', 'tb1', 'nb1'],
        ['d1', 'd', 'td1', 'nd1'],
      ]);
      const raw = await Account.findAll({ raw: true, where: { workspaceId: 'b' } });
      expect(raw.map((r) => (r as unknown as Account).token)).toEqual(['tb1']);
    });

    it('a write without a tenant, or of a tenant the resolver does not know, is refused and not written', async () => {
      appKek.resetCalls();
      await expect(Account.create({ name: 'none', token: 't', note: 'n' })).rejects.toThrow(
        CmekUnknownTenantError,
      );
      await expect(
        Account.create({ workspaceId: 'zzz', name: 'unknown', token: 't', note: 'n' }),
      ).rejects.toThrow(CmekUnknownTenantError);
      await expect(
        Account.bulkCreate([
          { workspaceId: 'a', name: 'ok', token: 't', note: 'n' },
          { workspaceId: null, name: 'null', token: 't', note: 'n' },
        ]),
      ).rejects.toThrow(CmekUnknownTenantError);
      expect(await rawRows(sequelize, table)).toEqual([]);
      expect(appKek.calls.generateDataKey).toBe(0);
    });

    it("save and instance update write under the instance's tenant; moving it to another tenant needs every encrypted field", async () => {
      const account = await Account.create({ workspaceId: 'a', name: 'm', token: 't', note: 'n' });
      account.token = 't2';
      await account.save();
      await account.update({ note: 'n2' });
      expect(await keysOf('m')).toEqual(under('tenant-a'));
      const before = await stored('m');
      await expect(account.update({ workspaceId: 'b', token: 't3' })).rejects.toThrow(
        /without Account\.note/,
      );
      expect(await stored('m')).toEqual(before);
      const fresh = await Account.findOne({ where: { name: 'm' } });
      expect([fresh!.token, fresh!.note]).toEqual(['t2', 'n2']);
      await fresh!.update({ workspaceId: 'b', token: 't3', note: 'n3' });
      expect(await keysOf('m')).toEqual(under('tenant-b'));
      const moved = await Account.findOne({ where: { name: 'm' } });
      expect([moved!.workspaceId, moved!.token, moved!.note]).toEqual(['b', 't3', 'n3']);
    });

    it('static update takes the tenant from its values or its where, and is refused without one', async () => {
      await Account.bulkCreate([
        { workspaceId: 'a', name: 'a1', token: 'old', note: 'n' },
        { workspaceId: 'b', name: 'b1', token: 'old', note: 'n' },
      ]);
      await Account.update({ token: 'new-b' }, { where: { workspaceId: 'b', name: 'b1' } });
      expect((await keysOf('b1')).token).toBe('tenant-b');
      const before = await stored('a1');
      await expect(Account.update({ token: 'new-a' }, { where: { name: 'a1' } })).rejects.toThrow(
        CmekUnknownTenantError,
      );
      await expect(
        Account.update({ token: 'x' }, { where: { [Op.or]: [{ workspaceId: 'a' }] } }),
      ).rejects.toThrow(CmekUnknownTenantError);
      expect(await stored('a1')).toEqual(before);
      const b = await Account.findOne({ where: { name: 'b1' } });
      expect(b!.token).toBe('new-b');
    });

    it('upsert and findOrCreate write under the row tenant; an upsert update without the tenant is refused', async () => {
      const [created] = await Account.findOrCreate({
        where: { name: 'f' },
        defaults: { workspaceId: 'b', token: 'tf', note: 'nf' },
      });
      expect(created.token).toBe('tf');
      expect(await keysOf('f')).toEqual(under('tenant-b'));
      await Account.upsert({ workspaceId: 'a', name: 'u', token: 'tu', note: 'nu' });
      expect(await keysOf('u')).toEqual(under('tenant-a'));
      const before = await stored('u');
      await expect(
        Account.upsert(
          { workspaceId: 'b', name: 'u', token: 'x', note: 'x' },
          { fields: ['name', 'token', 'note'] },
        ),
      ).rejects.toThrow(CmekError);
      expect(await stored('u')).toEqual(before);
      await expect(
        Account.bulkCreate([{ workspaceId: 'b', name: 'u', token: 'x', note: 'x' }], {
          updateOnDuplicate: ['token'],
        }),
      ).rejects.toThrow(/without workspaceId, the tenant attribute/);
      expect(await stored('u')).toEqual(before);
    });

    it('a finder whose attributes leave out the tenant attribute while selecting an encrypted one is refused', async () => {
      await Account.create({ workspaceId: 'a', name: 'a1', token: 'ta', note: 'na' });
      await expect(Account.findAll({ attributes: ['name', 'token'] })).rejects.toThrow(
        CmekQueryError,
      );
      await expect(Account.findAll({ attributes: ['name', 'token'], raw: true })).rejects.toThrow(
        /must select workspaceId/,
      );
      const rows = await Account.findAll({ attributes: ['name', 'token', 'workspaceId'] });
      expect(rows.map((r) => r.token)).toEqual(['ta']);
      expect((await Account.findAll({ attributes: ['name'] })).map((r) => r.name)).toEqual(['a1']);
    });

    it("a token copied into another tenant's row does not decrypt there", async () => {
      await Account.bulkCreate([
        { workspaceId: 'a', name: 'a1', token: 'secret-a', note: 'n' },
        { workspaceId: 'b', name: 'b1', token: 'tb', note: 'n' },
        { workspaceId: 'd', name: 'd2', token: 'td2', note: 'n' },
      ]);
      const a1 = await stored('a1');
      const qi = sequelize.getQueryInterface();
      const q = (n: string) => qi.quoteIdentifier(n);
      await sequelize.query(`UPDATE ${q(table)} SET token = ? WHERE name = ?`, {
        replacements: [a1!.token, 'b1'],
      });
      expect(await codeOf(Account.findOne({ where: { name: 'b1' } }))).toBe('CMEK_UNKNOWN_KEK');
      await sequelize.query(`UPDATE ${q(table)} SET workspace_id = ? WHERE name = ?`, {
        replacements: ['zzz', 'd2'],
      });
      expect(await codeOf(Account.findOne({ where: { name: 'd2' } }))).toBe('CMEK_UNKNOWN_TENANT');
      // written through the model, the copied token is refused too (it does not decrypt there)
      await expect(
        Account.create({ workspaceId: 'b', name: 'b2', token: a1!.token as string, note: 'n' }),
      ).rejects.toThrow(CmekError);
      expect((await Account.findOne({ where: { name: 'a1' } }))!.token).toBe('secret-a');
    });

    it('the shared query interface takes the tenant from the tenant column of each record, and refuses a record without one', async () => {
      const qi = sequelize.getQueryInterface();
      await qi.bulkInsert(table, [
        { workspace_id: 'a', name: 's1', token: 'ts1', note: 'ns1' },
        { workspace_id: 'b', name: 's2', token: 'ts2', note: 'ns2' },
      ]);
      expect(await keysOf('s1')).toEqual(under('tenant-a'));
      expect(await keysOf('s2')).toEqual(under('tenant-b'));
      await expect(qi.bulkInsert(table, [{ name: 's3', token: 't', note: 'n' }])).rejects.toThrow(
        CmekUnknownTenantError,
      );
      expect(await stored('s3')).toBeUndefined();
      const rows = await Account.findAll({ where: { workspaceId: 'b' } });
      expect(plain(rows)).toEqual([['s2', 'b', 'ts2', 'ns2']]);
    });

    it('after forgetTenant and a revoked KEK, that tenant fails with CmekTenantKeyRevokedError and the other reads and writes', async () => {
      await Account.bulkCreate([
        { workspaceId: 'a', name: 'a1', token: 'ta', note: 'n' },
        { workspaceId: 'b', name: 'b1', token: 'tb', note: 'n' },
      ]);
      kekB.failWith = new CmekKekAccessDeniedError('the key is disabled');
      await envelope.forgetTenant('b');
      await expect(Account.findAll({ where: { workspaceId: 'b' } })).rejects.toThrow(
        CmekTenantKeyRevokedError,
      );
      await expect(
        Account.create({ workspaceId: 'b', name: 'b2', token: 't', note: 'n' }),
      ).rejects.toThrow(CmekTenantKeyRevokedError);
      expect(await stored('b2')).toBeUndefined();
      await Account.create({ workspaceId: 'a', name: 'a2', token: 'ta2', note: 'n' });
      const rows = await Account.findAll({ where: { workspaceId: 'a' }, order: [['name', 'ASC']] });
      expect(plain(rows)).toEqual([
        ['a1', 'a', 'ta', 'n'],
        ['a2', 'a', 'ta2', 'n'],
      ]);
    });

    it("the row store scans and counts one tenant's rows; rewrap with { tenant } moves exactly that tenant's values", async () => {
      await Account.bulkCreate([
        { workspaceId: 'a', name: 'a1', token: 'ta1', note: 'n' },
        { workspaceId: 'b', name: 'b1', token: 'tb1', note: 'n' },
        { workspaceId: 'a', name: 'a2', token: 'ta2', note: 'n' },
        { workspaceId: 'b', name: 'b2', token: 'tb2', note: null },
      ]);
      const store = sequelizeRowStore(Account);
      expect(store.tenantColumn).toBe('workspace_id');
      const scanned = await store.scan(undefined, 10, { tenant: 'b' });
      expect(scanned.map((r: Row) => [r.tenant, r.values.note === null])).toEqual([
        ['b', false],
        ['b', true],
      ]);
      expect(await store.count({ tenant: 'b' })).toBe(2);
      expect(await store.count()).toBe(4);
      expect(store.contextFor('token', 'b')).toEqual({ field: 'Account.token', tenant: 'b' });

      const aBefore = [await stored('a1'), await stored('a2')];
      const kekB2 = memoryKekProvider({ keyRef: 'tenant-b-2' });
      forB = createKeyring({ primary: kekB2, decryptOnly: [kekB] });
      await envelope.forgetTenant('b');
      const report = await rewrap(store, { keyring: await envelope.keyringFor('b'), tenant: 'b' });
      expect(report.rows).toBe(2);
      expect(report.fields.token?.written).toBe(2);
      expect(await keysOf('b1')).toEqual(under('tenant-b-2'));
      expect(await keysOf('b2')).toEqual({ token: 'tenant-b-2', note: null });
      expect([await stored('a1'), await stored('a2')]).toEqual(aBefore);
      const inventory = await verify(store, { envelope, tenant: 'b' });
      expect(inventory.fields.token?.undecryptable ?? 0).toBe(0);
      const rows = await Account.findAll({ where: { workspaceId: 'b' } });
      expect(rows.map((r) => r.token).sort()).toEqual(['tb1', 'tb2']);
    });

    it('setup: tenantColumn needs a tenant envelope and an unencrypted attribute; a tenant envelope needs tenantColumn; a checked column needs measureTenant', async () => {
      const define = () => {
        class Other extends Model {}
        Other.init(
          {
            workspaceId: DataTypes.STRING,
            token: DataTypes.TEXT,
            short: DataTypes.STRING(300),
          },
          { sequelize, tableName: uniqueTable('adapter_sequelize_tenants_o') },
        );
        return Other;
      };
      const plainEnvelope = createEnvelope({ kek: memoryKekProvider() });
      const fields = ['token'];
      await expect(
        encryptFields(define(), { envelope: plainEnvelope, tenantColumn: 'workspaceId', fields }),
      ).rejects.toThrow(/needs a tenant envelope/);
      await expect(encryptFields(define(), { envelope, fields })).rejects.toThrow(
        /needs `tenantColumn`/,
      );
      await expect(
        encryptFields(define(), { envelope, tenantColumn: 'nope', fields }),
      ).rejects.toThrow(CmekConfigError);
      await expect(
        encryptFields(define(), { envelope, tenantColumn: 'token', fields }),
      ).rejects.toThrow(/cannot be encrypted/);
      await expect(
        encryptFields(define(), { envelope, tenantColumn: 'workspaceId', fields: ['short'] }),
      ).rejects.toThrow(/measureTenant/);
      // measured under tenant a's KEK: the column is then found too short for its token
      await expect(
        encryptFields(define(), {
          envelope,
          tenantColumn: 'workspaceId',
          measureTenant: 'a',
          fields: ['short'],
        }),
      ).rejects.toThrow(/a 300-byte value needs \d+ characters/);
      await expect(
        encryptFields(define(), {
          envelope,
          tenantColumn: 'workspaceId',
          measureTenant: 'a',
          fields: { short: { maxPlaintextBytes: 20 } },
        }),
      ).resolves.toBeDefined();
    });
  });
}
