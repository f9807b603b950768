import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  backfill,
  fileCheckpoints,
  memoryCheckpoints,
  type ProgressEvent,
  rewrap,
  verify,
} from '../../src/engine/index';
import {
  CmekConfigError,
  CmekKekAccessDeniedError,
  createKeyring,
  createTenantEnvelope,
  type KekProvider,
  type Keyring,
} from '../../src/index';
import { KeyService, testProvider } from './support';
import { seedTenants, TenantMemoryStore } from './tenant-store';

const FIELDS = ['secret', 'note'];

function setup(n: number, tenants: readonly (string | null)[] = ['a', 'b', null]) {
  const service = new KeyService();
  const fallback = testProvider({ keyRef: 'default', service, wrap: true });
  const keks = new Map<string, KekProvider | Keyring | 'default'>([
    ['a', 'default'],
    ['b', 'default'],
  ]);
  const envelope = createTenantEnvelope({
    resolve: (tenant) => keks.get(tenant),
    defaultKek: fallback,
    dekCache: { maxUses: 5 },
  });
  const store = new TenantMemoryStore('users', FIELDS);
  seedTenants(store, n, tenants);
  /** The tenant onboarded to its own key: primary, the default decrypt-only during the move. */
  const onboard = async (tenant: string, keyRef: string) => {
    const own = testProvider({ keyRef, service, wrap: true });
    keks.set(tenant, createKeyring({ primary: own, decryptOnly: [fallback] }));
    await envelope.forgetTenant(tenant);
    return { own, keyring: await envelope.keyringFor(tenant) };
  };
  const ctx = (tenant: string, field = 'secret') => ({ context: store.contextFor(field, tenant) });
  return { service, fallback, keks, envelope, store, onboard, ctx };
}

const tokensOf = (store: TenantMemoryStore, tenant: string) =>
  [...store.rows.values()].filter((r) => r.tenant_id === tenant).map((r) => r.secret);

describe('the engine on a multi-tenant store', () => {
  it("backfills each row under its tenant's context; a row without a tenant is refused, not defaulted", async () => {
    const { envelope, store, ctx } = setup(30);
    const report = await backfill(store, { envelope, batchSize: 7 });
    expect(report.fields.secret).toMatchObject({
      candidates: 30,
      written: 20,
      failed: { CMEK_UNKNOWN_TENANT: 10 },
    });
    for (const [id, row] of store.rows) {
      if (row.tenant_id === null) {
        expect(row.secret).toBe(`s${id}`);
        continue;
      }
      expect(await envelope.decrypt(row.secret!, ctx(row.tenant_id!))).toBe(`s${id}`);
      const other = row.tenant_id === 'a' ? 'b' : 'a';
      await expect(envelope.decrypt(row.secret!, ctx(other))).rejects.toThrow();
    }
    const check = await verify(store, { envelope });
    expect(check.fields.secret).toMatchObject({ plaintext: 10, undecryptable: 0 });
    expect(check.fields.secret!.encrypted).toEqual([
      { providerId: 'test', keyRef: 'default', count: 20 },
    ]);
  });

  it("rotate --tenant: moves exactly that tenant's values to its own key, online; verify --tenant inventories it", async () => {
    const { envelope, store, onboard, ctx } = setup(40, ['a', 'b']);
    await backfill(store, { envelope });
    const before = new Map([...store.rows].map(([id, row]) => [id, { ...row }]));
    const { keyring, own } = await onboard('a', 'customer-a');
    // a writes under its own key at once, and still reads its values under the default key
    expect(envelope.inspect(await envelope.encrypt('new', ctx('a'))).keyRef).toBe('customer-a');
    expect(await envelope.decrypt(store.rows.get(1)!.secret!, ctx('a'))).toBe('s1');
    const scansBefore = store.scanOptions.length;
    const progress: ProgressEvent[] = [];
    const report = await rewrap(store, {
      keyring,
      tenant: 'a',
      batchSize: 6,
      onProgress: (e) => progress.push(e),
    });
    expect(report).toMatchObject({ tenant: 'a', rows: 20, status: 'completed' });
    // the progress names the tenant, and its total is the tenant's count, not the store's
    expect(progress.length).toBeGreaterThan(2);
    expect(progress.every((e) => e.tenant === 'a' && e.total === 20)).toBe(true);
    expect(report.fields.secret).toMatchObject({ candidates: 20, written: 20 });
    expect(report.deks).toMatchObject({ target: 'test/customer-a' });
    expect(own.calls.wrap).toBe(report.deks!.rewrapped);
    expect(store.scanOptions.slice(scansBefore).every((o) => o?.tenant === 'a')).toBe(true);
    for (const [id, row] of store.rows) {
      if (row.tenant_id === 'b') {
        expect(row).toEqual(before.get(id)); // b untouched, byte for byte
        continue;
      }
      expect(envelope.inspect(row.secret!).keyRef).toBe('customer-a');
      expect(envelope.inspect(row.note!).keyRef).toBe('customer-a');
      expect(await envelope.decrypt(row.secret!, ctx('a'))).toBe(`s${id}`);
    }
    const inventory = await verify(store, { envelope, tenant: 'a' });
    expect(inventory).toMatchObject({ tenant: 'a', rows: 20, undecryptable: 0 });
    expect(inventory.fields.secret!.encrypted).toEqual([
      { providerId: 'test', keyRef: 'customer-a', count: 20 },
    ]);
    const rest = await verify(store, { envelope, tenant: 'b' });
    expect(rest.fields.secret!.encrypted).toEqual([
      { providerId: 'test', keyRef: 'default', count: 20 },
    ]);
  });

  it("resumes one tenant's interrupted run from its own checkpoint, whatever ran for another tenant", async () => {
    const { envelope, store, onboard } = setup(40, ['a', 'b']);
    await backfill(store, { envelope });
    const checkpoint = memoryCheckpoints();
    const a = await onboard('a', 'customer-a');
    const b = await onboard('b', 'customer-b');
    store.failScanAt = store.scans.length + 3; // a crash on the third scan
    await expect(
      rewrap(store, { keyring: a.keyring, tenant: 'a', batchSize: 5, checkpoint }),
    ).rejects.toThrow('simulated crash');
    store.failScanAt = undefined;
    const [savedA] = [...checkpoint.saved.values()];
    expect(savedA).toMatchObject({ operation: 'rewrap', tenant: 'a', cursor: 19, rows: 10 });
    // b's run, with the same checkpoint store: it does not start from a's cursor, nor clear it
    const runB = await rewrap(store, { keyring: b.keyring, tenant: 'b', batchSize: 5, checkpoint });
    expect(runB).toMatchObject({ resumedFrom: null, rows: 20, tenant: 'b' });
    expect([...checkpoint.saved.values()]).toEqual([savedA]);
    // a whole-store run does not take a's checkpoint either
    expect(await checkpoint.load('rewrap', 'users')).toBeUndefined();
    const resumed = await rewrap(store, {
      keyring: a.keyring,
      tenant: 'a',
      batchSize: 5,
      checkpoint,
    });
    expect(resumed).toMatchObject({ resumedFrom: 19, rows: 20, status: 'completed' });
    expect(resumed.fields.secret).toMatchObject({ candidates: 20, written: 20 });
    expect(checkpoint.saved.size).toBe(0);
    for (const t of ['a', 'b']) {
      for (const token of tokensOf(store, t)) {
        expect(envelope.inspect(token!).keyRef).toBe(`customer-${t}`);
      }
    }
  });

  it("a revoked tenant's values are counted in a whole-store verify without a KEK call per value; the others verify", async () => {
    const { envelope, store, keks, service, fallback } = setup(30, ['a', 'b']);
    await backfill(store, { envelope });
    const revoked: KekProvider = {
      ...fallback,
      async unwrap() {
        denials++;
        throw new CmekKekAccessDeniedError('the key is disabled');
      },
    };
    let denials = 0;
    keks.set('a', revoked);
    await envelope.forgetTenant('a');
    const report = await verify(store, { envelope, batchSize: 10 });
    expect(report.fields.secret!.errors).toEqual([
      { code: 'CMEK_TENANT_KEY_REVOKED', providerId: 'test', keyRef: 'default', count: 15 },
    ]);
    expect(report.fields.secret!.encrypted).toEqual([
      { providerId: 'test', keyRef: 'default', count: 15 },
    ]);
    // one denied call per batch and field, not one per value
    expect(denials).toBeLessThanOrEqual(6);
    expect(service.keys.size).toBe(1);
  });

  it('refuses a tenant run on a store without a tenant column, and a store that ignores the filter', async () => {
    const { envelope, store, onboard } = setup(12, ['a', 'b']);
    const plain = new TenantMemoryStore('plain', FIELDS) as TenantMemoryStore & {
      tenantColumn?: string;
    };
    Object.defineProperty(plain, 'tenantColumn', { value: undefined });
    await expect(backfill(plain, { envelope, tenant: 'a' })).rejects.toThrow(CmekConfigError);
    await expect(verify(plain, { envelope, tenant: 'a' })).rejects.toThrow(CmekConfigError);
    await backfill(store, { envelope });
    const { keyring } = await onboard('a', 'customer-a');
    store.ignoreFilter = true;
    const before = store.casCalls;
    await expect(rewrap(store, { keyring, tenant: 'a' })).rejects.toThrow(/another tenant/);
    await expect(verify(store, { envelope, tenant: 'a' })).rejects.toThrow(CmekConfigError);
    expect(store.casCalls).toBe(before);
  });

  it('fileCheckpoints keeps a file per tenant; a checkpoint of another tenant is refused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cmek-core-tenant-'));
    try {
      const files = fileCheckpoints(dir);
      const base = {
        version: 1 as const,
        operation: 'rewrap' as const,
        store: 'users',
        cursor: 7,
        rows: 7,
        batches: 1,
        fields: {},
        updatedAt: new Date(0).toISOString(),
      };
      await files.save({ ...base, tenant: 'a/1' });
      await files.save(base);
      expect((await readdir(dir)).sort()).toEqual(['rewrap.users.json', 'rewrap.users@a%2F1.json']);
      expect(await files.load('rewrap', 'users', 'a/1')).toMatchObject({ tenant: 'a/1' });
      expect((await files.load('rewrap', 'users'))!.tenant).toBeUndefined();
      expect(await files.load('rewrap', 'users', 'b')).toBeUndefined();
      await files.clear('rewrap', 'users', 'a/1');
      expect(await readdir(dir)).toEqual(['rewrap.users.json']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
