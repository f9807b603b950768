/**
 * A tenant envelope (`createTenantEnvelope`) with `tenantPath: 'workspaceId'` on the real server:
 * two tenants on two KEKs plus one on the default KEK. Each write path stores the value under its
 * document's tenant's KEK (read back around Mongoose, the KEK named by the token), a document
 * without a known tenant is refused and not written, a token copied to another tenant's document
 * does not read, a revoked tenant fails alone, and core's engine moves exactly one tenant's values.
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
  type TenantEnvelope,
} from '@cmek/core';
import { rewrap, verify } from '@cmek/core/engine';
import { type MemoryKekProvider, memoryKekProvider } from '@cmek/test-suite';
import type { Document } from 'mongodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cmekPlugin, mongooseRowStore } from '../src/index';
import { standInClientBulkWrite } from './support/client-bulk-write';
import { type Database, mongooses, mongoUrl, openDatabase } from './support/mongo';

const ENCRYPTED = ['token', 'note'] as const;
const COLLECTION = 'adapter_mongoose_tenant_accounts';

interface Account {
  workspaceId?: string | null;
  name: string;
  token?: string | null;
  note?: string | null;
}

for (const { label, mongoose } of mongooses) {
  describe.skipIf(!mongoUrl)(`tenant envelope (${label})`, () => {
    let db: Database;
    let envelope: TenantEnvelope;
    let kekA: MemoryKekProvider;
    let kekB: MemoryKekProvider;
    let appKek: MemoryKekProvider;
    /** What the resolver answers for 'b' (a test replaces it to move the tenant). */
    let forB: KekProvider | Keyring;
    let Accounts: ReturnType<typeof accountModel>;

    function accountModel() {
      const schema = new mongoose.Schema<Account>({
        workspaceId: String,
        name: String,
        token: String,
        note: String,
      });
      schema.plugin(cmekPlugin, { envelope, fields: [...ENCRYPTED], tenantPath: 'workspaceId' });
      return db.conn.model<Account>('TenantAccount', schema, COLLECTION);
    }

    beforeAll(async () => {
      db = await openDatabase(mongoose, mongoUrl!);
      kekA = memoryKekProvider({ keyRef: 'tenant-a' });
      kekB = memoryKekProvider({ keyRef: 'tenant-b' });
      appKek = memoryKekProvider({ keyRef: 'app-default' });
      forB = kekB;
      envelope = createTenantEnvelope({
        defaultKek: appKek,
        resolve: (tenant) =>
          tenant === 'a' ? kekA : tenant === 'b' ? forB : tenant === 'd' ? 'default' : undefined,
      });
      Accounts = accountModel();
      await Accounts.init();
    });
    afterAll(async () => {
      await db?.close();
      await envelope?.close();
    });
    beforeEach(async () => {
      await db.raw.collection(COLLECTION).deleteMany({});
      kekB.failWith = undefined;
      forB = kekB;
      await envelope.forgetTenant('b');
    });

    const stored = (name: string): Promise<Document | null> =>
      db.raw.collection(COLLECTION).findOne({ name });
    /** The key reference of the KEK each encrypted path of the stored document is under. */
    const keysOf = async (name: string): Promise<Record<string, string | null>> => {
      const doc = await stored(name);
      expect(doc).not.toBeNull();
      return Object.fromEntries(
        ENCRYPTED.map((p) => [
          p,
          typeof doc![p] === 'string' ? inspectToken(doc![p] as string).keyRef : null,
        ]),
      );
    };
    const under = (keyRef: string) => ({ token: keyRef, note: keyRef });
    const docCount = () => db.raw.collection(COLLECTION).countDocuments({});
    const codeOf = async (run: Promise<unknown>): Promise<string | undefined> => {
      try {
        await run;
        return undefined;
      } catch (error) {
        return CmekError.isInstance(error) ? error.code : String(error);
      }
    };

    it('save, create and insertMany store each document under its tenant KEK; finds read them back', async () => {
      await new Accounts({ workspaceId: 'a', name: 'a1', token: 'ta1', note: 'na1' }).save();
      await Accounts.create({ workspaceId: 'b', name: 'b1', token: 'tb1', note: 'nb1' });
      await envelope.forgetTenant('a');
      kekA.resetCalls();
      await Accounts.insertMany([
        { workspaceId: 'a', name: 'a2', token: 'ta2', note: 'na2' },
        { workspaceId: 'd', name: 'd1', token: 'td1', note: 'nd1' },
        { workspaceId: 'a', name: 'a3', token: 'ta3', note: 'na3' },
      ]);
      expect(kekA.calls.generateDataKey).toBe(1);
      expect(await keysOf('a1')).toEqual(under('tenant-a'));
      expect(await keysOf('a2')).toEqual(under('tenant-a'));
      expect(await keysOf('a3')).toEqual(under('tenant-a'));
      expect(await keysOf('b1')).toEqual(under('tenant-b'));
      expect(await keysOf('d1')).toEqual(under('app-default'));
      const hydrated = await Accounts.find().sort({ name: 1 });
      expect(hydrated.map((d) => [d.name, d.token, d.note])).toEqual([
        ['a1', 'ta1', 'na1'],
        ['a2', 'ta2', 'na2'],
        ['a3', 'ta3', 'na3'],
        ['b1', 'tb1', 'nb1'],
        ['d1', 'td1', 'nd1'],
      ]);
      const lean = await Accounts.findOne({ name: 'b1' }).lean();
      expect(lean?.token).toBe('tb1');
    });

    it('a document without a tenant, or of a tenant the resolver does not know, is refused and not written', async () => {
      appKek.resetCalls();
      await expect(Accounts.create({ name: 'none', token: 't', note: 'n' })).rejects.toThrow(
        CmekUnknownTenantError,
      );
      await expect(
        new Accounts({ workspaceId: 'zzz', name: 'unknown', token: 't' }).save(),
      ).rejects.toThrow(CmekUnknownTenantError);
      await expect(
        Accounts.insertMany([
          { workspaceId: 'a', name: 'ok', token: 't' },
          { workspaceId: null, name: 'null', token: 't' },
        ]),
      ).rejects.toThrow(CmekUnknownTenantError);
      expect(await docCount()).toBe(0);
      expect(appKek.calls.generateDataKey).toBe(0);
    });

    it('updateOne takes the tenant from its $set or its filter, and is refused without one', async () => {
      await Accounts.create({ workspaceId: 'b', name: 'b1', token: 'old', note: 'n' });
      await Accounts.updateOne({ workspaceId: 'b', name: 'b1' }, { $set: { token: 'new' } });
      expect((await keysOf('b1')).token).toBe('tenant-b');
      await Accounts.updateMany({ $and: [{ workspaceId: { $eq: 'b' } }] }, { note: 'n2' });
      expect((await keysOf('b1')).note).toBe('tenant-b');
      const before = (await stored('b1'))!.token;
      await expect(Accounts.updateOne({ name: 'b1' }, { $set: { token: 'x' } })).rejects.toThrow(
        CmekUnknownTenantError,
      );
      expect((await stored('b1'))!.token).toBe(before);
      const doc = await Accounts.findOne({ name: 'b1' });
      expect([doc?.token, doc?.note]).toEqual(['new', 'n2']);
    });

    it('moving a document to another tenant writes every encrypted path under the new tenant, or is refused', async () => {
      await Accounts.create({ workspaceId: 'a', name: 'm', token: 't', note: 'n' });
      await expect(
        Accounts.updateOne({ name: 'm' }, { $set: { workspaceId: 'b', token: 't2' } }),
      ).rejects.toThrow(CmekQueryError);
      await expect(
        Accounts.updateOne({ name: 'm' }, { $unset: { workspaceId: 1 } }),
      ).rejects.toThrow(CmekQueryError);
      expect((await stored('m'))!.workspaceId).toBe('a');
      await Accounts.updateOne(
        { name: 'm', workspaceId: 'a' },
        { $set: { workspaceId: 'b', token: 't2', note: 'n2' } },
      );
      expect(await keysOf('m')).toEqual(under('tenant-b'));
      // save() of a loaded document whose tenant changed writes every value again
      const doc = await Accounts.findOne({ name: 'm' });
      doc!.workspaceId = 'a';
      await doc!.save();
      expect(await keysOf('m')).toEqual(under('tenant-a'));
      const back = await Accounts.findOne({ name: 'm' }).lean();
      expect([back?.token, back?.note]).toEqual(['t2', 'n2']);
    });

    it('bulkWrite and replaceOne encrypt each operation under its own tenant', async () => {
      await Accounts.create({ workspaceId: 'a', name: 'a1', token: 't', note: 'n' });
      await Accounts.bulkWrite([
        { insertOne: { document: { workspaceId: 'b', name: 'b1', token: 'tb', note: 'nb' } } },
        { updateOne: { filter: { workspaceId: 'a', name: 'a1' }, update: { token: 'ta' } } },
      ]);
      expect(await keysOf('b1')).toEqual(under('tenant-b'));
      expect((await keysOf('a1')).token).toBe('tenant-a');
      await expect(
        Accounts.bulkWrite([{ updateOne: { filter: { name: 'a1' }, update: { token: 'x' } } }]),
      ).rejects.toThrow(CmekUnknownTenantError);
      await Accounts.replaceOne(
        { name: 'b1' },
        { workspaceId: 'd', name: 'b1', token: 'td', note: 'nd' },
      );
      expect(await keysOf('b1')).toEqual(under('app-default'));
      const docs = await Accounts.find().sort({ name: 1 }).lean();
      expect(docs.map((d) => d.token)).toEqual(['ta', 'td']);
    });

    it('connection.bulkWrite, findOneAndUpdate, an upsert and bulkSave of a new document use its tenant; bulkSave of a loaded document and an update pipeline writing the tenant path are refused', async () => {
      const removeStandIn = await standInClientBulkWrite(db);
      try {
        await db.conn.bulkWrite([
          {
            model: Accounts,
            name: 'insertOne',
            document: { workspaceId: 'b', name: 'b1', token: 'tb', note: 'nb' },
          },
        ] as unknown as Parameters<typeof db.conn.bulkWrite>[0]);
        expect(await keysOf('b1')).toEqual(under('tenant-b'));
        await expect(
          db.conn.bulkWrite([
            { model: Accounts, name: 'updateOne', filter: { name: 'b1' }, update: { token: 'x' } },
          ] as unknown as Parameters<typeof db.conn.bulkWrite>[0]),
        ).rejects.toThrow(CmekUnknownTenantError);
      } finally {
        removeStandIn();
      }
      const found = await Accounts.findOneAndUpdate(
        { workspaceId: 'b', name: 'b1' },
        { $set: { note: 'nb2' } },
        { new: true },
      );
      expect(found?.note).toBe('nb2');
      expect((await keysOf('b1')).note).toBe('tenant-b');
      await Accounts.updateOne(
        { workspaceId: 'a', name: 'up' },
        { $set: { token: 'tu', note: 'nu' } },
        { upsert: true },
      );
      expect(await keysOf('up')).toEqual(under('tenant-a'));
      // bulkSave: a new document under its tenant; a loaded one's update (filter { _id }) is refused
      await Accounts.bulkSave([new Accounts({ workspaceId: 'd', name: 'd1', token: 'td' })]);
      expect((await keysOf('d1')).token).toBe('app-default');
      const doc = await Accounts.findOne({ name: 'up' });
      doc!.token = 'tu2';
      const before = (await stored('up'))!.token;
      await expect(Accounts.bulkSave([doc!])).rejects.toThrow(CmekUnknownTenantError);
      expect((await stored('up'))!.token).toBe(before);
      await expect(
        Accounts.updateOne({ name: 'up' }, [{ $set: { workspaceId: 'b' } }], {
          updatePipeline: true,
        } as never),
      ).rejects.toThrow(CmekQueryError);
      expect((await stored('up'))!.workspaceId).toBe('a');
    });

    it('a projection that leaves out the tenant path while selecting an encrypted one is refused', async () => {
      await Accounts.create({ workspaceId: 'a', name: 'a1', token: 't', note: 'n' });
      await expect(Accounts.find({}, { token: 1 })).rejects.toThrow(CmekQueryError);
      await expect(Accounts.findOne({}, { workspaceId: 0 }).lean()).rejects.toThrow(CmekQueryError);
      const ok = await Accounts.findOne({}, { token: 1, workspaceId: 1 });
      expect(ok?.token).toBe('t');
      const names = await Accounts.find({}, { name: 1 }).lean();
      expect(names.map((d) => d.name)).toEqual(['a1']);
    });

    it("a token copied into another tenant's document does not decrypt there", async () => {
      await Accounts.create({ workspaceId: 'a', name: 'a1', token: 'secret-a' });
      await Accounts.create({ workspaceId: 'b', name: 'b1', token: 'secret-b' });
      await Accounts.create({ workspaceId: 'd', name: 'd1', token: 'secret-d' });
      const coll = db.raw.collection(COLLECTION);
      await coll.updateOne({ name: 'b1' }, { $set: { token: (await stored('a1'))!.token } });
      expect(await codeOf(Accounts.findOne({ name: 'b1' }))).toBe('CMEK_UNKNOWN_KEK');
      // a default-KEK tenant's token in tenant a's document
      await coll.insertOne({ workspaceId: 'a', name: 'a3', token: (await stored('d1'))!.token });
      expect(await codeOf(Accounts.findOne({ name: 'a3' }).lean())).toBe('CMEK_UNKNOWN_KEK');
      expect((await Accounts.findOne({ name: 'a1' }))?.token).toBe('secret-a');
    });

    it('after forgetTenant and a revoked KEK, that tenant fails with CmekTenantKeyRevokedError and the other reads and writes', async () => {
      await Accounts.create({ workspaceId: 'a', name: 'a1', token: 'ta' });
      await Accounts.create({ workspaceId: 'b', name: 'b1', token: 'tb' });
      kekB.failWith = new CmekKekAccessDeniedError('the key is disabled');
      await envelope.forgetTenant('b');
      await expect(Accounts.findOne({ name: 'b1' })).rejects.toThrow(CmekTenantKeyRevokedError);
      await expect(Accounts.create({ workspaceId: 'b', name: 'b2', token: 'x' })).rejects.toThrow(
        CmekTenantKeyRevokedError,
      );
      expect(await stored('b2')).toBeNull();
      expect((await Accounts.findOne({ name: 'a1' }))?.token).toBe('ta');
      await Accounts.create({ workspaceId: 'a', name: 'a2', token: 'ta2' });
      expect((await keysOf('a2')).token).toBe('tenant-a');
    });

    it("the row store scans and counts one tenant's documents; rewrap with { tenant } moves exactly that tenant's values", async () => {
      await Accounts.insertMany([
        { workspaceId: 'a', name: 'a1', token: 'ta1', note: 'na1' },
        { workspaceId: 'b', name: 'b1', token: 'tb1', note: 'nb1' },
        { workspaceId: 'b', name: 'b2', token: 'tb2', note: 'nb2' },
      ]);
      const store = mongooseRowStore(Accounts);
      expect(store.tenantColumn).toBe('workspaceId');
      expect(await store.count({ tenant: 'b' })).toBe(2);
      expect(await store.count()).toBe(3);
      const rows = await store.scan(undefined, 10, { tenant: 'b' });
      expect(rows.map((r) => r.tenant)).toEqual(['b', 'b']);
      expect(store.contextFor('token', 'b')).toEqual({
        field: 'TenantAccount.token',
        [envelope.tenantKey]: 'b',
      });
      const kekB2 = memoryKekProvider({ keyRef: 'tenant-b2' });
      forB = createKeyring({ primary: kekB2, decryptOnly: [kekB] });
      await envelope.forgetTenant('b');
      const aBefore = await stored('a1');
      const report = await rewrap(store, { keyring: await envelope.keyringFor('b'), tenant: 'b' });
      expect(report.rows).toBe(2);
      expect(report.fields.token?.written).toBe(2);
      expect(await keysOf('b1')).toEqual(under('tenant-b2'));
      expect(await keysOf('b2')).toEqual(under('tenant-b2'));
      expect(await stored('a1')).toEqual(aBefore);
      const inventory = await verify(store, { envelope, tenant: 'b' });
      expect(inventory.fields.token?.undecryptable ?? 0).toBe(0);
      const docs = await Accounts.find().sort({ name: 1 }).lean();
      expect(docs.map((d) => d.token)).toEqual(['ta1', 'tb1', 'tb2']);
    });

    it('setup: tenantPath needs a tenant envelope and a declared, unencrypted top-level path; a tenant envelope needs tenantPath', () => {
      const schema = (fields: Record<string, unknown>) => new mongoose.Schema(fields);
      const plain = createEnvelope({ kek: memoryKekProvider() });
      expect(() =>
        cmekPlugin(schema({ w: String, token: String }), {
          envelope: plain,
          fields: ['token'],
          tenantPath: 'w',
        }),
      ).toThrow(/tenant envelope/);
      expect(() =>
        cmekPlugin(schema({ token: String }), { envelope, fields: ['token'], tenantPath: 'w' }),
      ).toThrow(CmekConfigError);
      expect(() =>
        cmekPlugin(schema({ token: String }), { envelope, fields: ['token'], tenantPath: 'token' }),
      ).toThrow(/encrypted path/);
      expect(() =>
        cmekPlugin(schema({ a: { w: String }, token: String }), {
          envelope,
          fields: ['token'],
          tenantPath: 'a.w',
        }),
      ).toThrow(/top-level/);
      expect(() => cmekPlugin(schema({ token: String }), { envelope, fields: ['token'] })).toThrow(
        /needs `tenantPath`/,
      );
    });
  });
}
