/** Unit tests: option validation; every bad option is a CmekConfigError before any call. */
import { CmekConfigError } from '@cmek/core';
import { describe, expect, it } from 'vitest';
import { type AwsKmsKekProviderOptions, createAwsKmsKekProvider } from '../src/index';
import { FakeKms } from './support/fake-kms';

const KEY = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';

function configError(options: unknown): unknown {
  try {
    createAwsKmsKekProvider(options as AwsKmsKekProviderOptions);
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('options', () => {
  const client = new FakeKms().asClient();
  const bad: [string, unknown][] = [
    ['no options', undefined],
    ['no keyId', { client }],
    ['an empty keyId', { keyId: '', client }],
    ['a keyId with surrounding whitespace', { keyId: ` ${KEY}`, client }],
    ['a keyId over 1024 bytes', { keyId: `alias/${'a'.repeat(1020)}`, client }],
    ['a non-string keyId', { keyId: 42, client }],
    ['a context value that is not a string', { keyId: KEY, client, encryptionContext: { n: 1 } }],
    ['an empty context key', { keyId: KEY, client, encryptionContext: { '': 'x' } }],
    ['a context that is an array', { keyId: KEY, client, encryptionContext: ['a'] }],
    ['grantTokens that is a string', { keyId: KEY, client, grantTokens: 'token' }],
    ['an empty grant token', { keyId: KEY, client, grantTokens: [''] }],
    ['11 grant tokens', { keyId: KEY, client, grantTokens: Array(11).fill('t') }],
    ['a client without send', { keyId: KEY, client: {} }],
    ['a client plus region', { keyId: KEY, client, region: 'us-east-1' }],
    ['a client plus maxAttempts', { keyId: KEY, client, maxAttempts: 2 }],
    ['maxAttempts 0', { keyId: KEY, region: 'us-east-1', maxAttempts: 0 }],
    ['maxAttempts 1.5', { keyId: KEY, region: 'us-east-1', maxAttempts: 1.5 }],
    ['an unknown retryMode', { keyId: KEY, region: 'us-east-1', retryMode: 'legacy' }],
    ['requestTimeoutMs 0', { keyId: KEY, region: 'us-east-1', requestTimeoutMs: 0 }],
    ['a client plus requestTimeoutMs', { keyId: KEY, client, requestTimeoutMs: 1000 }],
    ['an empty endpoint', { keyId: KEY, region: 'us-east-1', endpoint: '' }],
    ["a region other than the key ARN's", { keyId: KEY, region: 'eu-west-1' }],
    [
      "a region other than the alias ARN's",
      { keyId: 'arn:aws:kms:us-east-1:111122223333:alias/app', region: 'eu-west-1' },
    ],
  ];
  for (const [label, options] of bad) {
    it(`rejects ${label}`, () => {
      expect(CmekConfigError.isInstance(configError(options))).toBe(true);
    });
  }

  it('accepts a key ARN, a key id, an alias name and an alias ARN as keyRef, verbatim', () => {
    for (const keyId of [
      KEY,
      '1234abcd-12ab-34cd-56ef-1234567890ab',
      'alias/app-fields',
      'arn:aws:kms:us-east-1:111122223333:alias/app-fields',
    ]) {
      const provider = createAwsKmsKekProvider({ keyId, client });
      expect(provider.keyRef).toBe(keyId);
      expect(provider.providerId).toBe('aws-kms');
      expect(provider.specificationVersion).toBe('v1');
    }
  });

  it("accepts the key ARN's own region, or any region for a key id or an alias name", () => {
    for (const [keyId, region] of [
      [KEY, 'us-east-1'],
      ['1234abcd-12ab-34cd-56ef-1234567890ab', 'eu-west-1'],
      ['alias/app-fields', 'ap-southeast-2'],
      ['arn:aws-cn:kms:cn-north-1:111122223333:key/1234abcd', 'cn-north-1'],
    ] as const) {
      expect(createAwsKmsKekProvider({ keyId, region }).keyRef).toBe(keyId);
    }
  });

  it('does not put a context value in its error message', () => {
    const error = configError({
      keyId: KEY,
      client,
      encryptionContext: { tenant: 'acme-secret-tenant', n: 5 },
    }) as Error;
    expect(CmekConfigError.isInstance(error)).toBe(true);
    expect(error.message).not.toContain('acme-secret-tenant');
  });
});
