/**
 * The tenant envelope of @cmek/core against real KMS keys (the moto server): two tenants, each
 * under its own KMS key, a third on the default key. Disabling one tenant's key fails that
 * tenant's reads and writes with CmekTenantKeyRevokedError (at once after forgetTenant), while
 * the other tenants keep reading and writing, in this process and in a cold one.
 */
import { DisableKeyCommand, EnableKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import {
  type CmekEvent,
  CmekKekAccessDeniedError,
  CmekTenantKeyRevokedError,
  CmekUnknownKekError,
  CmekUnknownTenantError,
  createTenantEnvelope,
  type KekProvider,
  type Keyring,
  type TenantEnvelope,
} from '@cmek/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAwsKmsKekProvider } from '../src/index';
import {
  adminClient,
  bareId,
  CREDENTIALS,
  causeName,
  createKey,
  failure,
  motoEndpoint,
  REGION,
} from './support/moto';

const endpoint = motoEndpoint() ?? '';

describe.skipIf(!endpoint)('a tenant envelope on KMS keys (moto)', () => {
  let admin: KMSClient;
  const keys: Record<string, string> = {};
  let defaultKey = '';

  beforeAll(async () => {
    admin = adminClient(endpoint);
    keys.acme = await createKey(admin, 'tenant acme');
    keys.globex = await createKey(admin, 'tenant globex');
    defaultKey = await createKey(admin, 'tenant default');
  });
  afterAll(() => {
    admin?.destroy();
  });

  const provider = (keyId: string, tenant?: string): KekProvider =>
    createAwsKmsKekProvider({
      keyId,
      region: REGION,
      endpoint,
      credentials: CREDENTIALS,
      ...(tenant === undefined ? {} : { encryptionContext: { app: 'cmek-test', tenant } }),
    });

  /** One process's tenant envelope: a provider (and KMS client) per tenant with its own key. */
  function processEnvelope() {
    const events: CmekEvent[] = [];
    const resolved: string[] = [];
    const released: string[] = [];
    const envelope: TenantEnvelope = createTenantEnvelope({
      defaultKek: provider(defaultKey),
      resolve: (tenant) => {
        resolved.push(tenant);
        if (tenant === 'initech') return 'default';
        const key = keys[tenant];
        return key === undefined ? undefined : provider(key, tenant);
      },
      release: async (tenant, kek: KekProvider | Keyring) => {
        released.push(tenant);
        await kek.close?.();
      },
      onEvent: (event) => events.push(event),
    });
    return { envelope, events, resolved, released };
  }

  const ctx = (tenant: string) => ({ context: { field: 'Integration.apiKey', tenant } });

  it("revoking one tenant's key (disable) fails its reads with the typed error; the others go on", async () => {
    const app = processEnvelope();
    const { envelope } = app;
    const acme = await envelope.encrypt('acme-secret', ctx('acme'));
    const globex = await envelope.encrypt('globex-secret', ctx('globex'));
    const initech = await envelope.encrypt('initech-secret', ctx('initech'));
    expect(envelope.inspect(acme).keyRef).toBe(keys.acme);
    expect(envelope.inspect(globex).keyRef).toBe(keys.globex);
    expect(envelope.inspect(initech).keyRef).toBe(defaultKey);
    // a value copied into another tenant's row does not decrypt there
    const copied = await failure(() => envelope.decrypt(acme, ctx('globex')));
    expect(CmekUnknownKekError.isInstance(copied)).toBe(true);
    // an unknown tenant is refused, without a KMS call
    const callsBefore = app.events.filter((e) => e.type === 'kek-call').length;
    const unknown = await failure(() => envelope.encrypt('x', ctx('hooli')));
    expect(CmekUnknownTenantError.isInstance(unknown)).toBe(true);
    expect(app.events.filter((e) => e.type === 'kek-call')).toHaveLength(callsBefore);

    await admin.send(new DisableKeyCommand({ KeyId: bareId(keys.acme!) }));
    try {
      // the DEK this process cached before the revocation still serves, until forgetTenant
      expect(await envelope.decrypt(acme, ctx('acme'))).toBe('acme-secret');
      await envelope.forgetTenant('acme');
      expect(app.released).toEqual(['acme']);

      const onRead = await failure(() => envelope.decrypt(acme, ctx('acme')));
      expect(CmekTenantKeyRevokedError.isInstance(onRead)).toBe(true);
      expect(onRead).toMatchObject({ code: 'CMEK_TENANT_KEY_REVOKED', tenant: 'acme' });
      expect(CmekKekAccessDeniedError.isInstance(onRead.cause)).toBe(true);
      expect(causeName(onRead.cause as CmekKekAccessDeniedError)).toBe('DisabledException');
      expect(onRead.message).not.toContain(acme);
      const onWrite = await failure(() => envelope.encrypt('more', ctx('acme')));
      expect(CmekTenantKeyRevokedError.isInstance(onWrite)).toBe(true);
      const denied = app.events.filter(
        (e) => e.type === 'kek-call' && !e.ok && e.tenant === 'acme',
      );
      expect(denied.length).toBeGreaterThan(0);
      const health = await envelope.health({ tenant: 'acme' });
      expect(health.kek).toMatchObject({ ok: false, errorCode: 'CMEK_KEK_ACCESS_DENIED' });

      // the other tenants read and write as before, in this process...
      expect(await envelope.decrypt(globex, ctx('globex'))).toBe('globex-secret');
      expect(await envelope.decrypt(initech, ctx('initech'))).toBe('initech-secret');
      const globex2 = await envelope.encrypt('globex-2', ctx('globex'));
      expect(await envelope.decrypt(globex2, ctx('globex'))).toBe('globex-2');
      // ...and in a cold one, which has to call KMS for every DEK
      const cold = processEnvelope();
      expect(await cold.envelope.decryptMany([globex, globex2], ctx('globex'))).toEqual([
        'globex-secret',
        'globex-2',
      ]);
      expect(await cold.envelope.decrypt(initech, ctx('initech'))).toBe('initech-secret');
      const coldRead = await failure(() => cold.envelope.decrypt(acme, ctx('acme')));
      expect(CmekTenantKeyRevokedError.isInstance(coldRead)).toBe(true);
      await cold.envelope.close();
    } finally {
      await admin.send(new EnableKeyCommand({ KeyId: bareId(keys.acme!) }));
    }
    // enabled again: the tenant reads once more (nothing is cached about the refusal)
    expect(await envelope.decrypt(acme, ctx('acme'))).toBe('acme-secret');
    await envelope.close();
  });

  it('without forgetTenant, the revocation reaches a tenant whose DEKs are not cached yet', async () => {
    const writer = processEnvelope();
    const token = await writer.envelope.encrypt('acme-secret', ctx('acme'));
    await writer.envelope.close();
    const reader = processEnvelope();
    await admin.send(new DisableKeyCommand({ KeyId: bareId(keys.acme!) }));
    try {
      const error = await failure(() => reader.envelope.decrypt(token, ctx('acme')));
      expect(error).toMatchObject({ code: 'CMEK_TENANT_KEY_REVOKED', tenant: 'acme' });
      expect(await reader.envelope.encrypt('g', ctx('globex'))).toMatch(/^cmek:v1:/);
    } finally {
      await admin.send(new EnableKeyCommand({ KeyId: bareId(keys.acme!) }));
    }
    await reader.envelope.close();
  });
});
