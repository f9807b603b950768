/**
 * A tenant envelope (`createTenantEnvelope`) through the extension, on PostgreSQL: two tenants on
 * two KEKs plus one on the default KEK. Each write path stores the value under its record's
 * tenant's KEK (read back with SQL, the KEK named by the token), a record without a known tenant
 * is refused and not written, a token copied to another tenant's record does not read, a revoked
 * tenant fails alone, and core's engine moves exactly one tenant's values.
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
  type Envelope,
  inspectToken,
  type KekProvider,
  type Keyring,
  type Row,
  type TenantEnvelope,
} from '@cmek/core';
import { rewrap, verify } from '@cmek/core/engine';
import { type MemoryKekProvider, memoryKekProvider } from '@cmek/test-suite';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type CmekModelOptions, cmekExtension, prismaRowStore } from '../src/index';
import { openDatabase, pgUrl, type TestDatabase } from './support/db';

const ACCOUNT = { fields: ['token', 'note'], tenantColumn: 'workspaceId' } as const;

function extendWith(t: TestDatabase, envelope: Envelope, account: CmekModelOptions = ACCOUNT) {
  return t.plain.$extends(cmekExtension({ envelope, models: { Account: account } }));
}

describe.skipIf(!pgUrl)('tenant envelope', () => {
  let t: TestDatabase;
  let db: ReturnType<typeof extendWith>;
  let envelope: TenantEnvelope;
  let kekA: MemoryKekProvider;
  let kekB: MemoryKekProvider;
  let appKek: MemoryKekProvider;
  /** What the resolver answers for 'b' (a test replaces it to move the tenant). */
  let forB: KekProvider | Keyring;

  beforeAll(async () => {
    t = await openDatabase('tenant');
    kekA = memoryKekProvider({ keyRef: 'tenant-a' });
    kekB = memoryKekProvider({ keyRef: 'tenant-b' });
    appKek = memoryKekProvider({ keyRef: 'app-default' });
    forB = kekB;
    envelope = createTenantEnvelope({
      defaultKek: appKek,
      resolve: (tenant) =>
        tenant === 'a' ? kekA : tenant === 'b' ? forB : tenant === 'd' ? 'default' : undefined,
    });
    db = extendWith(t, envelope);
  });
  afterAll(() => t?.close());
  beforeEach(async () => {
    await t.raw.query('delete from prisma_accounts');
    kekB.failWith = undefined;
    forB = kekB;
    await envelope.forgetTenant('b');
  });

  const stored = async (name: string): Promise<Record<string, unknown> | undefined> =>
    (await t.raw.query('select * from prisma_accounts where name = $1', [name])).rows[0];
  /** The key reference of the KEK each encrypted field of the stored record is under. */
  const keysOf = async (name: string) => {
    const row = await stored(name);
    expect(row).toBeDefined();
    return Object.fromEntries(
      ['token', 'note'].map((f) => [
        f,
        typeof row![f] === 'string' ? inspectToken(row![f] as string).keyRef : null,
      ]),
    );
  };
  const under = (keyRef: string) => ({ token: keyRef, note: keyRef });
  const rowCount = async () =>
    Number(
      (await t.raw.query<{ n: string }>('select count(*) as n from prisma_accounts')).rows[0]!.n,
    );
  const codeOf = async (run: PromiseLike<unknown>): Promise<string | undefined> => {
    try {
      await run;
      return undefined;
    } catch (error) {
      return CmekError.isInstance(error) ? error.code : String(error);
    }
  };

  it('createMany of three tenants stores each record under its tenant KEK, one batch per field and tenant', async () => {
    kekA.resetCalls();
    kekB.resetCalls();
    await db.account.createMany({
      data: [
        { workspaceId: 'a', name: 'a1', token: 'ta1', note: 'na1' },
        { workspaceId: 'b', name: 'b1', token: 'tb1', note: 'nb1' },
        { workspaceId: 'a', name: 'a2', token: 'ta2', note: 'na2' },
        { workspaceId: 'd', name: 'd1', token: 'td1', note: 'nd1' },
      ],
    });
    expect(await keysOf('a1')).toEqual(under('tenant-a'));
    expect(await keysOf('a2')).toEqual(under('tenant-a'));
    expect(await keysOf('b1')).toEqual(under('tenant-b'));
    expect(await keysOf('d1')).toEqual(under('app-default'));
    expect(kekA.calls.generateDataKey).toBe(1);
    expect(kekB.calls.generateDataKey).toBe(1);
    const rows = await db.account.findMany({ orderBy: { name: 'asc' } });
    expect(rows.map((r) => [r.name, r.token, r.note])).toEqual([
      ['a1', 'ta1', 'na1'],
      ['a2', 'ta2', 'na2'],
      ['b1', 'tb1', 'nb1'],
      ['d1', 'td1', 'nd1'],
    ]);
  });

  it('a record without a tenant, or of a tenant the resolver does not know, is refused and not written', async () => {
    appKek.resetCalls();
    await expect(db.account.create({ data: { name: 'none', token: 't' } })).rejects.toThrow(
      CmekUnknownTenantError,
    );
    await expect(
      db.account.create({ data: { workspaceId: 'zzz', name: 'unknown', token: 't' } }),
    ).rejects.toThrow(CmekUnknownTenantError);
    await expect(
      db.account.createMany({
        data: [
          { workspaceId: 'a', name: 'ok', token: 't' },
          { workspaceId: null, name: 'null', token: 't' },
        ],
      }),
    ).rejects.toThrow(CmekUnknownTenantError);
    expect(await rowCount()).toBe(0);
    expect(appKek.calls.generateDataKey).toBe(0);
  });

  it('update and updateMany take the tenant from the where, and are refused without it', async () => {
    const a1 = await db.account.create({
      data: { workspaceId: 'a', name: 'a1', token: 'old', note: 'n' },
    });
    const b1 = await db.account.create({
      data: { workspaceId: 'b', name: 'b1', token: 'old', note: 'n' },
    });
    await db.account.update({ where: { id: b1.id, workspaceId: 'b' }, data: { token: 'new-b' } });
    expect((await keysOf('b1')).token).toBe('tenant-b');
    await db.account.updateMany({
      where: { AND: [{ workspaceId: { equals: 'a' } }, { name: 'a1' }] },
      data: { note: 'new-a' },
    });
    expect((await keysOf('a1')).note).toBe('tenant-a');
    const before = await stored('a1');
    await expect(db.account.update({ where: { id: a1.id }, data: { token: 'x' } })).rejects.toThrow(
      CmekUnknownTenantError,
    );
    expect(await stored('a1')).toEqual(before);
    const found = await db.account.findMany({ orderBy: { name: 'asc' } });
    expect(found.map((r) => [r.token, r.note])).toEqual([
      ['old', 'new-a'],
      ['new-b', 'n'],
    ]);
  });

  it('moving a record to another tenant writes every encrypted field under the new tenant, or is refused', async () => {
    const m = await db.account.create({
      data: { workspaceId: 'a', name: 'm', token: 't', note: 'n' },
    });
    const before = await stored('m');
    await expect(
      db.account.update({ where: { id: m.id }, data: { workspaceId: 'b' } }),
    ).rejects.toThrow(CmekQueryError);
    await expect(
      db.account.update({ where: { id: m.id }, data: { workspaceId: 'b', token: 't2' } }),
    ).rejects.toThrow(/without note/);
    expect(await stored('m')).toEqual(before);
    const moved = await db.account.update({
      where: { id: m.id },
      data: { workspaceId: { set: 'b' }, token: 't2', note: 'n2' },
    });
    expect([moved.workspaceId, moved.token, moved.note]).toEqual(['b', 't2', 'n2']);
    expect(await keysOf('m')).toEqual(under('tenant-b'));
  });

  it("upsert encrypts its create under the data's tenant and its update under the where's", async () => {
    await db.account.upsert({
      where: { name: 'u' },
      create: { workspaceId: 'b', name: 'u', token: 'tb', note: 'nb' },
      update: {},
    });
    expect(await keysOf('u')).toEqual(under('tenant-b'));
    await expect(
      db.account.upsert({
        where: { name: 'u' },
        create: { workspaceId: 'b', name: 'u', token: 'x' },
        update: { token: 'y' },
      }),
    ).rejects.toThrow(CmekUnknownTenantError);
    const updated = await db.account.upsert({
      where: { name: 'u', workspaceId: 'b' },
      create: { workspaceId: 'b', name: 'u', token: 'x' },
      update: { token: 'tb2' },
    });
    expect(updated.token).toBe('tb2');
    expect((await keysOf('u')).token).toBe('tenant-b');
  });

  it('a select of an encrypted field without the tenant field is refused (and the create not run)', async () => {
    await db.account.create({ data: { workspaceId: 'a', name: 'a1', token: 't', note: 'n' } });
    await expect(db.account.findMany({ select: { token: true } })).rejects.toThrow(
      /needs Account.workspaceId, its tenant field/,
    );
    await expect(db.account.findMany({ omit: { workspaceId: true } })).rejects.toThrow(
      CmekQueryError,
    );
    await expect(
      db.account.create({
        data: { workspaceId: 'a', name: 'a2', token: 't' },
        select: { token: true },
      }),
    ).rejects.toThrow(CmekQueryError);
    expect(await rowCount()).toBe(1);
    expect(await db.account.findMany({ select: { token: true, workspaceId: true } })).toEqual([
      { token: 't', workspaceId: 'a' },
    ]);
  });

  it("a token copied into another tenant's record does not decrypt there", async () => {
    await db.account.createMany({
      data: [
        { workspaceId: 'a', name: 'a1', token: 'secret-a' },
        { workspaceId: 'b', name: 'b1', token: 'tb' },
        { workspaceId: 'd', name: 'd2', token: 'td' },
      ],
    });
    const a1 = await stored('a1');
    await t.raw.query('update prisma_accounts set token = $1 where name = $2', [a1!.token, 'b1']);
    expect(await codeOf(db.account.findUnique({ where: { name: 'b1' } }))).toBe('CMEK_UNKNOWN_KEK');
    await t.raw.query('update prisma_accounts set "workspaceId" = $1 where name = $2', [
      'zzz',
      'd2',
    ]);
    expect(await codeOf(db.account.findUnique({ where: { name: 'd2' } }))).toBe(
      'CMEK_UNKNOWN_TENANT',
    );
    expect((await db.account.findUnique({ where: { name: 'a1' } }))?.token).toBe('secret-a');
  });

  it('after forgetTenant and a revoked KEK, that tenant fails with CmekTenantKeyRevokedError and the other reads and writes', async () => {
    await db.account.createMany({
      data: [
        { workspaceId: 'a', name: 'a1', token: 'ta' },
        { workspaceId: 'b', name: 'b1', token: 'tb' },
      ],
    });
    kekB.failWith = new CmekKekAccessDeniedError('the key is disabled');
    await envelope.forgetTenant('b');
    await expect(db.account.findMany({ where: { workspaceId: 'b' } })).rejects.toThrow(
      CmekTenantKeyRevokedError,
    );
    await expect(
      db.account.create({ data: { workspaceId: 'b', name: 'b2', token: 't' } }),
    ).rejects.toThrow(CmekTenantKeyRevokedError);
    expect(await stored('b2')).toBeUndefined();
    await db.account.create({ data: { workspaceId: 'a', name: 'a2', token: 'ta2' } });
    const rows = await db.account.findMany({
      where: { workspaceId: 'a' },
      orderBy: { name: 'asc' },
    });
    expect(rows.map((r) => r.token)).toEqual(['ta', 'ta2']);
  });

  it("the row store scans and counts one tenant's records; rewrap with { tenant } moves exactly that tenant's values", async () => {
    await db.account.createMany({
      data: [
        { workspaceId: 'a', name: 'a1', token: 'ta1', note: 'n' },
        { workspaceId: 'b', name: 'b1', token: 'tb1', note: 'n' },
        { workspaceId: 'a', name: 'a2', token: 'ta2', note: 'n' },
        { workspaceId: 'b', name: 'b2', token: 'tb2', note: null },
      ],
    });
    const store = prismaRowStore({
      client: t.plain,
      model: 'Account',
      fields: ACCOUNT.fields,
      tenantColumn: 'workspaceId',
    });
    expect(store.tenantColumn).toBe('workspaceId');
    const scanned = await store.scan(undefined, 10, { tenant: 'b' });
    expect(scanned.map((r: Row) => [r.tenant, r.values.note === null])).toEqual([
      ['b', false],
      ['b', true],
    ]);
    expect(await store.count({ tenant: 'b' })).toBe(2);
    expect(await store.count()).toBe(4);
    expect(store.contextFor('token', 'b')).toEqual({ field: 'Account.token', tenant: 'b' });

    const aBefore = [await stored('a1'), await stored('a2')];
    forB = createKeyring({
      primary: memoryKekProvider({ keyRef: 'tenant-b-2' }),
      decryptOnly: [kekB],
    });
    await envelope.forgetTenant('b');
    const report = await rewrap(store, { keyring: await envelope.keyringFor('b'), tenant: 'b' });
    expect(report.rows).toBe(2);
    expect(await keysOf('b1')).toEqual(under('tenant-b-2'));
    expect(await keysOf('b2')).toEqual({ token: 'tenant-b-2', note: null });
    expect([await stored('a1'), await stored('a2')]).toEqual(aBefore);
    const inventory = await verify(store, { envelope, tenant: 'b' });
    expect(inventory.fields.token?.undecryptable).toBe(0);
    const rows = await db.account.findMany({ where: { workspaceId: 'b' } });
    expect(rows.map((r) => r.token).sort()).toEqual(['tb1', 'tb2']);
  });

  it('setup: tenantColumn needs a tenant envelope and a scalar, unencrypted field; a tenant envelope needs tenantColumn', () => {
    const plain = createEnvelope({ kek: memoryKekProvider() });
    expect(() => extendWith(t, plain)).toThrow(/needs a tenant envelope/);
    expect(() => extendWith(t, envelope, { fields: ['token'] })).toThrow(CmekConfigError);
    expect(() => extendWith(t, envelope, { fields: ['token'], tenantColumn: 'nope' })).toThrow(
      /has no field nope/,
    );
    expect(() => extendWith(t, envelope, { fields: ['token'], tenantColumn: 'token' })).toThrow(
      /tenant field cannot be/,
    );
    expect(() =>
      extendWith(t, envelope, { fields: ['token'], tenantColumn: 'workspaceId' }),
    ).not.toThrow();
  });
});
