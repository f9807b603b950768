/**
 * A tenant envelope (`createTenantEnvelope`) through the wrapper, on SQLite and PostgreSQL: two
 * tenants on two KEKs plus one on the default KEK. Each write path stores the value under its
 * row's tenant's KEK (read back around the wrapper, the KEK named by the token), a row without a
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
import type { Knex } from 'knex';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type CmekKnex, withCmek } from '../src/index';
import { databases, uniquePrefix } from './support/databases';

const ENCRYPTED = ['token', 'note'];

for (const d of databases.filter((db) => db.name !== 'mariadb')) {
  describe.skipIf(!d.available)(`tenant envelope on ${d.name}`, () => {
    let raw: Knex;
    let base: Knex;
    let app: CmekKnex;
    let envelope: TenantEnvelope;
    let table: string;
    let kekA: MemoryKekProvider;
    let kekB: MemoryKekProvider;
    let appKek: MemoryKekProvider;
    /** What the resolver answers for 'b' (a test replaces it to move the tenant). */
    let forB: KekProvider | Keyring;

    beforeAll(async () => {
      table = `${uniquePrefix('t')}accounts`;
      raw = d.connect();
      base = d.connect();
      await raw.schema.dropTableIfExists(table);
      await raw.schema.createTable(table, (t) => {
        t.increments('id').primary();
        t.text('workspace_id');
        t.string('name', 64).notNullable().unique();
        t.text('token');
        t.text('note');
      });
      kekA = memoryKekProvider({ keyRef: 'tenant-a' });
      kekB = memoryKekProvider({ keyRef: 'tenant-b' });
      appKek = memoryKekProvider({ keyRef: 'app-default' });
      forB = kekB;
      envelope = createTenantEnvelope({
        defaultKek: appKek,
        resolve: (tenant) =>
          tenant === 'a' ? kekA : tenant === 'b' ? forB : tenant === 'd' ? 'default' : undefined,
      });
      app = withCmek(base, {
        envelope,
        tables: { [table]: { columns: ENCRYPTED, tenantColumn: 'workspace_id' } },
      });
    });
    afterAll(async () => {
      await raw.schema.dropTableIfExists(table);
      await Promise.all([raw.destroy(), base.destroy()]);
    });
    beforeEach(async () => {
      await raw(table).del();
      kekB.failWith = undefined;
      forB = kekB;
      await envelope.forgetTenant('b');
    });

    const stored = async (name: string): Promise<Record<string, unknown> | undefined> =>
      raw(table).where({ name }).first();
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
    const rowCount = async () => Number((await raw(table).count({ n: '*' }))[0]!.n);
    const under = (keyRef: string) => ({ token: keyRef, note: keyRef });

    it('insert() of three tenants stores each row under its tenant KEK, one batch per column and tenant', async () => {
      kekA.resetCalls();
      kekB.resetCalls();
      await app(table).insert([
        { workspace_id: 'a', name: 'a1', token: 'ta1', note: 'na1' },
        { workspace_id: 'b', name: 'b1', token: 'tb1', note: 'nb1' },
        { workspace_id: 'a', name: 'a2', token: 'ta2', note: 'na2' },
        { workspace_id: 'd', name: 'd1', token: 'td1', note: 'nd1' },
      ]);
      await app(table).insert({ workspace_id: 'b', name: 'b2', token: 'tb2', note: 'nb2' });
      expect(await keysOf('a1')).toEqual(under('tenant-a'));
      expect(await keysOf('a2')).toEqual(under('tenant-a'));
      expect(await keysOf('b1')).toEqual(under('tenant-b'));
      expect(await keysOf('b2')).toEqual(under('tenant-b'));
      expect(await keysOf('d1')).toEqual(under('app-default'));
      expect(kekA.calls.generateDataKey).toBe(1);
      const rows = await app(table).select('*').orderBy('name');
      expect(rows.map((r) => [r.name, r.token, r.note])).toEqual([
        ['a1', 'ta1', 'na1'],
        ['a2', 'ta2', 'na2'],
        ['b1', 'tb1', 'nb1'],
        ['b2', 'tb2', 'nb2'],
        ['d1', 'td1', 'nd1'],
      ]);
    });

    it('a row without a tenant, or of a tenant the resolver does not know, is refused and not written', async () => {
      appKek.resetCalls();
      await expect(app(table).insert({ name: 'none', token: 't', note: 'n' })).rejects.toThrow(
        CmekUnknownTenantError,
      );
      await expect(
        app(table).insert({ workspace_id: 'zzz', name: 'unknown', token: 't', note: 'n' }),
      ).rejects.toThrow(CmekUnknownTenantError);
      await expect(
        app(table).insert([
          { workspace_id: 'a', name: 'ok', token: 't', note: 'n' },
          { workspace_id: null, name: 'null', token: 't', note: 'n' },
        ]),
      ).rejects.toThrow(CmekUnknownTenantError);
      await expect(
        app(table).insert({ workspace_id: raw.raw("'a'"), name: 'sql', token: 't' }),
      ).rejects.toThrow(CmekQueryError);
      expect(await rowCount()).toBe(0);
      expect(appKek.calls.generateDataKey).toBe(0);
    });

    it('update() takes the tenant from where(tenantColumn) or from the update, and is refused without it', async () => {
      await app(table).insert([
        { workspace_id: 'a', name: 'a1', token: 'ta', note: 'n' },
        { workspace_id: 'b', name: 'b1', token: 'tb', note: 'n' },
      ]);
      await app(table).where({ workspace_id: 'b', name: 'b1' }).update({ token: 'tb-new' });
      expect((await keysOf('b1')).token).toBe('tenant-b');
      await app(table).where('name', 'a1').andWhere('workspace_id', 'a').update({ note: 'na-new' });
      expect((await keysOf('a1')).note).toBe('tenant-a');
      const before = await stored('b1');
      await expect(app(table).where('name', 'b1').update({ token: 'x' })).rejects.toThrow(
        CmekUnknownTenantError,
      );
      await expect(
        app(table).where('workspace_id', 'a').orWhere('workspace_id', 'b').update({ token: 'x' }),
      ).rejects.toThrow(CmekUnknownTenantError);
      expect(await stored('b1')).toEqual(before);
      // moving a row: every encrypted column with the tenant, or refused
      await expect(
        app(table).where('name', 'b1').update({ workspace_id: 'a', token: 'moved' }),
      ).rejects.toThrow(CmekQueryError);
      expect(await stored('b1')).toEqual(before);
      await app(table).where('name', 'b1').update({ workspace_id: 'a', token: 'moved', note: 'm' });
      expect(await keysOf('b1')).toEqual(under('tenant-a'));
      const row = await app(table).where('name', 'b1').first();
      expect([row.token, row.note]).toEqual(['moved', 'm']);
    });

    it('onConflict().merge() writes under the tenant it writes; a merge without the tenant column or an encrypted column is refused', async () => {
      await app(table).insert({ workspace_id: 'a', name: 'a1', token: 'ta', note: 'n' });
      const before = await stored('a1');
      await expect(
        app(table)
          .insert({ workspace_id: 'a', name: 'a1', token: 'x', note: 'y' })
          .onConflict('name')
          .merge({ token: 'x' }),
      ).rejects.toThrow(CmekQueryError);
      await expect(
        app(table)
          .insert({ workspace_id: 'a', name: 'a1', token: 'x', note: 'y' })
          .onConflict('name')
          .merge(['token']),
      ).rejects.toThrow(CmekQueryError);
      await expect(
        app(table)
          .insert({ workspace_id: 'a', name: 'a1', token: 'x', note: 'y' })
          .onConflict('name')
          .merge({ workspace_id: 'a', token: 'x' }),
      ).rejects.toThrow(CmekQueryError);
      expect(await stored('a1')).toEqual(before);
      await app(table)
        .insert({ workspace_id: 'b', name: 'a1', token: 'x', note: 'y' })
        .onConflict('name')
        .merge({ workspace_id: 'b', token: 'tb', note: 'nb' });
      expect(await keysOf('a1')).toEqual(under('tenant-b'));
      await app(table)
        .insert({ workspace_id: 'a', name: 'a1', token: 'ta2', note: 'na2' })
        .onConflict('name')
        .merge(['workspace_id', 'token', 'note']);
      expect(await keysOf('a1')).toEqual(under('tenant-a'));
      const row = await app(table).where('name', 'a1').first();
      expect([row.token, row.note]).toEqual(['ta2', 'na2']);
    });

    it('a select, pluck or returning() of an encrypted column without the tenant column is refused (and the insert not run)', async () => {
      await app(table).insert({ workspace_id: 'a', name: 'a1', token: 'ta', note: 'n' });
      await expect(app(table).select('token')).rejects.toThrow(CmekQueryError);
      await expect(app(table).pluck('token')).rejects.toThrow(CmekQueryError);
      expect(await app(table).select('token', 'workspace_id')).toEqual([
        { token: 'ta', workspace_id: 'a' },
      ]);
      await expect(
        app(table)
          .insert({ workspace_id: 'a', name: 'a2', token: 't', note: 'n' })
          .returning(['id', 'token']),
      ).rejects.toThrow(CmekQueryError);
      expect(await stored('a2')).toBeUndefined();
      const returned = await app(table)
        .insert({ workspace_id: 'a', name: 'a3', token: 't3', note: 'n' })
        .returning(['token', 'workspace_id']);
      expect(returned).toEqual([{ token: 't3', workspace_id: 'a' }]);
    });

    it("a token copied into another tenant's row does not decrypt there", async () => {
      await app(table).insert([
        { workspace_id: 'a', name: 'a1', token: 'ta', note: 'n' },
        { workspace_id: 'b', name: 'b1', token: 'tb', note: 'n' },
      ]);
      const a = await stored('a1');
      await raw(table).where('name', 'b1').update({ token: a!.token });
      await expect(app(table).where('name', 'b1')).rejects.toThrow(CmekError);
      expect((await app(table).where('name', 'a1').first()).token).toBe('ta');
    });

    it('after forgetTenant and a revoked KEK, that tenant fails with CmekTenantKeyRevokedError and the other reads and writes', async () => {
      await app(table).insert([
        { workspace_id: 'a', name: 'a1', token: 'ta', note: 'n' },
        { workspace_id: 'b', name: 'b1', token: 'tb', note: 'n' },
      ]);
      kekB.failWith = new CmekKekAccessDeniedError('the key is disabled');
      await envelope.forgetTenant('b');
      await expect(app(table).where('workspace_id', 'b')).rejects.toThrow(
        CmekTenantKeyRevokedError,
      );
      await expect(
        app(table).insert({ workspace_id: 'b', name: 'b2', token: 't', note: 'n' }),
      ).rejects.toThrow(CmekTenantKeyRevokedError);
      expect(await stored('b2')).toBeUndefined();
      await app(table).insert({ workspace_id: 'a', name: 'a2', token: 'ta2', note: 'n' });
      const rows = await app(table)
        .select('name', 'token', 'workspace_id')
        .where('workspace_id', 'a')
        .orderBy('name');
      expect(rows).toEqual([
        { name: 'a1', token: 'ta', workspace_id: 'a' },
        { name: 'a2', token: 'ta2', workspace_id: 'a' },
      ]);
    });

    it("the row store scans and counts one tenant's rows; rewrap with { tenant } moves exactly that tenant's values", async () => {
      await app(table).insert([
        { workspace_id: 'a', name: 'a1', token: 'ta1', note: 'n' },
        { workspace_id: 'b', name: 'b1', token: 'tb1', note: 'n' },
        { workspace_id: 'a', name: 'a2', token: 'ta2', note: 'n' },
        { workspace_id: 'b', name: 'b2', token: 'tb2', note: null },
      ]);
      const store = app.rowStore(table);
      expect(store.tenantColumn).toBe('workspace_id');
      const scanned = await store.scan(undefined, 10, { tenant: 'b' });
      expect(scanned.map((r: Row) => [r.tenant, r.values.note === null])).toEqual([
        ['b', false],
        ['b', true],
      ]);
      expect(await store.count!({ tenant: 'b' })).toBe(2);
      expect(await store.count!()).toBe(4);
      expect(store.contextFor('token', 'b')).toEqual({ field: `${table}.token`, tenant: 'b' });

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
      const rows = await app(table).where('workspace_id', 'b');
      expect(rows.map((r) => r.token).sort()).toEqual(['tb1', 'tb2']);
    });

    it('encryptRow and decryptRows use each row tenant', async () => {
      const row = await app.encryptRow(table, { workspace_id: 'b', name: 'raw', token: 'tr' });
      expect(inspectToken(row.token as string).keyRef).toBe('tenant-b');
      await expect(app.encryptRow(table, { name: 'x', token: 'tr' })).rejects.toThrow(
        CmekUnknownTenantError,
      );
      const other = await app.encryptRow(table, { workspace_id: 'a', token: 'ta' });
      const rows = [{ ...row }, { ...other }];
      expect((await app.decryptRows(table, rows)).map((r) => r.token)).toEqual(['tr', 'ta']);
      await expect(
        app.decryptRows(table, [{ workspace_id: 'a', token: row.token }]),
      ).rejects.toThrow(CmekError);
    });

    it('checkColumns measures under the given tenant KEK, and needs one', async () => {
      await expect(app.checkColumns()).rejects.toThrow(CmekConfigError);
      const widths = await app.checkColumns({ tenant: 'a' });
      expect(widths.map((w) => w.column)).toEqual(ENCRYPTED);
    });

    it('setup: tenantColumn needs a tenant envelope and an unencrypted column; a tenant envelope needs tenantColumn', () => {
      const plain = createEnvelope({ kek: memoryKekProvider() });
      expect(() =>
        withCmek(d.connect(), {
          envelope: plain,
          tables: { [table]: { columns: ENCRYPTED, tenantColumn: 'workspace_id' } },
        }),
      ).toThrow(CmekConfigError);
      expect(() =>
        withCmek(d.connect(), { envelope, tables: { [table]: { columns: ENCRYPTED } } }),
      ).toThrow(CmekConfigError);
      expect(() =>
        withCmek(d.connect(), {
          envelope,
          tables: { [table]: { columns: ENCRYPTED, tenantColumn: 'token' } },
        }),
      ).toThrow(CmekConfigError);
    });
  });
}
