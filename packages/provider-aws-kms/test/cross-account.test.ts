/**
 * Integration tests against the moto server: per-tenant providers over keys in the tenants' own
 * AWS accounts, reached through a role assumed in each account; revocation (disable, pending
 * deletion) and crypto-shredding (deletion) of one tenant's key while another tenant keeps working.
 */
import {
  DisableKeyCommand,
  EnableKeyCommand,
  type KMSClient,
  ScheduleKeyDeletionCommand,
} from '@aws-sdk/client-kms';
import {
  type CmekError,
  CmekKekAccessDeniedError,
  CmekUnknownKekError,
  createEnvelope,
  type Envelope,
} from '@cmek/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAwsKmsKekProvider } from '../src/index';
import { APP_ACCOUNT, customerAdmin, StackKey, tenantCredentials } from './support/accounts';
import { bareId, CREDENTIALS, causeName, createKey, failure, motoEndpoint } from './support/moto';

const endpoint = motoEndpoint() ?? '';

const ACME = '222233334444';
const GLOBEX = '555566667777';
const EXTERNAL_IDS: Record<string, string> = {
  [ACME]: 'cmek-tenant-acme-5f1c',
  [GLOBEX]: 'cmek-tenant-globex-93ab',
};
const context = { field: 'integrations.smtp_password' };

/** A provider of one tenant, as a SaaS application builds it: no `region` (the ARN's is used). */
function tenantProvider(keyArn: string, accountId: string) {
  return createAwsKmsKekProvider({
    keyId: keyArn,
    endpoint,
    credentials: tenantCredentials(endpoint, accountId, EXTERNAL_IDS[accountId] ?? ''),
    encryptionContext: { app: 'cmek-saas', tenant: accountId },
  });
}

function tenantEnvelope(keyArn: string, accountId: string): Envelope {
  return createEnvelope({ kek: tenantProvider(keyArn, accountId) });
}

/** The typed error of a tenant's failed call: stable code, names the key, carries no secret. */
function expectNamesKey(error: CmekError, keyArn: string, secrets: readonly string[]): void {
  expect(error.retryable).toBe(false);
  expect((error as CmekError & { keyRef?: unknown }).keyRef).toBe(keyArn);
  expect((error as CmekError & { providerId?: unknown }).providerId).toBe('aws-kms');
  expect(error.message).toContain(keyArn);
  for (const secret of secrets) expect(error.message).not.toContain(secret);
}

describe.skipIf(!endpoint)('aws-kms: tenant keys in other accounts, against moto', () => {
  const savedRegion: Record<string, string | undefined> = {};
  let acmeAdmin: KMSClient;
  let globexAdmin: KMSClient;
  let globexKey: string;
  let globexToken: string;

  beforeAll(async () => {
    // No Region from the environment: the providers must take it from the key ARN.
    savedRegion.AWS_REGION = process.env.AWS_REGION;
    savedRegion.AWS_DEFAULT_REGION = process.env.AWS_DEFAULT_REGION;
    delete process.env.AWS_REGION;
    delete process.env.AWS_DEFAULT_REGION;
    acmeAdmin = customerAdmin(endpoint, ACME);
    globexAdmin = customerAdmin(endpoint, GLOBEX);
    // The tenant that is never revoked: every test checks it still reads and writes.
    globexKey = await createKey(globexAdmin, 'globex tenant key');
    const writer = tenantEnvelope(globexKey, GLOBEX);
    globexToken = await writer.encrypt('globex webhook secret', { context });
    await writer.close();
  });
  afterAll(() => {
    acmeAdmin?.destroy();
    globexAdmin?.destroy();
    for (const [name, value] of Object.entries(savedRegion)) {
      if (value !== undefined) process.env[name] = value;
    }
  });

  /** A fresh envelope (no cached DEK) of the other tenant reads the old value and writes a new one. */
  async function otherTenantWorks(): Promise<void> {
    const globex = tenantEnvelope(globexKey, GLOBEX);
    expect(await globex.decrypt(globexToken, { context })).toBe('globex webhook secret');
    const fresh = await globex.encrypt('globex, written now', { context });
    const reader = tenantEnvelope(globexKey, GLOBEX);
    expect(await reader.decrypt(fresh, { context })).toBe('globex, written now');
    await Promise.all([globex.close(), reader.close()]);
  }

  it("uses a key ARN in the tenant's account through a role assumed there, in the ARN's Region", async () => {
    const key = await createKey(acmeAdmin, 'acme tenant key');
    expect(key).toMatch(new RegExp(`^arn:aws:kms:us-east-1:${ACME}:key/`));

    const writer = tenantEnvelope(key, ACME);
    const token = await writer.encrypt('acme smtp password', { context });
    expect(writer.inspect(token).keyRef).toBe(key);
    const reader = tenantEnvelope(key, ACME);
    expect(await reader.decrypt(token, { context })).toBe('acme smtp password');

    // The application's own credentials land in its own account, where this key does not exist.
    // (AWS answers AccessDeniedException when no key policy statement or grant allows the role.)
    const own = createAwsKmsKekProvider({ keyId: key, endpoint, credentials: CREDENTIALS });
    const error = await failure(() => own.generateDataKey());
    expect(CmekUnknownKekError.isInstance(error)).toBe(true);
    expect(causeName(error)).toBe('NotFoundException');
    expect((error as CmekUnknownKekError).keyRef).toBe(key);
    expect(key).not.toContain(APP_ACCOUNT);

    // The KMS encryption context binds the DEKs to the tenant: another tenant id does not open them.
    const wrongTenant = createEnvelope({
      kek: createAwsKmsKekProvider({
        keyId: key,
        endpoint,
        credentials: tenantCredentials(endpoint, ACME, EXTERNAL_IDS[ACME] ?? ''),
        encryptionContext: { app: 'cmek-saas', tenant: GLOBEX },
      }),
    });
    expect((await failure(() => wrongTenant.decrypt(token, { context }))).code).toBe(
      'CMEK_DECRYPTION',
    );
    await Promise.all([writer.close(), reader.close(), own.close(), wrongTenant.close()]);
    await otherTenantWorks();
  });

  it("a disabled tenant key: that tenant's reads and writes fail with CMEK_KEK_ACCESS_DENIED naming the key, the other tenant works, enabling restores", async () => {
    const key = await createKey(acmeAdmin, 'acme revoked');
    const writer = tenantEnvelope(key, ACME);
    const token = await writer.encrypt('acme totp seed', { context });
    const warm = tenantEnvelope(key, ACME);
    expect(await warm.decrypt(token, { context })).toBe('acme totp seed');

    await acmeAdmin.send(new DisableKeyCommand({ KeyId: bareId(key) }));

    const cold = tenantEnvelope(key, ACME);
    const onRead = await failure(() => cold.decrypt(token, { context }));
    expect(CmekKekAccessDeniedError.isInstance(onRead)).toBe(true);
    expect(onRead.code).toBe('CMEK_KEK_ACCESS_DENIED');
    expect(causeName(onRead)).toBe('DisabledException');
    expectNamesKey(onRead, key, ['acme totp seed', token, token.split('|')[0] ?? token]);
    expect(onRead.message).toContain('disabled');
    const onWrite = await failure(() => cold.encrypt('acme, new', { context }));
    expect(CmekKekAccessDeniedError.isInstance(onWrite)).toBe(true);
    expect(causeName(onWrite)).toBe('DisabledException');
    expectNamesKey(onWrite, key, ['acme, new']);

    // An envelope that unwrapped the DEK before the revocation still holds it: revocation reaches
    // it when its cache entry ages out (decryptCache.maxAgeMs), or when the DEK is dropped.
    expect(await warm.decrypt(token, { context })).toBe('acme totp seed');
    await otherTenantWorks();

    await acmeAdmin.send(new EnableKeyCommand({ KeyId: bareId(key) }));
    expect(await cold.decrypt(token, { context })).toBe('acme totp seed');
    expect(await cold.decrypt(await cold.encrypt('acme, again', { context }), { context })).toBe(
      'acme, again',
    );
    await Promise.all([writer.close(), warm.close(), cold.close()]);
  });

  it('crypto-shredding: pending deletion refuses (CMEK_KEK_ACCESS_DENIED), the deleted key is gone for good (CMEK_UNKNOWN_KEK), the other tenant works', async () => {
    const stack = await StackKey.create(endpoint, ACME, 'shredded');
    try {
      const key = stack.arn;
      const writer = tenantEnvelope(key, ACME);
      const token = await writer.encrypt('acme api token', { context });
      await writer.close();
      const before = tenantEnvelope(key, ACME);
      expect(await before.decrypt(token, { context })).toBe('acme api token');
      await before.close();

      await acmeAdmin.send(
        new ScheduleKeyDeletionCommand({ KeyId: bareId(key), PendingWindowInDays: 7 }),
      );
      const pending = tenantEnvelope(key, ACME);
      const refused = await failure(() => pending.decrypt(token, { context }));
      expect(CmekKekAccessDeniedError.isInstance(refused)).toBe(true);
      expect(causeName(refused)).toBe('KMSInvalidStateException');
      expectNamesKey(refused, key, ['acme api token']);
      expect(refused.message).toContain('pending deletion');
      await pending.close();
      await otherTenantWorks();

      await stack.deleteKey();
      const after = tenantEnvelope(key, ACME);
      const gone = await failure(() => after.decrypt(token, { context }));
      expect(CmekUnknownKekError.isInstance(gone)).toBe(true);
      expect(causeName(gone)).toBe('NotFoundException');
      expectNamesKey(gone, key, ['acme api token']);
      expect(gone.message).toContain('deleted');
      const noWrite = await failure(() => after.encrypt('acme, after', { context }));
      expect(CmekUnknownKekError.isInstance(noWrite)).toBe(true);
      await after.close();
      await otherTenantWorks();
    } finally {
      stack.destroy();
    }
  });
});
