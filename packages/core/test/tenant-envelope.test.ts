import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type CacheEvent,
  CmekConfigError,
  CmekDecryptionError,
  type CmekEvent,
  CmekKekAccessDeniedError,
  CmekKekUnavailableError,
  CmekTenantKeyRevokedError,
  CmekUnknownKekError,
  CmekUnknownTenantError,
  createKeyring,
  createTenantEnvelope,
  type KekCallInfo,
  type KekProvider,
  type Keyring,
  type TenantEnvelopeOptions,
  type TenantKek,
} from '../src/index';
import { type MemoryProvider, memoryProvider } from './support/memory-provider';

const ctx = (tenant: string, field = 'users.secret') => ({ context: { field, tenant } });

function setup(keks: Record<string, TenantKek>, options: Partial<TenantEnvelopeOptions> = {}) {
  const resolved: string[] = [];
  const events: CmekEvent[] = [];
  const fallback = memoryProvider({ keyRef: 'default' });
  const envelope = createTenantEnvelope({
    resolve: async (tenant) => {
      resolved.push(tenant);
      return keks[tenant];
    },
    defaultKek: fallback,
    onEvent: (e) => events.push(e),
    ...options,
  });
  return { envelope, resolved, events, fallback };
}

const denied = () => new CmekKekAccessDeniedError('the key is disabled');

afterEach(() => vi.restoreAllMocks());

describe('createTenantEnvelope', () => {
  it("writes each tenant's values under its own KEK and resolves a tenant once (single flight)", async () => {
    const a = memoryProvider({ keyRef: 'key-a' });
    const b = memoryProvider({ keyRef: 'key-b' });
    const { envelope, resolved, fallback } = setup({ a, b });
    const [ta, tb, ta2] = await Promise.all([
      envelope.encrypt('alpha', ctx('a')),
      envelope.encrypt('beta', ctx('b')),
      envelope.encrypt('alpha 2', ctx('a')),
    ]);
    expect(envelope.inspect(ta).keyRef).toBe('key-a');
    expect(envelope.inspect(ta2).keyRef).toBe('key-a');
    expect(envelope.inspect(tb).keyRef).toBe('key-b');
    expect(resolved.sort()).toEqual(['a', 'b']);
    expect(await envelope.decryptMany([ta, null, ta2], ctx('a'))).toEqual([
      'alpha',
      null,
      'alpha 2',
    ]);
    expect(await envelope.decrypt(tb, ctx('b'))).toBe('beta');
    expect(fallback.calls.generateDataKey).toBe(0);
    expect(a.calls.generateDataKey).toBe(1);
    expect(b.calls.generateDataKey).toBe(1);
    await envelope.close();
  });

  it('never uses one DEK for two tenants, even on the same default KEK', async () => {
    const { envelope, fallback } = setup({ a: 'default', b: 'default' });
    const dekIds = { a: new Set<string>(), b: new Set<string>() };
    for (let i = 0; i < 5; i++) {
      for (const tenant of ['a', 'b'] as const) {
        const tokens = await envelope.encryptMany(['x', 'y'], ctx(tenant));
        for (const t of tokens) dekIds[tenant].add(envelope.inspect(t!).dekId);
      }
    }
    // one DEK per tenant (the default dekCache reuses it), and a KEK call for each
    expect(dekIds.a.size).toBe(1);
    expect(dekIds.b.size).toBe(1);
    expect([...dekIds.a].some((id) => dekIds.b.has(id))).toBe(false);
    expect(fallback.calls.generateDataKey).toBe(2);
    // b's caches do not hold a's DEK: reading a value of a's in b's context unwraps it afresh
    const token = await envelope.encrypt('secret', ctx('a'));
    const unwraps = fallback.calls.unwrap;
    await expect(envelope.decrypt(token, ctx('b'))).rejects.toThrow(CmekDecryptionError);
    expect(fallback.calls.unwrap).toBe(unwraps + 1);
    await envelope.close();
  });

  it("a value copied into another tenant's row does not decrypt", async () => {
    const a = memoryProvider({ keyRef: 'key-a' });
    const { envelope } = setup({ a, b: memoryProvider({ keyRef: 'key-b' }), c: 'default' });
    const d = setup({ c: 'default', d: 'default' });
    // different KEKs: b's keyring has no route to a's key
    const ta = await envelope.encrypt('alpha', ctx('a'));
    await expect(envelope.decrypt(ta, ctx('b'))).rejects.toThrow(CmekUnknownKekError);
    // the same KEK: the tenant id in the context is bound into the token
    const tc = await d.envelope.encrypt('gamma', ctx('c'));
    await expect(d.envelope.decrypt(tc, ctx('d'))).rejects.toThrow(CmekDecryptionError);
    expect(await d.envelope.decrypt(tc, ctx('c'))).toBe('gamma');
    await envelope.close();
    await d.envelope.close();
  });

  it('refuses a context without a tenant and a tenant the resolver does not know; nulls pass', async () => {
    const { envelope, fallback, resolved } = setup({ a: 'default' });
    const noTenant = envelope.encrypt('x', { context: { field: 'users.secret' } });
    await expect(noTenant).rejects.toThrow(CmekUnknownTenantError);
    await expect(noTenant).rejects.toMatchObject({
      code: 'CMEK_UNKNOWN_TENANT',
      tenant: undefined,
    });
    const unknown = envelope.encryptMany(['x'], ctx('nobody'));
    await expect(unknown).rejects.toMatchObject({ code: 'CMEK_UNKNOWN_TENANT', tenant: 'nobody' });
    await expect(envelope.decrypt('legacy plaintext', ctx('nobody'))).rejects.toThrow(
      CmekUnknownTenantError,
    );
    expect(fallback.calls.generateDataKey).toBe(0);
    // an unknown answer is not cached: the resolver is asked again
    await expect(envelope.encrypt('x', ctx('nobody'))).rejects.toThrow(CmekUnknownTenantError);
    expect(resolved.filter((t) => t === 'nobody')).toHaveLength(3);
    expect(await envelope.encrypt(null, { context: { field: 'f' } })).toBeNull();
    expect(await envelope.encryptMany([null, undefined])).toEqual([null, null]);
    expect(await envelope.decryptMany([null])).toEqual([null]);
    await envelope.close();
  });

  it("a revoked tenant's reads fail with one typed error after forgetTenant; the other tenant goes on", async () => {
    const a = memoryProvider({ keyRef: 'key-a' });
    const b = memoryProvider({ keyRef: 'key-b' });
    const { envelope, resolved } = setup({ a, b });
    const ta = await envelope.encrypt('alpha', ctx('a'));
    const tb = await envelope.encrypt('beta', ctx('b'));
    a.failWith = denied();
    // the cached DEK still serves until the tenant is forgotten (or its cache ages out)
    expect(await envelope.decrypt(ta, ctx('a'))).toBe('alpha');
    await envelope.forgetTenant('a');
    const read = envelope.decrypt(ta, ctx('a'));
    await expect(read).rejects.toThrow(CmekTenantKeyRevokedError);
    const error = await read.catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'CMEK_TENANT_KEY_REVOKED', tenant: 'a', retryable: false });
    expect(CmekKekAccessDeniedError.isInstance((error as Error).cause)).toBe(true);
    expect((error as Error).message).toContain("'a'");
    expect((error as Error).message).not.toContain(ta);
    await expect(envelope.encrypt('new', ctx('a'))).rejects.toThrow(CmekTenantKeyRevokedError);
    await expect(envelope.decryptMany([ta], ctx('a'))).rejects.toThrow(CmekTenantKeyRevokedError);
    // b reads and writes as before, from its cache and with new DEKs
    expect(await envelope.decrypt(tb, ctx('b'))).toBe('beta');
    const tb2 = await envelope.encrypt('beta 2', ctx('b'));
    expect(await envelope.decrypt(tb2, ctx('b'))).toBe('beta 2');
    expect(resolved.filter((t) => t === 'a')).toHaveLength(2);
    // the key is enabled again: a reads once more
    a.failWith = undefined;
    expect(await envelope.decrypt(ta, ctx('a'))).toBe('alpha');
    await envelope.close();
  });

  it("a revoked tenant's cached DEKs stop serving once the tenant's maxAgeMs passes", async () => {
    const a = memoryProvider({ keyRef: 'key-a' });
    let now = 1_000_000;
    vi.spyOn(performance, 'now').mockImplementation(() => now);
    const { envelope, resolved } = setup(
      { a },
      { cache: { maxAgeMs: 60_000 }, decryptCache: { maxAgeMs: 3_600_000 } },
    );
    const ta = await envelope.encrypt('alpha', ctx('a'));
    a.failWith = denied();
    now += 59_000;
    expect(await envelope.decrypt(ta, ctx('a'))).toBe('alpha');
    now += 2_000;
    await expect(envelope.decrypt(ta, ctx('a'))).rejects.toThrow(CmekTenantKeyRevokedError);
    expect(resolved).toEqual(['a', 'a']);
    await envelope.close();
  });

  it('keeps at most maxTenants inner envelopes: the least recently used is closed, DEKs zeroed', async () => {
    const { envelope, resolved, events } = setup(
      { a: 'default', b: 'default', c: 'default' },
      { cache: { maxTenants: 2 } },
    );
    await envelope.encrypt('x', ctx('a'));
    await envelope.encrypt('x', ctx('b'));
    await envelope.encrypt('x', ctx('a'));
    await envelope.encrypt('x', ctx('c')); // b is the least recently used
    await vi.waitFor(() =>
      expect(
        events.some((e) => e.type === 'cache-evict' && e.reason === 'close' && e.tenant === 'b'),
      ).toBe(true),
    );
    expect(events.some((e) => e.type === 'cache-evict' && e.tenant === 'a')).toBe(false);
    expect(envelope.stats().tenants.map((t) => t.tenant)).toEqual(['a', 'c']);
    await envelope.encrypt('x', ctx('b'));
    expect(resolved).toEqual(['a', 'b', 'c', 'b']);
    await envelope.close();
  });

  it('forgetTenant lets the calls in flight finish, then closes the inner envelope', async () => {
    const a = memoryProvider({ keyRef: 'key-a' });
    const { envelope, events } = setup({ a });
    a.delayMs = 20;
    const pending = envelope.encrypt('alpha', ctx('a'));
    await vi.waitFor(() => expect(a.calls.generateDataKey).toBe(1));
    await envelope.forgetTenant('a');
    const token = await pending;
    expect(envelope.inspect(token).keyRef).toBe('key-a');
    await vi.waitFor(() =>
      expect(events.some((e) => e.type === 'cache-evict' && e.reason === 'close')).toBe(true),
    );
    await envelope.close();
  });

  it('tags kek-call and cache events, and the KEK-call hook, with the tenant', async () => {
    const calls: KekCallInfo[] = [];
    const { envelope, events } = setup(
      { a: memoryProvider({ keyRef: 'key-a' }), b: 'default' },
      {
        kekCallHook: async (call, run) => {
          calls.push(call);
          return run();
        },
      },
    );
    const ta = await envelope.encrypt('alpha', ctx('a'));
    await envelope.decrypt(ta, ctx('a'));
    await envelope.encrypt('beta', ctx('b'));
    const kekCalls = events.filter((e) => e.type === 'kek-call');
    expect(kekCalls.map((e) => [e.tenant, e.keyRef])).toEqual([
      ['a', 'key-a'],
      ['b', 'default'],
    ]);
    const cacheEvents = events.filter(
      (e): e is CacheEvent => e.type === 'cache-hit' || e.type === 'cache-miss',
    );
    expect(cacheEvents.length).toBeGreaterThan(0);
    expect(cacheEvents.every((e) => e.tenant === (e.keyRef === 'key-a' ? 'a' : 'b'))).toBe(true);
    expect(
      events.some((e) => e.type === 'cache-hit' && e.cache === 'decrypt' && e.tenant === 'a'),
    ).toBe(true);
    expect(events.some((e) => e.type === 'values' && e.tenant === 'b')).toBe(true);
    expect(calls.map((c) => c.tenant)).toEqual(['a', 'b']);
    await envelope.close();
  });

  it('stats() sums the caches over the tenants and lists each; dropped tenants keep their counts', async () => {
    const { envelope } = setup({ a: 'default', b: 'default' });
    const ta = await envelope.encrypt('x', ctx('a'));
    await envelope.decrypt(ta, ctx('a'));
    await envelope.encrypt('y', ctx('b'));
    const stats = envelope.stats();
    expect(stats.tenants.map((t) => t.tenant)).toEqual(['a', 'b']);
    const sizeOf = (caches: readonly { cache: string; size: number }[], name: string) =>
      caches.find((c) => c.cache === name)!.size;
    expect(sizeOf(stats.caches, 'encrypt')).toBe(2);
    const hitsBefore = stats.caches.find((c) => c.cache === 'decrypt')!.hits;
    expect(hitsBefore).toBe(1);
    await envelope.forgetTenant('a');
    const after = envelope.stats();
    expect(after.tenants.map((t) => t.tenant)).toEqual(['b']);
    expect(sizeOf(after.caches, 'encrypt')).toBe(1);
    expect(after.caches.find((c) => c.cache === 'decrypt')!.hits).toBe(hitsBefore);
    await envelope.close();
  });

  it('health(): the default KEK, or one tenant; a revoked tenant is not ok, the default still is', async () => {
    const a = memoryProvider({ keyRef: 'key-a' });
    const { envelope } = setup({ a, b: 'default' });
    expect((await envelope.health()).status).toBe('ok');
    await envelope.encrypt('x', ctx('a'));
    a.failWith = denied();
    const report = await envelope.health({ tenant: 'a' });
    expect(report).toMatchObject({
      tenant: 'a',
      kek: { keyRef: 'key-a', ok: false, errorCode: 'CMEK_KEK_ACCESS_DENIED' },
    });
    expect(report.status).not.toBe('ok');
    expect((await envelope.health()).kek).toMatchObject({ keyRef: 'default', ok: true });
    await expect(envelope.health({ tenant: 'nobody' })).rejects.toThrow(CmekUnknownTenantError);
    const bare = createTenantEnvelope({ resolve: () => a });
    await expect(bare.health()).rejects.toThrow(CmekConfigError);
    expect(() => bare.keyring).toThrow(CmekConfigError);
    await bare.close();
    await envelope.close();
  });

  it('keyringFor gives the keyring a tenant is written with (a move: customer key primary, default decrypt-only)', async () => {
    const customer = memoryProvider({ keyRef: 'customer' });
    let moving: Keyring | 'default' = 'default';
    const released: [string, KekProvider | Keyring][] = [];
    const fallback = memoryProvider({ keyRef: 'default' });
    const envelope = createTenantEnvelope({
      resolve: () => moving,
      defaultKek: fallback,
      release: (tenant, kek) => {
        released.push([tenant, kek]);
      },
    });
    const before = await envelope.encrypt('alpha', ctx('a'));
    expect((await envelope.keyringFor('a')).primary).toBe(fallback);
    moving = createKeyring({ primary: customer, decryptOnly: [fallback] });
    await envelope.forgetTenant('a');
    expect(released).toEqual([]); // the default KEK is never released
    const ring = await envelope.keyringFor('a');
    expect(ring).toBe(moving);
    expect(await envelope.decrypt(before, ctx('a'))).toBe('alpha');
    expect(envelope.inspect(await envelope.encrypt('new', ctx('a'))).keyRef).toBe('customer');
    await envelope.forgetTenant('a');
    expect(released).toEqual([['a', moving]]);
    await envelope.close();
  });

  it('a resolver failure is a retryable KEK error and is not cached; bad setups are config errors', async () => {
    let fail = true;
    const envelope = createTenantEnvelope({
      resolve: () => {
        if (fail) throw new Error('tenant table unreachable');
        return 'default';
      },
      defaultKek: memoryProvider(),
    });
    const first = envelope.encrypt('x', ctx('a'));
    await expect(first).rejects.toThrow(CmekKekUnavailableError);
    await expect(first).rejects.toMatchObject({ retryable: true });
    fail = false;
    expect(await envelope.encrypt('x', ctx('a'))).toMatch(/^cmek:v1:/);
    await envelope.close();

    const noDefault = createTenantEnvelope({ resolve: () => 'default' });
    await expect(noDefault.encrypt('x', ctx('a'))).rejects.toThrow(CmekConfigError);
    await noDefault.close();
    const cases: unknown[] = [
      undefined,
      {},
      { resolve: () => undefined, tenantKey: '' },
      { resolve: () => undefined, cache: { maxTenants: 0 } },
      { resolve: () => undefined, dekCache: { maxUses: -1 } },
      { resolve: () => undefined, defaultKek: { providerId: 'x' } },
    ];
    for (const options of cases) {
      expect(() => createTenantEnvelope(options as TenantEnvelopeOptions)).toThrow(CmekConfigError);
    }
  });

  it('reads the tenant from the configured tenantKey, and close() closes the default KEK only', async () => {
    const fallback = memoryProvider({ keyRef: 'default' }) as MemoryProvider & {
      close: () => Promise<void>;
    };
    let closes = 0;
    fallback.close = async () => {
      closes++;
    };
    const own = memoryProvider({ keyRef: 'own' }) as MemoryProvider & {
      close: () => Promise<void>;
    };
    let ownCloses = 0;
    own.close = async () => {
      ownCloses++;
    };
    const envelope = createTenantEnvelope({
      resolve: (tenant) => (tenant === 'w1' ? own : 'default'),
      defaultKek: fallback,
      tenantKey: 'workspace',
    });
    expect(envelope.tenantOf({ workspace: 'w1' })).toBe('w1');
    const token = await envelope.encrypt('x', { context: { workspace: 'w1' } });
    expect(envelope.inspect(token).keyRef).toBe('own');
    await expect(envelope.encrypt('x', ctx('w1'))).rejects.toThrow(CmekUnknownTenantError);
    await envelope.encrypt('y', { context: { workspace: 'w2' } });
    await envelope.forgetTenant('w2'); // the default KEK stays open for the other tenants
    expect(closes).toBe(0);
    await envelope.close();
    expect(closes).toBe(1);
    expect(ownCloses).toBe(0);
    await expect(envelope.encrypt('x', { context: { workspace: 'w1' } })).rejects.toMatchObject({
      code: 'CMEK_CLOSED',
    });
  });
});
