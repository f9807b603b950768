/** The tenant helpers adapters share: tenant-envelope detection, tenant ids, per-tenant groups. */
import { describe, expect, it } from 'vitest';
import {
  CmekUnknownTenantError,
  createEnvelope,
  createTenantEnvelope,
  type EncryptionContext,
  groupByTenant,
  isTenantEnvelope,
  measureTokenLength,
  tenantContext,
  tenantIdOf,
} from '../src/index';
import { memoryProvider } from './support/memory-provider';

describe('tenant cells', () => {
  it('isTenantEnvelope tells a tenant envelope from a plain one', async () => {
    const plain = createEnvelope({ kek: memoryProvider() });
    const tenant = createTenantEnvelope({ resolve: () => memoryProvider(), tenantKey: 'org' });
    expect(isTenantEnvelope(plain)).toBe(false);
    expect(isTenantEnvelope(tenant)).toBe(true);
    if (isTenantEnvelope(tenant)) expect(tenant.tenantKey).toBe('org');
    await plain.close();
    await tenant.close();
  });

  it.each([
    ['a string', 'acme', 'acme'],
    ['a number', 42, '42'],
    ['a bigint', 9007199254740993n, '9007199254740993'],
    ['an empty string', '', undefined],
    ['null', null, undefined],
    ['undefined', undefined, undefined],
    ['an object', { id: 'acme' }, undefined],
    ['a boolean', true, undefined],
  ])('tenantIdOf %s', (_what, value, expected) => {
    expect(tenantIdOf(value)).toBe(expected);
  });

  it('tenantContext adds the tenant under the key, or leaves the context alone', () => {
    const context: EncryptionContext = { field: 'users.email' };
    expect(tenantContext(context, 'tenant', 'acme')).toEqual({
      field: 'users.email',
      tenant: 'acme',
    });
    expect(context).toEqual({ field: 'users.email' });
    expect(tenantContext(context, undefined, 'acme')).toBe(context);
    expect(tenantContext(context, 'tenant', undefined)).toBe(context);
  });

  it('groupByTenant groups per field (by identity) and tenant, in first-seen order, with each context', () => {
    const email = { context: { field: 'users.email' }, tenanted: true };
    const note = { context: { field: 'users.note' }, tenanted: false };
    const groups = groupByTenant(
      [
        { field: email, tenant: 'a', item: 1 },
        { field: note, tenant: 'a', item: 2 },
        { field: email, tenant: 'b', item: 3 },
        { field: email, tenant: 'a', item: 4 },
        { field: email, tenant: undefined, item: 5 },
        { field: note, tenant: 'b', item: 6 },
      ],
      (f) => (f.tenanted ? 'org' : undefined),
    );
    expect(groups).toEqual([
      { field: email, tenant: 'a', context: { field: 'users.email', org: 'a' }, items: [1, 4] },
      { field: email, tenant: 'b', context: { field: 'users.email', org: 'b' }, items: [3] },
      { field: email, tenant: undefined, context: { field: 'users.email' }, items: [5] },
      { field: note, tenant: 'a', context: { field: 'users.note' }, items: [2] },
      { field: note, tenant: 'b', context: { field: 'users.note' }, items: [6] },
    ]);
    expect(groupByTenant([], () => 'org')).toEqual([]);
  });

  it('measureTokenLength measures a tenant envelope under the tenant its context names', async () => {
    const keks = {
      a: memoryProvider({ keyRef: 'a' }),
      longer: memoryProvider({ keyRef: 'a-much-longer-key-reference' }),
    };
    const envelope = createTenantEnvelope({
      resolve: (tenant) => keks[tenant as keyof typeof keks],
    });
    await expect(measureTokenLength(envelope, 10)).rejects.toThrow(CmekUnknownTenantError);
    const a = await measureTokenLength(envelope, 10, { tenant: 'a' });
    const token = await envelope.encrypt('x'.repeat(10), { context: { field: 'f', tenant: 'a' } });
    expect(a).toBe(token.length);
    const longer = await measureTokenLength(envelope, 10, { tenant: 'longer' });
    expect(longer).toBeGreaterThan(a);
    expect(await measureTokenLength(envelope, 10, { tenant: 'a' })).toBe(a);
    expect(keks.a.calls.generateDataKey).toBe(1);
    await envelope.close();
  });
});
