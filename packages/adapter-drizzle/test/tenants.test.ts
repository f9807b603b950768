/**
 * A tenant envelope (`createTenantEnvelope`) through the wrapper, on SQLite and PostgreSQL: two
 * tenants on two KEKs plus one on the default KEK. Each write path stores the value under its
 * row's tenant's KEK (read back around Drizzle, the KEK named by the token), a row without a
 * known tenant is refused and not written, a token copied to another tenant's row does not read,
 * a revoked tenant fails alone, and core's engine moves exactly one tenant's values.
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
import { and, eq } from 'drizzle-orm';
import * as pgc from 'drizzle-orm/pg-core';
import * as lite from 'drizzle-orm/sqlite-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type CmekDatabase, type ColumnWidth, withCmek } from '../src/index';
import {
  type AnyDb,
  type AnyTable,
  type Connection,
  databases,
  type Tables,
  type TestDatabase,
  uniquePrefix,
} from './support/databases';

/** The test table: `workspace_id` holds the tenant; token, note and seed are encrypted. */
function accountsTable(d: TestDatabase, name: string): AnyTable {
  if (d.name === 'sqlite') {
    return lite.sqliteTable(name, {
      id: lite.integer('id').primaryKey({ autoIncrement: true }),
      workspaceId: lite.text('workspace_id'),
      name: lite.text('name').notNull().unique(),
      token: lite.text('token'),
      note: lite.text('note'),
      seed: lite.text('seed').$defaultFn(() => 'seeded'),
    });
  }
  return pgc.pgTable(name, {
    id: pgc.serial('id').primaryKey(),
    workspaceId: pgc.text('workspace_id'),
    name: pgc.varchar('name', { length: 64 }).notNull().unique(),
    token: pgc.text('token'),
    note: pgc.text('note'),
    seed: pgc.text('seed').$defaultFn(() => 'seeded'),
  });
}

const ddl = (d: TestDatabase, name: string) =>
  `create table ${name} (id ${d.name === 'sqlite' ? 'integer primary key autoincrement' : 'serial primary key'}, workspace_id text, name varchar(64) not null unique, token text, note text, seed text)`;

const ENCRYPTED = ['token', 'note', 'seed'];

for (const d of databases.filter((db) => db.name !== 'mysql')) {
  describe.skipIf(!d.available)(`tenant envelope on ${d.name}`, () => {
    let raw: Connection;
    let base: Connection;
    let app: CmekDatabase<AnyDb>;
    let envelope: TenantEnvelope;
    let accounts: AnyTable;
    let table: string;
    let kekA: MemoryKekProvider;
    let kekB: MemoryKekProvider;
    let appKek: MemoryKekProvider;
    /** What the resolver answers for 'b' (a test replaces it to move the tenant). */
    let forB: KekProvider | Keyring;

    beforeAll(async () => {
      const prefix = uniquePrefix('t');
      table = `${prefix}accounts`;
      accounts = accountsTable(d, table);
      const t: Tables = { ...d.tables(prefix), schema: { accounts } };
      raw = d.connect(t);
      base = d.connect(t);
      await raw.raw(`drop table if exists ${table}`);
      await raw.raw(ddl(d, table));
      kekA = memoryKekProvider({ keyRef: 'tenant-a' });
      kekB = memoryKekProvider({ keyRef: 'tenant-b' });
      appKek = memoryKekProvider({ keyRef: 'app-default' });
      forB = kekB;
      envelope = createTenantEnvelope({
        defaultKek: appKek,
        resolve: (tenant) =>
          tenant === 'a' ? kekA : tenant === 'b' ? forB : tenant === 'd' ? 'default' : undefined,
      });
      app = withCmek(base.db, {
        envelope,
        tables: [{ table: accounts, columns: ENCRYPTED, tenantColumn: 'workspace_id' }],
      });
    });
    afterAll(async () => {
      await raw.raw(`drop table if exists ${table}`);
      await Promise.all([raw.close(), base.close()]);
    });
    beforeEach(async () => {
      await raw.raw(`delete from ${table}`);
      kekB.failWith = undefined;
      forB = kekB;
      await envelope.forgetTenant('b');
    });

    const stored = async (name: string): Promise<Record<string, unknown> | undefined> =>
      (await raw.raw(`select * from ${table} where name = ?`, [name]))[0];
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
    const rowCount = async () =>
      Number((await raw.raw(`select count(*) as n from ${table}`))[0]!.n);
    const under = (keyRef: string) => ({ token: keyRef, note: keyRef, seed: keyRef });
    const codeOf = async (run: Promise<unknown>): Promise<string | undefined> => {
      try {
        await run;
        return undefined;
      } catch (error) {
        return CmekError.isInstance(error) ? error.code : String(error);
      }
    };

    it('insert().values() of three tenants stores each row under its tenant KEK, one batch per column and tenant', async () => {
      kekA.resetCalls();
      kekB.resetCalls();
      await app.insert(accounts).values([
        { workspaceId: 'a', name: 'a1', token: 'ta1', note: 'na1', seed: 'sa1' },
        { workspaceId: 'b', name: 'b1', token: 'tb1', note: 'nb1', seed: 'sb1' },
        { workspaceId: 'a', name: 'a2', token: 'ta2', note: 'na2', seed: 'sa2' },
        { workspaceId: 'd', name: 'd1', token: 'td1', note: 'nd1', seed: 'sd1' },
      ]);
      expect(await keysOf('a1')).toEqual(under('tenant-a'));
      expect(await keysOf('a2')).toEqual(under('tenant-a'));
      expect(await keysOf('b1')).toEqual(under('tenant-b'));
      expect(await keysOf('d1')).toEqual(under('app-default'));
      expect(kekA.calls.generateDataKey).toBe(1);
      expect(kekB.calls.generateDataKey).toBe(1);
      const rows = await app.select().from(accounts).orderBy(accounts.name);
      expect(rows.map((r: Record<string, unknown>) => [r.name, r.token, r.note, r.seed])).toEqual([
        ['a1', 'ta1', 'na1', 'sa1'],
        ['a2', 'ta2', 'na2', 'sa2'],
        ['b1', 'tb1', 'nb1', 'sb1'],
        ['d1', 'td1', 'nd1', 'sd1'],
      ]);
    });

    it('a $defaultFn value of an encrypted column is encrypted under the row tenant; over several tenants it is refused', async () => {
      await app.insert(accounts).values({ workspaceId: 'b', name: 'b1', token: 't' });
      expect((await keysOf('b1')).seed).toBe('tenant-b');
      const [row] = await app
        .select({ seed: accounts.seed, ws: accounts.workspaceId })
        .from(accounts)
        .where(eq(accounts.name, 'b1'));
      expect(row.seed).toBe('seeded');
      await expect(
        app.insert(accounts).values([
          { workspaceId: 'a', name: 'x1', token: 't' },
          { workspaceId: 'b', name: 'x2', token: 't' },
        ]),
      ).rejects.toThrow(CmekQueryError);
      expect(await rowCount()).toBe(1);
    });

    it('a row without a tenant, or of a tenant the resolver does not know, is refused and not written', async () => {
      appKek.resetCalls();
      await expect(
        app.insert(accounts).values({ name: 'none', token: 't', note: 'n', seed: 's' }),
      ).rejects.toThrow(CmekUnknownTenantError);
      await expect(
        app
          .insert(accounts)
          .values({ workspaceId: 'zzz', name: 'unknown', token: 't', note: 'n', seed: 's' }),
      ).rejects.toThrow(CmekUnknownTenantError);
      await expect(
        app.insert(accounts).values([
          { workspaceId: 'a', name: 'ok', token: 't', note: 'n', seed: 's' },
          { workspaceId: null, name: 'null', token: 't', note: 'n', seed: 's' },
        ]),
      ).rejects.toThrow(CmekUnknownTenantError);
      expect(await rowCount()).toBe(0);
      expect(appKek.calls.generateDataKey).toBe(0);
    });

    it('update().set() takes the tenant from eq(tenantColumn) in its filter, and is refused without it', async () => {
      await app.insert(accounts).values([
        { workspaceId: 'a', name: 'a1', token: 'old', note: 'n', seed: 's' },
        { workspaceId: 'b', name: 'b1', token: 'old', note: 'n', seed: 's' },
      ]);
      await app
        .update(accounts)
        .set({ token: 'new-b' })
        .where(and(eq(accounts.workspaceId, 'b'), eq(accounts.name, 'b1')));
      expect((await keysOf('b1')).token).toBe('tenant-b');
      const before = await stored('a1');
      await expect(
        app.update(accounts).set({ token: 'new-a' }).where(eq(accounts.name, 'a1')),
      ).rejects.toThrow(CmekUnknownTenantError);
      expect(await stored('a1')).toEqual(before);
      const [b] = await app
        .select({ token: accounts.token, ws: accounts.workspaceId })
        .from(accounts)
        .where(eq(accounts.name, 'b1'));
      expect(b.token).toBe('new-b');
    });

    it('moving a row to another tenant writes every encrypted column under the new tenant, or is refused', async () => {
      await app
        .insert(accounts)
        .values({ workspaceId: 'a', name: 'm', token: 't', note: 'n', seed: 's' });
      const before = await stored('m');
      await expect(
        app.update(accounts).set({ workspaceId: 'b' }).where(eq(accounts.name, 'm')),
      ).rejects.toThrow(CmekQueryError);
      await expect(
        app.update(accounts).set({ workspaceId: 'b', token: 't2' }).where(eq(accounts.name, 'm')),
      ).rejects.toThrow(/without note, seed/);
      expect(await stored('m')).toEqual(before);
      await app
        .update(accounts)
        .set({ workspaceId: 'b', token: 't2', note: 'n2', seed: 's2' })
        .where(eq(accounts.name, 'm'));
      expect(await keysOf('m')).toEqual(under('tenant-b'));
    });

    it('onConflictDoUpdate writes its set under the tenant it writes; a set without the tenant column is refused', async () => {
      await app
        .insert(accounts)
        .values({ workspaceId: 'a', name: 'u', token: 't', note: 'n', seed: 's' });
      const before = await stored('u');
      expect(() =>
        app
          .insert(accounts)
          .values({ workspaceId: 'b', name: 'u', token: 'x', note: 'x', seed: 'x' })
          .onConflictDoUpdate({ target: accounts.name, set: { token: 'y' } }),
      ).toThrow(/without .*workspace_id, the tenant column/);
      expect(await stored('u')).toEqual(before);
      await app
        .insert(accounts)
        .values({ workspaceId: 'b', name: 'u', token: 'x', note: 'x', seed: 'x' })
        .onConflictDoUpdate({
          target: accounts.name,
          set: { workspaceId: 'b', token: 'tb', note: 'nb', seed: 'sb' },
        });
      expect(await keysOf('u')).toEqual(under('tenant-b'));
      const [row] = await app.select().from(accounts).where(eq(accounts.name, 'u'));
      expect([row.workspaceId, row.token, row.note, row.seed]).toEqual(['b', 'tb', 'nb', 'sb']);
    });

    it('a selection or returning() of an encrypted column without the tenant column is refused (and the insert not run)', async () => {
      await app
        .insert(accounts)
        .values({ workspaceId: 'a', name: 'a1', token: 't', note: 'n', seed: 's' });
      await expect(app.select({ token: accounts.token }).from(accounts)).rejects.toThrow(
        /needs .*workspace_id, its tenant column/,
      );
      await expect(
        app
          .insert(accounts)
          .values({ workspaceId: 'a', name: 'a2', token: 't', note: 'n', seed: 's' })
          .returning({ token: accounts.token }),
      ).rejects.toThrow(CmekQueryError);
      expect(await rowCount()).toBe(1);
      const [back] = await app
        .insert(accounts)
        .values({ workspaceId: 'b', name: 'b2', token: 'tb', note: 'n', seed: 's' })
        .returning({ token: accounts.token, ws: accounts.workspaceId });
      expect(back).toEqual({ token: 'tb', ws: 'b' });
      await expect(app.query.accounts.findMany({ columns: { token: true } })).rejects.toThrow(
        CmekQueryError,
      );
      const found = await app.query.accounts.findMany({
        columns: { token: true, workspaceId: true },
        orderBy: accounts.name,
      });
      expect(found).toEqual([
        { token: 't', workspaceId: 'a' },
        { token: 'tb', workspaceId: 'b' },
      ]);
    });

    it("a token copied into another tenant's row does not decrypt there", async () => {
      await app.insert(accounts).values([
        { workspaceId: 'a', name: 'a1', token: 'secret-a', note: 'n', seed: 's' },
        { workspaceId: 'b', name: 'b1', token: 'tb', note: 'n', seed: 's' },
        { workspaceId: 'd', name: 'd1', token: 'td', note: 'n', seed: 's' },
        { workspaceId: 'd', name: 'd2', token: 'td2', note: 'n', seed: 's' },
      ]);
      const a1 = await stored('a1');
      await raw.raw(`update ${table} set token = ? where name = ?`, [a1!.token, 'b1']);
      const read = (name: string) =>
        app
          .select({ token: accounts.token, ws: accounts.workspaceId })
          .from(accounts)
          .where(eq(accounts.name, name));
      expect(await codeOf(read('b1'))).toBe('CMEK_UNKNOWN_KEK');
      // two tenants on the default KEK: the context (the tenant) still tells them apart
      await raw.raw(`update ${table} set workspace_id = ? where name = ?`, ['zzz', 'd2']);
      expect(await codeOf(read('d2'))).toBe('CMEK_UNKNOWN_TENANT');
      expect(await read('a1')).toEqual([{ token: 'secret-a', ws: 'a' }]);
    });

    it('after forgetTenant and a revoked KEK, that tenant fails with CmekTenantKeyRevokedError and the other reads and writes', async () => {
      await app.insert(accounts).values([
        { workspaceId: 'a', name: 'a1', token: 'ta', note: 'n', seed: 's' },
        { workspaceId: 'b', name: 'b1', token: 'tb', note: 'n', seed: 's' },
      ]);
      kekB.failWith = new CmekKekAccessDeniedError('the key is disabled');
      await envelope.forgetTenant('b');
      const readB = app
        .select()
        .from(accounts)
        .where(and(eq(accounts.workspaceId, 'b')));
      await expect(readB).rejects.toThrow(CmekTenantKeyRevokedError);
      await expect(
        app
          .insert(accounts)
          .values({ workspaceId: 'b', name: 'b2', token: 't', note: 'n', seed: 's' }),
      ).rejects.toThrow(CmekTenantKeyRevokedError);
      expect(await stored('b2')).toBeUndefined();
      await app
        .insert(accounts)
        .values({ workspaceId: 'a', name: 'a2', token: 'ta2', note: 'n', seed: 's' });
      const rows = await app
        .select({ name: accounts.name, token: accounts.token, ws: accounts.workspaceId })
        .from(accounts)
        .where(eq(accounts.workspaceId, 'a'))
        .orderBy(accounts.name);
      expect(rows).toEqual([
        { name: 'a1', token: 'ta', ws: 'a' },
        { name: 'a2', token: 'ta2', ws: 'a' },
      ]);
    });

    it("the row store scans and counts one tenant's rows; rewrap with { tenant } moves exactly that tenant's values", async () => {
      await app.insert(accounts).values([
        { workspaceId: 'a', name: 'a1', token: 'ta1', note: 'n', seed: 's' },
        { workspaceId: 'b', name: 'b1', token: 'tb1', note: 'n', seed: 's' },
        { workspaceId: 'a', name: 'a2', token: 'ta2', note: 'n', seed: 's' },
        { workspaceId: 'b', name: 'b2', token: 'tb2', note: null, seed: 's' },
      ]);
      const store = app.$cmek.rowStore(accounts);
      expect(store.tenantColumn).toBe('workspace_id');
      const scanned = await store.scan(undefined, 10, { tenant: 'b' });
      expect(scanned.map((r: Row) => [r.tenant, r.values.note === null])).toEqual([
        ['b', false],
        ['b', true],
      ]);
      expect(await store.count({ tenant: 'b' })).toBe(2);
      expect(await store.count()).toBe(4);
      expect(store.contextFor('token', 'b')).toEqual({ field: `${table}.token`, tenant: 'b' });

      const aBefore = [await stored('a1'), await stored('a2')];
      const kekB2 = memoryKekProvider({ keyRef: 'tenant-b-2' });
      forB = createKeyring({ primary: kekB2, decryptOnly: [kekB] });
      await envelope.forgetTenant('b');
      const report = await rewrap(store, { keyring: await envelope.keyringFor('b'), tenant: 'b' });
      expect(report.rows).toBe(2);
      expect(report.fields.token?.written).toBe(2);
      expect(await keysOf('b1')).toEqual(under('tenant-b-2'));
      expect(await keysOf('b2')).toEqual({ ...under('tenant-b-2'), note: null });
      expect([await stored('a1'), await stored('a2')]).toEqual(aBefore);
      const inventory = await verify(store, { envelope, tenant: 'b' });
      expect(inventory.fields.token?.undecryptable ?? 0).toBe(0);
      const rows = await app.select().from(accounts).where(eq(accounts.workspaceId, 'b'));
      expect(rows.map((r: Record<string, unknown>) => r.token).sort()).toEqual(['tb1', 'tb2']);
    });

    it('$cmek.encryptRow and $cmek.decryptRows use each row tenant', async () => {
      const row = await app.$cmek.encryptRow(accounts, {
        workspaceId: 'b',
        name: 'raw',
        token: 'tr',
      });
      expect(inspectToken(row.token).keyRef).toBe('tenant-b');
      await expect(app.$cmek.encryptRow(accounts, { name: 'x', token: 'tr' })).rejects.toThrow(
        CmekUnknownTenantError,
      );
      const rows = [
        { ...row },
        {
          workspaceId: 'a',
          token: (await app.$cmek.encryptRow(accounts, { workspaceId: 'a', token: 'ta' })).token,
        },
      ];
      expect(
        (await app.$cmek.decryptRows(accounts, rows)).map((r: Record<string, unknown>) => r.token),
      ).toEqual(['tr', 'ta']);
      await expect(
        app.$cmek.decryptRows(accounts, [{ workspaceId: 'a', token: row.token }]),
      ).rejects.toThrow(CmekError);
    });

    it('checkColumns measures under the given tenant KEK, and needs one', async () => {
      await expect(app.$cmek.checkColumns()).rejects.toThrow(CmekConfigError);
      const widths = await app.$cmek.checkColumns({ tenant: 'a' });
      expect(widths.map((w: ColumnWidth) => w.column)).toEqual(
        ENCRYPTED.map((c) => `${table}.${c}`),
      );
    });

    it('setup: tenantColumn needs a tenant envelope and an existing, unencrypted column; a tenant envelope needs tenantColumn', () => {
      const plain = createEnvelope({ kek: memoryKekProvider() });
      const setup =
        (options: Record<string, unknown>, env: unknown = envelope) =>
        () =>
          withCmek(base.db, {
            envelope: env as TenantEnvelope,
            tables: [{ table: accounts, columns: ['token'], ...options }],
          });
      expect(setup({ tenantColumn: 'workspace_id' }, plain)).toThrow(/needs a tenant envelope/);
      expect(setup({})).toThrow(/needs `tenantColumn`/);
      expect(setup({ tenantColumn: 'nope' })).toThrow(/names 'nope'/);
      expect(setup({ tenantColumn: 'token' })).toThrow(/cannot be encrypted/);
      expect(setup({ tenantColumn: 'workspaceId' })).not.toThrow();
      expect(
        setup({ tenantColumn: 'workspace_id', columns: { token: {}, note: {} } }),
      ).not.toThrow();
    });
  });
}
