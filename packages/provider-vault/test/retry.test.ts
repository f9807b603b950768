/**
 * Retries against a real Vault (dev mode) through a TCP proxy on 127.0.0.1 that fails the first
 * connections: transient failures are retried with backoff until the call goes through, a refusal
 * (403, 400) is sent once, and the last failure after the retries stays CMEK_KEK_UNAVAILABLE.
 */
import { CmekKekAccessDeniedError, CmekKekUnavailableError } from '@cmek/core';
import { serviceUrl } from '@cmek/test-suite';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createVaultKekProvider,
  type VaultKekProviderOptions,
  VaultRequestError,
} from '../src/index';
import { type FailureMode, FlakyProxy } from './flaky-proxy';
import { rejection } from './rejection';
import { createKey, putPolicy, tokenWithPolicies, type VaultAdmin } from './vault-admin';

const start = 'bash scripts/services/vault.sh start';
const addr = serviceUrl({ name: 'Vault', env: 'CMEK_VAULT_ADDR', start });
const rootToken = addr ? serviceUrl({ name: 'Vault', env: 'CMEK_VAULT_TOKEN', start }) : undefined;
const admin: VaultAdmin = { addr: addr ?? '', token: rootToken ?? '' };
/** Short delays, so the tests are quick; the retry count is what they check. */
const FAST = { retries: 3, minTimeoutMs: 20, maxTimeoutMs: 100 };

const proxies: FlakyProxy[] = [];

async function proxy(failFirst: number, mode: FailureMode = 'reset'): Promise<FlakyProxy> {
  const started = await FlakyProxy.start(admin.addr, failFirst, mode);
  proxies.push(started);
  return started;
}

function provider(
  endpoint: string,
  keyName: string,
  options: Partial<VaultKekProviderOptions> = {},
) {
  return createVaultKekProvider({ endpoint, token: admin.token, keyName, retry: FAST, ...options });
}

afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

describe.skipIf(!addr)('retries of transient Vault failures (real server, flaky proxy)', () => {
  it('connections reset by the proxy are retried until the call goes through', async () => {
    const name = await createKey(admin, 'retry-reset');
    const flaky = await proxy(2);
    const kek = provider(flaky.url, name);
    const { plaintext, wrapped } = await kek.generateDataKey();
    expect(flaky.failed).toBe(2);
    expect(flaky.forwarded).toBe(1);
    // What came back through the proxy is a real Transit DEK: Vault itself opens it.
    const direct = provider(admin.addr, name);
    expect(Buffer.from(await direct.unwrap(wrapped, direct.keyRef))).toEqual(
      Buffer.from(plaintext),
    );
    // Later calls on the now healthy path need no retry.
    await kek.unwrapMany([{ wrapped, keyRef: kek.keyRef }]);
    expect(flaky.failed).toBe(2);
    expect(flaky.forwarded).toBe(2);
  });

  it('a request that times out is retried', async () => {
    const name = await createKey(admin, 'retry-timeout');
    const flaky = await proxy(1, 'hang');
    const kek = provider(flaky.url, name, { requestTimeoutMs: 300 });
    const startedAt = Date.now();
    await kek.generateDataKey();
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(290);
    expect(flaky.failed).toBe(1);
    expect(flaky.forwarded).toBe(1);
  });

  it('a 403 and a 400 are sent once, never retried', async () => {
    const name = await createKey(admin, 'retry-refused');
    await putPolicy(
      admin,
      `cmek-none-${name}`,
      'path "sys/nothing" {\n  capabilities = ["read"]\n}\n',
    );
    const weak = await tokenWithPolicies(admin, [`cmek-none-${name}`]);
    const flaky = await proxy(0);
    const denied = provider(flaky.url, name, { token: weak });
    const error = await rejection(denied.generateDataKey());
    expect(CmekKekAccessDeniedError.isInstance(error)).toBe(true);
    expect((error.cause as VaultRequestError).status).toBe(403);
    expect(flaky.forwarded).toBe(1);

    // A ciphertext Transit cannot decrypt: 400, one request.
    const kek = provider(flaky.url, name);
    const bogus = new Uint8Array(Buffer.from(`vault:v1:${Buffer.alloc(40, 1).toString('base64')}`));
    const refused = await rejection(kek.unwrap(bogus, kek.keyRef));
    expect(refused.code).toBe('CMEK_DECRYPTION');
    expect((refused.cause as VaultRequestError).status).toBe(400);
    expect(flaky.forwarded).toBe(2);
    expect(flaky.failed).toBe(0);
  });

  it('after the last retry the call fails with CMEK_KEK_UNAVAILABLE, retryable, with the cause', async () => {
    const name = await createKey(admin, 'retry-exhausted');
    const flaky = await proxy(Number.POSITIVE_INFINITY);
    const kek = provider(flaky.url, name, { retry: { ...FAST, retries: 2 } });
    const error = await rejection(kek.generateDataKey());
    expect(CmekKekUnavailableError.isInstance(error)).toBe(true);
    expect(error.code).toBe('CMEK_KEK_UNAVAILABLE');
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('after 3 attempts');
    expect(error.cause).toBeInstanceOf(VaultRequestError);
    expect((error.cause as VaultRequestError).code).toBe('ECONNRESET');
    expect(flaky.failed).toBe(3);
    expect(flaky.forwarded).toBe(0);
    expect(`${error.message}\n${error.stack}`).not.toContain(admin.token);
  });

  it('retry: false sends each request once', async () => {
    const name = await createKey(admin, 'retry-off');
    const flaky = await proxy(1);
    const kek = provider(flaky.url, name, { retry: false });
    const error = await rejection(kek.generateDataKey());
    expect(CmekKekUnavailableError.isInstance(error)).toBe(true);
    expect(error.message).not.toContain('attempts');
    expect(flaky.failed).toBe(1);
    // The next call gets through: the proxy fails only its first connection.
    await kek.generateDataKey();
    expect(flaky.forwarded).toBe(1);
  });
});
