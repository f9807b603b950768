/**
 * The tenant envelope of @cmek/core against a real Vault: two tenants, each under its own Transit
 * key and its own token (a policy that allows only that key's Transit paths), a third on a
 * default key. Revoking one tenant's token fails that tenant's reads and writes with
 * CmekTenantKeyRevokedError once it is forgotten, while the other tenants keep reading and writing.
 */
import {
  CmekKekAccessDeniedError,
  CmekTenantKeyRevokedError,
  createTenantEnvelope,
  type KekProvider,
  type Keyring,
  type TenantEnvelope,
} from '@cmek/core';
import { serviceUrl } from '@cmek/test-suite';
import { beforeAll, describe, expect, it } from 'vitest';
import { createVaultKekProvider } from '../src/index';
import { rejection } from './rejection';
import { createKey, putPolicy, tokenWithPolicies, type VaultAdmin, vaultApi } from './vault-admin';

const start = 'bash scripts/services/vault.sh start';
const addr = serviceUrl({ name: 'Vault', env: 'CMEK_VAULT_ADDR', start });
const rootToken = addr ? serviceUrl({ name: 'Vault', env: 'CMEK_VAULT_TOKEN', start }) : undefined;
const admin: VaultAdmin = { addr: addr ?? '', token: rootToken ?? '' };

/** Only the Transit paths the provider uses, on one key. */
const tenantPolicy = (key: string): string =>
  [
    `transit/datakey/plaintext/${key}`,
    `transit/encrypt/${key}`,
    `transit/decrypt/${key}`,
    `transit/rewrap/${key}`,
  ]
    .map((path) => `path "${path}" {\n  capabilities = ["update"]\n}\n`)
    .concat(`path "transit/keys/${key}" {\n  capabilities = ["read"]\n}\n`)
    .join('');

interface Tenant {
  readonly key: string;
  readonly token: string;
}

describe.skipIf(!addr)('a tenant envelope on Transit keys, a token per tenant (real Vault)', () => {
  const tenants: Record<string, Tenant> = {};
  let defaultKey = '';

  beforeAll(async () => {
    for (const id of ['a', 'b']) {
      const key = await createKey(admin, `tenant-${id}`);
      await putPolicy(admin, `cmek-tenant-${key}`, tenantPolicy(key));
      tenants[id] = { key, token: await tokenWithPolicies(admin, [`cmek-tenant-${key}`]) };
    }
    defaultKey = await createKey(admin, 'tenant-default');
  });

  const provider = (keyName: string, token: string): KekProvider =>
    createVaultKekProvider({ endpoint: admin.addr, token, keyName });

  function processEnvelope() {
    const released: string[] = [];
    const envelope: TenantEnvelope = createTenantEnvelope({
      defaultKek: provider(defaultKey, admin.token),
      resolve: (tenant) => {
        if (tenant === 'c') return 'default';
        const own = tenants[tenant];
        return own === undefined ? undefined : provider(own.key, own.token);
      },
      release: async (tenant, kek: KekProvider | Keyring) => {
        released.push(tenant);
        await kek.close?.();
      },
    });
    return { envelope, released };
  }

  const ctx = (tenant: string) => ({ context: { field: 'Integration.apiKey', tenant } });

  it("each tenant's token opens only its own key", async () => {
    const a = tenants.a!;
    const b = tenants.b!;
    const crossed = provider(b.key, a.token);
    const error = await rejection(crossed.generateDataKey());
    expect(CmekKekAccessDeniedError.isInstance(error)).toBe(true);
    expect(error.message).not.toContain(a.token);
    await crossed.close?.();
  });

  it("revoking tenant b's token fails b's reads and writes with the typed error; a and the default go on", async () => {
    const { envelope, released } = processEnvelope();
    const a = await envelope.encrypt('a-secret', ctx('a'));
    const b = await envelope.encrypt('b-secret', ctx('b'));
    const c = await envelope.encrypt('c-secret', ctx('c'));
    expect(envelope.inspect(a).keyRef).toBe(`transit/${tenants.a!.key}`);
    expect(envelope.inspect(b).keyRef).toBe(`transit/${tenants.b!.key}`);
    expect(envelope.inspect(c).keyRef).toBe(`transit/${defaultKey}`);
    expect(await envelope.decrypt(b, ctx('b'))).toBe('b-secret');

    await vaultApi(admin, 'POST', 'auth/token/revoke', { token: tenants.b!.token });
    await envelope.forgetTenant('b');
    expect(released).toEqual(['b']);

    const onRead = await rejection(envelope.decrypt(b, ctx('b')));
    expect(CmekTenantKeyRevokedError.isInstance(onRead)).toBe(true);
    expect(onRead).toMatchObject({ code: 'CMEK_TENANT_KEY_REVOKED', tenant: 'b' });
    expect(CmekKekAccessDeniedError.isInstance(onRead.cause)).toBe(true);
    const onWrite = await rejection(envelope.encrypt('b-more', ctx('b')));
    expect(CmekTenantKeyRevokedError.isInstance(onWrite)).toBe(true);
    expect(onWrite).toMatchObject({ code: 'CMEK_TENANT_KEY_REVOKED', tenant: 'b' });
    for (const error of [onRead, onWrite]) {
      for (const secret of [b, 'b-secret', 'b-more', tenants.b!.token, admin.token]) {
        expect(error.message).not.toContain(secret);
      }
    }

    // tenant a and the default tenant read and write as before, in this process...
    expect(await envelope.decrypt(a, ctx('a'))).toBe('a-secret');
    expect(await envelope.decrypt(c, ctx('c'))).toBe('c-secret');
    const a2 = await envelope.encrypt('a-2', ctx('a'));
    const c2 = await envelope.encrypt('c-2', ctx('c'));
    expect(await envelope.decrypt(a2, ctx('a'))).toBe('a-2');
    expect(await envelope.decrypt(c2, ctx('c'))).toBe('c-2');
    // ...and in a cold one, which has to ask Vault for every DEK
    const cold = processEnvelope();
    expect(await cold.envelope.decryptMany([a, a2], ctx('a'))).toEqual(['a-secret', 'a-2']);
    expect(await cold.envelope.decryptMany([c, c2], ctx('c'))).toEqual(['c-secret', 'c-2']);
    const coldRead = await rejection(cold.envelope.decrypt(b, ctx('b')));
    expect(coldRead).toMatchObject({ code: 'CMEK_TENANT_KEY_REVOKED', tenant: 'b' });
    await cold.envelope.close();
    await envelope.close();
  });
});
