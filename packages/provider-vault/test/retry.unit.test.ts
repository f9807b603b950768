/**
 * Unit tests of the retry policy and of the options it adds, with a scripted client: which
 * failures are retried (every transient status and network code, never a refusal), the backoff
 * delays, `retry` validation, closing during a backoff, and endpoints without a scheme. The same
 * behaviour against a real Vault behind a flaky proxy is in retry.test.ts.
 */
import { CmekConfigError, CmekKekUnavailableError } from '@cmek/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createVaultKekProvider,
  DEFAULT_RETRY,
  type VaultKekProviderOptions,
  VaultRequestError,
} from '../src/index';
import {
  apiError,
  bytes,
  CIPHERTEXT_V1,
  DEK_B64,
  FakeVaultClient,
  networkError,
} from './fake-client';
import { rejection } from './rejection';

const TOKEN = 'hvs.CAESIRetryUnitTestTokenValue0123456789abcdef';
const FAST = { retries: 3, minTimeoutMs: 1, maxTimeoutMs: 5 };
const OK = { data: { plaintext: DEK_B64, ciphertext: CIPHERTEXT_V1 } };

/** A client that fails the first `failures` requests with `failure()`, then answers `OK`. */
function flaky(
  failures: number,
  failure: () => Error,
  options: Partial<VaultKekProviderOptions> = {},
) {
  const client = new FakeVaultClient((_request, index) =>
    index < failures ? Promise.reject(failure()) : OK,
  );
  const provider = createVaultKekProvider({
    client,
    token: TOKEN,
    keyName: 'app',
    retry: FAST,
    ...options,
  });
  return { client, provider };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('retry of transient failures', () => {
  it.each([412, 429, 500, 502, 503, 504])('HTTP %i is retried', async (status) => {
    const { client, provider } = flaky(2, () => apiError(status, { errors: ['try later'] }));
    await provider.generateDataKey();
    expect(client.requests).toHaveLength(3);
  });

  it.each(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN'])(
    '%s is retried',
    async (code) => {
      const { client, provider } = flaky(3, () => networkError(code, `${code} 127.0.0.1`, TOKEN));
      const dek = await provider.unwrap(bytes(CIPHERTEXT_V1), 'transit/app');
      expect(dek).toHaveLength(32);
      expect(client.requests).toHaveLength(4);
    },
  );

  it.each([
    [400, 'CMEK_DECRYPTION'],
    [401, 'CMEK_KEK_ACCESS_DENIED'],
    [403, 'CMEK_KEK_ACCESS_DENIED'],
    [404, 'CMEK_CONFIG'],
    [501, 'CMEK_KEK_UNAVAILABLE'],
  ])('HTTP %i is not retried (%s)', async (status, code) => {
    const { client, provider } = flaky(5, () => apiError(status, { errors: ['no'] }));
    const error = await rejection(provider.unwrap(bytes(CIPHERTEXT_V1), 'transit/app'));
    expect(error.code).toBe(code);
    expect(client.requests).toHaveLength(1);
  });

  it('a TLS or DNS failure that will not go away is not retried', async () => {
    for (const code of ['DEPTH_ZERO_SELF_SIGNED_CERT', 'ENOTFOUND']) {
      const { client, provider } = flaky(5, () => networkError(code, code, TOKEN));
      await rejection(provider.generateDataKey());
      expect(client.requests).toHaveLength(1);
    }
  });

  it('the last failure stays CMEK_KEK_UNAVAILABLE with its cause, the token nowhere', async () => {
    const { client, provider } = flaky(Number.POSITIVE_INFINITY, () =>
      networkError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:8200', TOKEN),
    );
    const error = await rejection(provider.generateDataKey());
    expect(CmekKekUnavailableError.isInstance(error)).toBe(true);
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('after 4 attempts');
    expect(error.cause).toBeInstanceOf(VaultRequestError);
    expect((error.cause as VaultRequestError).code).toBe('ECONNREFUSED');
    expect(`${error.message}${error.stack}${JSON.stringify(error.cause)}`).not.toContain('CAESI');
    expect(client.requests).toHaveLength(4);
  });

  it('batched unwrapMany requests are retried too', async () => {
    const client = new FakeVaultClient((request, index) => {
      if (index === 0) return Promise.reject(apiError(502, { errors: ['bad gateway'] }));
      const input = request.json?.batch_input as unknown[];
      return { data: { batch_results: input.map(() => ({ plaintext: DEK_B64 })) } };
    });
    const provider = createVaultKekProvider({ client, token: TOKEN, keyName: 'app', retry: FAST });
    const deks = await provider.unwrapMany([
      { wrapped: bytes(CIPHERTEXT_V1), keyRef: 'transit/app' },
    ]);
    expect(deks).toHaveLength(1);
    expect(client.requests).toHaveLength(2);
  });

  it('a 403 refresh and a transient failure after it: both handled in one call', async () => {
    const client = new FakeVaultClient((_request, index) => {
      if (index === 0) return Promise.reject(apiError(403, { errors: ['permission denied'] }));
      if (index === 1) return Promise.reject(apiError(503, { errors: ['unavailable'] }));
      return OK;
    });
    let asked = 0;
    const provider = createVaultKekProvider({
      client,
      keyName: 'app',
      retry: FAST,
      tokenProvider: () => `hvs.token-number-${++asked}-0123456789abcdef`,
    });
    await provider.generateDataKey();
    expect(asked).toBe(2);
    expect(client.tokens()).toEqual([
      'hvs.token-number-1-0123456789abcdef',
      'hvs.token-number-2-0123456789abcdef',
      'hvs.token-number-2-0123456789abcdef',
    ]);
  });

  it('waits minTimeoutMs * 2^(n-1), capped at maxTimeoutMs, scaled by a random factor (full jitter)', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.999);
    const sent: number[] = [];
    const client = new FakeVaultClient(() => {
      sent.push(performance.now());
      return Promise.reject(apiError(503, { errors: ['unavailable'] }));
    });
    const provider = createVaultKekProvider({
      client,
      token: TOKEN,
      keyName: 'app',
      retry: { retries: 4, minTimeoutMs: 40, maxTimeoutMs: 120 },
    });
    await rejection(provider.generateDataKey());
    const gaps = sent.slice(1).map((at, i) => at - (sent[i] as number));
    const expected = [40, 80, 120, 120].map((ms) => Math.round(ms * 0.999));
    expect(gaps).toHaveLength(4);
    for (const [i, gap] of gaps.entries()) {
      expect(gap).toBeGreaterThanOrEqual((expected[i] as number) - 2);
      expect(gap).toBeLessThan((expected[i] as number) + 100);
    }

    // With the random factor at 0, full jitter retries at once.
    vi.spyOn(Math, 'random').mockReturnValue(0);
    sent.length = 0;
    await rejection(provider.generateDataKey());
    expect(sent).toHaveLength(5);
    expect((sent[4] as number) - (sent[0] as number)).toBeLessThan(100);
  });

  it('retry: false and retries: 0 send one request', async () => {
    for (const retry of [false, { retries: 0 }] as const) {
      const { client, provider } = flaky(1, () => apiError(503, { errors: ['unavailable'] }), {
        retry,
      });
      const error = await rejection(provider.generateDataKey());
      expect(error.message).not.toContain('attempts');
      expect(client.requests).toHaveLength(1);
    }
  });

  it('closing the provider during a backoff sends nothing more', async () => {
    const { client, provider } = flaky(
      Number.POSITIVE_INFINITY,
      () => apiError(503, { errors: ['unavailable'] }),
      { retry: { retries: 5, minTimeoutMs: 200, maxTimeoutMs: 200 } },
    );
    vi.spyOn(Math, 'random').mockReturnValue(0.999);
    const pending = rejection(provider.generateDataKey());
    await new Promise((resolve) => setTimeout(resolve, 50));
    await provider.close();
    const error = await pending;
    expect(error.code).toBe('CMEK_CLOSED');
    expect(client.requests).toHaveLength(1);
  });

  it('defaults to 3 retries between 100 ms and 2 s', () => {
    expect(DEFAULT_RETRY).toEqual({ retries: 3, minTimeoutMs: 100, maxTimeoutMs: 2000 });
  });
});

describe('options', () => {
  const base = { client: new FakeVaultClient(() => OK), token: TOKEN, keyName: 'app' };

  it.each([
    [true, /retry must be false or/],
    ['3', /retry must be false or/],
    [{ retries: -1 }, /retry\.retries must be an integer >= 0/],
    [{ retries: 1.5 }, /retry\.retries must be an integer >= 0/],
    [{ minTimeoutMs: 0 }, /retry\.minTimeoutMs must be an integer >= 1/],
    [
      { maxTimeoutMs: 50 },
      /retry\.minTimeoutMs \(100\) must not exceed retry\.maxTimeoutMs \(50\)/,
    ],
    [{ retry: 3 }, /retry has no option 'retry'/],
  ])('retry: %j is a CmekConfigError', (retry, message) => {
    const create = () =>
      createVaultKekProvider({ ...base, retry } as unknown as VaultKekProviderOptions);
    expect(create).toThrow(CmekConfigError);
    expect(create).toThrow(message);
  });

  it.each(['127.0.0.1:8200', 'vault.internal:8200', 'localhost:8200', '//vault:8200'])(
    'endpoint %s without a scheme is refused at creation, saying to add http:// or https://',
    (endpoint) => {
      const create = () => createVaultKekProvider({ endpoint, token: TOKEN, keyName: 'app' });
      expect(create).toThrow(CmekConfigError);
      expect(create).toThrow(/has no scheme: write it with http:\/\/ or https:\/\//);
      expect(create).toThrow(endpoint);
    },
  );

  it('an endpoint with another scheme, or no host, is refused; credentials are not echoed', () => {
    expect(() =>
      createVaultKekProvider({ endpoint: 'tcp://127.0.0.1:8200', token: TOKEN, keyName: 'app' }),
    ).toThrow(/must start with http:\/\/ or https:\/\/, not tcp:\/\//);
    expect(() =>
      createVaultKekProvider({ endpoint: 'http://', token: TOKEN, keyName: 'app' }),
    ).toThrow(/is not a valid URL/);
    let message = '';
    try {
      createVaultKekProvider({ endpoint: 'user:hunter2@vault:8200', token: TOKEN, keyName: 'app' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('has no scheme');
    expect(message).not.toContain('hunter2');
  });

  it('VAULT_ADDR without a scheme is refused too, naming VAULT_ADDR', () => {
    const saved = process.env.VAULT_ADDR;
    process.env.VAULT_ADDR = '127.0.0.1:8200';
    try {
      expect(() => createVaultKekProvider({ token: TOKEN, keyName: 'app' })).toThrow(
        /VAULT_ADDR '127\.0\.0\.1:8200' has no scheme/,
      );
      process.env.VAULT_ADDR = 'https://127.0.0.1:8200';
      expect(createVaultKekProvider({ token: TOKEN, keyName: 'app' }).keyRef).toBe('transit/app');
    } finally {
      if (saved === undefined) delete process.env.VAULT_ADDR;
      else process.env.VAULT_ADDR = saved;
    }
  });

  it('http:// and https:// endpoints are accepted', () => {
    for (const endpoint of [
      'http://127.0.0.1:8200',
      'https://vault.internal:8200/',
      'HTTPS://v:1',
    ]) {
      expect(createVaultKekProvider({ endpoint, token: TOKEN, keyName: 'app' }).keyRef).toBe(
        'transit/app',
      );
    }
  });
});
