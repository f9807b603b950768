/**
 * Unit tests of the error mapping and the token refresh, with a scripted client: the shapes of
 * Vault's failures that a dev server cannot easily produce on demand (403 then a fresh token,
 * sealed, 5xx, a token inside an error). Behaviour against a real Vault is in vault.test.ts.
 */
import { inspect } from 'node:util';
import {
  CmekConfigError,
  CmekDecryptionError,
  CmekKekAccessDeniedError,
  CmekKekUnavailableError,
  CmekProviderError,
  CmekUnknownKekError,
} from '@cmek/core';
import { describe, expect, it } from 'vitest';
import {
  createVaultKekProvider,
  type VaultKekProviderOptions,
  VaultRequestError,
} from '../src/index';
import {
  apiError,
  bytes,
  CIPHERTEXT_V1,
  CIPHERTEXT_V2,
  DEK_B64,
  FakeVaultClient,
  type Handler,
  networkError,
} from './fake-client';
import { rejection } from './rejection';

const TOKEN = 'hvs.CAESIUnitTestSecretTokenValue0123456789abcdef';

function setup(handler: Handler, options: Partial<VaultKekProviderOptions> = {}) {
  const client = new FakeVaultClient(handler);
  const provider = createVaultKekProvider({
    client,
    keyName: 'app',
    ...(options.tokenProvider ? {} : { token: TOKEN }),
    ...options,
  });
  return { client, provider };
}

/** Every way an error reaches a log: message, stack, util.inspect of the chain, JSON. */
function everything(error: unknown): string {
  return [
    String(error),
    (error as Error).stack ?? '',
    inspect(error, { depth: Number.POSITIVE_INFINITY, showHidden: true }),
    JSON.stringify(error, Object.getOwnPropertyNames(error)),
    JSON.stringify(
      (error as Error).cause ?? null,
      Object.getOwnPropertyNames((error as Error).cause ?? {}),
    ),
  ].join('\n');
}

const decrypted = { data: { plaintext: DEK_B64 } };

describe('requests', () => {
  it('sends the Transit paths, the token and the namespace node-vault expects', async () => {
    const { client, provider } = setup(
      (request) => {
        if (request.path.includes('datakey'))
          return { data: { plaintext: DEK_B64, ciphertext: CIPHERTEXT_V1 } };
        if (request.path.includes('rewrap')) return { data: { ciphertext: CIPHERTEXT_V2 } };
        if (request.path.includes('encrypt')) return { data: { ciphertext: CIPHERTEXT_V1 } };
        return decrypted;
      },
      { mount: 'kms/transit', namespace: 'team-a', requestTimeoutMs: 1234 },
    );
    expect(provider.keyRef).toBe('kms/transit/app');
    const generated = await provider.generateDataKey();
    expect(Buffer.from(generated.plaintext)).toEqual(Buffer.alloc(32, 7));
    expect(Buffer.from(generated.wrapped).toString('latin1')).toBe(CIPHERTEXT_V1);
    await provider.unwrap(bytes(CIPHERTEXT_V1), 'kms/transit/app');
    await provider.rewrap(bytes(CIPHERTEXT_V1), 'kms/transit/app');
    const dek = new Uint8Array(32).fill(9);
    await provider.wrap(dek);
    expect(dek.every((b) => b === 0)).toBe(true);
    expect(client.requests.map((r) => [r.method, r.path, r.json])).toEqual([
      ['POST', '/kms/transit/datakey/plaintext/app', { bits: 256 }],
      ['POST', '/kms/transit/decrypt/app', { ciphertext: CIPHERTEXT_V1 }],
      ['POST', '/kms/transit/rewrap/app', { ciphertext: CIPHERTEXT_V1 }],
      ['POST', '/kms/transit/encrypt/app', { plaintext: Buffer.alloc(32, 9).toString('base64') }],
    ]);
    for (const request of client.requests) {
      expect(request.headers).toEqual({ 'X-Vault-Token': TOKEN, 'X-Vault-Namespace': 'team-a' });
      expect(request.timeout).toBe(1234);
    }
  });

  it('refuses another keyRef with CmekUnknownKekError without calling Vault', async () => {
    const { client, provider } = setup(() => decrypted);
    const error = await rejection(provider.unwrap(bytes(CIPHERTEXT_V1), 'transit/other'));
    expect(CmekUnknownKekError.isInstance(error)).toBe(true);
    expect((error as CmekUnknownKekError).keyRef).toBe('transit/other');
    const moved = await rejection(provider.rewrap(bytes(CIPHERTEXT_V1), 'transit/other'));
    expect(CmekUnknownKekError.isInstance(moved)).toBe(true);
    expect(client.requests).toHaveLength(0);
  });

  it('refuses bytes that are not a Transit ciphertext without calling Vault', async () => {
    const { client, provider } = setup(() => decrypted);
    for (const text of [
      'vault:v1:',
      'vault:x1:abcd',
      'wault:v1:abcd',
      `${CIPHERTEXT_V1}\0`,
      'vault:v0:abcd',
    ]) {
      const error = await rejection(provider.unwrap(bytes(text), 'transit/app'));
      expect(CmekDecryptionError.isInstance(error)).toBe(true);
    }
    expect(client.requests).toHaveLength(0);
  });
});

describe('403 and the tokenProvider', () => {
  it('asks the tokenProvider once more after a 403 and retries with the new token', async () => {
    const issued = ['hvs.first-token-aaaaaaaaaaaaaaaa', 'hvs.second-token-bbbbbbbbbbbbbbbb'];
    let calls = 0;
    const { client, provider } = setup(
      (request) =>
        request.headers?.['X-Vault-Token'] === issued[1]
          ? decrypted
          : Promise.reject(apiError(403, { errors: ['permission denied'] })),
      { tokenProvider: async () => issued[calls++] as string },
    );
    const dek = await provider.unwrap(bytes(CIPHERTEXT_V1), 'transit/app');
    expect(Buffer.from(dek)).toEqual(Buffer.alloc(32, 7));
    expect(calls).toBe(2);
    expect(client.tokens()).toEqual(issued);
    // The fresh token is kept for the next call.
    await provider.unwrap(bytes(CIPHERTEXT_V1), 'transit/app');
    expect(calls).toBe(2);
    expect(client.tokens()).toEqual([...issued, issued[1]]);
  });

  it('gives up with CmekKekAccessDeniedError after one refresh', async () => {
    let calls = 0;
    const { client, provider } = setup(
      () => Promise.reject(apiError(403, { errors: ['permission denied'] })),
      { tokenProvider: () => `hvs.token-number-${++calls}-xxxxxxxxxxxxxxxx` },
    );
    const error = await rejection(provider.generateDataKey());
    expect(CmekKekAccessDeniedError.isInstance(error)).toBe(true);
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('transit/app');
    expect(error.message).toContain('403');
    expect(calls).toBe(2);
    expect(client.requests).toHaveLength(2);
  });

  it('a static token gets no retry', async () => {
    const { client, provider } = setup(() =>
      Promise.reject(apiError(403, { errors: ['permission denied'] })),
    );
    const error = await rejection(provider.unwrap(bytes(CIPHERTEXT_V1), 'transit/app'));
    expect(CmekKekAccessDeniedError.isInstance(error)).toBe(true);
    expect(client.requests).toHaveLength(1);
  });

  it('concurrent 403s refresh the token once, not once per call', async () => {
    let calls = 0;
    const { client, provider } = setup(
      async (request) => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        return request.headers?.['X-Vault-Token'] === 'hvs.fresh-token-zzzzzzzzzzzzzzzzz'
          ? decrypted
          : Promise.reject(apiError(403, { errors: ['permission denied'] }));
      },
      {
        tokenProvider: async () =>
          ++calls === 1 ? 'hvs.stale-token-yyyyyyyyyyyyyyyyy' : 'hvs.fresh-token-zzzzzzzzzzzzzzzzz',
      },
    );
    const results = await Promise.all(
      Array.from({ length: 20 }, () => provider.unwrap(bytes(CIPHERTEXT_V1), 'transit/app')),
    );
    expect(results).toHaveLength(20);
    expect(calls).toBe(2);
    expect(client.requests).toHaveLength(40);
  });

  it('a tokenProvider that throws or returns nothing is reported, and asked again next time', async () => {
    let calls = 0;
    const { provider } = setup(() => decrypted, {
      tokenProvider: async () => {
        calls++;
        if (calls === 1) throw new Error('login failed');
        if (calls === 2) return '';
        return 'hvs.working-token-wwwwwwwwwwwwwwwww';
      },
    });
    const first = await rejection(provider.unwrap(bytes(CIPHERTEXT_V1), 'transit/app'));
    expect(CmekKekAccessDeniedError.isInstance(first)).toBe(true);
    const second = await rejection(provider.unwrap(bytes(CIPHERTEXT_V1), 'transit/app'));
    expect(CmekConfigError.isInstance(second)).toBe(true);
    await provider.unwrap(bytes(CIPHERTEXT_V1), 'transit/app');
    expect(calls).toBe(3);
  });

  it('a login that cannot reach Vault is unavailable, not denied', async () => {
    const { provider } = setup(() => decrypted, {
      tokenProvider: async () => {
        throw networkError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:8200', 'role-secret-id');
      },
    });
    const error = await rejection(provider.generateDataKey());
    expect(CmekKekUnavailableError.isInstance(error)).toBe(true);
  });
});

describe('Vault error shapes', () => {
  it('400 invalid ciphertext is CmekDecryptionError that does not say which check failed', async () => {
    const { provider } = setup(() =>
      Promise.reject(apiError(400, { errors: ['cipher: message authentication failed'] })),
    );
    const error = await rejection(provider.unwrap(bytes(CIPHERTEXT_V1), 'transit/app'));
    expect(CmekDecryptionError.isInstance(error)).toBe(true);
    expect(error.message).not.toContain('authentication');
    expect((error.cause as VaultRequestError).vaultErrors).toEqual([
      'cipher: message authentication failed',
    ]);
  });

  it('a version below min_decryption_version says so, naming the version', async () => {
    const { provider } = setup(() =>
      Promise.reject(
        apiError(400, {
          errors: ['ciphertext or signature version is disallowed by policy (too old)'],
        }),
      ),
    );
    const error = await rejection(provider.unwrap(bytes(CIPHERTEXT_V1), 'transit/app'));
    expect(CmekDecryptionError.isInstance(error)).toBe(true);
    expect(error.message).toContain('min_decryption_version');
    expect(error.message).toContain('key version 1');
    const moved = await rejection(provider.rewrap(bytes(CIPHERTEXT_V2), 'transit/app'));
    expect(moved.message).toContain('key version 2');
  });

  it('a missing Transit key is CmekUnknownKekError', async () => {
    const { provider } = setup(() =>
      Promise.reject(apiError(400, { errors: ['encryption key not found'] })),
    );
    const error = await rejection(provider.unwrap(bytes(CIPHERTEXT_V1), 'transit/app'));
    expect(CmekUnknownKekError.isInstance(error)).toBe(true);
    expect((error as CmekUnknownKekError).keyRef).toBe('transit/app');
  });

  it('a 400 on datakey (wrong key type) is a configuration error', async () => {
    const { provider } = setup(() =>
      Promise.reject(
        apiError(400, { errors: ['message encryption not supported for key type ed25519'] }),
      ),
    );
    expect(CmekConfigError.isInstance(await rejection(provider.generateDataKey()))).toBe(true);
  });

  it.each([
    ['sealed', 503, ['Vault is sealed'], /sealed/],
    ['standby / maintenance', 503, ['service unavailable'], /unavailable/],
    ['internal error', 500, ['internal error'], /unavailable/],
    [
      'rate limited',
      429,
      ['request path "transit/decrypt/app": rate limit quota exceeded'],
      /unavailable/,
    ],
  ])('%s (%i) is CmekKekUnavailableError, retryable', async (_name, status, errors, message) => {
    const { provider } = setup(() => Promise.reject(apiError(status, { errors })));
    const error = await rejection(provider.unwrap(bytes(CIPHERTEXT_V1), 'transit/app'));
    expect(CmekKekUnavailableError.isInstance(error)).toBe(true);
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(message);
    expect((error.cause as VaultRequestError).status).toBe(status);
  });

  it('connection refused and timeouts are unavailable, and the token never reaches the error', async () => {
    for (const [code, text] of [
      ['ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:48200'],
      ['ECONNABORTED', 'timeout of 10000ms exceeded'],
    ] as const) {
      const { provider } = setup(() => Promise.reject(networkError(code, text, TOKEN)));
      const error = await rejection(provider.generateDataKey());
      expect(CmekKekUnavailableError.isInstance(error)).toBe(true);
      expect(error.message).toContain(code);
      expect(error.cause).toBeInstanceOf(VaultRequestError);
      expect((error.cause as VaultRequestError).code).toBe(code);
      expect(everything(error)).not.toContain(TOKEN);
      expect(everything(error)).not.toContain('CAESIUnitTest');
    }
  });

  it('a token quoted in a Vault error is redacted', async () => {
    const { provider } = setup(() =>
      Promise.reject(apiError(403, { errors: [`permission denied for token ${TOKEN}`] })),
    );
    const error = await rejection(provider.generateDataKey());
    expect(CmekKekAccessDeniedError.isInstance(error)).toBe(true);
    expect(everything(error)).not.toContain('CAESIUnitTest');
    expect(everything(error)).toContain('[redacted]');
  });

  it('an answer without a 32-byte DEK is a provider error', async () => {
    const { provider } = setup(() => ({
      data: { plaintext: Buffer.alloc(16).toString('base64'), ciphertext: CIPHERTEXT_V1 },
    }));
    expect(CmekProviderError.isInstance(await rejection(provider.generateDataKey()))).toBe(true);
  });
});

describe('unwrapMany', () => {
  const wrapped = (i: number) =>
    bytes(`vault:v1:${Buffer.from(`item-${i}-padding`).toString('base64')}`);

  it('sends ceil(distinct / batchSize) batch requests and returns one DEK per item, in order', async () => {
    const { client, provider } = setup(
      (request) => {
        const input = (request.json?.batch_input ?? []) as { ciphertext: string }[];
        return {
          data: {
            batch_results: input.map(({ ciphertext }) => ({
              plaintext: Buffer.alloc(
                32,
                Number(Buffer.from(ciphertext.slice(9), 'base64').toString().split('-')[1]),
              ).toString('base64'),
            })),
          },
        };
      },
      { batchSize: 3 },
    );
    const order = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 3, 0];
    const deks = await provider.unwrapMany(
      order.map((i) => ({ wrapped: wrapped(i), keyRef: 'transit/app' })),
    );
    expect(deks.map((d) => d[0])).toEqual(order);
    expect(client.requests).toHaveLength(4);
    expect(deks[3]).not.toBe(deks[10]);
  });

  it("one failed item rejects the whole call with that item's error (Vault answers 400)", async () => {
    const { provider } = setup(() =>
      Promise.reject(
        apiError(400, {
          data: {
            batch_results: [
              { plaintext: DEK_B64 },
              { error: 'ciphertext or signature version is disallowed by policy (too old)' },
            ],
          },
        }),
      ),
    );
    const error = await rejection(
      provider.unwrapMany([
        { wrapped: bytes(CIPHERTEXT_V2), keyRef: 'transit/app' },
        { wrapped: bytes(CIPHERTEXT_V1), keyRef: 'transit/app' },
      ]),
    );
    expect(CmekDecryptionError.isInstance(error)).toBe(true);
    expect(error.message).toContain('min_decryption_version');
    expect(error.message).toContain('key version 1');
  });

  it('per-item errors in a 200 answer (partial_failure_response_code) also reject', async () => {
    const { provider } = setup(() => ({
      data: {
        batch_results: [{ plaintext: DEK_B64 }, { error: 'cipher: message authentication failed' }],
      },
    }));
    const error = await rejection(
      provider.unwrapMany([
        { wrapped: bytes(CIPHERTEXT_V1), keyRef: 'transit/app' },
        { wrapped: bytes(CIPHERTEXT_V2), keyRef: 'transit/app' },
      ]),
    );
    expect(CmekDecryptionError.isInstance(error)).toBe(true);
  });

  it('an item under another keyRef rejects the call before any request', async () => {
    const { client, provider } = setup(() => decrypted);
    const error = await rejection(
      provider.unwrapMany([
        { wrapped: bytes(CIPHERTEXT_V1), keyRef: 'transit/app' },
        { wrapped: bytes(CIPHERTEXT_V1), keyRef: 'transit/old' },
      ]),
    );
    expect(CmekUnknownKekError.isInstance(error)).toBe(true);
    expect(client.requests).toHaveLength(0);
  });
});

describe('options', () => {
  it.each([
    [{ keyName: '' }],
    [{ keyName: 'a/b' }],
    [{ keyName: 'app', mount: 'bad mount' }],
    [{ keyName: 'app', batchSize: 0 }],
    [{ keyName: 'app', requestTimeoutMs: 1.5 }],
    [{ keyName: 'app', token: 't', tokenProvider: () => 't' }],
    [{ keyName: 'app', client: {} }],
  ])('rejects %j with CmekConfigError', (options) => {
    expect(() =>
      createVaultKekProvider({
        endpoint: 'http://127.0.0.1:1',
        token: 'x',
        ...options,
      } as VaultKekProviderOptions),
    ).toThrow(CmekConfigError);
  });

  it('needs an endpoint and a token when it creates the client', () => {
    const saved = { addr: process.env.VAULT_ADDR, token: process.env.VAULT_TOKEN };
    delete process.env.VAULT_ADDR;
    delete process.env.VAULT_TOKEN;
    try {
      expect(() => createVaultKekProvider({ keyName: 'app', token: 'x' })).toThrow(/endpoint/);
      expect(() =>
        createVaultKekProvider({ keyName: 'app', endpoint: 'http://127.0.0.1:1' }),
      ).toThrow(/token/);
      process.env.VAULT_TOKEN = 'from-env';
      expect(
        createVaultKekProvider({ keyName: 'app', endpoint: 'http://127.0.0.1:1' }).keyRef,
      ).toBe('transit/app');
    } finally {
      if (saved.addr === undefined) delete process.env.VAULT_ADDR;
      else process.env.VAULT_ADDR = saved.addr;
      if (saved.token === undefined) delete process.env.VAULT_TOKEN;
      else process.env.VAULT_TOKEN = saved.token;
    }
  });
});
